"""Read models for `status` and `release`: the pipeline, its executions, every environment.

`status` reads in two rounds (rounds.py): first everything that needs nothing
else, at once (the caller's account, the pipeline, its state, the executions,
the executions whose Build succeeded, every environment's service, one
DescribeServices per cluster), then what needs their answers (the connection,
whose ARN is in the pipeline, and the task definitions the services run).
ListPipelineExecutions pages (botocore's paginator): usually its first page
holds all `status` needs; a further page is read only when the executions
shown, or the latest success, lie beyond it.

Per environment it shows what the service runs (the image, and the commit from
the tag's `-<commit7>` suffix, which ecspipe's buildspec writes), how far that
is behind the newest successful build, and an approval waiting for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecspipe.aws import is_error
from ecspipe.config import Target
from ecspipe.errors import UserError
from ecspipe.names import APPROVAL_ACTION, Names
from ecspipe.resources.base import Context
from ecspipe.resources.connection import api_for
from ecspipe.rounds import together

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


def get_state(ctx: Context) -> dict:
    try:
        return dict(ctx.aws.client("codepipeline").get_pipeline_state(name=ctx.names.pipeline))
    except Exception as exc:
        if is_error(exc, "PipelineNotFoundException"):
            return {}  # get_pipeline, read at the same time, says it
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
    most: int | None = None, succeeded_in: str | None = None,
) -> list[dict]:
    """The newest `count` execution summaries, newest first, paging while `until(read)`
    is false (and fewer than `most` are read); one request when a page suffices.
    With `succeeded_in`, only executions that succeeded in that stage (of the current
    pipeline version: ListPipelineExecutions' filter)."""
    paginator = ctx.aws.client("codepipeline").get_paginator("list_pipeline_executions")
    extra: dict[str, Any] = {}
    if succeeded_in:
        extra["filter"] = {"succeededInStage": {"stageName": succeeded_in}}
    pages = paginator.paginate(
        pipelineName=ctx.names.pipeline,
        PaginationConfig={"PageSize": min(max(count, 1), MAX_PAGE)}, **extra,
    )
    read: list[dict] = []
    try:
        for page in pages:  # lazy: a page is requested only when the loop asks for it
            read.extend(page.get("pipelineExecutionSummaries", []))
            if len(read) >= count and (until is None or until(read)):
                break
            if most is not None and len(read) >= most:
                break
    except Exception as exc:
        if is_error(exc, "PipelineNotFoundException"):
            return []  # get_pipeline, read at the same time, says it
        raise
    return read


def execution_view(s: dict) -> dict:
    """One execution summary as `status` and `approve` show it."""
    commit, message = _commit(s)
    status = s.get("status")
    started, updated = s.get("startTime"), s.get("lastUpdateTime")
    return {
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
        "execution_type": s.get("executionType") or "STANDARD",
        "rollback_of": (s.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId"),
    }


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
    return [execution_view(s) for s in summaries]


def built(ctx: Context) -> list[dict]:
    """The newest executions whose Build stage succeeded (one page): what could deploy."""
    return [execution_view(s) for s in execution_summaries(ctx, HISTORY, succeeded_in="Build")]


def stage_views(state: dict, pipeline: dict | None = None) -> list[dict]:
    """Each stage's latest run and actions; with the declaration, its conditions too."""
    from ecspipe.gates import condition_views, declared_stages

    declared = declared_stages(pipeline or {})
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
            "type": latest.get("type") or "STANDARD",
            "actions": actions,
            "conditions": condition_views(stage, declared.get(stage["stageName"])),
        })
    return out


def stages(ctx: Context) -> list[dict]:
    return stage_views(get_state(ctx))


def approval_state(state: dict, stage_name: str) -> dict | None:
    """The approval waiting in `stage_name`: {status, requested_at, execution_id, token,
    summary, updated_by}, or None when nothing waits there."""
    for stage in state.get("stageStates", []):
        if stage.get("stageName") != stage_name:
            continue
        action = next((a for a in stage.get("actionStates", [])
                       if a.get("actionName") == APPROVAL_ACTION), None)
        latest = (action or {}).get("latestExecution") or {}
        if latest.get("status") != "InProgress" or not latest.get("token"):
            return None
        return {
            "status": "InProgress",
            "requested_at": _iso(latest.get("lastStatusChange")),
            "execution_id": (stage.get("latestExecution") or {}).get("pipelineExecutionId"),
            "token": latest["token"],
        }
    return None


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


def describe_services(ctx: Context, targets: Sequence[Target]) -> list[Callable[[], dict]]:
    """One call per cluster (returned, to run in a round): {service name: service}."""
    ecs = ctx.aws.client("ecs")
    clusters: dict[str, list[Target]] = {}
    for target in targets:
        clusters.setdefault(target.service.cluster_name, []).append(target)

    def one(group: list[Target]) -> Callable[[], dict]:
        def call() -> dict:
            try:
                found = ecs.describe_services(cluster=group[0].service.cluster,
                                              services=[t.service.name for t in group])
            except Exception as exc:
                if is_error(exc, "ClusterNotFoundException"):
                    return {}
                raise
            return {(group[0].service.cluster_name, s["serviceName"]): s
                    for s in found.get("services", [])}
        return call

    return [one(group[i:i + 10]) for group in clusters.values() for i in range(0, len(group), 10)]


