"""`approve`: answer the manual approval that waits before an environment is deployed.

The pending approvals are the approval stages (`Approve-<env>`) whose Approve
action is InProgress with a token in GetPipelineState ("Approve or reject an
approval action in CodePipeline": the token is in the action state's
latestExecution). Before it is answered, `approve` shows what would be promoted:
the execution, its commit and message, what the environment runs now (the
commit from the image tag's `-<commit7>` suffix), and the executions in between.
A newer execution waiting to enter the approval stage is shown too: CodePipeline
runs one execution per stage, so it asks for approval only after this one is
answered (AWS does not supersede a waiting approval).

PutApprovalResult ("PutApprovalResult", CodePipeline API Reference): status
Approved or Rejected, a summary of at most 512 characters, the token; errors
InvalidApprovalTokenException (answered already, or expired) and
ApprovalAlreadyCompletedException become user errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecspipe.aws import is_error
from ecspipe.config import Target
from ecspipe.errors import UserError
from ecspipe.names import APPROVAL_ACTION
from ecspipe.resources.base import Context
from ecspipe.rounds import together
from ecspipe.status import (
    HISTORY,
    approval_state,
    execution_summaries,
    execution_view,
    get_pipeline,
    get_state,
    image_matches,
    image_tag_commit,
    service_states,
    short_sha,
)

SUMMARY_MAX = 512  # ApprovalSummary in the CodePipeline API model


@dataclass
class Pending:
    """One approval waiting for an answer, and what answering it would promote."""

    target: Target
    stage: str
    token: str
    execution: dict  # execution_view of the execution waiting
    requested_at: str | None = None
    running: dict | None = None  # what the environment runs now: image, commit, execution_id
    between: list[dict] = field(default_factory=list)  # executions between the two
    waiting: list[dict] = field(default_factory=list)  # newer executions waiting behind it

    @property
    def env(self) -> str:
        return self.target.name or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.env,
            "stage": self.stage,
            "action": APPROVAL_ACTION,
            "requested_at": self.requested_at,
            "execution": self.execution,
            "running": self.running,
            "between": self.between,
            "waiting": self.waiting,
        }


def check_comment(comment: str | None) -> None:
    if comment is not None and len(comment) > SUMMARY_MAX:
        raise UserError(f"--comment: at most {SUMMARY_MAX} characters (AWS's limit for an "
                        f"approval's summary), not {len(comment)}")


def _approval_targets(ctx: Context, env: str | None) -> list[Target]:
    targets = ctx.config.targets
    gated = [t for t in targets if t.approval and t.name]
    if env is not None:
        named = next((t for t in targets if t.name == env), None)
        if named is None:
            known = ", ".join(t.name for t in targets if t.name) or \
                "none: the config has `service:`, not `environments:`"
            raise UserError(f"--env {env}: no such environment (environments: {known})",
                            hint="pass one of the config's environments[].name")
        if not named.approval:
            raise UserError(f"--env {env}: the {env} environment has no approval; it is "
                            "deployed as soon as the stages before it succeed",
                            hint=f"set `approval: true` on {env} in the config (then `ecspipe "
                            "up`) to have one")
        return [named]
    if not gated:
        raise UserError("this pipeline has no approvals: no environment has `approval: true`",
                        hint="add `approval: true` to an environment of `environments:`, then "
                        "`ecspipe up`")
    return gated


def _doing(state: dict, latest: dict | None) -> str:
    """What the pipeline is doing, in words, for `nothing pending`."""
    if latest is None:
        return "the pipeline has no executions yet"
    where = [s["stageName"] for s in state.get("stageStates", [])
             if (s.get("latestExecution") or {}).get("pipelineExecutionId") == latest["id"]
             and (s.get("latestExecution") or {}).get("status") == "InProgress"]
    what = f"the latest execution {latest['id'][:8]} (commit {short_sha(latest['commit'])}) is " \
        f"{latest['status']}"
    return what + (f" in stage {where[0]}" if where else "")


def find(ctx: Context, env: str | None,
         check_account: Callable[[], object] | None = None) -> Pending:
    """The approval to answer, with what it promotes; UserError (exit 2) when there is none,
    or several and no --env."""
    targets = _approval_targets(ctx, env)
    _, _, state, summaries = together(
        check_account or (lambda: None),
        lambda: get_pipeline(ctx),  # says so when the pipeline does not exist
        lambda: get_state(ctx),
        lambda: execution_summaries(ctx, HISTORY),
    )
    history = [execution_view(s) for s in summaries]
    by_id = {e["id"]: e for e in history}
    pending = []
    for target in targets:
        waiting = approval_state(state, ctx.names.approval_stage(target.name or ""))
        if waiting:
            pending.append((target, waiting))
    if not pending:
        where = f"before {env}" if env else "in this pipeline"
        raise UserError(f"no approval is waiting {where}: "
                        f"{_doing(state, history[0] if history else None)}",
                        hint="`ecspipe release --wait` starts an execution and follows it to "
                        "the approval")
    if len(pending) > 1:
        error = UserError(f"{len(pending)} approvals are waiting: say which one with --env",
                          hint="ecspipe approve --env NAME")
        error.problems = [
            f"--env {t.name}: execution {w['execution_id'][:8]} (commit "
            f"{short_sha(by_id.get(w['execution_id'], {}).get('commit'))})" for t, w in pending]
        raise error
    target, waiting = pending[0]
    execution = by_id.get(waiting["execution_id"]) or {
        "id": waiting["execution_id"], "status": "InProgress", "commit": None, "message": None}
    (service,) = service_states(ctx, [target])
    stage = ctx.names.approval_stage(target.name or "")
    return Pending(target, stage, waiting["token"], execution, waiting["requested_at"],
                   _running(service.image, history), _between(service.image, execution, history),
                   _waiting_behind(state, stage, by_id))


def _running(image: str | None, history: list[dict]) -> dict:
    built = next((e for e in history if image_matches(image, e["commit"])), None)
    return {"image": image, "commit": built["commit"] if built else image_tag_commit(image),
            "execution_id": built["id"] if built else None,
            "message": built["message"] if built else None}


def _between(image: str | None, execution: dict, history: list[dict]) -> list[dict]:
    """Executions newer than the one the environment runs and older than the one promoted
    (newest first; all read back to the oldest when the running image is not one of them)."""
    ids = [e["id"] for e in history]
    if execution["id"] not in ids:
        return []
    older = history[ids.index(execution["id"]) + 1:]
    out = []
    for e in older:
        if image_matches(image, e["commit"]):
            break
        out.append({"execution_id": e["id"], "status": e["status"], "commit": e["commit"],
                    "message": e["message"]})
    return out


def _waiting_behind(state: dict, stage: str, by_id: dict[str, dict]) -> list[dict]:
    for s in state.get("stageStates", []):
        if s.get("stageName") != stage:
            continue
        inbound = s.get("inboundExecutions") or ([s["inboundExecution"]]
                                                 if s.get("inboundExecution") else [])
        return [{"execution_id": e["pipelineExecutionId"],
                 "commit": by_id.get(e["pipelineExecutionId"], {}).get("commit"),
                 "message": by_id.get(e["pipelineExecutionId"], {}).get("message")}
                for e in inbound]
    return []


def answer(ctx: Context, pending: Pending, approve: bool, comment: str | None) -> dict:
    """PutApprovalResult; the answer as JSON."""
    check_comment(comment)
    status = "Approved" if approve else "Rejected"
    summary = comment if comment is not None else f"{status} with ecspipe approve"
    try:
        result = ctx.aws.client("codepipeline").put_approval_result(
            pipelineName=ctx.names.pipeline, stageName=pending.stage,
            actionName=APPROVAL_ACTION, result={"status": status, "summary": summary},
            token=pending.token,
        )
    except Exception as exc:
        if is_error(exc, "InvalidApprovalTokenException"):
            raise UserError(f"the approval for {pending.env} was answered meanwhile, or it "
                            "expired (CodePipeline: InvalidApprovalToken)",
                            hint="`ecspipe status` shows what the pipeline does now") from exc
        if is_error(exc, "ApprovalAlreadyCompletedException"):
            raise UserError(f"the approval for {pending.env} was already approved or rejected",
                            hint="`ecspipe status` shows what the pipeline does now") from exc
        raise
    answered = result.get("approvedAt")
    return {
        "environment": pending.env,
        "stage": pending.stage,
        "execution_id": pending.execution["id"],
        "commit": pending.execution.get("commit"),
        "status": status,
        "comment": summary,
        "answered_at": answered.isoformat() if isinstance(answered, datetime) else answered,
    }
