"""ECS service deployments in the sandbox: records, revisions, and the strategies' lifecycle.

Every deployment of a service with the ECS controller is a service deployment
(an ARN, `currentServiceDeployment` on the service) from source service
revisions to a target revision, as ListServiceDeployments and
DescribeServiceDeployments show it (ecs_deployments_api.py serves those).
moto has none of it; this module keeps the records on moto's Service object
(so moto's reset wipes them) and plays them forward lazily on
`SETTINGS.clock`, like ecs.py.

ROLLING (`deploymentConfiguration.strategy` absent or ROLLING) is ecs.py's
rolling update, unchanged; the record follows it: IN_PROGRESS, then
SUCCESSFUL, or ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL when the circuit
breaker trips. BLUE_GREEN, LINEAR and CANARY are run here, stage by stage
("Amazon ECS blue/green service deployments workflow", "Deployment lifecycle
hooks", Amazon ECS Developer Guide; the stages of DeploymentLifecycleHook and
ServiceDeployment in the API reference):

    [RECONCILE_SERVICE]  only when a deployment was still in progress
    PRE_SCALE_UP
    SCALE_UP                  green tasks start (rollout_seconds(), as a rolling update)
    POST_SCALE_UP
    TEST_TRAFFIC_SHIFT        test traffic 0 -> 100 % green (SHIFT_SECONDS)
    POST_TEST_TRAFFIC_SHIFT
    PRODUCTION_TRAFFIC_SHIFT  BLUE_GREEN: 0 -> 100 %; LINEAR: stepPercent steps with
                              stepBakeTimeInMinutes between them (none after 100 %);
                              CANARY: canaryPercent, canaryBakeTimeInMinutes, 100 %
    POST_PRODUCTION_TRAFFIC_SHIFT
    BAKE_TIME                 bakeTimeInMinutes, blue and green both running
    CLEAN_UP                  blue scaled in (SHIFT_SECONDS) -> SUCCESSFUL

Lifecycle hooks run after their stage's work, one after another: an
AWS_LAMBDA hook succeeds at once (the sandbox runs no Lambda); a PAUSE hook is
AWAITING_ACTION with a hookId and expiresAt (timeoutConfiguration, default 1440
minutes and ROLLBACK) until ContinueServiceDeployment answers it or it times
out. Hooks at PRE_PRODUCTION_TRAFFIC_SHIFT run before each production shift;
since ServiceDeploymentLifecycleStage has no such value, the stage reported
meanwhile is PRODUCTION_TRAFFIC_SHIFT.

A managed deployment rolls back (ROLLBACK_IN_PROGRESS, `rollback.reason`,
traffic back on blue at once, ROLLBACK_SUCCESSFUL SHIFT_SECONDS later) when
ContinueServiceDeployment or StopServiceDeployment asks, a pause times out
with ROLLBACK, the circuit breaker trips at the end of SCALE_UP
(`settings.rollback`, or the pipeline's injected failure), or a deployment
alarm (`deploymentConfiguration.alarms`, moto's CloudWatch alarm state) is in
ALARM; alarms without `rollback` stop it (STOPPED). A new deployment while one
is in progress stops the older (STOPPED) and starts with RECONCILE_SERVICE.

The service follows the outcome: its `taskDefinition` is the target's from
UpdateService on and the source's again after a rollback; its `deployments`
hold the green PRIMARY and the blue ACTIVE until the end, then the PRIMARY
COMPLETED alone (after a rollback, the blue PRIMARY COMPLETED and the green
INACTIVE FAILED, as ecs.py keeps a rolled-back rolling update visible).

Sandbox choices, where AWS does not say: ROLLBACK_REQUESTED is not shown (the
rollback starts at once); the stage of a rolling-back deployment stays the stage
where it was; test traffic is shifted whether or not a test listener rule is
configured; ELB listener rules are not rewritten (the weights are in the
service revisions' summaries only); a rolling deployment has no lifecycleStage.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from ecspipe.sandbox import ecs as ecs_sim

MANAGED = ("BLUE_GREEN", "LINEAR", "CANARY")
IN_PROGRESS, SUCCESSFUL, STOPPED = "IN_PROGRESS", "SUCCESSFUL", "STOPPED"
ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL = "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"
TERMINAL = (SUCCESSFUL, STOPPED, ROLLBACK_SUCCESSFUL, "ROLLBACK_FAILED")
AWAITING_ACTION, HOOK_SUCCEEDED, HOOK_FAILED, TIMED_OUT = (
    "AWAITING_ACTION", "SUCCEEDED", "FAILED", "TIMED_OUT")
# Each traffic shift, the clean-up and a managed rollback take this long.
SHIFT_SECONDS = 1.0
# "DeploymentLifecycleHookTimeoutConfiguration": timeoutInMinutes default 1440, action ROLLBACK.
HOOK_TIMEOUT_MINUTES, HOOK_TIMEOUT_ACTION = 1440, "ROLLBACK"
# "LinearConfiguration" / "CanaryConfiguration" defaults (ECS API Reference).
LINEAR_DEFAULTS = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
CANARY_DEFAULTS = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}
SUPERSEDED_REASON = "The service deployment was superseded by a newer service deployment."

_lock = threading.RLock()


def strategy(service: Any) -> str:
    return str((getattr(service, "deployment_configuration", None) or {}).get("strategy")
               or "ROLLING")


def is_managed(service: Any) -> bool:
    """Does ECS itself run this service's deployments stage by stage (not rolling)?"""
    return _controller(service) == "ECS" and strategy(service) in MANAGED


