"""`release --wait` when CodePipeline rolled a stage back: why, to what, and what runs now.

A deploy stage with `onFailure: ROLLBACK` (a failed action) or an onSuccess
condition with result ROLLBACK (an alarm in ALARM during the bake) fails the
execution, and CodePipeline starts a new execution of type ROLLBACK, trigger
AutomatedRollback, that deploys the last execution that succeeded in the stage
("Configure a stage for automatic rollback", CodePipeline User Guide; without such
an execution there is nothing to roll back to and the stage simply fails). Here
the failed execution's outcome gets its cause (the action and its error, or the
alarm that fired), the rollback is followed to its end (release.follow), and the
service is read again: the reason says what it runs now. The outcome stays a
failure (exit 1): the release did not go out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ecspipe import gates
from ecspipe.resources.base import Context
from ecspipe.status import HISTORY, execution_summaries, service_states, short_sha

if TYPE_CHECKING:
    from ecspipe.release import Outcome, Snapshot, Watch


def _condition_texts(state: dict, stage_name: str) -> list[str | None]:
    for stage in state.get("stageStates", []):
        if stage.get("stageName") != stage_name:
            continue
        condition = stage.get("onSuccessConditionState") or {}
        rules = [r.get("latestExecution") or {} for c in condition.get("conditionStates") or []
                 for r in c.get("ruleStates") or []]
        return [(condition.get("latestExecution") or {}).get("summary"),
                *(r.get("summary") for r in rules)]
    return []


def explain(ctx: Context, watch: Watch, snap: Snapshot, outcome: Outcome,
            follow_rollback: Callable[[str, Any], Outcome]) -> Outcome:
    """The outcome of a failed execution, with CodePipeline's rollback of its stage said."""
    if snap.status != "Failed":
        return outcome
    failed = outcome.failed_action
    deploys = watch.by_deploy
    if failed is not None:
        if failed["stage"] not in deploys:
            return outcome
        stage, kind = failed["stage"], "onFailure"
    else:
        done = [a["stage"] for a in snap.actions
                if a["stage"] in deploys and a["status"] == "Succeeded"]
        if not done:
            return outcome
        stage, kind = done[-1], "onSuccess"
    if not gates.rolls_back(watch.pipeline, stage, kind):
        return outcome
    target = deploys[stage]
    where = f"{target.name}: " if target.name else ""
    execution, summaries = _reads(ctx, snap.execution_id)
    if execution.get("executionType") == "ROLLBACK":
        return outcome  # a rollback is not rolled back again
    if kind == "onFailure":
        assert failed is not None
        cause = (f"{where}the deploy action {failed['stage']}/{failed['action']} failed"
                 + (f": {failed['error']}" if failed.get("error") else ""))
    else:
        alarm = gates.fired_alarm(watch.pipeline, stage, [
            execution.get("statusSummary"), *_condition_texts(snap.state, stage)])
        cause = (f"{where}alarm {alarm} went into ALARM during the bake of {stage}" if alarm
                 else f"{where}the bake of {stage} failed: "
                 f"{execution.get('statusSummary') or 'its alarm condition failed'}")
    ours = next((s for s in summaries if s.get("pipelineExecutionId") == snap.execution_id), {})
    rollback = gates.rollback_after(summaries, snap.execution_id, ours.get("startTime"))
    if rollback is None:
        outcome.reason = (f"{cause}; nothing to roll back to (no earlier execution succeeded "
                          f"in {stage} since the last pipeline update), so the stage failed")
        return outcome
    rollback_id = str(rollback["pipelineExecutionId"])
    to = (rollback.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId")
    ended = follow_rollback(rollback_id, target if target.name else None)
    (service,) = service_states(ctx, [target])
    outcome.service = service.to_json()
    outcome.rollback = {"execution_id": rollback_id, "target_execution_id": to,
                        "status": ended.status, "verified": ended.succeeded,
                        "commit": ended.commit}
    outcome.reason = (f"{cause}; CodePipeline rolled {stage} back to execution "
                      f"{(to or '?')[:8]} (commit {short_sha(ended.commit) or '-'}; rollback "
                      f"execution {rollback_id[:8]} {ended.status}): {where}the service runs "
                      f"{service.image}")
    return outcome


def _reads(ctx: Context, execution_id: str) -> tuple[dict, list[dict]]:
    from ecspipe.rounds import together

    cp = ctx.aws.client("codepipeline")
    execution, summaries = together(
        lambda: cp.get_pipeline_execution(pipelineName=ctx.names.pipeline,
                                          pipelineExecutionId=execution_id)["pipelineExecution"],
        lambda: execution_summaries(ctx, HISTORY),
    )
    return dict(execution), list(summaries)
