"""The deploy stages' gates against the sandbox (mock mode): up declares them, the pipeline
role may read exactly the alarms, preflight refuses a missing alarm, plan says what they do."""

from __future__ import annotations

import json

import boto3

GATES = ("  container: web              #",
         "  alarms: [demo-web-5xx, demo-web-latency]\n  bake_minutes: 7\n"
         "  deploy_window: {cron: '0 0 9-16 ? * MON-FRI *', timezone: Europe/Berlin}\n"
         "  container: web              #")


def put_alarm(name: str) -> None:
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=name, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
        ComparisonOperator="GreaterThanThreshold")


def pipeline_policy() -> dict:
    iam = boto3.client("iam")
    role = next(r for r in iam.list_roles()["Roles"] if r["RoleName"].endswith("codepipeline"))
    name = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"][0]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def test_up_declares_the_gates_and_the_role_reads_exactly_the_alarms(seeded, ecspipe,
                                                                     write_config, calls):
    put_alarm("demo-web-5xx")
    put_alarm("demo-web-latency")
    put_alarm("unrelated")
    config = write_config(GATES)
    plan = ecspipe("plan", "-c", config)
    assert plan.code == 0, plan
    assert "the first execution has nothing to roll back to" in plan.out
    assert "watches demo-web-5xx, demo-web-latency for 7 minutes" in plan.out
    assert "waits there until the window opens" in plan.out
    assert "a rollback can return only to an execution of the current version" in plan.out
    # One DescribeAlarms for every alarm of the config, in the preflight.
    assert calls.ops.count("DescribeAlarms") == 1
    assert ecspipe("up", "-c", config, "--wait-connection", "--timeout", "60").code == 0

    deploy = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]["stages"][2]
    assert deploy["onFailure"] == {"result": "ROLLBACK"}
    rules = deploy["onSuccess"]["conditions"][0]["rules"]
    assert [r["configuration"] for r in rules] == [
        {"AlarmName": "demo-web-5xx", "AlarmStates": "ALARM", "WaitTime": "7"},
        {"AlarmName": "demo-web-latency", "AlarmStates": "ALARM", "WaitTime": "7"}]
    assert deploy["beforeEntry"]["conditions"][0]["rules"][0]["configuration"] == {
        "Cron": "0 0 9-16 ? * MON-FRI *", "TimeZone": "Europe/Berlin"}
    statement = next(s for s in pipeline_policy()["Statement"]
                     if s.get("Sid") == "StageConditionAlarms")
    assert statement["Action"] == "cloudwatch:DescribeAlarms"
    assert statement["Resource"] == [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:demo-web-5xx",
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:demo-web-latency"]

    calls.clear()
    again = ecspipe("up", "-c", config)
    assert again.code == 0, again
    assert "no changes" in again.out
    assert "UpdatePipeline" not in calls.ops and "PutRolePolicy" not in calls.ops


def test_a_missing_alarm_is_exit_2_naming_it_and_its_environment_before_any_write(
        seeded, ecspipe, tmp_path, calls):
    put_alarm("demo-web-5xx")
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config.environments.example.yaml").read_text()
    text = text.split("\nnotify:", 1)[0] + "\nimage:" + text.split("\nimage:", 1)[1]
    text = text.replace("    approval: true", "    approval: true\n"
                        "    alarms: [demo-web-5xx, demo-web-errors]", 1)
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    result = ecspipe("up", "-c", str(path))
    assert result.code == 2, result
    assert "environments[1].alarms: CloudWatch alarm 'demo-web-errors' does not exist" in \
        result.err
    assert "production" in result.err and "demo-web-5xx'" not in result.err
    assert "Traceback" not in result.err
    assert [op for op in calls.writes] == []


def test_on_failure_fail_keeps_the_pipeline_of_before_and_the_default_updates_it_once(
        seeded, ecspipe, write_config):
    fail = write_config(("  container: web              #",
                         "  on_failure: fail\n  container: web              #"), name="fail.yaml")
    assert ecspipe("up", "-c", fail, "--wait-connection", "--timeout", "60").code == 0
    deploy = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]["stages"][2]
    assert "onFailure" not in deploy and "onSuccess" not in deploy
    default = write_config(name="default.yaml")
    plan = ecspipe("plan", "-c", default)
    assert plan.code == 0, plan
    assert "onFailure" in plan.out and "updated once" in plan.out
    assert ecspipe("up", "-c", default).code == 0
    again = ecspipe("plan", "-c", default)
    assert "no changes" in again.out, again
    # And back: `fail` removes the onFailure it added.
    back = ecspipe("up", "-c", fail)
    assert back.code == 0 and "stages.Deploy.onFailure" in back.out, back
    assert "updated once" not in back.out
    deploy = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]["stages"][2]
    assert "onFailure" not in deploy