def _controller(service: Any) -> str:
    return str((service.deployment_controller or {}).get("type") or "ECS")


def _token(size: int = 16) -> str:
    # ARNs of the docs' examples end in 21-22 such characters, hook ids in 43.
    return secrets.token_urlsafe(size)


def _arn(service: Any, kind: str, ident: str) -> str:
    return (f"arn:aws:ecs:{service.region_name}:{service._account_id}:{kind}/"
            f"{service.cluster_name}/{service.name}/{ident}")


# --- the model ----------------------------------------------------------------------


@dataclass
class Revision:
    """A service revision (DescribeServiceRevisions): the service as one deployment made it."""

    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    created: float
    snapshot: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"serviceRevisionArn": self.arn, "serviceArn": self.service_arn,
                "clusterArn": self.cluster_arn, "taskDefinition": self.task_definition,
                **copy.deepcopy(self.snapshot), "createdAt": self.created}


@dataclass
class RevisionUse:
    """One revision's part in a deployment (ServiceRevisionSummary)."""

    arn: str
    requested: int
    running: int = 0
    pending: int = 0
    test_weight: float = 0.0
    prod_weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"arn": self.arn, "requestedTaskCount": self.requested,
                "runningTaskCount": self.running, "pendingTaskCount": self.pending,
                "requestedTestTrafficWeight": self.test_weight,
                "requestedProductionTrafficWeight": self.prod_weight}


@dataclass
class Hook:
    """One run of a lifecycle hook (DeploymentLifecycleHookDetail)."""

    hook_id: str
    target_type: str
    target_arn: str | None
    stage: str
    status: str
    expires_at: float | None
    timeout_action: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hookId": self.hook_id, "targetType": self.target_type,
                               "status": self.status, "timeoutAction": self.timeout_action}
        if self.target_arn:
            out["targetArn"] = self.target_arn
        if self.expires_at is not None:
            out["expiresAt"] = self.expires_at
        return out


@dataclass
class Step:
    """One stretch of a managed deployment: `seconds` of work, then the stage's hooks."""

    stage: str  # the lifecycleStage reported
    hook_stage: str | None  # whose hooks run after the work
    seconds: float
    effect: str | None = None  # scale_up | test | prod | clean_up
    weight: float = 100.0  # green's share after a test/prod shift


