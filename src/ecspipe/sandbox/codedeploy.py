"""The CodeDeploy API the sandbox adds to moto, for blue/green deployments of ECS services.

moto 5.2.5 keeps applications, deployment groups and deployments, but
BatchGetDeploymentGroups, ListDeploymentTargets, BatchGetDeploymentTargets,
ContinueDeployment, StopDeployment and GetDeploymentConfig raise
NotImplementedError (HTTP 500 from its server), GetDeploymentGroup answers
`alarmConfiguration: {}` whatever was configured, and a deployment stays
`Created`. Here, on moto's CodeDeployResponse and backend (so moto's reset wipes
everything):

- GetDeploymentGroup / BatchGetDeploymentGroups / ListDeploymentGroups answer the
  group as created (ecsServices, loadBalancerInfo.targetGroupPairInfoList,
  blueGreenDeploymentConfiguration, deploymentStyle, alarmConfiguration,
  autoRollbackConfiguration) with its last attempted and last successful
  deployment; an ECS group created without a deployment configuration has
  CodeDeployDefault.ECSAllAtOnce, as AWS gives it.
- CreateDeployment of an ECS application with an AppSpec (AppSpecContent or
  String revision) starts codedeploy_ecs.py's lifecycle; the id looks like
  AWS's (`d-` and nine characters). A second deployment while one of the group
  is active is refused (DeploymentLimitExceededException).
- GetDeployment / BatchGetDeployments answer its progress (status,
  deploymentOverview, errorInformation, rollbackInfo, creator,
  instanceTerminationWaitTimeStarted); ListDeploymentTargets /
  BatchGetDeploymentTargets its one ECS target (`<cluster>:<service>`) with
  lifecycleEvents and taskSetsInfo (BLUE/GREEN, traffic weights).
- ContinueDeployment (READY_WAIT while Ready, TERMINATION_WAIT during the
  termination wait) and StopDeployment (autoRollbackEnabled, else the group's
  DEPLOYMENT_STOP_ON_REQUEST rollback setting), with the errors the API
  reference lists (DeploymentAlreadyCompletedException,
  DeploymentIsNotInReadyStateException, InvalidDeploymentWaitTypeException).
- GetDeploymentConfig for the predefined configurations.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from ecspipe.sandbox import codedeploy_ecs as cde
from ecspipe.sandbox.errors import AwsJsonError
from ecspipe.sandbox.settings import SETTINGS

_MARK = "__ecspipe_codedeploy__"
MAX_TARGETS = 25  # BatchGetDeploymentTargets: "The maximum number of targets ... is 25."
_local = threading.local()


class DeploymentLimitExceededException(AwsJsonError):
    pass


class DeploymentAlreadyCompletedException(AwsJsonError):
    pass


class DeploymentIsNotInReadyStateException(AwsJsonError):
    pass


class InvalidDeploymentWaitTypeException(AwsJsonError):
    pass


class UnsupportedActionForDeploymentTypeException(AwsJsonError):
    pass


class DeploymentConfigDoesNotExistException(AwsJsonError):
    pass


class DeploymentTargetDoesNotExistException(AwsJsonError):
    pass


class DeploymentTargetListSizeExceededException(AwsJsonError):
    pass


class RevisionRequiredException(AwsJsonError):
    pass


class DeploymentIdRequiredException(AwsJsonError):
    pass


# "Working with deployment configurations in CodeDeploy": the predefined ones.
_SERVER_CONFIGS = {"CodeDeployDefault.OneAtATime": ("HOST_COUNT", 1),
                   "CodeDeployDefault.HalfAtATime": ("FLEET_PERCENT", 50),
                   "CodeDeployDefault.AllAtOnce": ("HOST_COUNT", 0)}
_PREDEFINED_AT = 1_574_985_600.0  # a fixed createTime for the predefined configurations


def _epochs(value: Any) -> Any:
    """moto's datetimes (naive UTC) as epoch seconds, in a nested answer."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, dict):
        return {k: _epochs(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_epochs(v) for v in value]
    return value


def _now() -> float:
    return SETTINGS.clock.now()


def _advanced(self: Any) -> None:
    from ecspipe.sandbox.executions import advance_region

    advance_region(self.current_account, self.region)
    cde.advance_all(self.current_account, self.region, _now())


def _backend(self: Any) -> Any:
    return cde._codedeploy(self.current_account, self.region)


# --- deployment groups ------------------------------------------------------------------


def group_info(backend: Any, group: Any) -> dict[str, Any]:
    from moto.codedeploy.responses import _deployment_group_info

    out = _deployment_group_info(group)
    alarms = group.alarm_configuration
    out["alarmConfiguration"] = copy.deepcopy(alarms) if isinstance(alarms, dict) else {}
    mine = [d for d in backend.deployments.values()
            if d.application_name == group.application.application_name
            and d.deployment_group_name == group.deployment_group_name]
    mine.sort(key=lambda d: d.create_time)
    for key, pick in (("lastAttemptedDeployment", mine),
                      ("lastSuccessfulDeployment", [d for d in mine
                                                    if d.status == cde.SUCCEEDED])):
        if pick:
            last = pick[-1]
            out[key] = {"deploymentId": last.deployment_id, "status": last.status,
                        "createTime": last.create_time, "endTime": last.complete_time}
        else:
            out.pop(key, None)
    return _epochs(out)


def get_deployment_group(self: Any) -> str:
    _advanced(self)
    backend = _backend(self)
    group = backend.get_deployment_group(self._get_param("applicationName"),
                                         self._get_param("deploymentGroupName"))
    return json.dumps({"deploymentGroupInfo": group_info(backend, group)})


def batch_get_deployment_groups(self: Any) -> str:
    _advanced(self)
    backend = _backend(self)
    application = self._get_param("applicationName")
    backend.get_application(application)  # ApplicationDoesNotExistException
    found, missing = [], []
    for name in self._get_param("deploymentGroupNames") or []:
        group = backend.deployment_groups.get(application, {}).get(name)
        if group is None:
            missing.append(name)
        else:
            found.append(group_info(backend, group))
    out: dict[str, Any] = {"deploymentGroupsInfo": found}
    if missing:
        out["errorMessage"] = (f"The deployment groups {', '.join(missing)} do not exist in "
                               f"application {application}.")
    return json.dumps(out)


def list_deployment_groups(self: Any) -> str:
    # moto answers `nextToken: ""` and [] for an application that does not exist.
    backend = _backend(self)
    application = self._get_param("applicationName")
    backend.get_application(application)
    groups = list(backend.deployment_groups.get(application, {}))
    return json.dumps({"applicationName": application, "deploymentGroups": groups})


# --- deployments --------------------------------------------------------------------------


def _find(self: Any) -> Any:
    ident = self._get_param("deploymentId")
    if not ident:
        raise DeploymentIdRequiredException("At least one deployment ID must be specified.")
    return _backend(self).get_deployment(ident)  # DeploymentDoesNotExistException


def deployment_info(info: Any) -> dict[str, Any]:
    from moto.codedeploy.responses import _deployment_info

    out = _deployment_info(info)
    dep = cde.state_of(info)
    if dep is not None:
        out.update(status=dep.status, createTime=dep.created, startTime=dep.started,
                   completeTime=dep.completed, deploymentOverview=dep.overview(),
                   instanceTerminationWaitTimeStarted=dep.termination_wait_started,
                   computePlatform="ECS")
        out["errorInformation"] = copy.deepcopy(dep.error) if dep.error else {}
        out["rollbackInfo"] = copy.deepcopy(dep.rollback_info) if dep.rollback_info else {}
        if dep.rollback_of:
            out["creator"] = "codeDeployRollback"
    return _epochs(out)


def get_deployment(self: Any) -> str:
    _advanced(self)
    return json.dumps({"deploymentInfo": deployment_info(_find(self))})


def batch_get_deployments(self: Any) -> str:
    _advanced(self)
    backend = _backend(self)
    infos = [backend.deployments[i] for i in self._get_param("deploymentIds") or []
             if i in backend.deployments]
    return json.dumps({"deploymentsInfo": [deployment_info(i) for i in infos]})


def _ecs_state(info: Any) -> cde.EcsDeployment:
    dep = cde.state_of(info)
    if dep is None:
        raise UnsupportedActionForDeploymentTypeException(
            f"The deployment {info.deployment_id} is not a blue/green deployment of an "
            "Amazon ECS service.")
    return dep


def _target(dep: cde.EcsDeployment) -> dict[str, Any]:
    try:
        service_arn = cde.ecs_sim.find_service(dep.account_id, dep.region, dep.cluster,
                                               dep.service).arn
    except Exception:  # noqa: BLE001 - the service is gone
        service_arn = (f"arn:aws:ecs:{dep.region}:{dep.account_id}:service/{dep.cluster}/"
                       f"{dep.service}")
    return {"deploymentId": dep.deployment_id, "targetId": dep.target_id,
            "targetArn": service_arn, "lastUpdatedAt": dep.updated,
            "lifecycleEvents": [e.to_dict() for e in dep.events],
            "status": dep.target_status(), "taskSetsInfo": cde.task_sets_info(dep)}


def list_deployment_targets(self: Any) -> str:
    _advanced(self)
    dep = cde.state_of(_find(self))
    filters = self._get_param("targetFilters") or {}
    wanted = set(filters.get("TargetStatus") or [])
    ids = [dep.target_id] if dep is not None and (not wanted or dep.target_status() in wanted) \
        else []
    return json.dumps({"targetIds": ids})


def batch_get_deployment_targets(self: Any) -> str:
    _advanced(self)
    info = _find(self)
    dep = cde.state_of(info)
    ids = self._get_param("targetIds") or []
    if len(ids) > MAX_TARGETS:
        raise DeploymentTargetListSizeExceededException(
            f"At most {MAX_TARGETS} target IDs can be given; {len(ids)} were.")
    targets = []
    for ident in ids:
        if dep is None or ident != dep.target_id:
            raise DeploymentTargetDoesNotExistException(
                f"The target {ident} does not exist in deployment {info.deployment_id}.")
        targets.append({"deploymentTargetType": "ECSTarget", "ecsTarget": _target(dep)})
    return json.dumps({"deploymentTargets": targets})


def continue_deployment(self: Any) -> str:
    _advanced(self)
    info = _find(self)
    dep = _ecs_state(info)
    wait_type = self._get_param("deploymentWaitType") or "READY_WAIT"
    if not dep.running:
        raise DeploymentAlreadyCompletedException(
            f"The deployment {info.deployment_id} has already completed ({dep.status}).")
    waiting = cde.waiting_for(dep)
    if wait_type == "READY_WAIT" and waiting != "READY_WAIT":
        raise DeploymentIsNotInReadyStateException(
            f"The deployment {info.deployment_id} does not have a status of Ready and can't "
            "continue yet.")
    if wait_type == "TERMINATION_WAIT" and waiting != "TERMINATION_WAIT":
        raise InvalidDeploymentWaitTypeException(
            f"The deployment {info.deployment_id} is not waiting to terminate the original "
            "task set.")
    cde.continue_deployment(dep, wait_type, _now())
    _after_change(self)
    return "{}"


def stop_deployment(self: Any) -> str:
    _advanced(self)
    info = _find(self)
    dep = _ecs_state(info)
    if not dep.running:
        raise DeploymentAlreadyCompletedException(
            f"The deployment {info.deployment_id} has already completed ({dep.status}).")
    rollback = self._get_param("autoRollbackEnabled")
    if rollback is None:
        configured = dep.auto_rollback
        rollback = bool(configured.get("enabled")) and "DEPLOYMENT_STOP_ON_REQUEST" in (
            configured.get("events") or [])
    cde.stop_deployment(dep, bool(rollback), _now())
    _after_change(self)
    # The sandbox stops at once, so the stop has succeeded by the time it answers.
    return json.dumps({"status": "Succeeded", "statusMessage": "The deployment is stopped."})


def _after_change(self: Any) -> None:
    # A CodeDeployToECS action waiting for this deployment may be able to end now.
    from ecspipe.sandbox.executions import advance_region

    advance_region(self.current_account, self.region)


def get_deployment_config(self: Any) -> str:
    name = self._get_param("deploymentConfigName") or ""
    info: dict[str, Any] = {
        "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"codedeploy/{name}")),
        "deploymentConfigName": name, "createTime": _PREDEFINED_AT}
    if name in cde.ECS_CONFIGS:
        info.update(computePlatform="ECS",
                    trafficRoutingConfig=copy.deepcopy(cde.ECS_CONFIGS[name]))
    elif name in _SERVER_CONFIGS:
        kind, value = _SERVER_CONFIGS[name]
        info.update(computePlatform="Server",
                    minimumHealthyHosts={"type": kind, "value": value})
    else:
        raise DeploymentConfigDoesNotExistException(
            f"The deployment configuration {name} does not exist with the user or AWS account.")
    return json.dumps({"deploymentConfigInfo": info})


def create(account_id: str, region: str, application: str, group: str,
           revision: dict[str, Any], description: str | None = None,
           fail: bool = False, now: float | None = None) -> str:
    """CreateDeployment as the pipeline's CodeDeployToECS action makes it, at `now` (the
    simulated time of the action, which may be before the clock's); returns its id."""
    backend = cde._codedeploy(account_id, region)
    _local.fail, _local.now = fail, now
    try:
        return str(backend.create_deployment(application, group, revision,
                                             description=description))
    finally:
        _local.fail, _local.now = False, None


# --- moto wiring ----------------------------------------------------------------------------


def _create_deployment(original: Any) -> Any:
    def create_deployment(self: Any, application_name: str, deployment_group_name: str,
                          revision: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        application = self.applications.get(application_name)
        group = self.deployment_groups.get(application_name, {}).get(deployment_group_name)
        if application is not None and deployment_group_name and group is None:
            # moto says "Deployment group name does not exist."; name it, as GetDeploymentGroup does.
            from moto.codedeploy.exceptions import DeploymentGroupDoesNotExistException

            raise DeploymentGroupDoesNotExistException(
                f"The deployment group {deployment_group_name} does not exist with the user or "
                "AWS account.")
        ecs = application is not None and group is not None and \
            application.compute_platform == "ECS"
        now = getattr(_local, "now", None) or _now()
        if ecs:
            cde.advance_all(self.account_id, self.region_name, now)
            if not revision:
                raise RevisionRequiredException("A revision must be specified.")
            active = [d for d in self.deployments.values()
                      if d.application_name == application_name
                      and d.deployment_group_name == deployment_group_name
                      and getattr(cde.state_of(d), "running", False)]
            if active:
                raise DeploymentLimitExceededException(
                    f"The deployment group {deployment_group_name} of application "
                    f"{application_name} already has an active deployment "
                    f"{active[0].deployment_id}.")
        ident = original(self, application_name, deployment_group_name, revision, *args,
                         **kwargs)
        if not ecs:
            return ident
        info = self.deployments.pop(ident)
        info.deployment_id = cde.new_deployment_id()
        self.deployments[info.deployment_id] = info
        info.ecspipe_account, info.ecspipe_region = self.account_id, self.region_name
        with cde.ecs_sim._lock:
            cde.start(info, group, now, fail=bool(getattr(_local, "fail", False)))
        return str(info.deployment_id)

    return create_deployment


def _create_deployment_group(original: Any) -> Any:
    def create_deployment_group(self: Any, application_name: str, deployment_group_name: str,
                                deployment_config_name: str | None, *args: Any,
                                **kwargs: Any) -> str:
        application = self.applications.get(application_name)
        if not deployment_config_name and application is not None and \
                application.compute_platform == "ECS":
            deployment_config_name = cde.DEFAULT_ECS_CONFIG
        return str(original(self, application_name, deployment_group_name,
                            deployment_config_name, *args, **kwargs))

    return create_deployment_group


def _advancing(original: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        cde.advance_all(self.account_id, self.region_name, _now())
        return original(self, *args, **kwargs)

    return method


def _create_service(original: Any) -> Any:
    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original(self, *args, **kwargs)
        with cde.ecs_sim._lock:
            cde.created_service(self, service, _now())
        return service

    return create_service


RESPONSES = {
    "get_deployment_group": get_deployment_group,
    "batch_get_deployment_groups": batch_get_deployment_groups,
    "list_deployment_groups": list_deployment_groups,
    "get_deployment": get_deployment,
    "batch_get_deployments": batch_get_deployments,
    "list_deployment_targets": list_deployment_targets,
    "batch_get_deployment_targets": batch_get_deployment_targets,
    "continue_deployment": continue_deployment,
    "stop_deployment": stop_deployment,
    "get_deployment_config": get_deployment_config,
}
HOOKS = (
    ("moto.codedeploy.models", "CodeDeployBackend", "create_deployment", _create_deployment),
    ("moto.codedeploy.models", "CodeDeployBackend", "create_deployment_group",
     _create_deployment_group),
    ("moto.codedeploy.models", "CodeDeployBackend", "list_deployments", _advancing),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "create_service", _create_service),
)


def install() -> None:
    """Add and replace CodeDeploy operations; give CODE_DEPLOY services their task set."""
    import importlib

    from moto.codedeploy.responses import CodeDeployResponse

    for name, function in RESPONSES.items():
        if getattr(getattr(CodeDeployResponse, name, None), _MARK, False):
            continue
        setattr(function, _MARK, True)
        setattr(CodeDeployResponse, name, function)
    for module, cls_name, method, make in HOOKS:
        cls = getattr(importlib.import_module(module), cls_name)
        original = getattr(cls, method)
        if getattr(original, _MARK, False):
            continue
        wrapper = functools.wraps(original)(make(original))
        setattr(wrapper, _MARK, True)
        setattr(cls, method, wrapper)
