"""Stage conditions in the sandbox: CloudWatchAlarm and DeploymentWindow rules, evaluated.

A V2 stage may declare `beforeEntry` (checked before its actions run),
`onSuccess` (checked after they succeeded: an alarm-watched bake) and
`onFailure` (what a failed stage does; only its `result` is simulated here).
Each holds one condition of 1-5 rules; a condition fails as soon as one rule
fails and succeeds when every rule has (CodePipeline User Guide, "How do stage
conditions work?": "if one rule fails in the condition, then the condition
fails"). What the sandbox does per rule, after the User Guide's rule reference
pages "CloudWatchAlarm" and "DeploymentWindow":

  DeploymentWindow  (Cron, TimeZone; see ecspipe/cron.py) succeeds when the
                    current minute is in the window; outside it the rule stays
                    InProgress until the window opens (the execution waits).
  CloudWatchAlarm   (AlarmName, AlarmStates, WaitTime in minutes), against
                    moto's alarm state, which SetAlarmState changes:
                    onSuccess: fails as soon as the alarm is in one of
                    AlarmStates during WaitTime, succeeds once WaitTime passed;
                    beforeEntry: succeeds at once if the alarm is not in those
                    states, else waits WaitTime for it to leave them, then fails.
  other rules       succeed at once (the sandbox does not run Lambda or commands).

A condition is re-evaluated when its next decision is due (`decides_at`) and
whenever an alarm changes state (see codepipeline.py's SetAlarmState hook), so
the result does not depend on how often anyone polls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecspipe import cron

IN_PROGRESS, SUCCEEDED, FAILED, ERRORED = "InProgress", "Succeeded", "Failed", "Errored"
ABANDONED = "Abandoned"


@dataclass
class RuleRun:
    """One evaluation of one rule (GetPipelineState's RuleState.latestExecution)."""

    declaration: dict[str, Any]
    started: float
    status: str = IN_PROGRESS
    summary: str | None = None
    updated: float = 0.0
    decides_at: float | None = None  # when it is decided, if nothing happens first
    rule_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def name(self) -> str:
        return str(self.declaration.get("name", ""))

    @property
    def provider(self) -> str:
        return str((self.declaration.get("ruleTypeId") or {}).get("provider", ""))

    @property
    def configuration(self) -> dict[str, str]:
        return self.declaration.get("configuration") or {}

    def decide(self, status: str, summary: str, at: float) -> None:
        self.status, self.summary, self.updated, self.decides_at = status, summary, at, None


@dataclass
class ConditionRun:
    """One evaluation of a stage's condition (beforeEntry or onSuccess)."""

    kind: str  # "beforeEntry" | "onSuccess"
    declaration: dict[str, Any]  # the Condition: {"result": ..., "rules": [...]}
    started: float
    rules: list[RuleRun] = field(default_factory=list)
    status: str = IN_PROGRESS
    summary: str | None = None
    updated: float = 0.0

    @property
    def result(self) -> str:
        """What the stage does when the condition fails (FAIL unless declared)."""
        return str(self.declaration.get("result") or "FAIL")

    @property
    def decides_at(self) -> float | None:
        if self.status != IN_PROGRESS:
            return None
        times = [r.decides_at for r in self.rules if r.status == IN_PROGRESS and r.decides_at]
        return min(times) if times else None

    def watches_alarm(self, name: str) -> bool:
        return any(r.provider == "CloudWatchAlarm" and r.configuration.get("AlarmName") == name
                   for r in self.rules)

    def abandon(self, at: float) -> None:
        for rule in self.rules:
            if rule.status == IN_PROGRESS:
                rule.decide(ABANDONED, "The stage was stopped.", at)
        if self.status == IN_PROGRESS:
            self.status, self.summary, self.updated = ABANDONED, "The stage was stopped.", at


def start(kind: str, stage_declaration: dict[str, Any], at: float) -> ConditionRun | None:
    """A new evaluation of the stage's `kind` condition, or None if it declares none."""
    declared = stage_declaration.get(kind) or {}
    conditions = declared.get("conditions") or []
    if not conditions:
        return None
    condition = conditions[0]  # the model allows exactly one
    run = ConditionRun(kind, condition, at, updated=at)
    run.rules = [RuleRun(rule, at, updated=at) for rule in condition.get("rules") or []]
    return run


def evaluate(condition: ConditionRun, account_id: str, region: str, at: float) -> str:
    """Decide what can be decided at `at`; returns the condition's status."""
    for rule in condition.rules:
        if rule.status == IN_PROGRESS:
            try:
                _evaluate_rule(condition.kind, rule, account_id, region, at)
            except cron.CronError as exc:
                rule.decide(ERRORED, f"The rule configuration is not valid: {exc}", at)
    failed = next((r for r in condition.rules if r.status in (FAILED, ERRORED)), None)
    if failed is not None:
        condition.status = FAILED
        condition.summary = f"Rule {failed.name} {failed.status.lower()}: {failed.summary}"
    elif all(r.status == SUCCEEDED for r in condition.rules):
        condition.status, condition.summary = SUCCEEDED, "All rules succeeded."
    else:
        waiting = next(r for r in condition.rules if r.status == IN_PROGRESS)
        condition.summary = waiting.summary
    condition.updated = at
    return condition.status


def _evaluate_rule(kind: str, rule: RuleRun, account_id: str, region: str, at: float) -> None:
    if rule.provider == "DeploymentWindow":
        _deployment_window(rule, at)
    elif rule.provider == "CloudWatchAlarm":
        _cloudwatch_alarm(kind, rule, account_id, region, at)
    else:
        rule.decide(SUCCEEDED, f"{rule.provider} rules always succeed in the sandbox.", at)


def _deployment_window(rule: RuleRun, at: float) -> None:
    expression = cron.parse(rule.configuration.get("Cron", ""))
    zone_name = rule.configuration.get("TimeZone")
    is_open, edge = cron.window_state(expression, cron.zone(zone_name), at)
    if is_open:
        rule.decide(SUCCEEDED, "The deployment window is open.", at)
        return
    if edge is None:
        rule.decide(FAILED, "The deployment window does not open within the next years.", at)
        return
    opens = edge.astimezone(UTC).timestamp()
    rule.summary = f"Waiting for the deployment window, which opens at {edge.isoformat()}."
    rule.decides_at = opens
    rule.updated = at


def alarm_state(account_id: str, region: str, name: str) -> str | None:
    """The alarm's state in moto's CloudWatch, or None if there is no such alarm."""
    from moto.cloudwatch.models import cloudwatch_backends

    try:
        alarm = cloudwatch_backends[account_id][region].alarms.get(name)
    except KeyError:
        return None
    return None if alarm is None else str(alarm.state_value)


def _cloudwatch_alarm(kind: str, rule: RuleRun, account_id: str, region: str, at: float) -> None:
    cfg = rule.configuration
    name = cfg.get("AlarmName", "")
    states = {s.strip() for s in (cfg.get("AlarmStates") or "ALARM").split(",") if s.strip()}
    wait = float(cfg.get("WaitTime") or 0) * 60
    deadline = rule.started + wait
    state = alarm_state(account_id, region, name)
    if state is None:
        rule.decide(ERRORED, f"The CloudWatch alarm {name} does not exist.", at)
        return
    watched = state in states
    if kind == "onSuccess":
        if watched:
            rule.decide(FAILED, f"The CloudWatch alarm {name} is in {state} state.", at)
        elif at >= deadline:
            rule.decide(SUCCEEDED, f"The CloudWatch alarm {name} stayed out of "
                        f"{', '.join(sorted(states))} for {int(wait // 60)} minutes.", at)
        else:
            rule.summary = f"Watching the CloudWatch alarm {name} until " \
                f"{datetime.fromtimestamp(deadline, tz=UTC).isoformat()}."
            rule.decides_at, rule.updated = deadline, at
        return
    if not watched:
        rule.decide(SUCCEEDED, f"The CloudWatch alarm {name} is in {state} state.", at)
    elif at >= deadline:
        rule.decide(FAILED, f"The CloudWatch alarm {name} is in {state} state.", at)
    else:
        rule.summary = f"Waiting for the CloudWatch alarm {name} to leave {state} state."
        rule.decides_at, rule.updated = deadline, at


def state_view(condition: ConditionRun) -> dict[str, Any]:
    """GetPipelineState's StageConditionState for one evaluation."""
    def rule_state(rule: RuleRun) -> dict[str, Any]:
        execution: dict[str, Any] = {"ruleExecutionId": rule.rule_execution_id,
                                     "status": rule.status if rule.status != ERRORED else FAILED,
                                     "lastStatusChange": rule.updated}
        if rule.summary:
            execution["summary"] = rule.summary
        return {"ruleName": rule.name, "latestExecution": execution}

    summary = {"status": condition.status}
    if condition.summary:
        summary["summary"] = condition.summary
    state = {"status": condition.status, "lastStatusChange": condition.updated}
    if condition.summary:
        state["summary"] = condition.summary
    return {
        "latestExecution": summary,
        "conditionStates": [{"latestExecution": state,
                             "ruleStates": [rule_state(r) for r in condition.rules]}],
    }
