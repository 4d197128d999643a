"""documents/conditions.py: stage conditions as CodePipeline's API model defines them."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator

from ecspipe.documents import conditions

MODEL = botocore.session.get_session().get_service_model("codepipeline")


def declared_stage(**members) -> dict:
    action = {"name": "Deploy", "actionTypeId": {"category": "Deploy", "owner": "AWS",
                                                  "provider": "ECS", "version": "1"},
              "configuration": {"ClusterName": "c", "ServiceName": "s"},
              "inputArtifacts": [{"name": "BuildOutput"}]}
    return {"name": "Deploy", "actions": [action], **members}


def problems(stage: dict) -> str:
    shape = MODEL.shape_for("StageDeclaration")
    report = ParamValidator().validate(stage, shape)
    return report.generate_report() if report.has_errors() else ""


def test_every_option_builds_a_stage_the_model_accepts():
    members = conditions.stage_conditions(
        "rollback", ["demo-web-5xx", "demo-web-latency"], 10,
        ("0 * 9-16 ? * MON-FRI *", "Europe/Berlin"))
    assert problems(declared_stage(**members)) == ""
    assert members["onFailure"] == {"result": "ROLLBACK"}
    bake = members["onSuccess"]["conditions"]
    assert len(bake) == 1 and bake[0]["result"] == "ROLLBACK"
    assert [r["configuration"] for r in bake[0]["rules"]] == [
        {"AlarmName": "demo-web-5xx", "AlarmStates": "ALARM", "WaitTime": "10"},
        {"AlarmName": "demo-web-latency", "AlarmStates": "ALARM", "WaitTime": "10"},
    ]
    assert [r["name"] for r in bake[0]["rules"]] == ["Alarm-1", "Alarm-2"]
    assert {r["ruleTypeId"]["provider"] for r in bake[0]["rules"]} == {"CloudWatchAlarm"}
    window = members["beforeEntry"]["conditions"][0]
    assert window["result"] == "FAIL"
    assert window["rules"][0]["configuration"] == {"Cron": "0 * 9-16 ? * MON-FRI *",
                                                   "TimeZone": "Europe/Berlin"}


def test_fail_and_no_gates_add_nothing():
    assert conditions.stage_conditions("fail", [], None, None) == {}


def test_a_window_without_a_time_zone_leaves_it_to_aws_default_utc():
    built = conditions.window_condition("0 * 9 ? * * *", None)
    assert built["conditions"][0]["rules"][0]["configuration"] == {"Cron": "0 * 9 ? * * *"}


def test_more_alarms_than_a_condition_holds_are_a_bug_here():
    with pytest.raises(AssertionError):
        conditions.bake_condition([f"a{i}" for i in range(6)], 5)


def test_the_alarm_statement_names_exactly_the_alarms():
    arns = conditions.alarm_arns("aws", "eu-central-1", "123456789012", ["b", "a"])
    assert arns == ["arn:aws:cloudwatch:eu-central-1:123456789012:alarm:a",
                    "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:b"]
    statement = conditions.alarm_statement(arns)
    assert statement["Action"] == "cloudwatch:DescribeAlarms" and statement["Resource"] == arns
