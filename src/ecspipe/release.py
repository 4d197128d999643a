"""`release`: start an execution (the console's "Release change") and follow it to the end.

Following goes through every stage of every environment. While an approval
waits for this execution (or an older execution holds the stage this one waits
to enter, for example at its own approval: CodePipeline runs one execution per
stage), the snapshot says so, and following goes on within --timeout. A
rejected approval ends it: exit 1, naming who rejected it and their comment.

Following does not stop at the pipeline's verdict either. After each deploy
stage it checks what the guide checked by hand: that environment's service runs
the image this execution built (its tag ends with the commit's short SHA) and
its primary deployment is COMPLETED. A deployment the circuit breaker rolled
back is a failure, even though CodePipeline may call the deploy action a
success. `--until ENV` ends successfully once that environment is verified.

Each refresh is at most two rounds of requests (rounds.py): the execution, its
actions, the pipeline's state and the services due for a check at once, then
their task definitions. The poll interval starts at 3 s and backs off to 15 s
(with jitter) while nothing changes, as AWS's guidance for polling asks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecspipe import gates
from ecspipe.config import Target
from ecspipe.errors import RunFailed, UserError
from ecspipe.resources.base import Context
from ecspipe.rounds import together
from ecspipe.status import (
    HISTORY,
    TERMINAL,
    ServiceState,
    connection_status,
    describe_services,
    get_pipeline,
    image_matches,
    running_task_definition,
    service_view,
    short_sha,
    source_config,
    task_definitions,
)

POLL_FIRST = 3.0
POLL_MAX = 15.0
POLL_GROWTH = 1.5
LOG_TAIL = 20


class Backoff:
    """3 s, growing by half while nothing changes, up to 15 s; each wait is jittered down
    by up to a fifth (deterministically per execution: tests replay it)."""

    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)
        self.interval = POLL_FIRST

    def next(self, changed: bool) -> float:
        self.interval = POLL_FIRST if changed else min(POLL_MAX, self.interval * POLL_GROWTH)
        return round(self.interval * self.rng.uniform(0.8, 1.0), 3)


def start(ctx: Context, commit: str | None,
          check_account: Callable[[], object] | None = None) -> tuple[str, dict]:
    """Check the pipeline and its connection, then StartPipelineExecution."""
    _, pipeline = together(check_account or (lambda: None), lambda: get_pipeline(ctx))
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


def until_target(ctx: Context, env: str | None) -> Target | None:
    """The environment `--until` names (None without --until); UserError for another name."""
    if env is None:
        return None
    targets = {t.name: t for t in ctx.config.targets if t.name}
    if env not in targets:
        known = ", ".join(targets) or "none: the config has `service:`, not `environments:`"
        raise UserError(f"--until {env}: no such environment (environments: {known})",
                        hint="pass one of the config's environments[].name")
    return targets[env]


@dataclass
class Snapshot:
    execution_id: str
    status: str
    elapsed: float
    actions: list[dict] = field(default_factory=list)  # stage, action, status, elapsed, error
    commit: str | None = None
    # Every (stage, action) of the pipeline, so a live view can show what has not started.
    layout: list[tuple[str, str]] = field(default_factory=list)
    # The environment whose approval this execution waits for, if any.
    approval: str | None = None
    # The stage this execution waits to enter and the execution holding it, if any:
    # {"stage", "execution_id", "approval": the environment it waits approval for | None}.
    held_by: dict | None = None
    # Environments deployed by this execution and verified so far, in order.
    verified: list[str] = field(default_factory=list)
    # A gate holding it: a bake watching alarms, or a closed deploy window (gates.waiting).
    gate: dict | None = None
    # Blue/green, linear, canary and CodeDeploy deployments followed (deployments.py).
    deployments: list = field(default_factory=list)
    state: dict = field(default_factory=dict, repr=False)


@dataclass
class Outcome:
    execution_id: str
    status: str  # the pipeline's verdict (InProgress when --until ended it first)
    succeeded: bool  # ours: each environment deployed runs the image, rolled out
    commit: str | None = None
    failed_action: dict | None = None
    log_tail: list[str] = field(default_factory=list)
    service: dict | None = None
    reason: str | None = None
    environments: list[dict] = field(default_factory=list)
    # The rollback CodePipeline ran after this execution failed (rolledback.py), if any.
    rollback: dict | None = None

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
            "environments": self.environments,
            "rollback": self.rollback,
        }


def _actions(details: list[dict]) -> list[dict]:
    actions = []
    for d in sorted(details, key=lambda d: (d.get("startTime") is None, d.get("startTime") or 0)):
        result = (d.get("output") or {}).get("executionResult") or {}
        error = (result.get("errorDetails") or {}).get("message")
        started, updated = d.get("startTime"), d.get("lastUpdateTime")
        actions.append({
            "stage": d.get("stageName"),
            "action": d.get("actionName"),
            "status": d.get("status"),
            "category": ((d.get("input") or {}).get("actionTypeId") or {}).get("category"),
            "elapsed": (updated - started).total_seconds()
            if isinstance(started, datetime) and isinstance(updated, datetime) else None,
            "error": error or (result.get("externalExecutionSummary")
                               if d.get("status") == "Failed" else None),
            "summary": result.get("externalExecutionSummary"),
            "updated_by": d.get("updatedBy"),
            "external_id": result.get("externalExecutionId"),
            "finished_at": updated if d.get("status") == "Succeeded" and
            isinstance(updated, datetime) else None,
            "start_time": started.timestamp() if isinstance(started, datetime) else None,
        })
    return actions


class Watch:
    """Reads one execution and the services it deployed, one refresh at a time."""

    def __init__(self, ctx: Context, execution_id: str, pipeline: dict,
                 wall: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.execution_id = execution_id
        self.pipeline = pipeline
        self.wall = wall
        self.layout = [(stage["name"], action["name"]) for stage in pipeline.get("stages", [])
                       for action in stage.get("actions", [])]
        self.targets = ctx.config.targets
        names = ctx.names
        self.by_deploy = {names.deploy_stage(t.name): t for t in self.targets}
        self.by_approval = {names.approval_stage(t.name): t for t in self.targets
                            if t.approval and t.name}
        self.verified: dict[str, dict] = {}  # label -> the verified service's JSON
        self.notes: list[str] = []

    def deployed(self, snap: Snapshot | None) -> list[Target]:
        """Environments this execution deployed that are not verified yet."""
        if snap is None:
            return []
        done = {a["stage"] for a in snap.actions if a["status"] == "Succeeded"}
        return [t for stage, t in self.by_deploy.items()
                if stage in done and t.label not in self.verified]

    def refresh(self, elapsed: float, check: list[Target]) -> tuple[Snapshot, list[ServiceState]]:
        """One refresh: the execution, its actions, the state and the services in `check`,
        then their task definitions."""
        cp = self.ctx.aws.client("codepipeline")
        name = self.ctx.names.pipeline

        def details() -> list[dict]:
            # Paged (one page holds the few actions of one execution: one request).
            return [d for page in cp.get_paginator("list_action_executions").paginate(
                pipelineName=name, filter={"pipelineExecutionId": self.execution_id})
                for d in page.get("actionExecutionDetails", [])]

        execution, listed, state, *parts = together(
            lambda: cp.get_pipeline_execution(
                pipelineName=name, pipelineExecutionId=self.execution_id)["pipelineExecution"],
            details,
            lambda: cp.get_pipeline_state(name=name),
            *describe_services(self.ctx, check),
        )
        found: dict = {}
        for part in parts:
            found.update(part)
        services = [found.get((t.service.cluster_name, t.service.service_name)) for t in check]
        definitions = task_definitions(self.ctx, [a for s in services if s
                                                  for a in [running_task_definition(s)] if a])
        states = [service_view(t, s, definitions) for t, s in zip(check, services, strict=True)]
        commit = next((r.get("revisionId") for r in execution.get("artifactRevisions", [])
                       if r.get("revisionId")), None)
        actions = _actions(listed)
        snap = Snapshot(self.execution_id, execution["status"], elapsed, actions, commit,
                        self.layout, state=state)
        snap.approval = next((self.by_approval[a["stage"]].name for a in actions
                              if a["stage"] in self.by_approval and a["status"] == "InProgress"),
                             None)
        if snap.status == "InProgress" and not any(a["status"] == "InProgress" for a in actions):
            snap.held_by = self._held_by(state)
            snap.gate = gates.waiting(state, self.pipeline, self.execution_id, actions,
                                      self.wall())
        return snap, states

    def _held_by(self, state: dict) -> dict | None:
        for stage in state.get("stageStates", []):
            inbound = [e.get("pipelineExecutionId") for e in stage.get("inboundExecutions") or
                       [stage.get("inboundExecution") or {}]]
            if self.execution_id not in inbound:
                continue
            holder = (stage.get("latestExecution") or {})
            if holder.get("status") != "InProgress" or \
                    holder.get("pipelineExecutionId") == self.execution_id:
                return None
            target = self.by_approval.get(stage["stageName"])
            return {"stage": stage["stageName"], "execution_id": holder["pipelineExecutionId"],
                    "approval": target.name if target else None}
        return None

    def verify(self, target: Target, service: ServiceState, commit: str | None) -> str | None:
        """After `target`'s deploy stage: None while the rollout goes on, "" when the service
        runs this execution's image (or a newer one), else why not."""
        failed_rollout = [d for d in service.deployments if d.get("rolloutState") == "FAILED"]
        where = f"{target.name}: " if target.name else ""
        if service.rollout_state == "COMPLETED" and image_matches(service.image, commit):
            self.verified[target.label] = service.to_json()
            return ""
        if failed_rollout or service.rollout_state == "FAILED":
            reason = (failed_rollout[0].get("rolloutStateReason") if failed_rollout
                      else service.rollout_reason) or "the deployment failed"
            return (f"{where}the ECS deployment was rolled back by the circuit breaker: "
                    f"{reason.rstrip('.')}; the service runs {service.image}")
        if service.rollout_state == "COMPLETED":
            newer = _newer_deployed(self.ctx, self.execution_id, service.image)
            if newer:
                # Ours deployed, then a later push deployed on top of it: a success.
                self.verified[target.label] = service.to_json()
                self.notes.append(f"{where}deployed; since replaced by newer execution {newer}")
                return ""
            return (f"{where}the service runs {service.image}, not the image of commit "
                    f"{short_sha(commit)}")
        return None

    def environments(self) -> list[dict]:
        return [{"name": t.name, "verified": t.label in self.verified,
                 "service": self.verified.get(t.label)} for t in self.targets]

    def last_service(self, states: list[ServiceState]) -> dict | None:
        if self.targets[-1].label in self.verified:
            return self.verified[self.targets[-1].label]
        return states[-1].to_json() if states else None


