"""ECS service deployments that roll out (or roll back) in the sandbox.

moto's ECS stores services faithfully but never moves them: a new service sits
with rolloutState IN_PROGRESS and no running tasks, UpdateService swaps the
task definition without touching `deployments`, and `deploymentConfiguration`
is dropped on CreateService. A CLI that follows a release down to the running
image needs more, so this module gives every service a small rollout state
machine, evaluated lazily against `SETTINGS.clock`:

    UpdateService (new task definition, or forceNewDeployment)
      -> new PRIMARY deployment, rolloutState IN_PROGRESS; the old one ACTIVE
      -> after `rollout_seconds()`: COMPLETED, running == desired, old drained,
         events "deployment ... completed" and "has reached a steady state."

    with rollback (circuit breaker):
      -> after `rollout_seconds()`: the new deployment FAILED ("tasks failed to
         start"), events "deployment failed" and "rolling back to deployment
         ...", a new PRIMARY deployment on the previous task definition
      -> after another `rollout_seconds()`: that one COMPLETED, steady state.

A freshly created service is treated as already running (the sandbox seeds
"an existing service"): one PRIMARY COMPLETED deployment, running == desired.

Sandbox choice, differs from AWS: after a rollback completes, AWS stops listing
the failed deployment in DescribeServices (it is INACTIVE; only the events and
ListServiceDeployments remember it). Here it stays listed with status INACTIVE,
rolloutState FAILED and runningCount 0 until the next deployment, so the
rollback can be inspected. Code that must work against AWS should read the
service events (or the pipeline's view) rather than rely on that entry.

Transitions are applied when a service is read (DescribeServices) or updated,
each exactly once and stamped with the time it was due, not the time it was
observed, so results do not depend on how often anyone polls.

CreateService with an awsvpcConfiguration that names no security groups (the
VPC's default group applies, as AWS documents) no longer fails with HTTP 500.

Every deployment is also a service deployment (ecs_deployments.py keeps the
records); a service whose strategy is BLUE_GREEN, LINEAR or CANARY is deployed
by that module stage by stage instead of by the rolling update here. As AWS
does, UpdateService refuses a new task definition for a CODE_DEPLOY service
(codedeploy_ecs.py deploys those through task sets).

Other sandbox modules call `deploy()`, `advance_service()`, `advance()`,
`roll_back()` and `find_service()`; the codepipeline simulation uses them for
its Deploy stage.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecspipe.sandbox.settings import SETTINGS

# Marks our wrappers, so install() is idempotent and the self-tests can find them.
_MARK = "__ecspipe_ecs__"
_lock = threading.RLock()

PRIMARY, ACTIVE, INACTIVE = "PRIMARY", "ACTIVE", "INACTIVE"
IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}
_MAX_EVENTS = 100
# What UpdateService says to a new task definition for a CODE_DEPLOY service (AWS's
# message, as quoted in fabfuel/ecs-deploy#120).
CODE_DEPLOY_REFUSAL = ("Unable to update task definition on services with a CODE_DEPLOY "
                       "deployment controller. Use AWS CodeDeploy to trigger a new deployment.")


def rollout_seconds() -> float:
    """How long a rolling update (or a rollback) takes: the Deploy stage's length."""
    return float(SETTINGS.stage_seconds.get("Deploy", 2.0))


# --- per-service simulation state ----------------------------------------------------


@dataclass
class Rollout:
    """The one rollout a service can have in flight."""

    deployment_id: str
    settles_at: float
    # Task definition to return to when the circuit breaker trips; None: succeeds.
    rollback_to: str | None = None


def _rollout(service: Any) -> Rollout | None:
    # Kept as an attribute of moto's Service, so moto's reset wipes it with the
    # service. The serializer only reads attributes named in the API model.
    return getattr(service, "ecspipe_rollout", None)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _new_deployment_id() -> str:
    return f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"


def _event(service: Any, ts: float, message: str) -> None:
    """Prepend a service event (DescribeServices lists the newest first)."""
    events = list(getattr(service, "events", None) or [])
    events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _dt(ts), "message": message})
    service.events = events[:_MAX_EVENTS]


def _label(service: Any) -> str:
    return f"(service {service.name})"


def _primary(service: Any) -> dict[str, Any] | None:
    for deployment in service.deployments or []:
        if deployment.get("status") == PRIMARY:
            return deployment
    return None


def _find_deployment(service: Any, deployment_id: str) -> dict[str, Any] | None:
    for deployment in service.deployments or []:
        if deployment.get("id") == deployment_id:
            return deployment
    return None


def _order(service: Any) -> None:
    rank = {PRIMARY: 0, ACTIVE: 1, INACTIVE: 2}
    service.deployments.sort(key=lambda d: rank.get(d.get("status"), 3))


