"""`release --wait` beyond the pipeline: the service's own deployment, to its real end.

A deploy stage whose action is CodeDeployToECS, or the ECS action with a
DeploymentTimeout (ecspipe sets one only for blue/green, linear and canary
services, documents/deploy.py), is followed here instead of by the rolling
check of release.py:

- ECS-managed (ECS API Reference, "ListServiceDeployments",
  "DescribeServiceDeployments"): the service deployment created once the deploy
  action started (ListServiceDeployments with createdAt.after, newest first; then
  only DescribeServiceDeployments, at most 20 ARNs a call, no cluster). Shown: its
  status and lifecycleStage, the target revision's requested production and test
  traffic weights, the bake time left (bakeTimeInMinutes from when the BAKE_TIME
  stage began, `updatedAt`), a PAUSE hook AWAITING_ACTION with its expiresAt and
  timeout action. It ends SUCCESSFUL (then the service must run the built image),
  or STOPPED / ROLLBACK_* with statusReason and rollback.reason: exit 1.
- CodeDeploy ("GetDeployment", "ListDeploymentTargets", "BatchGetDeploymentTargets",
  CodeDeploy API Reference): the deployment is the action's externalExecutionId.
  Shown: status, the target's current lifecycle event, the replacement task set's
  traffic weight, the termination wait (instanceTerminationWaitTimeStarted). It ends
  Succeeded (then the service's PRIMARY task set must run the built image), or
  Failed / Stopped with errorInformation and rollbackInfo: exit 1.

The deploy action may end before the deployment does: the ECS action fails at
its DeploymentTimeout (60 minutes at most) while ECS bakes or waits at a pause
hook, and nothing says that stops the deployment. Following goes on until the
deployment ends, within --timeout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ecspipe.config import Target
from ecspipe.resources.base import Context
from ecspipe.rounds import together
from ecspipe.status import image_matches, service_states, short_sha

ECS_ENDED = {"SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}
CODEDEPLOY_ENDED = {"Succeeded", "Failed", "Stopped"}


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class Followed:
    """One environment's deployment, as last read."""

    target: Target
    kind: str  # ecs | codedeploy
    id: str | None = None  # service deployment ARN, or CodeDeploy deployment id
    status: str | None = None
    stage: str | None = None  # lifecycle stage (ECS) or lifecycle event (CodeDeploy)
    production_weight: float | None = None  # % of production traffic on the new revision
    test_weight: float | None = None
    bake_left: float | None = None  # seconds
    termination_wait: bool = False
    pause: dict | None = None  # hook_id, expires_at, timeout_action
    reason: str | None = None
    ended: bool = False
    succeeded: bool = False
    targets: list[str] = field(default_factory=list)  # CodeDeploy target ids
    holder: str | None = None  # an older execution's deployment, holding the stage

    @property
    def label(self) -> str:
        return self.target.label

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.target.name, "kind": self.kind, "id": self.id,
                "status": self.status, "stage": self.stage,
                "production_traffic": self.production_weight, "test_traffic": self.test_weight,
                "bake_seconds_left": self.bake_left, "termination_wait": self.termination_wait,
                "pause": self.pause, "reason": self.reason, "ended": self.ended,
                "succeeded": self.succeeded}

    def key(self) -> tuple:
        """What the deployment does, without the bake countdown: a change of it is news
        (a new line; polling starts fast again), the countdown alone is not."""
        return (self.id, self.status, self.stage, self.production_weight, self.test_weight,
                self.bake_left is not None, self.termination_wait, bool(self.pause), self.holder)

    def describe(self) -> str:
        """One line: where the deployment is."""
        what = "CodeDeploy deployment" if self.kind == "codedeploy" else "service deployment"
        if self.holder:
            what = f"older execution {self.holder[:8]}'s {what}"
        parts = [f"{what} {_short_id(self.id)} {self.status or 'starting'}"]
        if self.stage:
            parts.append(f"at {self.stage}")
        if self.production_weight is not None:
            traffic = f"production traffic {self.production_weight:g}% on the new revision"
            if self.test_weight is not None:
                traffic += f" (test {self.test_weight:g}%)"
            parts.append(traffic)
        if self.bake_left is not None:
            parts.append(f"baking, about {int(self.bake_left // 60)}m{int(self.bake_left % 60):02d}s "
                         "left")
        if self.termination_wait:
            parts.append("traffic shifted; the original task set waits out the termination wait")
        return ", ".join(parts)


def _short_id(value: str | None) -> str:
    return (value or "").rsplit("/", 1)[-1]


def followed_stages(ctx: Context, pipeline: dict) -> dict[str, Followed]:
    """{deploy stage: Followed} of the deploy stages followed here (see the docstring)."""
    by_stage = {ctx.names.deploy_stage(t.name): t for t in ctx.config.targets}
    out: dict[str, Followed] = {}
    for stage in pipeline.get("stages", []):
        target = by_stage.get(stage.get("name"))
        if target is None:
            continue
        for action in stage.get("actions", []):
            provider = (action.get("actionTypeId") or {}).get("provider")
            config = action.get("configuration") or {}
            if provider == "CodeDeployToECS":
                out[stage["name"]] = Followed(target, "codedeploy")
            elif provider == "ECS" and config.get("DeploymentTimeout"):
                out[stage["name"]] = Followed(target, "ecs")
    return out


