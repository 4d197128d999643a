"""Stage conditions of a deploy stage: automatic rollback, an alarm-watched bake, a deploy window.

Pure builders: what a deploy stage's declaration gains (`onFailure`, `onSuccess`,
`beforeEntry`) and what the pipeline role needs for it. What AWS documents, and
what ecspipe relies on (CodePipeline User Guide):

- "Configure conditions for a stage" / StageDeclaration in the API reference:
  each of beforeEntry / onSuccess / onFailure holds exactly one condition of 1-5
  rules; results allowed: beforeEntry FAIL (SKIP only with LambdaInvoke or
  VariableCheck rules), onSuccess ROLLBACK or FAIL, onFailure ROLLBACK. A
  condition fails as soon as one of its rules fails. Rules are
  {name, ruleTypeId {category "Rule", owner "AWS", provider, version "1"},
  configuration}; configuration values are strings of at most 10,000 characters.
- "Configure a stage for automatic rollback": `"onFailure": {"result": "ROLLBACK"}`
  rolls a failed stage back to the last execution that succeeded in it, "only
  after there is a successful pipeline execution in the pipeline stage", and only
  to one of the current pipeline structure version (every UpdatePipeline starts
  a new version). Not available in PARALLEL execution mode.
- Rule reference "CloudWatchAlarm": AlarmName (one alarm per rule), AlarmStates
  (ALARM, OK, INSUFFICIENT_DATA), WaitTime in minutes. In onSuccess it watches
  the alarm after the stage's actions succeeded; an alarm in ALARM within the
  wait fails the condition, and the ROLLBACK result rolls the stage back. AWS
  documents no permission for it; the pipeline role gets cloudwatch:DescribeAlarms
  on exactly those alarms (the read the rule makes).
- Rule reference "DeploymentWindow": Cron (6 fields and an optional year, seconds
  first; see ecspipe/cron.py) and TimeZone. In beforeEntry with result FAIL, an
  execution that reaches the stage outside the window waits, the entry condition
  InProgress, until the window opens; the rule needs no permission.
"""

from __future__ import annotations

from typing import Any

# What a stage does when its onFailure / onSuccess condition fails.
ROLLBACK, FAIL = "ROLLBACK", "FAIL"
MAX_RULES = 5  # rules per condition (StageDeclaration: RuleDeclarationList max 5)


def rule(name: str, provider: str, configuration: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
        "configuration": configuration,
    }


def alarm_rule_names(alarms: list[str]) -> list[str]:
    """Rule names for the alarms, in order: `Alarm-1`, `Alarm-2`, ... (alarm names may
    hold characters a rule name may not; the alarm's name is in the rule's configuration)."""
    return [f"Alarm-{i}" for i in range(1, len(alarms) + 1)]


def bake_condition(alarms: list[str], minutes: int) -> dict[str, Any]:
    """onSuccess: watch the alarms for `minutes` after the deploy; ALARM rolls the stage back."""
    assert 1 <= len(alarms) <= MAX_RULES
    rules = [
        rule(name, "CloudWatchAlarm",
             {"AlarmName": alarm, "AlarmStates": "ALARM", "WaitTime": str(minutes)})
        for name, alarm in zip(alarm_rule_names(alarms), alarms, strict=True)
    ]
    return {"conditions": [{"result": ROLLBACK, "rules": rules}]}


def window_condition(cron: str, timezone: str | None) -> dict[str, Any]:
    """beforeEntry: enter the stage only inside the deploy window (outside it, wait)."""
    configuration = {"Cron": cron}
    if timezone:
        configuration["TimeZone"] = timezone
    return {"conditions": [{"result": FAIL, "rules": [
        rule("DeployWindow", "DeploymentWindow", configuration)]}]}


def stage_conditions(on_failure: str, alarms: list[str], bake_minutes: int | None,
                     window: tuple[str, str | None] | None) -> dict[str, Any]:
    """The condition members of one deploy stage's declaration (empty: none)."""
    out: dict[str, Any] = {}
    if window is not None:
        out["beforeEntry"] = window_condition(*window)
    if alarms:
        out["onSuccess"] = bake_condition(alarms, bake_minutes or 0)
    if on_failure == "rollback":
        out["onFailure"] = {"result": ROLLBACK}
    return out


def alarm_arns(partition: str, region: str, account: str, alarms: list[str]) -> list[str]:
    return sorted(f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}" for name in alarms)


def alarm_statement(arns: list[str]) -> dict[str, Any]:
    """What the pipeline role needs for CloudWatchAlarm rules: read those alarms' state."""
    return {
        "Sid": "StageConditionAlarms",
        "Effect": "Allow",
        "Action": "cloudwatch:DescribeAlarms",
        "Resource": arns,
    }


def describe_window(cron: str, timezone: str | None) -> str:
    """The deploy window in plain words, for plan notes and status."""
    zone = timezone or "UTC"
    return (f"deploys only inside the window {cron!r} ({zone}); an execution that reaches the "
            "stage outside it waits there until the window opens")
