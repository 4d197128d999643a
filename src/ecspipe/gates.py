"""The gates of the deploy stages (issue 13): preflight's alarm check, plan notes, and
reading the stage conditions' state for `release --wait` and `status`.

The declaration's condition members come from documents/conditions.py; this module
is what the commands say about them. What AWS documents, and ecspipe relies on:

- "DescribeAlarms" (CloudWatch API Reference): AlarmNames up to 100 per call;
  AlarmTypes must name CompositeAlarm for composite alarms to be returned ("If you
  omit this parameter, only metric alarms are returned"); MaxRecords 1-100.
- GetPipelineState (CodePipeline API Reference): each stage state has
  beforeEntryConditionState / onSuccessConditionState / onFailureConditionState
  {latestExecution {status, summary}, conditionStates [{latestExecution,
  ruleStates [{ruleName, latestExecution {status, summary}}]}]}; condition statuses
  InProgress | Failed | Errored | Succeeded | Cancelled | Abandoned | Overridden.
- Executions (ListPipelineExecutions, GetPipelineExecution): executionType STANDARD |
  ROLLBACK and rollbackMetadata.rollbackTargetPipelineExecutionId; trigger types
  ManualRollback and AutomatedRollback.
- "DeploymentWindow" / "CloudWatchAlarm" (rule reference): an execution that reaches a
  stage whose beforeEntry DeploymentWindow rule is not satisfied waits there, the
  entry condition InProgress, until the window opens (the rule is not re-checked with
  the alarms after it opens); an onSuccess CloudWatchAlarm rule watches its alarm for
  WaitTime minutes after the stage's actions succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ecspipe.config import Config, Target
from ecspipe.documents.conditions import describe_window
from ecspipe.errors import UserError

ALARMS_PER_CALL = 100  # DescribeAlarms AlarmNames (CloudWatch API model)
FIRST_EXECUTION_NOTE = ("a failed deploy rolls back to the last execution that succeeded in "
                        "this stage; the first execution has nothing to roll back to (it "
                        "simply fails)")
VERSION_NOTE = ("every pipeline update starts a new pipeline version; a rollback can return "
                "only to an execution of the current version")
ON_FAILURE_UPDATE_NOTE = ("on_failure: rollback (the default) adds onFailure ROLLBACK to the "
                          "deploy stage: an existing pipeline is updated once for it")


# ---- preflight ---------------------------------------------------------------------------

def has_alarms(config: Config) -> bool:
    return any(t.gates.alarms for t in config.targets)


def check_alarms(config: Config, aws: Any) -> dict[str, str]:
    """Every alarm the config names exists: {name: MetricAlarm | CompositeAlarm}. One
    DescribeAlarms for all environments (at most 10 x 5 names, within its 100); a
    missing alarm is a UserError naming it and its environment (all at once)."""
    names = sorted({a for t in config.targets for a in t.gates.alarms})
    if not names:
        return {}
    cloudwatch = aws.client("cloudwatch")
    found: dict[str, str] = {}
    for i in range(0, len(names), ALARMS_PER_CALL):
        answer = cloudwatch.describe_alarms(
            AlarmNames=names[i:i + ALARMS_PER_CALL],
            AlarmTypes=["MetricAlarm", "CompositeAlarm"], MaxRecords=100)
        for kind, key in (("MetricAlarm", "MetricAlarms"), ("CompositeAlarm", "CompositeAlarms")):
            for alarm in answer.get(key, []):
                found[alarm["AlarmName"]] = kind
    problems = [f"{t.gates_path}.alarms: CloudWatch alarm {a!r} does not exist in "
                f"{config.region}" + (f" (environment {t.name})" if t.name else "")
                for t in config.targets for a in t.gates.alarms if a not in found]
    if problems:
        error = UserError(problems[0] if len(problems) == 1 else
                          f"{len(problems)} CloudWatch alarms of the config do not exist",
                          hint="create the alarm first (ecspipe watches alarms, it never "
                          "creates them), or fix its name under alarms:")
        if len(problems) > 1:
            error.problems = problems
        raise error
    return found


def composite_alarms(target: Target, kinds: dict[str, str]) -> frozenset[str]:
    return frozenset(a for a in target.gates.alarms if kinds.get(a) == "CompositeAlarm")


# ---- plan notes --------------------------------------------------------------------------

def plan_notes(targets: Sequence[Target], created: bool, fields: Sequence[Any]) -> list[str]:
    """What `plan` says about the deploy stages' gates, when the pipeline is created or
    updated (`fields`: the update's FieldChanges)."""
    notes: list[str] = []
    for target in targets:
        gates, where = target.gates, f"{target.name}: " if target.name else ""
        if gates.on_failure == "rollback":
            notes.append(where + FIRST_EXECUTION_NOTE)
        if gates.alarms:
            notes.append(f"{where}the bake watches {', '.join(gates.alarms)} for "
                         f"{gates.bake_minutes} minutes after the deploy; an alarm in ALARM "
                         "rolls the stage back")
        if gates.window:
            notes.append(where + describe_window(*gates.window))
    if not created and any(f.path.endswith(".onFailure") and f.before is None and f.after
                           for f in fields):
        notes.append(ON_FAILURE_UPDATE_NOTE)
    notes.append(VERSION_NOTE)
    return notes


# ---- reading the conditions (status, release --wait) ----------------------------------------

CONDITION_KINDS = (("beforeEntry", "beforeEntryConditionState"),
                   ("onSuccess", "onSuccessConditionState"),
                   ("onFailure", "onFailureConditionState"))


def declared_stages(pipeline: dict) -> dict[str, dict]:
    return {s.get("name", ""): s for s in pipeline.get("stages", [])}


def condition_views(stage_state: dict, declared: dict | None) -> list[dict]:
    """A stage's conditions for `status` JSON: kind, result, state and each rule's state
    (from the declaration and GetPipelineState's condition states)."""
    out = []
    for kind, key in CONDITION_KINDS:
        member = (declared or {}).get(kind) or {}
        state = stage_state.get(key) or {}
        if not member and not state:
            continue
        condition = (member.get("conditions") or [{}])[0]
        condition_state = (state.get("conditionStates") or [{}])[0]
        rule_states = {r.get("ruleName"): r.get("latestExecution") or {}
                       for r in condition_state.get("ruleStates") or []}
        declared_rules = {r.get("name"): r for r in condition.get("rules") or []}
        rules = [{"name": name,
                  "provider": ((declared_rules.get(name) or {}).get("ruleTypeId") or {}).get(
                      "provider"),
                  "configuration": (declared_rules.get(name) or {}).get("configuration"),
                  "status": (rule_states.get(name) or {}).get("status"),
                  "summary": (rule_states.get(name) or {}).get("summary")}
                 for name in [*declared_rules, *(n for n in rule_states
                                                 if n not in declared_rules)]]
        latest = state.get("latestExecution") or {}
        out.append({"kind": kind, "result": member.get("result") or condition.get("result"),
                    "status": latest.get("status"), "summary": latest.get("summary"),
                    "rules": rules})
    return out


def _mine(stage: dict, execution_id: str) -> bool:
    ids = [(stage.get("latestExecution") or {}).get("pipelineExecutionId"),
           (stage.get("inboundExecution") or {}).get("pipelineExecutionId"),
           *((e or {}).get("pipelineExecutionId") for e in stage.get("inboundExecutions") or [])]
    return execution_id in ids


def _rule_config(declared: dict, kind: str, provider: str) -> list[dict[str, str]]:
    condition = ((declared.get(kind) or {}).get("conditions") or [{}])[0]
    return [r.get("configuration") or {} for r in condition.get("rules") or []
            if (r.get("ruleTypeId") or {}).get("provider") == provider]


def waiting(state: dict, pipeline: dict, execution_id: str, actions: list[dict],
            wall: float) -> dict | None:
    """What a gate holds this execution at now: {"kind": "bake", "stage", "alarms",
    "remaining_seconds"} while an onSuccess alarm condition watches its deploy, or
    {"kind": "window", "stage", "cron", "timezone", "opens_at"} while it waits outside a
    deploy window; None otherwise."""
    from ecspipe import cron

    declared = declared_stages(pipeline)
    for stage in state.get("stageStates", []):
        name = stage.get("stageName", "")
        if not _mine(stage, execution_id):
            continue
        entry = (stage.get("beforeEntryConditionState") or {}).get("latestExecution") or {}
        windows = _rule_config(declared.get(name) or {}, "beforeEntry", "DeploymentWindow")
        if entry.get("status") == "InProgress" and windows:
            expression, zone = windows[0].get("Cron", ""), windows[0].get("TimeZone")
            opens = None
            try:
                is_open, edge = cron.window_state(cron.parse(expression), cron.zone(zone), wall)
                opens = None if is_open or edge is None else edge.isoformat()
            except cron.CronError:
                pass
            return {"kind": "window", "stage": name, "cron": expression, "timezone": zone,
                    "opens_at": opens}
        bake = (stage.get("onSuccessConditionState") or {}).get("latestExecution") or {}
        alarms = _rule_config(declared.get(name) or {}, "onSuccess", "CloudWatchAlarm")
        latest = stage.get("latestExecution") or {}
        if bake.get("status") == "InProgress" and alarms and \
                latest.get("pipelineExecutionId") == execution_id:
            minutes = max(float(a.get("WaitTime") or 0) for a in alarms)
            ended = [a["finished_at"] for a in actions
                     if a["stage"] == name and a.get("finished_at") is not None]
            remaining = None
            if ended:
                remaining = max(0.0, minutes * 60 - (wall - max(ended).timestamp()))
            return {"kind": "bake", "stage": name,
                    "alarms": [a.get("AlarmName", "") for a in alarms],
                    "minutes": minutes, "remaining_seconds": remaining}
    return None


def stage_done(state: dict, stage_name: str, execution_id: str) -> bool:
    """The stage's latest execution is this one and it succeeded (its bake, if any, too)."""
    for stage in state.get("stageStates", []):
        if stage.get("stageName") == stage_name:
            latest = stage.get("latestExecution") or {}
            return (latest.get("pipelineExecutionId") != execution_id
                    or latest.get("status") == "Succeeded")
    return True


def rolls_back(pipeline: dict, stage_name: str, kind: str) -> bool:
    """Does the stage declare a ROLLBACK result for `kind` (onFailure / onSuccess)?"""
    member = declared_stages(pipeline).get(stage_name, {}).get(kind) or {}
    if kind == "onFailure":
        return member.get("result") == "ROLLBACK"
    return any(c.get("result") == "ROLLBACK" for c in member.get("conditions") or [])


def fired_alarm(pipeline: dict, stage_name: str, texts: Sequence[str | None]) -> str | None:
    """Which of the stage's bake alarms the failure's texts name (statusSummary, the
    condition's summaries)."""
    alarms = [c.get("AlarmName", "") for c in _rule_config(
        declared_stages(pipeline).get(stage_name, {}), "onSuccess", "CloudWatchAlarm")]
    for text in texts:
        for alarm in alarms:
            if alarm and text and alarm in text:
                return alarm
    return None


def rollback_after(summaries: list[dict], execution_id: str, started: Any) -> dict | None:
    """The automated rollback CodePipeline started after `execution_id` failed: the newest
    ROLLBACK execution triggered AutomatedRollback that started at or after it."""
    for summary in summaries:
        if summary.get("pipelineExecutionId") == execution_id:
            return None
        if (summary.get("executionType") == "ROLLBACK"
                and (summary.get("trigger") or {}).get("triggerType") == "AutomatedRollback"
                and (started is None or summary.get("startTime") is None
                     or summary["startTime"] >= started)):
            return summary
    return None


def when(epoch_iso: str | None) -> str:
    if not epoch_iso:
        return "never within five years (check the cron's year field)"
    moment = datetime.fromisoformat(epoch_iso)
    utc = moment.astimezone(UTC)
    return f"{moment.isoformat(timespec='minutes')} ({utc.strftime('%Y-%m-%d %H:%M')} UTC)"