class Tracker:
    """Follows every tracked environment's deployment, one refresh at a time."""

    def __init__(self, ctx: Context, pipeline: dict, verified: dict[str, dict]) -> None:
        self.ctx = ctx
        self.stages = followed_stages(ctx, pipeline)
        self.verified = verified  # release.Watch's: label -> the verified service's JSON
        self.labels = {f.label for f in self.stages.values()}
        self.held: dict[str, Followed] = {}

    def tracks(self, target: Target) -> bool:
        return target.label in self.labels

    def started(self, actions: list[dict]) -> list[tuple[Followed, dict]]:
        """The followed deploy stages whose action this execution started, not yet ended."""
        out = []
        for action in actions:
            followed = self.stages.get(action["stage"])
            if followed and not followed.ended and action["status"] in (
                    "InProgress", "Succeeded", "Failed"):
                out.append((followed, action))
        return out

    def pending(self, actions: list[dict]) -> list[Target]:
        return [f.target for f, _ in self.started(actions)]

    def refresh(self, actions: list[dict], commit: str | None, now: float) -> str | None:
        """Read every started deployment (one round); None, or why the release failed."""
        started = self.started(actions)
        together(*[functools.partial(self._read, f, a, now) for f, a in started])
        ended = [f for f, _ in started if f.ended]
        for f in ended:
            if not f.succeeded:
                where = f"{f.target.name}: " if f.target.name else ""
                return f"{where}{f.reason}"
        if ended:
            states = service_states(self.ctx, [f.target for f in ended])
            for f, state in zip(ended, states, strict=True):
                where = f"{f.target.name}: " if f.target.name else ""
                if not image_matches(state.image, commit):
                    f.succeeded = False
                    return (f"{where}the deployment {_short_id(f.id)} succeeded, but the "
                            f"service runs {state.image}, not the image of commit "
                            f"{short_sha(commit)}")
                self.verified[f.label] = {**state.to_json(), "deployment": f.to_json(),
                                          "rollout_state": state.rollout_state or f.status}
        return None

    def outlasted(self, actions: list[dict]) -> str | None:
        """When a deploy action failed (its timeout) but the deployment it started went on
        and succeeded: that, in words; else None."""
        for action in actions:
            f = self.stages.get(action["stage"])
            if f and action["status"] == "Failed" and f.ended and f.succeeded:
                error = action.get("error") or "no reason given"
                return (f"the {action['stage']} action failed ({error}), but the deployment it "
                        "started went on and succeeded: the service runs the image")
        return None

    def views(self) -> list[Followed]:
        return [f for f in [*self.stages.values(), *self.held.values()] if f.id or f.status]

    def refresh_holder(self, held_by: dict | None, now: float) -> None:
        """While an older execution holds a followed deploy stage, its deployment (it may
        wait at a pause hook: this execution waits for that answer too)."""
        self.held = {}
        if not held_by or held_by.get("stage") not in self.stages:
            return
        mine = self.stages[held_by["stage"]]
        f = Followed(mine.target, mine.kind, holder=held_by["execution_id"])
        if f.kind == "ecs":
            service = f.target.service
            ecs = self.ctx.aws.client("ecs")
            listed = ecs.list_service_deployments(
                cluster=service.cluster, service=service.service_name,
                status=["PENDING", "IN_PROGRESS"]).get("serviceDeployments", [])
            newest = max(listed, key=lambda d: _epoch(d.get("createdAt")) or 0.0, default=None)
            if newest is None:
                return
            f.id = newest["serviceDeploymentArn"]
            found = ecs.describe_service_deployments(serviceDeploymentArns=[f.id]).get(
                "serviceDeployments", [])
            if found:
                apply_ecs(f, found[0], now)
        self.held = {f.label: f}

    def _read(self, f: Followed, action: dict, now: float) -> None:
        if f.kind == "ecs":
            self._read_ecs(f, action, now)
        else:
            self._read_codedeploy(f, action)
        if f.id is None and action["status"] == "Failed":
            # The action failed before it started a deployment (CodeDeploy refused it, say,
            # for another active deployment in the group): nothing more to follow.
            f.ended, f.succeeded = True, False
            f.reason = (f"the {action['stage']} action failed before a deployment started: "
                        f"{action.get('error') or 'no reason given'}")

    # --- ECS-managed ----------------------------------------------------------------------

    def _read_ecs(self, f: Followed, action: dict, now: float) -> None:
        ecs = self.ctx.aws.client("ecs")
        service = f.target.service
        if f.id is None:
            # A second's margin: the action's startTime and the deployment's createdAt are
            # rounded differently (and the action calls UpdateService just after it starts).
            # Once the action succeeded, its deployment is the newest whatever the times say.
            window = {"after": action["start_time"] - 1.0} if action.get("start_time") and \
                action["status"] != "Succeeded" else {}
            listed = ecs.list_service_deployments(
                cluster=service.cluster, service=service.service_name, createdAt=window,
            ).get("serviceDeployments", [])
            newest = max(listed, key=lambda d: _epoch(d.get("createdAt")) or 0.0, default=None)
            if newest is None:
                return  # the action has not called UpdateService yet
            f.id = newest["serviceDeploymentArn"]
        found = ecs.describe_service_deployments(serviceDeploymentArns=[f.id]).get(
            "serviceDeployments", [])
        if not found:
            f.ended, f.reason = True, f"service deployment {f.id} is not found (MISSING)"
            return
        apply_ecs(f, found[0], now)

    # --- CodeDeploy -------------------------------------------------------------------------

    def _read_codedeploy(self, f: Followed, action: dict) -> None:
        cd = self.ctx.aws.client("codedeploy")
        f.id = f.id or action.get("external_id")
        if not f.id:
            return
        if not f.targets:
            f.targets = [t for page in cd.get_paginator("list_deployment_targets").paginate(
                deploymentId=f.id) for t in page.get("targetIds", [])]
        info, targets = together(
            lambda: cd.get_deployment(deploymentId=f.id)["deploymentInfo"],
            lambda: cd.batch_get_deployment_targets(deploymentId=f.id, targetIds=f.targets[:25])
            .get("deploymentTargets", []) if f.targets else [])
        apply_codedeploy(f, info, targets)