def _primary(service: dict) -> dict | None:
    return next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"),
                None)


def running_task_definition(service: dict) -> str | None:
    """The PRIMARY task set's (a CODE_DEPLOY service), else the PRIMARY deployment's."""
    task_set = next((t for t in service.get("taskSets") or [] if t.get("status") == "PRIMARY"),
                    None)
    return (task_set or _primary(service) or {}).get("taskDefinition") or \
        service.get("taskDefinition")


def task_definitions(ctx: Context, arns: Sequence[str]) -> dict[str, dict]:
    """DescribeTaskDefinition of each (distinct) ARN, all at once."""
    ecs = ctx.aws.client("ecs")
    wanted = sorted(set(arns))
    found = together(*[
        (lambda arn: lambda: ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])(a)
        for a in wanted])
    return dict(zip(wanted, found, strict=True))


def service_view(target: Target, service: dict | None,
                 definitions: dict[str, dict]) -> ServiceState:
    cluster, name = target.service.cluster_name, target.service.service_name
    if service is None:
        raise UserError(f"{target.where}.name: ECS service {name!r} not found in cluster "
                        f"{cluster!r}")
    primary = _primary(service)
    task_definition = running_task_definition(service)
    image = None
    if task_definition and task_definition in definitions:
        containers = definitions[task_definition].get("containerDefinitions", [])
        chosen = next((c for c in containers if c["name"] == target.service.container), None)
        if chosen is None and len(containers) == 1:
            chosen = containers[0]
        image = (chosen or {}).get("image")
    return ServiceState(
        cluster=cluster,
        name=name,
        image=image,
        task_definition=task_definition,
        rollout_state=(primary or {}).get("rolloutState"),
        rollout_reason=(primary or {}).get("rolloutStateReason"),
        running=service.get("runningCount", 0),
        desired=service.get("desiredCount", 0),
        deployments=service.get("deployments", []),
        events=[e.get("message", "") for e in service.get("events", [])[:5]],
    )


def service_states(ctx: Context, targets: Sequence[Target]) -> list[ServiceState]:
    """Every target's service, in two rounds (services, then task definitions)."""
    found: dict = {}
    for part in together(*describe_services(ctx, targets)):
        found.update(part)
    services = [found.get((t.service.cluster_name, t.service.service_name)) for t in targets]
    definitions = task_definitions(ctx, [arn for s in services if s
                                         for arn in [running_task_definition(s)] if arn])
    return [service_view(t, s, definitions) for t, s in zip(targets, services, strict=True)]


def service_state(ctx: Context, target: Target) -> ServiceState:
    return service_states(ctx, [target])[0]


def image_tag_commit(image: str | None) -> str | None:
    """The short commit of an image tagged `<anything>-<commit7>`, or None."""
    if not image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    tag = image.rsplit(":", 1)[1]
    suffix = tag.rsplit("-", 1)[-1] if "-" in tag else ""
    return suffix if len(suffix) == 7 and all(c in "0123456789abcdef" for c in suffix) else None


def image_matches(image: str | None, commit: str | None) -> bool:
    """The buildspec tags images TIMESTAMP-<commit7>: does this image carry that commit?"""
    if not image or not commit or ":" not in image.rsplit("/", 1)[-1]:
        return False
    tag = image.rsplit(":", 1)[1]
    return tag.endswith("-" + short_sha(commit))


def behind(image: str | None, builds: list[dict]) -> list[dict]:
    """The builds newer than the one whose image `image` is, newest first, one per commit
    (all of those read when the image is not one of them)."""
    out: list[dict] = []
    seen: set[str | None] = set()
    for build in builds:
        if image_matches(image, build["commit"]):
            break
        if build["commit"] in seen:
            continue
        seen.add(build["commit"])
        out.append({"execution_id": build["id"], "commit": build["commit"],
                    "message": build["message"]})
    return out


def environment_view(names: Names, target: Target, service: ServiceState,
                     builds: list[dict], history: list[dict], state: dict) -> dict:
    short = image_tag_commit(service.image)
    full = next((e["commit"] for e in [*builds, *history]
                 if e["commit"] and image_matches(service.image, e["commit"])), None)
    approval = approval_state(state, names.approval_stage(target.name)) if target.approval \
        and target.name else None
    deploy = next((s for s in stage_views(state)
                   if s["name"] == names.deploy_stage(target.name)), None)
    return {
        "name": target.name,
        "cluster": service.cluster,
        "service": service.name,
        "container": target.service.container,
        "image": service.image,
        "commit": full or short,
        "rollout_state": service.rollout_state,
        "running": service.running,
        "desired": service.desired,
        "stage": names.deploy_stage(target.name),
        "stage_status": (deploy or {}).get("status"),
        "behind": behind(service.image, builds),
        "approval": None if approval is None else {
            "status": approval["status"], "requested_at": approval["requested_at"],
            "execution_id": approval["execution_id"]},
    }