def follow(
    ctx: Context,
    execution_id: str,
    pipeline: dict,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_update: Callable[[Snapshot], None] | None = None,
    until: Target | None = None,
    wall: Callable[[], float] = time.time,
) -> Outcome:
    """Poll until the execution ends and every environment it deployed runs its image
    (or until `until` is deployed and verified, or `timeout`). A stage CodePipeline
    rolled back (a failed action, or an alarm during the bake) is followed to the end
    of the rollback, and said: which alarm or action, and what the service runs then."""
    started = clock()
    deadline = started + timeout
    watch = Watch(ctx, execution_id, pipeline, wall)
    from ecspipe.deployments import Tracker

    tracker = Tracker(ctx, pipeline, watch.verified)
    backoff = Backoff(execution_id)
    snap: Snapshot | None = None
    seen: tuple = ()
    while True:
        check = [t for t in watch.deployed(snap) if not tracker.tracks(t)]
        snap, states = watch.refresh(clock() - started, check)
        for target, service in zip(check, states, strict=True):
            problem = watch.verify(target, service, snap.commit)
            if problem:
                return _ended(watch, snap, False, problem, service.to_json())
        problem = tracker.refresh(snap.actions, snap.commit, clock())
        tracker.refresh_holder(snap.held_by, clock())
        snap.deployments = tracker.views()
        if problem:
            return _ended(watch, snap, False, problem, watch.last_service(states))
        snap.verified = [t.name or "service" for t in watch.targets
                         if t.label in watch.verified]
        if on_update:
            on_update(snap)
        if until is not None and until.label in watch.verified and gates.stage_done(
                snap.state, ctx.names.deploy_stage(until.name), execution_id):
            nxt = "" if snap.status in TERMINAL else "; the execution goes on"
            return _ended(watch, snap, True, f"{until.name} is deployed and verified{nxt}",
                          watch.verified[until.label])
        pending = [*watch.deployed(snap), *tracker.pending(snap.actions)]
        if snap.status in TERMINAL and not pending:
            break
        if clock() >= deadline:
            waiting = (f"waiting for the approval of {snap.approval}" if snap.approval else
                       f"execution {snap.status}" if not pending else
                       f"the ECS rollout of {', '.join(t.label for t in pending)}")
            waiting = "; ".join([waiting, *(f.describe() for f in tracker.views() if not f.ended)])
            return _ended(watch, snap, False, f"timed out after {int(timeout)}s ({waiting})",
                          watch.last_service(states))
        now = (snap.status, tuple((a["stage"], a["status"]) for a in snap.actions),
               tuple(snap.verified), tuple(f.key() for f in snap.deployments))
        wait = backoff.next(changed=now != seen)
        seen = now
        sleep(max(0.0, min(wait, deadline - clock())))

    if snap.status != "Succeeded":
        late = tracker.outlasted(snap.actions)
        if late and all(t.label in watch.verified for t in watch.targets):
            return _ended(watch, snap, True, late, watch.verified[watch.targets[-1].label])
        failed = _failed(ctx, watch, snap)
        from ecspipe.rolledback import explain

        return explain(ctx, watch, snap, failed, lambda rollback_id, target: follow(
            ctx, rollback_id, pipeline, max(1.0, deadline - clock()), sleep, clock,
            until=target, wall=wall))
    missing = [t.label for t in watch.targets if t.label not in watch.verified]
    if missing:  # a deploy stage the pipeline skipped, say: nothing to vouch for
        return _ended(watch, snap, False, f"the pipeline succeeded, but {', '.join(missing)} "
                      "was not deployed by this execution", None)
    last = watch.targets[-1].label
    return _ended(watch, snap, True, "; ".join(watch.notes) or None,
                  watch.verified[last])


