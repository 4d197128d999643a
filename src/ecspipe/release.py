"""`release`: start an execution (the console's "Release change") and follow it to the end.

Following does not stop at the pipeline's verdict. After Deploy it checks what
the guide checked by hand: the ECS service's primary deployment runs the image
this execution built (its tag ends with the commit's short SHA) and its rollout
is COMPLETED. A deployment the circuit breaker rolled back is a failure, even
though CodePipeline may call the Deploy action a success.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecspipe.errors import RunFailed, UserError
from ecspipe.resources.base import Context
from ecspipe.status import (
    HISTORY,
    TERMINAL,
    action_config,
    connection_status,
    get_pipeline,
    image_matches,
    service_state,
    short_sha,
    source_config,
)

POLL_SECONDS = 3.0
LOG_TAIL = 20


def start(ctx: Context, commit: str | None) -> tuple[str, dict]:
    """Check the pipeline and its connection, then StartPipelineExecution."""
    pipeline = get_pipeline(ctx)
    arn = source_config(pipeline).get("ConnectionArn")
    status = connection_status(ctx, arn)
    if arn and status != "AVAILABLE":
        raise UserError(
            f"connection {arn} is {status}: the Source stage cannot fetch the repository",
            hint="complete the handshake at " + ctx.names.connections_console_url
            if status == "PENDING" else "fix or recreate the connection, then `ecspipe up`",
        )
    kwargs: dict[str, Any] = {"name": ctx.names.pipeline}
    if commit:
        kwargs["sourceRevisions"] = [
            {"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": commit}
        ]
    execution_id = ctx.aws.client("codepipeline").start_pipeline_execution(**kwargs)[
        "pipelineExecutionId"
    ]
    return execution_id, pipeline


@dataclass
class Snapshot:
    execution_id: str
    status: str
    elapsed: float
    actions: list[dict] = field(default_factory=list)  # stage, action, status, elapsed, error
    commit: str | None = None
    # Every (stage, action) of the pipeline, so a live view can show what has not started.
    layout: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Outcome:
    execution_id: str
    status: str  # the pipeline's verdict
    succeeded: bool  # ours: pipeline succeeded AND the service runs the image, rolled out
    commit: str | None = None
    failed_action: dict | None = None
    log_tail: list[str] = field(default_factory=list)
    service: dict | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        return {
            "execution_id": self.execution_id,
            "status": self.status,
            "succeeded": self.succeeded,
            "commit": self.commit,
            "failed_action": self.failed_action,
            "log_tail": self.log_tail,
            "service": self.service,
            "reason": self.reason,
        }


def _snapshot(ctx: Context, execution_id: str, elapsed: float) -> Snapshot:
    cp = ctx.aws.client("codepipeline")
    execution = cp.get_pipeline_execution(
        pipelineName=ctx.names.pipeline, pipelineExecutionId=execution_id
    )["pipelineExecution"]
    # Paged (one page holds the few actions of one execution: one request).
    details = [
        d
        for page in cp.get_paginator("list_action_executions").paginate(
            pipelineName=ctx.names.pipeline, filter={"pipelineExecutionId": execution_id}
        )
        for d in page.get("actionExecutionDetails", [])
    ]
    actions = []
    for d in sorted(details, key=lambda d: (d.get("startTime") is None, d.get("startTime") or 0)):
        result = (d.get("output") or {}).get("executionResult") or {}
        error = (result.get("errorDetails") or {}).get("message")
        started, updated = d.get("startTime"), d.get("lastUpdateTime")
        actions.append({
            "stage": d.get("stageName"),
            "action": d.get("actionName"),
            "status": d.get("status"),
            "elapsed": (updated - started).total_seconds()
            if isinstance(started, datetime) and isinstance(updated, datetime) else None,
            "error": error or (result.get("externalExecutionSummary")
                               if d.get("status") == "Failed" else None),
            "external_id": result.get("externalExecutionId"),
        })
    commit = next(
        (r.get("revisionId") for r in execution.get("artifactRevisions", []) if r.get("revisionId")),
        None,
    )
    return Snapshot(execution_id, execution["status"], elapsed, actions, commit)


def build_log_tail(ctx: Context, build_id: str | None, lines: int = LOG_TAIL) -> list[str]:
    """The last lines of a CodeBuild build's CloudWatch log."""
    if not build_id:
        return []
    builds = ctx.aws.client("codebuild").batch_get_builds(ids=[build_id]).get("builds", [])
    logs = (builds[0].get("logs") or {}) if builds else {}
    group, stream = logs.get("groupName"), logs.get("streamName")
    if not group or not stream:
        return []
    try:
        events = ctx.aws.client("logs").get_log_events(
            logGroupName=group, logStreamName=stream, limit=lines, startFromHead=False
        ).get("events", [])
    except Exception:  # noqa: BLE001 - logs are a courtesy; the failure is reported anyway
        return []
    return [e.get("message", "").rstrip("\n") for e in events][-lines:]


