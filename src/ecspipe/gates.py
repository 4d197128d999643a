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