def notifications(ctx: Context, names: Names) -> dict | None:
    """The notification rule and the topic's email subscriptions (pending ones say so), or
    None without `notify:`. Two requests for the rule: listing by the pipeline's ARN,
    then describing what is listed (its name says it is ecspipe's)."""
    from ecspipe.resources.notification_topic import _emails, _pending

    notify = ctx.config.notify
    if notify is None:
        return None
    topic = notify.sns_topic_arn or names.notification_topic_arn
    api = ctx.aws.client("codestar-notifications")

    def rule() -> dict | None:
        listed = api.list_notification_rules(
            Filters=[{"Name": "RESOURCE", "Value": names.pipeline_arn}]).get(
            "NotificationRules", [])
        for described in together(*[
                (lambda arn: lambda: api.describe_notification_rule(Arn=arn))(r["Arn"])
                for r in listed]):
            if described.get("Name") == names.notification_rule:
                return dict(described)
        return None

    def subscriptions() -> list[dict] | None:
        if notify.sns_topic_arn:
            return None  # the user's topic: its subscriptions are theirs
        try:
            emails = _emails(ctx.aws.client("sns"), topic)
        except Exception as exc:
            if is_error(exc, "NotFound", "NotFoundException"):
                return []
            raise
        return [{"endpoint": e, "confirmed": not _pending(arn)} for e, arn in sorted(
            emails.items())]

    found, emails = together(rule, subscriptions)
    target: dict = next((t for t in (found or {}).get("Targets", [])
                   if t.get("TargetAddress") == topic), {})
    return {
        "rule": names.notification_rule if found else None,
        "status": (found or {}).get("Status"),
        "events": list(notify.events),
        "topic": topic,
        "target_status": target.get("TargetStatus"),
        "subscriptions": emails,
    }


def collect(ctx: Context, limit: int, check_account: Callable[[], object] | None = None) -> dict:
    """Everything `status` shows, as one JSON-ready dict, in two rounds of reads (the
    notification rule, with `notify:`, needs a third when the config has no account_id:
    its listing needs the pipeline's ARN, so the caller's account; with account_id it
    starts in the first round)."""
    from dataclasses import replace

    targets = ctx.config.targets
    # With notify: and account_id, the rule's and the topic's ARNs are known now.
    early = ctx.config.notify is not None and ctx.names.account_id is not None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecspipe-notify") as side:
        # Its own two rounds (list the rule, then describe it) beside the two below.
        ahead = side.submit(notifications, ctx, ctx.names) if early else None
        first = together(
            check_account or (lambda: None),
            lambda: get_pipeline(ctx),
            lambda: get_state(ctx),
            lambda: executions(ctx, max(limit, HISTORY), until_success=True),
            lambda: built(ctx),
            *describe_services(ctx, targets),
        )
        account, pipeline, state, history, builds, *parts = first
        names = replace(ctx.names, account_id=account) if isinstance(account, str) \
            else ctx.names
        found: dict = {}
        for part in parts:
            found.update(part)
        services = [found.get((t.service.cluster_name, t.service.service_name))
                    for t in targets]
        source = source_config(pipeline)
        arn = source.get("ConnectionArn")
        status, definitions, notified = together(
            lambda: connection_status(ctx, arn),
            lambda: task_definitions(ctx, [a for s in services if s
                                           for a in [running_task_definition(s)] if a]),
            ahead.result if ahead is not None else lambda: notifications(ctx, names),
        )
    states = [service_view(t, s, definitions) for t, s in zip(targets, services, strict=True)]
    runs = history[:limit]
    latest_success = next((e for e in history if e["status"] == "Succeeded"), None)
    triggers = pipeline.get("triggers", [])
    branches = [
        b for t in triggers for p in t.get("gitConfiguration", {}).get("push", [])
        for b in p.get("branches", {}).get("includes", [])
    ]
    environments = [environment_view(ctx.names, t, s, builds, history, state)
                    for t, s in zip(targets, states, strict=True)]
    from ecspipe.deploy_facts import deploy_summary

    for env, service in zip(environments, services, strict=True):
        env["deploy"] = deploy_summary(service, _deploy_action(pipeline, env["stage"]))
    last = states[-1]
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
        "stages": stage_views(state, pipeline),
        # The last environment's service (the only one of a `service:` config).
        "service": {
            **last.to_json(),
            "latest_success_commit": latest_success["commit"] if latest_success else None,
            "matches_latest_success": bool(
                latest_success and image_matches(last.image, latest_success["commit"])
            ),
            "events": last.events,
        },
        "environments": environments,
        "notifications": notified,
    }
    data["service"]["deploy"] = environments[-1]["deploy"]
    return data


def _deploy_action(pipeline: dict, stage_name: str) -> dict | None:
    stage: dict = next((s for s in pipeline.get("stages", []) if s.get("name") == stage_name),
                       {})
    return next(iter(stage.get("actions") or []), None)