def follow(
    ctx: Context,
    execution_id: str,
    pipeline: dict,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_update: Callable[[Snapshot], None] | None = None,
) -> Outcome:
    """Poll until the execution ends and the service has rolled out (or `timeout`)."""
    started = clock()
    deadline = started + timeout
    deploy = action_config(pipeline, "ECS")
    layout = [(stage["name"], action["name"]) for stage in pipeline.get("stages", [])
              for action in stage.get("actions", [])]
    snap = _snapshot(ctx, execution_id, 0.0)
    while True:
        snap.layout = layout
        if on_update:
            on_update(snap)
        if snap.status in TERMINAL:
            break
        if clock() + POLL_SECONDS > deadline:
            return Outcome(execution_id, snap.status, False, snap.commit,
                           reason=f"timed out after {int(timeout)}s (execution {snap.status})")
        sleep(POLL_SECONDS)
        snap = _snapshot(ctx, execution_id, clock() - started)

    if snap.status != "Succeeded":
        failed = next((a for a in snap.actions if a["status"] == "Failed"), None)
        tail = []
        if failed and failed["stage"] == "Build" or (failed and failed["action"] == "Build"):
            tail = build_log_tail(ctx, failed.get("external_id"))
        reason = {
            "Stopped": "the execution was stopped",
            "Superseded": "a newer execution superseded this one",
        }.get(snap.status, "an action failed")
        return Outcome(execution_id, snap.status, False, snap.commit, failed, tail, reason=reason)

    # The pipeline says Succeeded: check the service really runs this build, rolled out.
    cluster = deploy.get("ClusterName", ctx.config.targets[-1].service.cluster_name)
    service_name = deploy.get("ServiceName", ctx.config.targets[-1].service.service_name)
    while True:
        service = service_state(ctx, cluster, service_name, ctx.config.targets[-1].service.container)
        failed_rollout = [d for d in service.deployments if d.get("rolloutState") == "FAILED"]
        if service.rollout_state == "COMPLETED" and image_matches(service.image, snap.commit):
            return Outcome(execution_id, "Succeeded", True, snap.commit, service=service.to_json())
        if failed_rollout or service.rollout_state == "FAILED":
            reason = (failed_rollout[0].get("rolloutStateReason") if failed_rollout
                      else service.rollout_reason) or "the deployment failed"
            return Outcome(
                execution_id, "Succeeded", False, snap.commit, service=service.to_json(),
                reason="the ECS deployment was rolled back by the circuit breaker: "
                f"{reason.rstrip('.')}; the service runs {service.image}",
            )
        if (service.rollout_state == "COMPLETED"
                and not image_matches(service.image, snap.commit)):
            newer = _newer_deployed(ctx, execution_id, service.image)
            if newer:
                # Ours deployed, then a later push deployed on top of it: a success.
                return Outcome(
                    execution_id, "Succeeded", True, snap.commit, service=service.to_json(),
                    reason=f"deployed; since replaced by newer execution {newer}",
                )
            return Outcome(
                execution_id, "Succeeded", False, snap.commit, service=service.to_json(),
                reason=f"the service runs {service.image}, not the image of commit "
                f"{short_sha(snap.commit)}",
            )
        if clock() + POLL_SECONDS > deadline:
            return Outcome(execution_id, "Succeeded", False, snap.commit,
                           service=service.to_json(),
                           reason=f"timed out waiting for the ECS rollout "
                           f"({service.rollout_state})")
        sleep(POLL_SECONDS)


def _newer_deployed(ctx: Context, execution_id: str, image: str | None) -> str | None:
    """The id of a later execution of this pipeline whose commit the service runs, if any.

    Pages newest first down to ours (usually on the first page: one request).
    """
    pages = ctx.aws.client("codepipeline").get_paginator("list_pipeline_executions").paginate(
        pipelineName=ctx.names.pipeline, PaginationConfig={"PageSize": HISTORY}
    )
    for page in pages:
        for summary in page.get("pipelineExecutionSummaries", []):
            if summary["pipelineExecutionId"] == execution_id:
                return None
            for revision in summary.get("sourceRevisions", []) or []:
                if image_matches(image, revision.get("revisionId")):
                    return str(summary["pipelineExecutionId"])
    return None


def raise_for(outcome: Outcome) -> None:
    if not outcome.succeeded:
        raise RunFailed(f"execution {outcome.execution_id}: {outcome.reason}")