def _sync_counts(service: Any) -> None:
    live = [d for d in service.deployments if d.get("status") in (PRIMARY, ACTIVE)]
    service.running_count = sum(int(d.get("runningCount") or 0) for d in live)
    service.pending_count = sum(int(d.get("pendingCount") or 0) for d in live)


def _template(deployment: dict[str, Any] | None) -> dict[str, Any]:
    """Fields a new deployment inherits from an older one (launch type, network...)."""
    keep = ("launchType", "platformVersion", "platformFamily", "networkConfiguration")
    return {k: copy.deepcopy(deployment[k]) for k in keep if deployment and k in deployment}


# --- transitions ------------------------------------------------------------------


def start_deployment(
    service: Any, task_definition_arn: str, now: float, rollback: bool = False
) -> dict[str, Any]:
    """Begin a rolling update of `service` to `task_definition_arn` at `now`.

    The current PRIMARY becomes ACTIVE (its tasks keep running until the new
    deployment completes). With `rollback`, the circuit breaker will trip when
    the rollout is due and ECS will return to the previous task definition.
    """
    previous = _primary(service)
    # A failed deployment kept from an earlier rollback is forgotten now.
    service.deployments = [d for d in service.deployments or [] if d.get("status") != INACTIVE]
    if previous is not None:
        previous.update(status=ACTIVE, updatedAt=_dt(now))
    desired = int(service.desired_count or 0)
    deployment = {
        **_template(previous),
        "id": _new_deployment_id(),
        "status": PRIMARY,
        "taskDefinition": task_definition_arn,
        "desiredCount": desired,
        "pendingCount": desired,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": _dt(now),
        "updatedAt": _dt(now),
        "rolloutState": IN_PROGRESS,
    }
    deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} in progress."
    service.deployments.insert(0, deployment)
    service.task_definition = task_definition_arn
    _order(service)
    _sync_counts(service)
    rollback_to = None
    if rollback and previous is not None and previous.get("taskDefinition"):
        rollback_to = previous["taskDefinition"]
    service.ecspipe_rollout = Rollout(deployment["id"], now + rollout_seconds(), rollback_to)
    if desired:
        tasks = " ".join(f"(task {uuid.uuid4().hex})" for _ in range(desired))
        _event(service, now, f"{_label(service)} has started {desired} tasks: {tasks}.")
    return deployment


def _complete(service: Any, deployment: dict[str, Any], at: float) -> None:
    desired = int(service.desired_count or 0)
    deployment.update(
        rolloutState=COMPLETED,
        rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
        desiredCount=desired,
        runningCount=desired,
        pendingCount=0,
        updatedAt=_dt(at),
    )
    kept = []
    for other in service.deployments:
        if other is deployment:
            kept.append(other)
        elif other.get("rolloutState") == FAILED:
            # Sandbox choice (see the module docstring): keep the failed one visible.
            other.update(status=INACTIVE, runningCount=0, pendingCount=0, updatedAt=_dt(at))
            kept.append(other)
        # Any other older deployment has been drained: AWS stops listing it.
    service.deployments = kept
    _order(service)
    _sync_counts(service)
    service.ecspipe_rollout = None
    _event(service, at, f"{_label(service)} deployment {deployment['id']} deployment completed.")
    _event(service, at, f"{_label(service)} has reached a steady state.")
    _service_deployments().rolling_completed(service, deployment, at)


def _trip_circuit_breaker(
    service: Any, deployment: dict[str, Any], rollout: Rollout, at: float,
    reason: str = CIRCUIT_BREAKER_REASON,
) -> None:
    desired = int(service.desired_count or 0)
    breaker = reason == CIRCUIT_BREAKER_REASON
    deployment.update(
        status=ACTIVE,
        rolloutState=FAILED,
        rolloutStateReason=reason,
        runningCount=0,
        pendingCount=0,
        failedTasks=max(desired, 1) if breaker else int(deployment.get("failedTasks") or 0),
        updatedAt=_dt(at),
    )
    detail = "tasks failed to start." if breaker else reason
    _event(
        service,
        at,
        f"{_label(service)} deployment {deployment['id']} deployment failed: {detail}",
    )
    previous = next(
        (d for d in service.deployments if d is not deployment and d.get("status") == ACTIVE),
        None,
    )
    target = previous["id"] if previous else "unknown"
    _event(service, at, f"{_label(service)} rolling back to deployment {target}.")
    # The rollback is itself a new deployment, on the previous task definition.
    rollback = {
        **_template(deployment),
        "id": _new_deployment_id(),
        "status": PRIMARY,
        "taskDefinition": rollout.rollback_to,
        "desiredCount": desired,
        "pendingCount": desired,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": _dt(at),
        "updatedAt": _dt(at),
        "rolloutState": IN_PROGRESS,
    }
    rollback["rolloutStateReason"] = f"ECS deployment {rollback['id']} in progress."
    service.deployments.insert(0, rollback)
    service.task_definition = rollout.rollback_to
    _order(service)
    _sync_counts(service)
    service.ecspipe_rollout = Rollout(rollback["id"], at + rollout_seconds(), None)
    _service_deployments().rolling_rolled_back(service, deployment, rollback, at, reason)


