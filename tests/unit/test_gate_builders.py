"""The gates in config, declaration, pipeline role policy and plan notes (pure, no AWS).

Per environment (or under `service:`): on_failure rollback|fail (default rollback),
alarms (1-5) with bake_minutes (default 10; without alarms an error), deploy_window
{cron, timezone} validated offline with ecspipe.cron.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sample_facts import ACCOUNT, environments, seed_environments

from ecspipe.config import Gates, load_config, parse_config
from ecspipe.documents import policies
from ecspipe.documents.pipeline import pipeline_declaration
from ecspipe.errors import ConfigError
from ecspipe.gates import ON_FAILURE_UPDATE_NOTE, plan_notes
from ecspipe.names import Names
from ecspipe.resources.base import FieldChange

ROOT = Path(__file__).resolve().parents[2]
SINGLE = (ROOT / "config.example.yaml").read_text()
MANY = (ROOT / "config.environments.example.yaml").read_text()
CONNECTION = f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/x"


def single(extra: str) -> str:
    return SINGLE.replace("  container: web              #",
                          extra + "\n  container: web              #", 1)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    return error.value.problems or [error.value.message]


def test_defaults_roll_back_and_watch_nothing() -> None:
    (target,) = parse_config(SINGLE).targets
    assert target.gates == Gates(on_failure="rollback", alarms=(), bake_minutes=None,
                                 window=None)


def test_the_single_form_takes_the_gates_under_service() -> None:
    config = parse_config(single(
        "  on_failure: fail\n  alarms: [a-5xx, 'latency p99']\n"
        "  deploy_window: {cron: '0 0 9-16 ? * MON-FRI *', timezone: 'UTC+05:30'}"))
    assert config.targets[0].gates == Gates("fail", ("a-5xx", "latency p99"), 10,
                                            ("0 0 9-16 ? * MON-FRI *", "UTC+05:30"))


def test_each_environment_has_its_own_gates() -> None:
    text = MANY.replace("      container: app            #",
                        "      container: app\n    on_failure: fail\n    #", 1)
    text = text.replace("    approval: true", "    approval: true\n    alarms: [prod-5xx]\n"
                        "    bake_minutes: 30", 1)
    staging, production = parse_config(text).targets
    assert staging.gates == Gates("fail")
    assert production.gates == Gates("rollback", ("prod-5xx",), 30)
    assert production.gates_path == "environments[1]" and staging.gates_path == \
        "environments[0]"


@pytest.mark.parametrize(("extra", "expected"), [
    ("  on_failure: retry", "service.on_failure: must be one of rollback, fail"),
    ("  bake_minutes: 5", "service.bake_minutes: needs `alarms:`"),
    ("  alarms: [a]\n  bake_minutes: 1441", "service.bake_minutes: must be less than or equal"),
    ("  alarms: [a]\n  bake_minutes: 0", "service.bake_minutes: must be greater than or equal"),
    ("  alarms: []", "service.alarms: List should have at least 1 item"),
    ("  alarms: [a, b, c, d, e, f]", "service.alarms: List should have at most 5 items"),
    ("  alarms: [a, b, a]", "service.alarms.2: alarm 'a' is listed twice"),
    (f"  alarms: [{'x' * 256}]", "service.alarms.0: an alarm name is 1-255 characters"),
    ("  alarms: [' padded']", "must not start or end with spaces"),
    ("  deploy_window: {cron: '0 9-16 ? * MON-FRI *'}",
     "AWS's DeploymentWindow cron starts with seconds: '0 0 9-16 ? * MON-FRI *'"),
    ("  deploy_window: {cron: '0 0 9-16 * * MON-FRI *'}", "exactly one of day-of-month"),
    ("  deploy_window: {cron: '0 0 9-16 ? * MON-FRI *', timezone: CST}", "is an abbreviation"),
    ("  deploy_window: {cron: '0 0 9-16 ? * MON-FRI *', timezone: Mars/Olympus}",
     "not a known Region/City"),
    ("  deploy_window: {timezone: UTC}", "service.deploy_window.cron"),
    ("  deploy_window: {cron: '0 0 9 ? * MON *', when: now}", "service.deploy_window.when"),
])
def test_bad_gates_are_config_errors_naming_the_field(extra: str, expected: str) -> None:
    found = problems(single(extra))
    assert any(expected in line for line in found), found


def _declaration(gates: tuple[Gates, ...]) -> dict:
    config = load_config(ROOT / "config.example.yaml")
    envs = environments(len(gates))
    envs = tuple(replace(e, target=replace(e.target, gates=g))
                 for e, g in zip(envs, gates, strict=True))
    names = Names.from_config(config, ACCOUNT)
    names = Names(**{**names.__dict__, "environments": tuple((e.name, e.approval)
                                                             for e in envs)})
    return pipeline_declaration(config, names, envs, CONNECTION)


def test_every_deploy_stage_gets_its_own_conditions_and_approval_stages_none() -> None:
    declaration = _declaration((
        Gates("fail"),
        Gates("rollback", ("p-5xx", "p-lat"), 15, ("0 0 9-16 ? * MON-FRI *", "Europe/Berlin")),
    ))
    stages = {s["name"]: s for s in declaration["stages"]}
    staging, production = stages["Deploy-staging"], stages["Deploy-production"]
    assert set(staging) == {"name", "actions"}
    assert production["onFailure"] == {"result": "ROLLBACK"}
    bake = production["onSuccess"]["conditions"][0]
    assert bake["result"] == "ROLLBACK"
    assert [(r["name"], r["configuration"]) for r in bake["rules"]] == [
        ("Alarm-1", {"AlarmName": "p-5xx", "AlarmStates": "ALARM", "WaitTime": "15"}),
        ("Alarm-2", {"AlarmName": "p-lat", "AlarmStates": "ALARM", "WaitTime": "15"})]
    window = production["beforeEntry"]["conditions"][0]
    assert window["result"] == "FAIL"
    assert window["rules"][0]["ruleTypeId"]["provider"] == "DeploymentWindow"
    assert window["rules"][0]["configuration"] == {"Cron": "0 0 9-16 ? * MON-FRI *",
                                                   "TimeZone": "Europe/Berlin"}
    assert set(stages["Approve-production"]) == {"name", "actions"}
    # ROLLBACK is not available in PARALLEL mode ("Set or change the pipeline execution mode").
    assert declaration["executionMode"] == "SUPERSEDED"


def _policy(envs) -> dict:
    config = load_config(ROOT / "config.example.yaml")
    return policies.pipeline_policy(Names.from_config(config, ACCOUNT), envs, CONNECTION)


def _alarm_statements(policy: dict) -> list[dict]:
    return [s for s in policy["Statement"] if "cloudwatch:DescribeAlarms" in str(s["Action"])]


def test_the_pipeline_role_reads_exactly_the_alarms_of_every_environment() -> None:
    envs = environments(3)
    envs = (replace(envs[0], target=replace(envs[0].target, gates=Gates(alarms=("b",),
                                                                       bake_minutes=10))),
            envs[1],
            replace(envs[2], target=replace(envs[2].target, gates=Gates(
                alarms=("a", "b"), bake_minutes=10))))
    (statement,) = _alarm_statements(_policy(envs))
    assert statement == {
        "Sid": "StageConditionAlarms", "Effect": "Allow", "Action": "cloudwatch:DescribeAlarms",
        "Resource": [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:a",
                     f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:b"]}


def test_without_alarms_the_role_gets_no_cloudwatch_permission() -> None:
    envs = tuple(replace(e, target=replace(e.target, gates=Gates(
        "rollback", window=("0 0 9 ? * MON *", None)))) for e in seed_environments())
    assert _alarm_statements(_policy(envs)) == []


def test_a_composite_alarm_needs_describe_alarms_on_star() -> None:
    # "DescribeAlarms" (CloudWatch API Reference): composite alarms only with a `*` scope.
    (env,) = seed_environments()
    env = replace(env, target=replace(env.target, gates=Gates(alarms=("health", "x"),
                                                              bake_minutes=10)),
                  composite_alarms=frozenset({"health"}))
    (statement,) = _alarm_statements(_policy((env,)))
    assert statement["Resource"] == "*" and statement["Action"] == "cloudwatch:DescribeAlarms"


def test_plan_notes_say_what_each_gate_does_and_the_update_for_on_failure() -> None:
    config = parse_config(single(
        "  alarms: [a-5xx]\n  bake_minutes: 3\n"
        "  deploy_window: {cron: '0 0 9-16 ? * MON-FRI *', timezone: Europe/Berlin}"))
    created = plan_notes(config.targets, created=True, fields=[])
    assert any("the first execution has nothing to roll back to" in n for n in created)
    assert any("watches a-5xx for 3 minutes" in n for n in created)
    assert any("waits there until the window opens" in n and "Europe/Berlin" in n
               for n in created)
    assert any("only to an execution of the current version" in n for n in created)
    assert ON_FAILURE_UPDATE_NOTE not in created
    updated = plan_notes(config.targets, created=False, fields=[
        FieldChange("stages.Deploy.onFailure", None, {"result": "ROLLBACK"})])
    assert ON_FAILURE_UPDATE_NOTE in updated
    fail = parse_config(single("  on_failure: fail"))
    assert not any("roll back to" in n for n in plan_notes(fail.targets, True, []))