def _ended(watch: Watch, snap: Snapshot, succeeded: bool, reason: str | None,
           service: dict | None) -> Outcome:
    return Outcome(snap.execution_id, snap.status, succeeded, snap.commit, service=service,
                   reason=reason, environments=watch.environments())


def _failed(ctx: Context, watch: Watch, snap: Snapshot) -> Outcome:
    failed = next((a for a in snap.actions if a["status"] == "Failed"), None)
    tail: list[str] = []
    if failed and failed["category"] == "Approval":
        target = watch.by_approval.get(failed["stage"])
        env = target.name if target else failed["stage"]
        who, comment = _answer(snap, failed)
        reason = (f"the approval for {env} was rejected by {who}: {comment}" if who else
                  f"the approval for {env} was not given: {comment}")
    else:
        if failed and (failed["stage"] == "Build" or failed["action"] == "Build"):
            tail = build_log_tail(ctx, failed.get("external_id"))
        reason = {
            "Stopped": "the execution was stopped",
            "Superseded": "a newer execution superseded this one",
        }.get(snap.status, "an action failed")
    outcome = _ended(watch, snap, False, reason, None)
    outcome.failed_action = failed
    outcome.log_tail = tail
    return outcome


def _answer(snap: Snapshot, action: dict) -> tuple[str | None, str]:
    """Who answered an approval and their comment: GetPipelineState's latestExecution
    (lastUpdatedBy, summary) while the stage's latest execution is this one, else
    ListActionExecutions' updatedBy and the result's summary."""
    for stage in snap.state.get("stageStates", []):
        if stage.get("stageName") != action["stage"]:
            continue
        if (stage.get("latestExecution") or {}).get("pipelineExecutionId") != snap.execution_id:
            break
        latest = ((stage.get("actionStates") or [{}])[0].get("latestExecution") or {})
        return latest.get("lastUpdatedBy"), latest.get("summary") or "(no comment)"
    return action.get("updated_by"), action.get("summary") or "(no comment)"


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