def apply_ecs(f: Followed, deployment: dict, now: float) -> None:
    """What DescribeServiceDeployments says, onto `f` (pure: tested on its own)."""
    f.status = deployment.get("status")
    f.stage = deployment.get("lifecycleStage")
    target = deployment.get("targetServiceRevision") or {}
    f.production_weight = target.get("requestedProductionTrafficWeight")
    f.test_weight = target.get("requestedTestTrafficWeight")
    config = deployment.get("deploymentConfiguration") or {}
    f.bake_left = None
    if f.stage == "BAKE_TIME" and config.get("bakeTimeInMinutes") is not None:
        since = _epoch(deployment.get("updatedAt"))
        if since is not None:
            f.bake_left = max(0.0, config["bakeTimeInMinutes"] * 60.0 - (now - since))
    hook = next((h for h in deployment.get("lifecycleHookDetails") or []
                 if h.get("targetType") == "PAUSE" and h.get("status") == "AWAITING_ACTION"),
                None)
    f.pause = None if hook is None else {
        "hook_id": hook.get("hookId"), "stage": f.stage,
        "expires_at": _iso(hook.get("expiresAt")), "timeout_action": hook.get("timeoutAction")}
    if f.status in ECS_ENDED:
        f.ended = True
        f.succeeded = f.status == "SUCCESSFUL"
        if not f.succeeded:
            rollback = (deployment.get("rollback") or {}).get("reason")
            reason = deployment.get("statusReason") or "no reason given"
            f.reason = (f"the service deployment {_short_id(f.id)} ended {f.status}: "
                        f"{reason.rstrip('.')}"
                        + (f" (rollback: {rollback.rstrip('.')})" if rollback and
                           rollback not in reason else ""))


def apply_codedeploy(f: Followed, info: dict, targets: list[dict]) -> None:
    """What GetDeployment and BatchGetDeploymentTargets say, onto `f` (pure)."""
    f.status = info.get("status")
    ecs_target = next((t.get("ecsTarget") for t in targets if t.get("ecsTarget")), None) or {}
    events = ecs_target.get("lifecycleEvents") or []
    current = next((e for e in events if e.get("status") == "InProgress"), None) or \
        next((e for e in reversed(events) if e.get("status") == "Succeeded"), None)
    f.stage = (current or {}).get("lifecycleEventName")
    green = next((s for s in ecs_target.get("taskSetsInfo") or []
                  if str(s.get("taskSetLabel")).upper() == "GREEN"), None)
    f.production_weight = green.get("trafficWeight") if green else None
    f.termination_wait = bool(info.get("instanceTerminationWaitTimeStarted")) and \
        f.status not in CODEDEPLOY_ENDED
    f.pause = {"ready_wait": True} if f.status == "Ready" else None
    if f.status in CODEDEPLOY_ENDED:
        f.ended = True
        f.succeeded = f.status == "Succeeded"
        if not f.succeeded:
            error = info.get("errorInformation") or {}
            rollback = info.get("rollbackInfo") or {}
            reason = error.get("message") or "no reason given"
            code = f" ({error['code']})" if error.get("code") else ""
            f.reason = (f"the CodeDeploy deployment {f.id} {str(f.status).lower()}{code}: "
                        f"{reason.rstrip('.')}")
            if rollback.get("rollbackDeploymentId"):
                f.reason += f"; rolled back by deployment {rollback['rollbackDeploymentId']}"
            elif rollback.get("rollbackMessage"):
                f.reason += f"; {rollback['rollbackMessage'].rstrip('.')}"


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)
