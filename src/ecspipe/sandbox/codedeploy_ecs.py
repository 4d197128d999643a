"""CodeDeploy blue/green deployments of ECS services in the sandbox: the lifecycle and task sets.

moto 5.2.5 stores CodeDeploy applications, deployment groups and deployments,
but a deployment stays `Created` forever and touches no ECS service. Here a
deployment of an ECS application (state kept on moto's DeploymentInfo, so
moto's reset wipes it) plays its lifecycle forward lazily on `SETTINGS.clock`,
after "AppSpec 'hooks' section for an Amazon ECS deployment" and "What happens
during an Amazon ECS deployment" (CodeDeploy User Guide):

    Created -> InProgress
      BeforeInstall
      Install                 a replacement (green) task set with the AppSpec's task
                              definition, on the deployment group's other target group
                              (rollout_seconds(), as an ECS rolling update)
      AfterInstall
      AllowTestTraffic        the test listener to green (SHIFT_SECONDS, if there is one)
      AfterAllowTestTraffic
      [Ready]                 deploymentReadyOption STOP_DEPLOYMENT: waits for
                              ContinueDeployment(READY_WAIT), Stopped after waitTimeInMinutes
      BeforeAllowTraffic
      AllowTraffic            production traffic to green as the deployment configuration
                              says: all at once, linear or canary (CodeDeployDefault.ECS*)
      AfterAllowTraffic       green is the PRIMARY task set; the service runs its task
                              definition
      [termination wait]      terminateBlueInstancesOnDeploymentSuccess TERMINATE with
                              terminationWaitTimeInMinutes: instanceTerminationWaitTimeStarted,
                              ContinueDeployment(TERMINATION_WAIT) ends it early
    -> Succeeded              the original (blue) task set is deleted (not with KEEP_ALIVE)

An AppSpec hook (a Lambda function) succeeds at once: the sandbox runs no Lambda;
an event without a hook does nothing and succeeds. The service's first task set
is made at CreateService, as ECS does for the CODE_DEPLOY controller.

A deployment fails (Failed) when its replacement tasks cannot start
(`settings.rollback`, or the pipeline's injected failure; errorInformation
ECS_UPDATE_ERROR) or its AppSpec or ECS service is not usable (INVALID_REVISION,
INVALID_ECS_SERVICE); StopDeployment stops it (Stopped, MANUAL_STOP). Either way
production traffic returns to the original task set at once and the replacement
is deleted; with automatic rollback (the group's autoRollbackConfiguration for
DEPLOYMENT_FAILURE, or StopDeployment's autoRollbackEnabled) a rollback
deployment (creator codeDeployRollback) records it, linked both ways by
rollbackInfo. Sandbox choices where AWS does not say: the error messages are
the sandbox's own; a stop without rollback also returns traffic to the original
task set; ELB listeners are not rewritten (traffic weights are in
BatchGetDeploymentTargets' taskSetsInfo); deployment alarms are not watched.
"""

from __future__ import annotations

import copy
import random
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from ecspipe.sandbox import ecs as ecs_sim

EVENTS = ("BeforeInstall", "Install", "AfterInstall", "AllowTestTraffic",
          "AfterAllowTestTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
CREATED, IN_PROGRESS, READY = "Created", "InProgress", "Ready"
SUCCEEDED, FAILED, STOPPED = "Succeeded", "Failed", "Stopped"
DONE = (SUCCEEDED, FAILED, STOPPED)
SHIFT_SECONDS = 1.0
# "Deployment configurations on an Amazon ECS compute platform" (CodeDeploy User Guide).
ECS_CONFIGS: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.ECSAllAtOnce": {"type": "AllAtOnce"},
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes": {
        "type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10,
                                                       "linearInterval": 1}},
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes": {
        "type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10,
                                                       "linearInterval": 3}},
    "CodeDeployDefault.ECSCanary10Percent5Minutes": {
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10,
                                                       "canaryInterval": 5}},
    "CodeDeployDefault.ECSCanary10Percent15Minutes": {
        "type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10,
                                                       "canaryInterval": 15}},
}
DEFAULT_ECS_CONFIG = "CodeDeployDefault.ECSAllAtOnce"

_lock = threading.RLock()


class DeploymentProblem(Exception):
    """Why a deployment cannot run: its errorInformation (code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _naive(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None)


def new_deployment_id() -> str:
    """`d-` and nine capitals or digits, as CodeDeploy's ids look."""
    return "d-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))