def roll_back(service: Any, at: float, reason: str) -> bool:
    """Roll the rolling update in flight back to the previous task definition, at `at`.

    For StopServiceDeployment ROLLBACK and deployment alarms; False if nothing is in
    flight or there is nothing to return to.
    """
    rollout = _rollout(service)
    deployment = _primary(service)
    previous = next((d for d in service.deployments or []
                     if d is not deployment and d.get("status") == ACTIVE
                     and d.get("rolloutState") != FAILED), None)
    if rollout is None or deployment is None or previous is None:
        return False
    if deployment["id"] != rollout.deployment_id:
        return False
    _trip_circuit_breaker(service, deployment, Rollout(deployment["id"], at,
                                                      previous["taskDefinition"]), at, reason)
    return True


def _service_deployments() -> Any:
    # Imported late: ecs_deployments builds on this module's helpers.
    from ecspipe.sandbox import ecs_deployments

    return ecs_deployments


def advance_service(service: Any, now: float) -> None:
    """Apply every rollout transition of `service` that is due by `now`."""
    with _lock:
        _service_deployments().advance_managed(service, now)
        from ecspipe.sandbox import codedeploy_ecs

        codedeploy_ecs.advance_service(service, now)  # a CODE_DEPLOY service's task sets
        while True:
            rollout = _rollout(service)
            if rollout is None or rollout.settles_at > now:
                return
            deployment = _find_deployment(service, rollout.deployment_id)
            if deployment is None or deployment.get("status") != PRIMARY:
                service.ecspipe_rollout = None  # superseded by something else
                return
            if rollout.rollback_to:
                _trip_circuit_breaker(service, deployment, rollout, rollout.settles_at)
            else:
                _complete(service, deployment, rollout.settles_at)


def _ecs_backend(account_id: str, region: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account_id][region]


def advance(account_id: str, region: str, now: float) -> None:
    """Advance every service of one account and region to `now`."""
    for service in list(_ecs_backend(account_id, region).services.values()):
        advance_service(service, now)


def find_service(account_id: str, region: str, cluster: str, service: str) -> Any:
    """moto's Service object, or raise moto's ServiceNotFound/ClusterNotFound error."""
    return _ecs_backend(account_id, region)._get_service(cluster, service)


def deploy(
    account_id: str,
    region: str,
    cluster: str,
    service: str,
    task_definition_arn: str,
    now: float,
    rollback: bool = False,
) -> dict[str, Any]:
    """UpdateService to `task_definition_arn`, as the pipeline's ECS action does.

    Returns the new PRIMARY deployment (a dict shaped like DescribeServices'
    `deployments[]`); its `id` is what the pipeline reports as the action's
    external execution id. The rollout settles `rollout_seconds()` after `now`.
    """
    backend = _ecs_backend(account_id, region)
    arn = backend.describe_task_definition(task_definition_arn).arn
    with _lock:
        target = backend._get_service(cluster, service)
        advance_service(target, now)
        return _service_deployments().begin(target, arn, now, rollback=rollback)


# --- moto wiring -------------------------------------------------------------------


def _wrap(cls: type, name: str, make: Any) -> None:
    original = getattr(cls, name)
    if getattr(original, _MARK, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, _MARK, True)
    setattr(cls, name, wrapper)


def _settle_new_service(backend: Any, service: Any, now: float) -> None:
    """A created service is 'already running': one PRIMARY COMPLETED deployment."""
    desired = int(service.desired_count or 0)
    if getattr(service, "deployment_configuration", None) is None:
        service.deployment_configuration = copy.deepcopy(DEFAULT_DEPLOYMENT_CONFIGURATION)
    # moto counted the service's tasks as pending on the cluster; they are running.
    cluster = backend._get_cluster(service.cluster_name)
    backend.update_cluster_resources(cluster, -int(service.pending_count or 0), "PENDING")
    backend.update_cluster_resources(cluster, desired - int(service.running_count or 0), "RUNNING")
    service.running_count, service.pending_count = desired, 0
    for deployment in service.deployments or []:
        deployment.update(
            desiredCount=desired,
            runningCount=desired,
            pendingCount=0,
            rolloutState=COMPLETED,
            rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
            createdAt=_dt(now),
            updatedAt=_dt(now),
        )
    service.ecspipe_rollout = None
    if service.deployments:
        _event(service, now, f"{_label(service)} has reached a steady state.")
    _service_deployments().created(service, now)


