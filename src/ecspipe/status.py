"""Read models for `status` and `release`: the pipeline, its executions, the ECS service.

Few calls, no N+1: one ListPipelineExecutions gives every execution's commit
(sourceRevisions), one GetPipelineState every stage and action of the latest
runs, one DescribeServices + one DescribeTaskDefinition what ECS runs.
ListPipelineExecutions pages (botocore's paginator): usually its first page
holds all `status` needs; a further page is read only when the executions
shown, or the latest success, lie beyond it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecspipe.aws import is_error
from ecspipe.errors import UserError
from ecspipe.resources.base import Context
from ecspipe.resources.connection import api_for

TERMINAL = {"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"}


def short_sha(sha: str | None) -> str:
    return (sha or "")[:7]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def get_pipeline(ctx: Context) -> dict:
    try:
        return ctx.aws.client("codepipeline").get_pipeline(name=ctx.names.pipeline)["pipeline"]
    except Exception as exc:
        if is_error(exc, "PipelineNotFoundException"):
            raise UserError(
                f"pipeline {ctx.names.pipeline!r} does not exist in {ctx.names.region}",
                hint="run `ecspipe up` first",
            ) from exc
        raise


def source_config(pipeline: dict) -> dict:
    return action_config(pipeline, "CodeStarSourceConnection")


def action_config(pipeline: dict, provider: str) -> dict:
    for stage in pipeline.get("stages", []):
        for action in stage.get("actions", []):
            if action["actionTypeId"]["provider"] == provider:
                return action.get("configuration", {})
    return {}


def connection_status(ctx: Context, arn: str | None) -> str | None:
    if not arn:
        return None
    try:
        conn = ctx.aws.client(api_for(arn)).get_connection(ConnectionArn=arn)["Connection"]
    except Exception as exc:
        if is_error(exc, "ResourceNotFoundException"):
            return "DELETED"
        raise
    return conn.get("ConnectionStatus")


def _commit(summary: dict) -> tuple[str | None, str | None]:
    for rev in summary.get("sourceRevisions", []) or []:
        message = None
        text = rev.get("revisionSummary")
        if text:
            try:
                message = json.loads(text).get("CommitMessage")
            except (ValueError, AttributeError):
                message = text
        return rev.get("revisionId"), message
    return None, None


# Executions read per page: more than shown, so the latest *successful* one is
# usually on the first page even after a run of failures.
HISTORY = 25
# ListPipelineExecutions' maxResults is 1-100 (CodePipeline API Reference).
MAX_PAGE = 100
# How far back `status` looks for the latest success: 10 pages of HISTORY.
SUCCESS_SEARCH = 250


def execution_summaries(
    ctx: Context, count: int, until: Callable[[list[dict]], bool] | None = None,
    most: int | None = None,
) -> list[dict]:
    """The newest `count` execution summaries, newest first, paging while `until(read)`
    is false (and fewer than `most` are read); one request when a page suffices."""
    paginator = ctx.aws.client("codepipeline").get_paginator("list_pipeline_executions")
    pages = paginator.paginate(
        pipelineName=ctx.names.pipeline,
        PaginationConfig={"PageSize": min(max(count, 1), MAX_PAGE)},
    )
    read: list[dict] = []
    for page in pages:  # lazy: a page is requested only when the loop asks for it
        read.extend(page.get("pipelineExecutionSummaries", []))
        if len(read) >= count and (until is None or until(read)):
            break
        if most is not None and len(read) >= most:
            break
    return read


def executions(ctx: Context, count: int, until_success: bool = False) -> list[dict]:
    """The newest `count` executions, newest first, as `status` shows them.

    With `until_success`, further pages are read while no Succeeded execution is
    among those read (at most SUCCESS_SEARCH), so the latest success is found
    even behind a long run of failures; the list is then longer than `count`.
    """
    if not until_success:
        summaries = execution_summaries(ctx, count)[:count]
    else:
        summaries = execution_summaries(
            ctx, count, until=lambda read: any(s.get("status") == "Succeeded" for s in read),
            most=max(count, SUCCESS_SEARCH),
        )
    out = []
    for s in summaries:
        commit, message = _commit(s)
        status = s.get("status")
        started, updated = s.get("startTime"), s.get("lastUpdateTime")
        out.append({
            "id": s["pipelineExecutionId"],
            "status": status,
            "trigger": (s.get("trigger") or {}).get("triggerType"),
            "commit": commit,
            "message": message,
            "started_at": _iso(started),
            "finished_at": _iso(updated) if status in TERMINAL else None,
            "duration_seconds": (
                (updated - started).total_seconds()
                if isinstance(started, datetime) and isinstance(updated, datetime) else None
            ),
            "summary": s.get("statusSummary"),
        })
    return out


def stages(ctx: Context) -> list[dict]:
    state = ctx.aws.client("codepipeline").get_pipeline_state(name=ctx.names.pipeline)
    out = []
    for stage in state.get("stageStates", []):
        actions = []
        for action in stage.get("actionStates", []):
            latest = action.get("latestExecution") or {}
            actions.append({
                "name": action["actionName"],
                "status": latest.get("status"),
                "error": (latest.get("errorDetails") or {}).get("message"),
                "summary": latest.get("summary"),
                "external_id": latest.get("externalExecutionId"),
            })
        latest = stage.get("latestExecution") or {}
        out.append({
            "name": stage["stageName"],
            "status": latest.get("status"),
            "execution_id": latest.get("pipelineExecutionId"),
            "actions": actions,
        })
    return out


@dataclass
class ServiceState:
    cluster: str
    name: str
    image: str | None
    task_definition: str | None
    rollout_state: str | None
    rollout_reason: str | None
    running: int
    desired: int
    deployments: list[dict]
    events: list[str]

    def to_json(self) -> dict:
        return {
            "cluster": self.cluster,
            "name": self.name,
            "image": self.image,
            "task_definition": self.task_definition,
            "rollout_state": self.rollout_state,
            "rollout_reason": self.rollout_reason,
            "running": self.running,
            "desired": self.desired,
        }


def service_state(ctx: Context, cluster: str, service: str, container: str | None) -> ServiceState:
    ecs = ctx.aws.client("ecs")
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not found:
        raise UserError(f"service.name: ECS service {service!r} not found in cluster {cluster!r}")
    svc = found[0]
    deployments = svc.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    task_definition = (primary or {}).get("taskDefinition") or svc.get("taskDefinition")
    image = None
    if task_definition:
        td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        containers = td.get("containerDefinitions", [])
        chosen = next((c for c in containers if c["name"] == container), None)
        if chosen is None and len(containers) == 1:
            chosen = containers[0]
        image = (chosen or {}).get("image")
    return ServiceState(
        cluster=cluster,
        name=service,
        image=image,
        task_definition=task_definition,
        rollout_state=(primary or {}).get("rolloutState"),
        rollout_reason=(primary or {}).get("rolloutStateReason"),
        running=svc.get("runningCount", 0),
        desired=svc.get("desiredCount", 0),
        deployments=deployments,
        events=[e.get("message", "") for e in svc.get("events", [])[:5]],
    )


def image_matches(image: str | None, commit: str | None) -> bool:
    """The buildspec tags images TIMESTAMP-<commit7>: does this image carry that commit?"""
    if not image or not commit or ":" not in image.rsplit("/", 1)[-1]:
        return False
    tag = image.rsplit(":", 1)[1]
    return tag.endswith("-" + short_sha(commit))


def collect(ctx: Context, limit: int) -> dict:
    """Everything `status` shows, as one JSON-ready dict."""
    pipeline = get_pipeline(ctx)
    source = source_config(pipeline)
    deploy = action_config(pipeline, "ECS")
    arn = source.get("ConnectionArn")
    status = connection_status(ctx, arn)
    history = executions(ctx, max(limit, HISTORY), until_success=True)
    runs = history[:limit]
    stage_states = stages(ctx)
    service = service_state(
        ctx, deploy.get("ClusterName", ctx.config.targets[-1].service.cluster_name),
        deploy.get("ServiceName", ctx.config.targets[-1].service.service_name), ctx.config.targets[-1].service.container,
    )
    latest_success = next((e for e in history if e["status"] == "Succeeded"), None)
    triggers = pipeline.get("triggers", [])
    branches = [
        b for t in triggers for p in t.get("gitConfiguration", {}).get("push", [])
        for b in p.get("branches", {}).get("includes", [])
    ]
    data: dict[str, Any] = {
        "pipeline": {
            "name": ctx.names.pipeline,
            "type": pipeline.get("pipelineType", "V1"),
            "branch": source.get("BranchName"),
            "trigger_branches": branches,
            "console_url": ctx.names.pipeline_console_url,
        },
        "connection": {
            "arn": arn,
            "status": status,
            "action_url": ctx.names.connections_console_url if status == "PENDING" else None,
        },
        "executions": runs,
        "stages": stage_states,
        "service": {
            **service.to_json(),
            "latest_success_commit": latest_success["commit"] if latest_success else None,
            "matches_latest_success": bool(
                latest_success and image_matches(service.image, latest_success["commit"])
            ),
            "events": service.events,
        },
    }
    return data
