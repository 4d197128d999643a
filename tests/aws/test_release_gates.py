"""`release --wait` through the gates (mock mode, manual clock): a bake an alarm fails, a
failed deploy with on_failure rollback or fail, a closed deploy window."""

from __future__ import annotations

import boto3
import pytest

ALARM = "demo-web-5xx"
ANCHOR = "  container: web              #"


def put_alarm() -> None:
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
        ComparisonOperator="GreaterThanThreshold")


def service_image() -> str:
    ecs = boto3.client("ecs")
    arn = ecs.describe_services(cluster="demo-cluster",
                                services=["demo-web-service"])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
        "containerDefinitions"][0]["image"]


def up(ecspipe, write_config, gates: str) -> str:
    path = write_config((ANCHOR, gates + "\n" + ANCHOR))
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


def test_an_alarm_during_the_bake_rolls_back_and_release_names_it(seeded, ecspipe,
                                                                    write_config, clock,
                                                                    sleeps):
    put_alarm()
    path = up(ecspipe, write_config, f"  alarms: [{ALARM}]\n  bake_minutes: 5")
    first = ecspipe("release", "-c", path, "--wait", "--commit", "1" * 40)
    assert first.code == 0, first
    assert f"baking Deploy: watching {ALARM}, 5 min left" in first.out
    assert service_image().endswith("-1111111")

    cp = boto3.client("codepipeline")
    fired = []

    def sleep_then_alarm(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        deploy = cp.get_pipeline_state(name="demo-app")["stageStates"][2]
        baking = (deploy.get("onSuccessConditionState") or {}).get("latestExecution", {})
        if baking.get("status") == "InProgress" and not fired and clock.now() > 0:
            fired.append(True)
            boto3.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="ALARM",
                                                       StateReason="5xx spike")

    second = ecspipe("release", "-c", path, "--wait", "--commit", "2" * 40,
                     obj={"sleep": sleep_then_alarm})
    assert second.code == 1, second
    assert fired
    assert f"alarm {ALARM} went into ALARM during the bake of Deploy" in second.out
    assert "CodePipeline rolled Deploy back to execution" in second.out
    assert "the service runs" in second.out and "-1111111" in second.out.split(
        "the service runs")[1]
    assert service_image().endswith("-1111111")


@pytest.mark.parametrize("on_failure", ["rollback", "fail"])
def test_a_failed_deploy_rolls_back_with_rollback_and_stays_failed_with_fail(
        seeded, ecspipe, write_config, sandbox, on_failure):
    path = up(ecspipe, write_config, f"  on_failure: {on_failure}")
    assert ecspipe("release", "-c", path, "--wait", "--commit", "1" * 40).code == 0
    sandbox.fail_stage = "Deploy"
    result = ecspipe("release", "-c", path, "--wait", "--commit", "2" * 40, "-o", "json")
    sandbox.fail_stage = None
    assert result.code == 1, result
    data = result.json()
    summaries = boto3.client("codepipeline").list_pipeline_executions(
        pipelineName="demo-app")["pipelineExecutionSummaries"]
    rollbacks = [s for s in summaries if s.get("executionType") == "ROLLBACK"]
    assert service_image().endswith("-1111111")
    if on_failure == "rollback":
        assert "the deploy action Deploy/Deploy failed" in data["reason"]
        assert "CodePipeline rolled Deploy back to execution" in data["reason"]
        assert data["rollback"]["verified"] is True
        assert data["rollback"]["target_execution_id"] == rollbacks[0]["rollbackMetadata"][
            "rollbackTargetPipelineExecutionId"]
        assert data["service"]["image"].endswith("-1111111")
        assert len(rollbacks) == 1
    else:
        assert rollbacks == [] and data["rollback"] is None
        assert "rolled" not in data["reason"]


def test_the_first_failed_deploy_has_nothing_to_roll_back_to(seeded, ecspipe, write_config,
                                                              sandbox):
    path = write_config()
    sandbox.fail_stage = "Deploy"
    assert ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60").code == 0
    result = ecspipe("release", "-c", path, "--wait")
    sandbox.fail_stage = None
    assert result.code == 1, result
    assert "nothing to roll back to" in result.out
    status = ecspipe("status", "-c", path)
    assert "a failed deploy has nothing to roll back to" in status.out


def test_outside_the_deploy_window_release_says_when_it_opens_then_deploys(
        seeded, ecspipe, write_config, clock):
    # The manual clock starts on Monday 2026-09-21 14:13:20 UTC; the window opens at 16:20 in Berlin (14:20 UTC).
    path = up(ecspipe, write_config,
              "  deploy_window: {cron: '0 20-59 16 ? * MON-FRI *', timezone: Europe/Berlin}")
    result = ecspipe("release", "-c", path, "--wait", "--commit", "1" * 40)
    assert result.code == 0, result
    assert "outside the deploy window of Deploy" in result.out
    assert "until it opens at 2026-09-21T16:20+02:00 (2026-09-21 14:20 UTC)" in result.out
    assert result.out.count("outside the deploy window") == 1
    status = ecspipe("status", "-c", path, "-o", "json").json()
    deploy = next(s for s in status["stages"] if s["name"] == "Deploy")
    entry = next(c for c in deploy["conditions"] if c["kind"] == "beforeEntry")
    assert entry["result"] == "FAIL" and entry["status"] == "Succeeded"
    assert entry["rules"][0]["provider"] == "DeploymentWindow"
    failure = next(c for c in deploy["conditions"] if c["kind"] == "onFailure")
    assert failure["result"] == "ROLLBACK"