def _create_service(original):
    def create_service(self, *args, **kwargs):
        service = original(self, *args, **kwargs)
        with _lock:
            _settle_new_service(self, service, SETTINGS.clock.now())
        return service

    return create_service


def _update_service(original):
    def update_service(self, service_properties):
        props = dict(service_properties)  # moto pops keys from the dict it gets
        now = SETTINGS.clock.now()
        with _lock:
            try:
                before = self._get_service(props.get("cluster", "default"), props["service"])
            except Exception:
                before = None  # let moto raise its own error below
            if before is not None:
                advance_service(before, now)
                _refuse_update(before, props)
            old_task_definition = before.task_definition if before is not None else None
            service = original(self, service_properties)
            # moto stores whatever string it was given ("demo-web"); AWS resolves
            # a family (or family:revision) to the full task definition ARN.
            if props.get("task_definition"):
                service.task_definition = self.describe_task_definition(
                    props["task_definition"]
                ).arn
            ecs_controlled = ((service.deployment_controller or {}).get("type") or "ECS") == "ECS"
            if ecs_controlled and (service.task_definition != old_task_definition
                                   or props.get("force_new_deployment")):
                # (CODE_DEPLOY and EXTERNAL services deploy through task sets.)
                _service_deployments().begin(service, service.task_definition, now)
            elif props.get("desired_count") is not None:
                # Scaling only: the primary follows the new desired count.
                primary = _primary(service)
                if primary is not None:
                    desired = int(service.desired_count)
                    primary["desiredCount"] = desired
                    if primary.get("rolloutState") == COMPLETED:
                        primary.update(runningCount=desired, pendingCount=0)
                    else:
                        primary["pendingCount"] = max(desired - primary["runningCount"], 0)
                    _sync_counts(service)
            return service

    return update_service


def _refuse_update(service: Any, props: dict[str, Any]) -> None:
    """What AWS's UpdateService refuses that moto accepts."""
    from moto.ecs.exceptions import InvalidParameterException

    controller = (service.deployment_controller or {}).get("type") or "ECS"
    if controller == "CODE_DEPLOY" and props.get("task_definition"):
        raise InvalidParameterException(CODE_DEPLOY_REFUSAL)
    problem = _service_deployments().configuration_problem(props.get("deployment_configuration"))
    if problem:
        raise InvalidParameterException(problem)


def _describe_services(original):
    def describe_services(self, cluster_str, service_names_or_arns):
        # Advance after moto answers: any wrapper inside this one (the pipeline
        # simulation's) has then already started whatever deployments are due.
        services, failures = original(self, cluster_str, service_names_or_arns)
        now = SETTINGS.clock.now()
        for service in services:
            advance_service(service, now)
        return services, failures

    return describe_services


def _create_service_response(original):
    def create_service(self):
        # The backend's create_service has no parameter for it, so moto drops
        # deploymentConfiguration; pick it up from the request here.
        requested = self._get_param("deploymentConfiguration")
        problem = _service_deployments().configuration_problem(requested)
        if problem:
            from moto.ecs.exceptions import InvalidParameterException

            raise InvalidParameterException(problem)
        result = original(self)
        service = getattr(result, "result", {}).get("service")
        if requested and service is not None:
            merged = copy.deepcopy(DEFAULT_DEPLOYMENT_CONFIGURATION)
            merged.update(requested)
            service.deployment_configuration = merged
            # The first deployment was recorded before the configuration was known.
            for record in _service_deployments().records(service):
                record.configuration = copy.deepcopy(merged)
                record.strategy = _service_deployments().strategy(service)
        return result

    return create_service


def _validate_network(original):
    # moto reads awsvpcConfiguration["securityGroups"] unconditionally: a
    # CreateService without it (valid: "If you don't specify a security group,
    # the default security group for the VPC is used", ECS API Reference,
    # AwsVpcConfiguration) was an HTTP 500 (KeyError). Validate the subnets and
    # no groups then; what was sent is what is stored.
    def validate_network(self, nc):
        config = (nc or {}).get("awsvpcConfiguration")
        if isinstance(config, dict) and "securityGroups" not in config:
            original(self, {**nc, "awsvpcConfiguration": {**config, "securityGroups": []}})
            return nc
        return original(self, nc)

    return validate_network


HOOKS = (
    ("moto.ecs.models", "Service", "_validate_network", _validate_network),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "create_service", _create_service),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "update_service", _update_service),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "describe_services", _describe_services),
    (
        "moto.ecs.responses",
        "EC2ContainerServiceResponse",
        "create_service",
        _create_service_response,
    ),
)


def install() -> None:
    """Wrap moto's ECS backend and response methods. Idempotent."""
    import importlib

    for module, cls_name, method, make in HOOKS:
        _wrap(getattr(importlib.import_module(module), cls_name), method, make)