# --- the model ----------------------------------------------------------------------


@dataclass
class Event:
    name: str
    status: str = "Pending"
    start: float | None = None
    end: float | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lifecycleEventName": self.name, "status": self.status}
        if self.start is not None:
            out["startTime"] = self.start
        if self.end is not None:
            out["endTime"] = self.end
        if self.message:
            out["diagnostics"] = {"errorCode": "UnknownError", "message": self.message,
                                  "scriptName": "", "logTail": ""}
        elif self.status == SUCCEEDED:
            out["diagnostics"] = {"errorCode": "Success", "message": "Succeeded",
                                  "scriptName": "", "logTail": ""}
        return out


@dataclass
class Step:
    event: str | None  # the lifecycle event this is part of (None: a wait outside events)
    seconds: float
    effect: str | None = None  # install | test | shift | ready | termination
    weight: float = 100.0


@dataclass
class EcsDeployment:
    """The sandbox's state of one CodeDeploy deployment of an ECS service."""

    deployment_id: str
    account_id: str
    region: str
    cluster: str
    service: str
    task_definition: str  # the replacement's
    container: str
    port: int | None
    created: float
    blue_group: str  # target group names
    green_group: str
    test_route: bool
    status: str = IN_PROGRESS
    started: float | None = None
    completed: float | None = None
    error: dict[str, str] | None = None
    rollback_info: dict[str, str] | None = None
    events: list[Event] = field(default_factory=lambda: [Event(n) for n in EVENTS])
    plan: list[Step] = field(default_factory=list)
    position: int = 0
    due: float | None = None
    green_weight: float = 0.0
    green_test: bool = False
    green_task_set: str | None = None  # task set ids
    blue_task_set: str | None = None
    termination_wait_started: bool = False
    keep_blue: bool = False
    fail: bool = False
    auto_rollback: dict[str, Any] = field(default_factory=dict)
    rollback_of: str | None = None
    updated: float = 0.0

    @property
    def running(self) -> bool:
        return self.status not in DONE

    @property
    def target_id(self) -> str:
        return f"{self.cluster}:{self.service}"

    def event(self, name: str) -> Event:
        return next(e for e in self.events if e.name == name)

    def overview(self) -> dict[str, int]:
        counts = dict.fromkeys(("Pending", "InProgress", "Succeeded", "Failed", "Skipped",
                                "Ready"), 0)
        counts[{CREATED: "Pending", STOPPED: "Failed"}.get(self.status, self.status)] = 1
        return counts

    def target_status(self) -> str:
        return {CREATED: "Pending", STOPPED: "Failed"}.get(self.status, self.status)


def state_of(info: Any) -> EcsDeployment | None:
    return getattr(info, "ecspipe", None)