@dataclass
class ServiceDeployment:
    arn: str
    service_arn: str
    cluster_arn: str
    strategy: str
    created: float
    target: RevisionUse
    sources: list[RevisionUse]
    configuration: dict[str, Any]
    status: str = IN_PROGRESS
    status_reason: str | None = None
    started: float | None = None
    finished: float | None = None
    stopped: float | None = None
    updated: float = 0.0
    stage: str | None = None
    hooks: list[Hook] = field(default_factory=list)
    rollback: dict[str, Any] | None = None
    breaker_status: str = "DISABLED"
    failure_count: int = 0
    triggered_alarms: list[str] = field(default_factory=list)
    # The simulation (managed strategies): where in the plan, and when the next change is due.
    plan: list[Step] = field(default_factory=list)
    position: int = 0
    phase: str | None = None  # work | hooks | rollback
    due: float | None = None
    queued_hooks: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False  # the circuit breaker trips at the end of SCALE_UP
    # deployments[] ids: the green one, and (rolling) the rollback's.
    ecs_ids: list[str] = field(default_factory=list)

    @property
    def managed(self) -> bool:
        return self.strategy in MANAGED

    @property
    def running(self) -> bool:
        return self.status not in TERMINAL

    def awaiting(self) -> Hook | None:
        return next((h for h in self.hooks if h.status == AWAITING_ACTION), None)

    def brief(self) -> dict[str, Any]:
        """ListServiceDeployments' ServiceDeploymentBrief."""
        return _drop_none({
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn, "startedAt": self.started,
            "createdAt": self.created, "finishedAt": self.finished,
            "targetServiceRevisionArn": self.target.arn, "status": self.status,
            "statusReason": self.status_reason})

    def to_dict(self) -> dict[str, Any]:
        """DescribeServiceDeployments' ServiceDeployment."""
        alarms_cfg = self.configuration.get("alarms") or {}
        out = _drop_none({
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn, "createdAt": self.created,
            "startedAt": self.started, "finishedAt": self.finished,
            "stoppedAt": self.stopped, "updatedAt": self.updated,
            "sourceServiceRevisions": [s.to_dict() for s in self.sources],
            "targetServiceRevision": self.target.to_dict(), "status": self.status,
            "statusReason": self.status_reason, "lifecycleStage": self.stage,
            "lifecycleHookDetails": [h.to_dict() for h in self.hooks] or None,
            "deploymentConfiguration": copy.deepcopy(self.configuration),
            "rollback": copy.deepcopy(self.rollback),
        })
        breaker = (self.configuration.get("deploymentCircuitBreaker") or {})
        desired = max(self.target.requested, 1)
        out["deploymentCircuitBreaker"] = {
            "status": self.breaker_status, "failureCount": self.failure_count,
            # "ServiceDeploymentCircuitBreaker": 0.5 x desired count, between 3 and 200.
            "threshold": min(max(3, -(-desired // 2)), 200)} if breaker.get("enable") else {
            "status": "DISABLED"}
        if alarms_cfg.get("enable"):
            alarms: dict[str, Any] = {"status": self._alarm_status(),
                                      "alarmNames": list(alarms_cfg.get("alarmNames") or [])}
            if self.triggered_alarms:
                alarms["triggeredAlarmNames"] = list(self.triggered_alarms)
            out["alarms"] = alarms
        return out

    def _alarm_status(self) -> str:
        if self.triggered_alarms:
            return "TRIGGERED"
        return "MONITORING" if self.running else "MONITORING_COMPLETE"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --- state kept on moto's Service ----------------------------------------------------


def records(service: Any) -> list[ServiceDeployment]:
    """The service's deployments, oldest first."""
    if getattr(service, "ecspipe_service_deployments", None) is None:
        service.ecspipe_service_deployments = []
    return service.ecspipe_service_deployments


def revisions(service: Any) -> dict[str, Revision]:
    if getattr(service, "ecspipe_revisions", None) is None:
        service.ecspipe_revisions = {}
    return service.ecspipe_revisions


def latest(service: Any) -> ServiceDeployment | None:
    found = records(service)
    return found[-1] if found else None


def find_record(service: Any, arn: str) -> ServiceDeployment | None:
    return next((r for r in records(service) if r.arn == arn), None)


def _new_revision(service: Any, task_definition: str, at: float) -> Revision:
    backend = ecs_sim._ecs_backend(service._account_id, service.region_name)
    try:
        containers = backend.describe_task_definition(task_definition).container_definitions
    except Exception:  # noqa: BLE001 - a deregistered task definition: no images to show
        containers = []
    snapshot = {k: copy.deepcopy(v) for k, v in (
        ("launchType", service.launch_type), ("platformVersion", service.platform_version),
        ("loadBalancers", service.load_balancers or None),
        ("networkConfiguration", service.network_configuration or None)) if v}
    snapshot["platformFamily"] = "EC2" if service.launch_type == "EC2" else "FARGATE"
    snapshot["containerImages"] = [{"containerName": c["name"], "image": c.get("image", "")}
                                   for c in containers if c.get("name")]
    revision = Revision(_arn(service, "service-revision", f"{uuid.uuid4().int % 10**19:019d}"),
                        service.arn, service.cluster_arn, task_definition, at, snapshot)
    revisions(service)[revision.arn] = revision
    return revision


def _in_use(service: Any) -> list[RevisionUse]:
    """The revisions running now (the sources of a new deployment)."""
    previous = latest(service)
    if previous is None:
        return []
    if previous.status == SUCCESSFUL:
        uses = [previous.target]
    elif previous.status == ROLLBACK_SUCCESSFUL:
        uses = previous.sources
    else:
        uses = [u for u in (*previous.sources, previous.target) if u.running or u.pending]
    return [RevisionUse(u.arn, u.running or u.requested, u.running, 0, u.test_weight,
                        u.prod_weight) for u in uses]


def _sync_service(service: Any, record: ServiceDeployment) -> None:
    """What DescribeServices shows of the deployment: currentServiceDeployment/Revisions."""
    service.current_service_deployment = record.arn
    uses = record.sources + [record.target] if record.running else (
        record.sources if record.status == ROLLBACK_SUCCESSFUL else [record.target])
    service.current_service_revisions = [
        {"arn": u.arn, "requestedTaskCount": u.requested, "runningTaskCount": u.running,
         "pendingTaskCount": u.pending} for u in uses if u.requested or u.running]


def _begin_record(service: Any, task_definition: str, now: float, fail: bool) -> ServiceDeployment:
    desired = int(service.desired_count or 0)
    sources = _in_use(service)
    previous = latest(service)
    if previous is not None and previous.running:
        _stop(previous, now, SUPERSEDED_REASON)
    configuration = copy.deepcopy(service.deployment_configuration or {})
    breaker = configuration.get("deploymentCircuitBreaker") or {}
    record = ServiceDeployment(
        arn=_arn(service, "service-deployment", _token()), service_arn=service.arn,
        cluster_arn=service.cluster_arn, strategy=strategy(service), created=now,
        target=RevisionUse(_new_revision(service, task_definition, now).arn, desired,
                           pending=desired),
        sources=sources, configuration=configuration, started=now, updated=now,
        breaker_status="MONITORING" if breaker.get("enable") else "DISABLED", fail=fail)
    records(service).append(record)
    return record


def _stop(record: ServiceDeployment, at: float, reason: str) -> None:
    record.status, record.status_reason = STOPPED, reason
    record.stopped = record.finished = record.updated = at
    record.due, record.phase = None, None
    for hook in record.hooks:
        if hook.status == AWAITING_ACTION:
            hook.status = HOOK_FAILED


# --- what ecs.py tells this module ---------------------------------------------------


def created(service: Any, now: float) -> None:
    """A created service is already running: its first deployment SUCCESSFUL, revision 1."""
    if _controller(service) != "ECS" or not service.task_definition:
        return
    desired = int(service.desired_count or 0)
    revision = _new_revision(service, service.task_definition, now)
    record = ServiceDeployment(
        arn=_arn(service, "service-deployment", _token()), service_arn=service.arn,
        cluster_arn=service.cluster_arn, strategy=strategy(service), created=now,
        target=RevisionUse(revision.arn, desired, desired, 0, 100.0, 100.0), sources=[],
        configuration=copy.deepcopy(service.deployment_configuration or {}),
        status=SUCCESSFUL, started=now, finished=now, updated=now,
        ecs_ids=[d["id"] for d in service.deployments or []])
    records(service).append(record)
    _sync_service(service, record)


def begin(service: Any, task_definition: str, now: float, rollback: bool = False) -> dict:
    """A new deployment of `service` to `task_definition` (UpdateService, or the pipeline).

    Returns the new PRIMARY entry of `deployments`. ROLLING is ecs.py's rolling update;
    the managed strategies start their first stage here.
    """
    with _lock:
        record = _begin_record(service, task_definition, now, fail=rollback)
        deployment = ecs_sim.start_deployment(service, task_definition, now,
                                              rollback=rollback and not record.managed)
        record.ecs_ids.append(deployment["id"])
        if record.managed:
            service.ecspipe_rollout = None  # this module plays it, not the rolling update
            record.plan = _plan(record.configuration, reconcile=len(record.sources) > 1)
            _enter(service, record, 0, now)
            _advance(service, record, now)
        start_checks(service, record, now)
        _sync_service(service, record)
        return deployment


def rolling_completed(service: Any, deployment: dict[str, Any], at: float) -> None:
    """ecs.py finished a rolling update (or its rollback)."""
    record = _record_of(service, deployment["id"])
    if record is None or record.managed or not record.running:
        return
    rolled_back = record.status == ROLLBACK_IN_PROGRESS
    for use in record.sources if rolled_back else [record.target]:
        use.running, use.pending = use.requested, 0
        use.test_weight = use.prod_weight = 100.0
    for use in [record.target] if rolled_back else record.sources:
        use.running = use.pending = 0
        use.test_weight = use.prod_weight = 0.0
    record.status = ROLLBACK_SUCCESSFUL if rolled_back else SUCCESSFUL
    record.finished = record.updated = at
    if record.breaker_status == "MONITORING":
        record.breaker_status = "MONITORING_COMPLETE"
    _sync_service(service, record)


def rolling_rolled_back(service: Any, failed: dict[str, Any], rollback: dict[str, Any],
                        at: float, reason: str) -> None:
    """ecs.py rolls a rolling update back (circuit breaker, alarm, or a stop request)."""
    record = _record_of(service, failed["id"])
    if record is None or record.managed or not record.running:
        return
    record.ecs_ids.append(rollback["id"])
    _mark_rollback(record, at, reason)
    record.target.pending = record.target.running = 0
    _sync_service(service, record)


def _record_of(service: Any, deployment_id: str) -> ServiceDeployment | None:
    return next((r for r in reversed(records(service)) if deployment_id in r.ecs_ids), None)


def _mark_rollback(record: ServiceDeployment, at: float, reason: str) -> None:
    record.status, record.status_reason = ROLLBACK_IN_PROGRESS, reason
    record.updated = at
    record.rollback = {"reason": reason, "startedAt": at,
                       "serviceRevisionArn": record.sources[0].arn if record.sources
                       else record.target.arn}
    if reason == ecs_sim.CIRCUIT_BREAKER_REASON:
        record.breaker_status = "TRIGGERED"
        record.failure_count = max(record.target.requested, 1)
    for hook in record.hooks:
        if hook.status == AWAITING_ACTION:
            hook.status = HOOK_FAILED


# --- the managed strategies ------------------------------------------------------------


def _plan(configuration: dict[str, Any], reconcile: bool) -> list[Step]:
    up = ecs_sim.rollout_seconds()
    plan = [Step("RECONCILE_SERVICE", "RECONCILE_SERVICE", 0.0)] if reconcile else []
    plan += [
        Step("PRE_SCALE_UP", "PRE_SCALE_UP", 0.0),
        Step("SCALE_UP", None, up, "scale_up"),
        Step("POST_SCALE_UP", "POST_SCALE_UP", 0.0),
        Step("TEST_TRAFFIC_SHIFT", "TEST_TRAFFIC_SHIFT", SHIFT_SECONDS, "test"),
        Step("POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", 0.0),
    ]
    for weight, bake_minutes in production_steps(configuration):
        plan += [Step("PRODUCTION_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", 0.0),
                 Step("PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", SHIFT_SECONDS,
                      "prod", weight)]
        if bake_minutes:
            plan.append(Step("PRODUCTION_TRAFFIC_SHIFT", None, bake_minutes * 60.0))
    bake = float(configuration.get("bakeTimeInMinutes") or 0)
    return plan + [
        Step("POST_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", 0.0),
        Step("BAKE_TIME", None, bake * 60.0),
        Step("CLEAN_UP", None, SHIFT_SECONDS, "clean_up"),
    ]


def production_steps(configuration: dict[str, Any]) -> list[tuple[float, float]]:
    """(green's production weight after the shift, bake minutes after it), shift by shift.

    LINEAR: stepPercent at a time, stepBakeTimeInMinutes after each shift but the last
    ("AWS::ECS::Service LinearConfiguration": the bake is not applied after reaching
    100 percent; steps = 100 / stepPercent - 1 bakes when it divides evenly, else
    floor(100 / stepPercent)). CANARY: canaryPercent, canaryBakeTimeInMinutes, then all.
    """
    kind = configuration.get("strategy")
    if kind == "LINEAR":
        cfg = {**LINEAR_DEFAULTS, **(configuration.get("linearConfiguration") or {})}
        step, bake = float(cfg["stepPercent"]), float(cfg["stepBakeTimeInMinutes"])
        weights, total = [], 0.0
        while total < 100.0 - 1e-9:
            total = min(round(total + step, 6), 100.0)
            weights.append(total)
        return [(w, bake if w < 100.0 else 0.0) for w in weights]
    if kind == "CANARY":
        cfg = {**CANARY_DEFAULTS, **(configuration.get("canaryConfiguration") or {})}
        canary = float(cfg["canaryPercent"])
        if canary >= 100.0:
            return [(100.0, 0.0)]
        return [(canary, float(cfg["canaryBakeTimeInMinutes"])), (100.0, 0.0)]
    return [(100.0, 0.0)]


def minimum_seconds(configuration: dict[str, Any]) -> float:
    """How long a managed deployment takes without pauses (what the plan adds up to)."""
    return sum(step.seconds for step in _plan(configuration, reconcile=False))


def _enter(service: Any, record: ServiceDeployment, position: int, at: float) -> None:
    record.position, record.updated = position, at
    step = record.plan[position]
    record.stage, record.phase, record.due = step.stage, "work", at + step.seconds


def _hooks_for(record: ServiceDeployment, stage: str | None) -> list[dict[str, Any]]:
    if stage is None:
        return []
    return [copy.deepcopy(h) for h in record.configuration.get("lifecycleHooks") or []
            if stage in (h.get("lifecycleStages") or [])]


def _advance(service: Any, record: ServiceDeployment, now: float) -> None:
    """Apply every transition of a managed deployment due by `now`, each at its time."""
    while record.running and record.due is not None and record.due <= now:
        at = record.due
        if record.phase == "work":
            _work_done(service, record, at)
        elif record.phase == "hooks":
            _hook_timed_out(service, record, at)
        elif record.phase == "rollback":
            _rollback_done(service, record, at)
        else:
            record.due = None
    _sync_service(service, record)


def _work_done(service: Any, record: ServiceDeployment, at: float) -> None:
    step = record.plan[record.position]
    green = _green(service, record)
    if step.effect == "scale_up":
        if record.fail:
            _roll_back_managed(service, record, at, ecs_sim.CIRCUIT_BREAKER_REASON)
            return
        record.target.running, record.target.pending = record.target.requested, 0
        if green is not None:
            green.update(runningCount=green["desiredCount"], pendingCount=0,
                         updatedAt=ecs_sim._dt(at))
            ecs_sim._sync_counts(service)
    elif step.effect in ("test", "prod"):
        key = "test_weight" if step.effect == "test" else "prod_weight"
        setattr(record.target, key, step.weight)
        for use in record.sources:
            setattr(use, key, 100.0 - step.weight)
    elif step.effect == "clean_up":
        for use in record.sources:
            use.running = use.pending = 0
        record.status, record.finished, record.updated = SUCCESSFUL, at, at
        record.due = record.phase = None
        if record.breaker_status == "MONITORING":
            record.breaker_status = "MONITORING_COMPLETE"
        if green is not None:
            ecs_sim._complete(service, green, at)
        return
    if _alarm_tripped(service, record, at):
        return
    record.phase, record.due = "hooks", None
    record.queued_hooks = _hooks_for(record, step.hook_stage)
    _next_hook(service, record, at)


def _next_hook(service: Any, record: ServiceDeployment, at: float) -> None:
    """Run the stage's remaining hooks; a PAUSE hook waits; then the next stage."""
    step = record.plan[record.position]
    while record.queued_hooks:
        declared = record.queued_hooks.pop(0)
        kind = declared.get("targetType") or "AWS_LAMBDA"
        timeout = declared.get("timeoutConfiguration") or {}
        hook = Hook(f"ecs-{'pause' if kind == 'PAUSE' else 'hook'}-{_token(32)}", kind,
                    declared.get("hookTargetArn"), step.hook_stage or step.stage,
                    HOOK_SUCCEEDED, None,
                    str(timeout.get("action") or HOOK_TIMEOUT_ACTION))
        record.hooks.append(hook)
        record.updated = at
        if kind == "PAUSE":
            minutes = int(timeout.get("timeoutInMinutes") or HOOK_TIMEOUT_MINUTES)
            hook.status, hook.expires_at = AWAITING_ACTION, at + minutes * 60.0
            record.due = hook.expires_at
            return
    if record.position + 1 < len(record.plan):
        _enter(service, record, record.position + 1, at)
    else:  # pragma: no cover - every plan ends with CLEAN_UP, whose work ends it
        record.due = None


def _hook_timed_out(service: Any, record: ServiceDeployment, at: float) -> None:
    hook = record.awaiting()
    if hook is None:
        _next_hook(service, record, at)
        return
    hook.status = TIMED_OUT
    if hook.timeout_action == "CONTINUE":
        _next_hook(service, record, at)
    else:
        _roll_back_managed(service, record, at,
                           f"The lifecycle hook {hook.hook_id} timed out (timeout action "
                           "ROLLBACK).")


def answer_hook(service: Any, record: ServiceDeployment, hook: Hook, action: str,
                now: float) -> None:
    """ContinueServiceDeployment: CONTINUE goes on, ROLLBACK rolls back (checked by the caller)."""
    with _lock:
        if action == "ROLLBACK":
            hook.status = HOOK_FAILED
            _roll_back_managed(service, record, now,
                               f"The lifecycle hook {hook.hook_id} was answered with ROLLBACK.")
        else:
            hook.status = HOOK_SUCCEEDED
            record.due = None
            _next_hook(service, record, now)
        _advance(service, record, now)


def roll_back(service: Any, record: ServiceDeployment, now: float, reason: str) -> None:
    """Roll an in-progress deployment back now (StopServiceDeployment ROLLBACK, an alarm)."""
    with _lock:
        if record.managed:
            _roll_back_managed(service, record, now, reason)
            _advance(service, record, now)
        elif not ecs_sim.roll_back(service, now, reason):
            _stop(record, now, reason)  # nothing left to return to
        _sync_service(service, record)


def _roll_back_managed(service: Any, record: ServiceDeployment, at: float, reason: str) -> None:
    _mark_rollback(record, at, reason)
    record.phase, record.due = "rollback", at + SHIFT_SECONDS
    for use in record.sources:
        use.test_weight = use.prod_weight = 100.0
    record.target.test_weight = record.target.prod_weight = 0.0
    green, blue = _green(service, record), _blue(service, record)
    if green is not None:
        green.update(status=ecs_sim.ACTIVE, rolloutState=ecs_sim.FAILED,
                     rolloutStateReason=reason, updatedAt=ecs_sim._dt(at))
        ecs_sim._event(service, at, f"{ecs_sim._label(service)} deployment {green['id']} "
                       f"deployment failed: {reason}")
    if blue is not None:
        blue.update(status=ecs_sim.PRIMARY, updatedAt=ecs_sim._dt(at))
        service.task_definition = blue["taskDefinition"]
        ecs_sim._event(service, at, f"{ecs_sim._label(service)} rolling back to deployment "
                       f"{blue['id']}.")
    ecs_sim._order(service)


def _rollback_done(service: Any, record: ServiceDeployment, at: float) -> None:
    record.status, record.finished, record.updated = ROLLBACK_SUCCESSFUL, at, at
    record.due = record.phase = None
    record.target.running = record.target.pending = 0
    green, blue = _green(service, record), _blue(service, record)
    if green is not None:
        green.update(status=ecs_sim.INACTIVE, runningCount=0, pendingCount=0,
                     updatedAt=ecs_sim._dt(at))
    if blue is not None:
        blue.update(rolloutState=ecs_sim.COMPLETED, updatedAt=ecs_sim._dt(at),
                    rolloutStateReason=f"ECS deployment {blue['id']} completed.")
    service.deployments = [d for d in service.deployments if d is green or d is blue
                           or d.get("rolloutState") == ecs_sim.FAILED]
    ecs_sim._order(service)
    ecs_sim._sync_counts(service)
    ecs_sim._event(service, at, f"{ecs_sim._label(service)} has reached a steady state.")


def _green(service: Any, record: ServiceDeployment) -> dict[str, Any] | None:
    return ecs_sim._find_deployment(service, record.ecs_ids[0]) if record.ecs_ids else None


def _blue(service: Any, record: ServiceDeployment) -> dict[str, Any] | None:
    green = _green(service, record)
    return next((d for d in service.deployments or [] if d is not green
                 and d.get("status") in (ecs_sim.ACTIVE, ecs_sim.PRIMARY)
                 and d.get("rolloutState") != ecs_sim.FAILED), None)


def advance_managed(service: Any, now: float) -> None:
    """Bring the service's managed deployment (if one is in progress) to `now`."""
    record = latest(service)
    if record is not None and record.managed and record.running:
        with _lock:
            _advance(service, record, now)


def next_change(service: Any, arn: str) -> float | None:
    """When the deployment next changes by itself (its end time once it has ended)."""
    record = find_record(service, arn)
    if record is None:
        return None
    return record.finished if not record.running else record.due


# --- deployment alarms ---------------------------------------------------------------


def _alarm_tripped(service: Any, record: ServiceDeployment, at: float) -> bool:
    """Is one of the deployment's alarms in ALARM? Then it rolls back (or stops) at `at`."""
    from ecspipe.sandbox.conditions import alarm_state

    cfg = record.configuration.get("alarms") or {}
    if not cfg.get("enable") or not record.running:
        return False
    firing = [n for n in cfg.get("alarmNames") or []
              if alarm_state(service._account_id, service.region_name, n) == "ALARM"]
    if not firing:
        return False
    record.triggered_alarms = firing
    reason = f"CloudWatch alarm(s) {', '.join(firing)} in ALARM state."
    if cfg.get("rollback"):
        if record.managed:
            _roll_back_managed(service, record, at, reason)
        elif not ecs_sim.roll_back(service, at, reason):
            _stop(record, at, reason)
    else:
        _stop(record, at, reason)
        green = _green(service, record)
        if green is not None:
            green.update(rolloutState=ecs_sim.FAILED, rolloutStateReason=reason)
    return True


def alarm_changed(account_id: str, region: str, name: str, now: float) -> None:
    """SetAlarmState: deployments watching that alarm check it now."""
    try:
        backend = ecs_sim._ecs_backend(account_id, region)
    except KeyError:
        return
    with _lock:
        for service in list(backend.services.values()):
            record = latest(service)
            if record is None or not record.running:
                continue
            if name not in ((record.configuration.get("alarms") or {}).get("alarmNames") or []):
                continue
            ecs_sim.advance_service(service, now)
            if record.running and _alarm_tripped(service, record, now):
                _advance(service, record, now)
                _sync_service(service, record)


def start_checks(service: Any, record: ServiceDeployment, now: float) -> None:
    """An alarm already in ALARM when a deployment starts trips it at once."""
    if record.running and _alarm_tripped(service, record, now):
        _sync_service(service, record)


# --- configuration checks (CreateService / UpdateService) -------------------------------

_PAUSE_FORBIDDEN = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")


def configuration_problem(configuration: dict[str, Any] | None) -> str | None:
    """What AWS refuses in a deploymentConfiguration, as an InvalidParameterException text.

    After "DeploymentLifecycleHook" (PAUSE hooks "cannot be configured at
    TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT"; hookTargetArn and roleArn for
    AWS_LAMBDA hooks), "LinearConfiguration" and "CanaryConfiguration" (only with their
    strategy; stepPercent 3.0-100.0, canaryPercent 0.1-100.0, bake times 0-1440).
    """
    cfg = configuration or {}
    kind = cfg.get("strategy") or "ROLLING"
    for hook in cfg.get("lifecycleHooks") or []:
        target = hook.get("targetType") or "AWS_LAMBDA"
        stages = hook.get("lifecycleStages") or []
        if target == "PAUSE":
            bad = [s for s in stages if s in _PAUSE_FORBIDDEN]
            if bad:
                return (f"PAUSE lifecycle hooks cannot be configured at the {bad[0]} "
                        "lifecycle stage.")
        elif not hook.get("hookTargetArn") or not hook.get("roleArn"):
            return "An AWS_LAMBDA lifecycle hook requires hookTargetArn and roleArn."
        if not stages:
            return "A lifecycle hook requires at least one lifecycle stage."
    for key, owner, percent, low in (("linearConfiguration", "LINEAR", "stepPercent", 3.0),
                                     ("canaryConfiguration", "CANARY", "canaryPercent", 0.1)):
        sub = cfg.get(key)
        if sub is None:
            continue
        if kind != owner:
            return f"{key} is only valid when the deployment strategy is {owner}."
        value = sub.get(percent)
        if value is not None and not low <= float(value) <= 100.0:
            return f"{key}.{percent} must be between {low} and 100.0."
        for bake_key in ("stepBakeTimeInMinutes", "canaryBakeTimeInMinutes"):
            bake = sub.get(bake_key)
            if bake is not None and not 0 <= int(bake) <= 1440:
                return f"{key}.{bake_key} must be between 0 and 1440."
    return None


def lookup(account_id: str, region: str, arn: str, kind: str) -> tuple[Any, Any] | None:
    """(moto Service, record or Revision) for a service-deployment / service-revision ARN."""
    prefix = f"arn:aws:ecs:{region}:{account_id}:{kind}/"
    if not arn.startswith(prefix):
        return None
    parts = arn[len(prefix):].split("/")
    if len(parts) != 3:
        return None
    try:
        service = ecs_sim.find_service(account_id, region, parts[0], parts[1])
    except Exception:  # noqa: BLE001 - no such cluster or service: not found
        return None
    found = (find_record(service, arn) if kind == "service-deployment"
             else revisions(service).get(arn))
    return (service, found) if found is not None else None