def _codedeploy(account_id: str, region: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[account_id][region]


# --- task sets on the ECS service ---------------------------------------------------------


def _task_sets(service: Any) -> list[Any]:
    return service.task_sets


def _task_set(service: Any, ident: str | None) -> Any:
    return next((t for t in service.task_sets if t.id == ident), None)


def _primary_task_set(service: Any) -> Any:
    return next((t for t in service.task_sets if t.status == "PRIMARY"), None)


def _new_task_set(backend: Any, service: Any, task_definition: str,
                  load_balancers: list[dict[str, Any]], at: float, status: str,
                  external_id: str | None = None) -> Any:
    task_set = backend.create_task_set(
        service.name, service.cluster_name, task_definition, external_id=external_id,
        network_configuration=copy.deepcopy(service.network_configuration) or None,
        load_balancers=copy.deepcopy(load_balancers), launch_type=service.launch_type,
        platform_version=service.platform_version)
    desired = int(service.desired_count or 0)
    task_set.status = status
    task_set.computed_desired_count = desired
    task_set.running_count = desired if status == "PRIMARY" else 0
    task_set.pending_count = 0 if status == "PRIMARY" else desired
    task_set.stabilityStatus = "STEADY_STATE" if status == "PRIMARY" else "STABILIZING"
    task_set.createdAt = task_set.updatedAt = task_set.stabilityStatusAt = _naive(at)
    if external_id:
        task_set.started_by = "CodeDeploy"
    return task_set


def created_service(backend: Any, service: Any, now: float) -> None:
    """A CODE_DEPLOY service starts with one PRIMARY task set ("Migrate CodeDeploy blue/green
    deployments to Amazon ECS blue/green deployments": "Service creation results in the
    creation of a (blue) task set registered with the specified target group")."""
    if (service.deployment_controller or {}).get("type") != "CODE_DEPLOY":
        return
    if not service.task_definition or service.task_sets:
        return
    _new_task_set(backend, service, service.task_definition, service.load_balancers or [],
                  now, "PRIMARY")
    _sync_counts(service)


def _sync_counts(service: Any) -> None:
    service.running_count = sum(int(getattr(t, "running_count", 0) or 0)
                                for t in service.task_sets)
    service.pending_count = sum(int(getattr(t, "pending_count", 0) or 0)
                                for t in service.task_sets)


def task_sets_info(dep: EcsDeployment) -> list[dict[str, Any]]:
    """BatchGetDeploymentTargets' ecsTarget.taskSetsInfo (BLUE and GREEN, with traffic)."""
    try:
        service = ecs_sim.find_service(dep.account_id, dep.region, dep.cluster, dep.service)
    except Exception:  # noqa: BLE001 - the service is gone
        return []
    out = []
    for ident, label, group, weight in (
            (dep.blue_task_set, "Blue", dep.blue_group, 100.0 - dep.green_weight),
            (dep.green_task_set, "Green", dep.green_group, dep.green_weight)):
        task_set = _task_set(service, ident)
        if task_set is None:
            continue
        out.append({"identifer": task_set.id,  # sic: the model's spelling
                    "desiredCount": int(getattr(task_set, "computed_desired_count", 0)),
                    "pendingCount": int(getattr(task_set, "pending_count", 0)),
                    "runningCount": int(getattr(task_set, "running_count", 0)),
                    "status": task_set.status, "trafficWeight": weight,
                    "targetGroup": {"name": group}, "taskSetLabel": label})
    return out


# --- creating a deployment ---------------------------------------------------------------


def appspec_target(content: str) -> dict[str, Any]:
    """The AppSpec's TargetService properties (TaskDefinition, LoadBalancerInfo...)."""
    try:
        spec = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise DeploymentProblem("INVALID_REVISION",
                                f"The AppSpec file is not valid YAML or JSON: {exc}") from None
    resources = spec.get("Resources") if isinstance(spec, dict) else None
    target = None
    for resource in resources or []:
        if isinstance(resource, dict) and isinstance(resource.get("TargetService"), dict):
            target = resource["TargetService"]
    if target is None or target.get("Type") != "AWS::ECS::Service":
        raise DeploymentProblem(
            "INVALID_REVISION", "The AppSpec file has no Resources entry TargetService of "
            "Type AWS::ECS::Service.")
    properties = target.get("Properties") or {}
    if not properties.get("TaskDefinition"):
        raise DeploymentProblem("INVALID_REVISION",
                                "The AppSpec file's TargetService has no TaskDefinition.")
    return dict(properties)


def revision_content(revision: dict[str, Any] | None) -> str:
    kind = (revision or {}).get("revisionType")
    if kind == "AppSpecContent":
        return str((revision or {}).get("appSpecContent", {}).get("content") or "")
    if kind == "String":
        return str((revision or {}).get("string", {}).get("content") or "")
    raise DeploymentProblem(
        "INVALID_REVISION", f"The sandbox reads an ECS AppSpec from an AppSpecContent or "
        f"String revision, not {kind}.")


def _plan(group: Any, test_route: bool, config_name: str) -> list[Step]:
    bg = group.blue_green_deployment_configuration or {}
    ready = bg.get("deploymentReadyOption") or {}
    terminate = bg.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    plan = [Step("BeforeInstall", 0.0), Step("Install", ecs_sim.rollout_seconds(), "install"),
            Step("AfterInstall", 0.0),
            Step("AllowTestTraffic", SHIFT_SECONDS if test_route else 0.0, "test"),
            Step("AfterAllowTestTraffic", 0.0)]
    if ready.get("actionOnTimeout") == "STOP_DEPLOYMENT":
        plan.append(Step(None, float(ready.get("waitTimeInMinutes") or 0) * 60.0, "ready"))
    plan.append(Step("BeforeAllowTraffic", 0.0))
    for weight, wait_minutes in traffic_shifts(config_name):
        plan.append(Step("AllowTraffic", SHIFT_SECONDS, "shift", weight))
        if wait_minutes:
            plan.append(Step("AllowTraffic", wait_minutes * 60.0))
    plan.append(Step("AfterAllowTraffic", 0.0))
    if terminate.get("action", "TERMINATE") == "TERMINATE":
        minutes = float(terminate.get("terminationWaitTimeInMinutes") or 0)
        if minutes:
            plan.append(Step(None, minutes * 60.0, "termination"))
    return plan


def traffic_shifts(config_name: str) -> list[tuple[float, float]]:
    """(green's production weight after the shift, minutes until the next), shift by shift."""
    routing = ECS_CONFIGS.get(config_name) or ECS_CONFIGS[DEFAULT_ECS_CONFIG]
    if routing["type"] == "TimeBasedLinear":
        step = float(routing["timeBasedLinear"]["linearPercentage"])
        interval = float(routing["timeBasedLinear"]["linearInterval"])
        weights, total = [], 0.0
        while total < 100.0:
            total = min(total + step, 100.0)
            weights.append(total)
        return [(w, interval if w < 100.0 else 0.0) for w in weights]
    if routing["type"] == "TimeBasedCanary":
        canary = routing["timeBasedCanary"]
        return [(float(canary["canaryPercentage"]), float(canary["canaryInterval"])),
                (100.0, 0.0)]
    return [(100.0, 0.0)]


def start(info: Any, group: Any, now: float, fail: bool) -> EcsDeployment:
    """Attach a lifecycle to moto's new DeploymentInfo of an ECS application, and start it."""
    account, region = group_account_region(info)
    service_ref = (group.ecs_services or [{}])[0]
    pair = ((group.load_balancer_info or {}).get("targetGroupPairInfoList") or [{}])[0]
    names = [g.get("name", "") for g in pair.get("targetGroups") or []]
    dep = EcsDeployment(
        deployment_id=info.deployment_id, account_id=account, region=region,
        cluster=service_ref.get("clusterName", ""), service=service_ref.get("serviceName", ""),
        task_definition="", container="", port=None, created=now,
        blue_group=names[0] if names else "", green_group=names[1] if len(names) > 1 else "",
        test_route=bool((pair.get("testTrafficRoute") or {}).get("listenerArns")),
        started=now, updated=now, fail=fail,
        auto_rollback=copy.deepcopy(info.auto_rollback_configuration
                                    or group.auto_rollback_configuration or {}))
    info.ecspipe = dep
    info.status, info.start_time = IN_PROGRESS, _naive(now)
    info.create_time = _naive(now)
    try:
        _prepare(dep, info, group)
    except DeploymentProblem as problem:
        _finish(dep, info, now, FAILED, {"code": problem.code, "message": problem.message})
        return dep
    dep.plan = _plan(group, dep.test_route, str(info.deployment_config_name or ""))
    _enter(dep, 0, now)
    _advance(dep, now)
    return dep


def group_account_region(info: Any) -> tuple[str, str]:
    return info.ecspipe_account, info.ecspipe_region


def _prepare(dep: EcsDeployment, info: Any, group: Any) -> None:
    """Check what the deployment needs: the AppSpec, the ECS service, its target groups."""
    properties = appspec_target(revision_content(info.revision))
    lb = properties.get("LoadBalancerInfo") or {}
    dep.task_definition = str(properties["TaskDefinition"])
    dep.container = str(lb.get("ContainerName") or "")
    dep.port = int(lb["ContainerPort"]) if lb.get("ContainerPort") is not None else None
    try:
        service = ecs_sim.find_service(dep.account_id, dep.region, dep.cluster, dep.service)
    except Exception:  # noqa: BLE001
        raise DeploymentProblem(
            "INVALID_ECS_SERVICE", f"The ECS service {dep.service} does not exist in cluster "
            f"{dep.cluster}.") from None
    if (service.deployment_controller or {}).get("type") != "CODE_DEPLOY":
        raise DeploymentProblem(
            "INVALID_ECS_SERVICE", f"The ECS service {dep.service} in cluster {dep.cluster} "
            "does not use the CODE_DEPLOY deployment controller.")
    backend = ecs_sim._ecs_backend(dep.account_id, dep.region)
    try:
        task_definition = backend.describe_task_definition(dep.task_definition)
    except Exception:  # noqa: BLE001
        raise DeploymentProblem(
            "INVALID_REVISION", f"The task definition {dep.task_definition} in the AppSpec "
            "file does not exist.") from None
    dep.task_definition = task_definition.arn
    container = next((c for c in task_definition.container_definitions
                      if c.get("name") == dep.container), None)
    if container is None:
        raise DeploymentProblem(
            "ECS_UPDATE_ERROR", f"The AppSpec's LoadBalancerInfo names container "
            f"{dep.container!r}, which is not in task definition {dep.task_definition}.")
    ports = [m.get("containerPort") for m in container.get("portMappings") or []]
    if dep.port not in ports:
        raise DeploymentProblem(
            "ECS_UPDATE_ERROR", f"Container {dep.container} of task definition "
            f"{dep.task_definition} has no port mapping for ContainerPort {dep.port}.")
    if not dep.blue_group or not dep.green_group:
        raise DeploymentProblem(
            "MISSING_ELB_INFORMATION", "The deployment group has no target group pair "
            "(loadBalancerInfo.targetGroupPairInfoList).")
    primary = _primary_task_set(service)
    if primary is None:
        raise DeploymentProblem("INVALID_ECS_SERVICE",
                                f"The ECS service {dep.service} has no PRIMARY task set.")
    dep.blue_task_set = primary.id
    # Blue is on whichever group of the pair the primary task set uses now.
    used = {_target_group_name(lb_.get("targetGroupArn") or "")
            for lb_ in primary.load_balancers or []}
    if dep.green_group in used:
        dep.blue_group, dep.green_group = dep.green_group, dep.blue_group
    dep.keep_blue = ((group.blue_green_deployment_configuration or {}).get(
        "terminateBlueInstancesOnDeploymentSuccess") or {}).get("action") == "KEEP_ALIVE"
    service.ecspipe_codedeploy = dep.deployment_id


def _target_group_name(arn: str) -> str:
    """`arn:...:targetgroup/NAME/ID` -> NAME."""
    parts = arn.split("/")
    return parts[1] if len(parts) == 3 else ""


def _target_group_arn(dep: EcsDeployment, name: str) -> str:
    from moto.elbv2.models import elbv2_backends

    for target_group in elbv2_backends[dep.account_id][dep.region].target_groups.values():
        if target_group.name == name:
            return str(target_group.arn)
    raise DeploymentProblem("ELASTIC_LOAD_BALANCING_INVALID",
                            f"The target group {name} does not exist.")


# --- the lifecycle ---------------------------------------------------------------------


def _info(dep: EcsDeployment) -> Any:
    return _codedeploy(dep.account_id, dep.region).deployments.get(dep.deployment_id)


def _service(dep: EcsDeployment) -> Any:
    return ecs_sim.find_service(dep.account_id, dep.region, dep.cluster, dep.service)


def _enter(dep: EcsDeployment, position: int, at: float) -> None:
    dep.position, dep.updated = position, at
    step = dep.plan[position]
    if step.event is not None:
        event = dep.event(step.event)
        if event.status == "Pending":
            event.status, event.start = IN_PROGRESS, at
    if step.effect == "ready":
        dep.status = READY
        _info(dep).status = READY
    elif step.effect == "termination":
        dep.termination_wait_started = True
        _info(dep).instance_termination_wait_time_started = True
    elif step.effect == "install":
        try:
            _install(dep, at)
        except DeploymentProblem as problem:
            _fail(dep, at, problem.code, problem.message)
            return
    dep.due = at + step.seconds


def _install(dep: EcsDeployment, at: float) -> None:
    service = _service(dep)
    backend = ecs_sim._ecs_backend(dep.account_id, dep.region)
    balancer: dict[str, Any] = {"targetGroupArn": _target_group_arn(dep, dep.green_group),
                                "containerName": dep.container}
    if dep.port is not None:
        balancer["containerPort"] = dep.port
    green = _new_task_set(backend, service, dep.task_definition, [balancer], at, "ACTIVE",
                          external_id=dep.deployment_id)
    dep.green_task_set = green.id
    _sync_counts(service)


def _advance(dep: EcsDeployment, now: float) -> None:
    while dep.running and dep.due is not None and dep.due <= now:
        _step_done(dep, dep.due)


def _step_done(dep: EcsDeployment, at: float) -> None:
    step = dep.plan[dep.position]
    service = _service(dep)
    if step.effect == "install":
        if dep.fail:
            _fail(dep, at, "ECS_UPDATE_ERROR",
                  "The replacement task set's tasks failed to start (ecspipe sandbox: "
                  "settings.rollback), so traffic was not shifted.", event="Install")
            return
        green = _task_set(service, dep.green_task_set)
        if green is not None:
            green.running_count, green.pending_count = green.computed_desired_count, 0
            green.stabilityStatus, green.stabilityStatusAt = "STEADY_STATE", _naive(at)
    elif step.effect == "test":
        dep.green_test = dep.test_route
    elif step.effect == "ready":
        _stop(dep, at, rollback=False, code="TIMEOUT",
              message="Traffic rerouting was not started before the end of the "
              "deploymentReadyOption wait time (STOP_DEPLOYMENT).")
        return
    elif step.effect == "shift":
        dep.green_weight = step.weight
        if step.weight >= 100.0:
            _promote(dep, service, at)
    _sync_counts(service)
    nxt = dep.position + 1
    if step.event is not None and (nxt >= len(dep.plan) or dep.plan[nxt].event != step.event):
        event = dep.event(step.event)
        event.status, event.end = SUCCEEDED, at
    if dep.status == READY:
        dep.status = IN_PROGRESS
        _info(dep).status = IN_PROGRESS
    if nxt < len(dep.plan):
        _enter(dep, nxt, at)
    else:
        _succeed(dep, service, at)


def _promote(dep: EcsDeployment, service: Any, at: float) -> None:
    """All production traffic is on green: it is the service's PRIMARY task set now."""
    green, blue = _task_set(service, dep.green_task_set), _task_set(service, dep.blue_task_set)
    if green is not None:
        green.status, green.updatedAt = "PRIMARY", _naive(at)
        service.task_definition = green.task_definition
    if blue is not None:
        blue.status, blue.updatedAt = "ACTIVE", _naive(at)
    service.task_sets.sort(key=lambda t: t.status != "PRIMARY")


def _succeed(dep: EcsDeployment, service: Any, at: float) -> None:
    if not dep.keep_blue:
        service.task_sets = [t for t in service.task_sets if t.id != dep.blue_task_set]
    _sync_counts(service)
    _finish(dep, _info(dep), at, SUCCEEDED, None)


def _finish(dep: EcsDeployment, info: Any, at: float, status: str,
            error: dict[str, str] | None) -> None:
    dep.status, dep.error, dep.completed, dep.due, dep.updated = status, error, at, None, at
    if info is not None:
        info.status, info.complete_time = status, _naive(at)
    try:
        service = _service(dep)
    except Exception:  # noqa: BLE001
        return
    if getattr(service, "ecspipe_codedeploy", None) == dep.deployment_id:
        service.ecspipe_codedeploy = None


def _restore_blue(dep: EcsDeployment, at: float) -> None:
    """Production traffic back on the original task set; the replacement deleted."""
    service = _service(dep)
    blue = _task_set(service, dep.blue_task_set)
    if blue is not None:
        blue.status, blue.updatedAt = "PRIMARY", _naive(at)
        blue.running_count, blue.pending_count = blue.computed_desired_count, 0
        service.task_definition = blue.task_definition
    service.task_sets = [t for t in service.task_sets if t.id != dep.green_task_set]
    dep.green_weight, dep.green_test = 0.0, False
    _sync_counts(service)


def _fail(dep: EcsDeployment, at: float, code: str, message: str,
          event: str | None = None) -> None:
    step = dep.plan[dep.position] if dep.plan else None
    name = event or (step.event if step else None)
    if name is not None:
        failed = dep.event(name)
        failed.status, failed.end, failed.message = FAILED, at, message
        failed.start = failed.start if failed.start is not None else at
    _restore_blue(dep, at)
    _finish(dep, _info(dep), at, FAILED, {"code": code, "message": message})
    rollback = dep.auto_rollback
    if rollback.get("enabled") and "DEPLOYMENT_FAILURE" in (rollback.get("events") or []):
        _rollback_deployment(dep, at, f"Deployment {dep.deployment_id} failed: {message}")


def _stop(dep: EcsDeployment, at: float, rollback: bool, code: str, message: str) -> None:
    for event in dep.events:
        if event.status == IN_PROGRESS:
            event.status, event.end = FAILED, at
        elif event.status == "Pending":
            event.status = "Skipped"
    _restore_blue(dep, at)
    _finish(dep, _info(dep), at, STOPPED, {"code": code, "message": message})
    if rollback:
        _rollback_deployment(dep, at, f"Deployment {dep.deployment_id} was stopped: {message}")


def _rollback_deployment(dep: EcsDeployment, at: float, why: str) -> None:
    """Record the rollback as CodeDeploy does: a deployment of its own, creator codeDeployRollback."""
    from moto.codedeploy.models import DeploymentInfo

    backend = _codedeploy(dep.account_id, dep.region)
    original = _info(dep)
    if original is None:
        return
    info = DeploymentInfo(original.application, original.deployment_group,
                          copy.deepcopy(original.revision), original.deployment_config_name,
                          f"Rollback of deployment {dep.deployment_id}", None, None, None, None,
                          None, None, "codeDeployRollback")
    info.deployment_id = new_deployment_id()
    setattr(info, "ecspipe_account", dep.account_id)  # noqa: B010 - moto's class has no slot
    setattr(info, "ecspipe_region", dep.region)  # noqa: B010
    backend.deployments[info.deployment_id] = info
    rollback = EcsDeployment(
        deployment_id=info.deployment_id, account_id=dep.account_id, region=dep.region,
        cluster=dep.cluster, service=dep.service, task_definition=dep.task_definition,
        container=dep.container, port=dep.port, created=at, blue_group=dep.blue_group,
        green_group=dep.green_group, test_route=dep.test_route, started=at, updated=at,
        rollback_of=dep.deployment_id, blue_task_set=dep.blue_task_set, keep_blue=True)
    # The original task set is already serving again: the rollback only re-routes.
    rollback.plan = [Step(name, SHIFT_SECONDS if name == "AllowTraffic" else 0.0)
                     for name in EVENTS]
    rollback.green_weight = 0.0
    setattr(info, "ecspipe", rollback)  # noqa: B010
    info.status, info.create_time, info.start_time = IN_PROGRESS, _naive(at), _naive(at)
    message = f"{why} Deployment {info.deployment_id} rolls it back."
    dep.rollback_info = {"rollbackDeploymentId": info.deployment_id, "rollbackMessage": message}
    rollback.rollback_info = {"rollbackTriggeringDeploymentId": dep.deployment_id,
                              "rollbackMessage": message}
    _enter(rollback, 0, at)
    _advance(rollback, at)


# --- what the API asks -------------------------------------------------------------------


def advance_info(info: Any, now: float) -> None:
    dep = state_of(info)
    if dep is not None and dep.running:
        with ecs_sim._lock:
            _advance(dep, now)


def advance_service(service: Any, now: float) -> None:
    """ECS reads of a CODE_DEPLOY service: its deployment in progress, brought to now."""
    ident = getattr(service, "ecspipe_codedeploy", None)
    if not ident:
        return
    try:
        info = _codedeploy(service._account_id, service.region_name).deployments.get(ident)
    except KeyError:
        return
    if info is not None:
        advance_info(info, now)


def advance_all(account_id: str, region: str, now: float) -> None:
    try:
        deployments = list(_codedeploy(account_id, region).deployments.values())
    except KeyError:
        return
    for info in deployments:
        advance_info(info, now)


def continue_deployment(dep: EcsDeployment, wait_type: str, now: float) -> None:
    """ContinueDeployment (checked by the caller): end the ready or termination wait now."""
    with ecs_sim._lock:
        dep.due = now
        if wait_type == "READY_WAIT":
            dep.status = IN_PROGRESS
            _info(dep).status = IN_PROGRESS
            dep.plan[dep.position].effect = None  # the wait is over, not timed out
        _advance(dep, now)


def stop_deployment(dep: EcsDeployment, rollback: bool, now: float) -> None:
    with ecs_sim._lock:
        _stop(dep, now, rollback, "MANUAL_STOP", "The deployment was stopped by a user "
              "(StopDeployment).")


def waiting_for(dep: EcsDeployment) -> str | None:
    """READY_WAIT or TERMINATION_WAIT when the deployment waits in one, else None."""
    if not dep.running or not dep.plan:
        return None
    effect = dep.plan[dep.position].effect
    return {"ready": "READY_WAIT", "termination": "TERMINATION_WAIT"}.get(effect or "")


def next_change(account_id: str, region: str, deployment_id: str) -> float | None:
    """When the deployment next changes by itself (its end once it has ended)."""
    info = _codedeploy(account_id, region).deployments.get(deployment_id)
    dep = state_of(info) if info is not None else None
    if dep is None:
        return None
    return dep.completed if not dep.running else dep.due
