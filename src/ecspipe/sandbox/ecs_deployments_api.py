"""The ECS service-deployment API moto lacks: list, describe, continue, stop, revisions.

moto 5.2.5 raises NotImplementedError (HTTP 500 from its server) for
ListServiceDeployments, DescribeServiceDeployments, ContinueServiceDeployment,
StopServiceDeployment and DescribeServiceRevisions. These are methods on moto's
EC2ContainerServiceResponse answering from ecs_deployments.py's records, after
the pipeline simulation and the deployments are brought to now.

What the ECS API Reference documents, the sandbox does:
- ListServiceDeployments (service required; cluster default "default"): the
  service's deployments newest first, filtered by `status` and `createdAt`
  (before/after), maxResults 1-100 (default 20) with nextToken; an unknown
  service or cluster is ServiceNotFoundException / ClusterNotFoundException.
- DescribeServiceDeployments: at most 20 ARNs; an unknown one is a `failures`
  entry with reason MISSING, not an error. DescribeServiceRevisions likewise.
- ContinueServiceDeployment ("Continuing service deployments": "The deployment
  must be in the IN_PROGRESS state", the hook AWAITING_ACTION; action CONTINUE
  by default, or ROLLBACK): an unknown ARN is ServiceDeploymentNotFoundException,
  anything else refused is InvalidParameterException.
- StopServiceDeployment ("Stopping Amazon ECS service deployments": ROLLBACK from
  PENDING or IN_PROGRESS; a deployment already rolling back goes on doing so): a
  finished deployment is ConflictException. stopType ABORT, in the model but not
  documented, is refused here (InvalidParameterException): the sandbox does not
  know what it does.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from moto.ecs.exceptions import ECSException, InvalidParameterException

from ecspipe.sandbox import ecs_deployments as sd
from ecspipe.sandbox import paging
from ecspipe.sandbox.settings import SETTINGS

_MARK = "__ecspipe_ecs_deployments__"
MAX_ARNS = 20


class ServiceDeploymentNotFoundException(ECSException):
    code = "ServiceDeploymentNotFoundException"


class ConflictException(ECSException):
    code = "ConflictException"

    def __init__(self, message: str, resource_ids: list[str]) -> None:
        super().__init__(message)
        self.resource_ids = resource_ids


def _advanced(self: Any) -> None:
    from ecspipe.sandbox.executions import advance_region

    advance_region(self.current_account, self.region)
    sd.ecs_sim.advance(self.current_account, self.region, SETTINGS.clock.now())


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(
            str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterException(f"createdAt: {value!r} is not a timestamp.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _arns(self: Any, name: str) -> list[str]:
    arns = self._get_param(name) or []
    if len(arns) > MAX_ARNS:
        raise InvalidParameterException(
            f"{name} can have at most {MAX_ARNS} items; {len(arns)} were given.")
    return arns


def list_service_deployments(self: Any) -> str:
    _advanced(self)
    service = sd.ecs_sim.find_service(self.current_account, self.region,
                                      self._get_param("cluster") or "default",
                                      self._get_param("service"))
    size = self._get_param("maxResults")
    if size is not None and not 1 <= int(size) <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    statuses = set(self._get_param("status") or [])
    window = self._get_param("createdAt") or {}
    after, before = _epoch(window.get("after")), _epoch(window.get("before"))
    found = [r for r in reversed(sd.records(service))
             if (not statuses or r.status in statuses)
             and (after is None or r.created >= after) and (before is None or r.created <= before)]
    page, token = paging.page(found, int(size or 20), self._get_param("nextToken"),
                              key=lambda r: r.arn,
                              invalid=lambda: InvalidParameterException("nextToken is not valid."))
    out: dict[str, Any] = {"serviceDeployments": [r.brief() for r in page]}
    if token:
        out["nextToken"] = token
    return json.dumps(out)


def describe_service_deployments(self: Any) -> str:
    _advanced(self)
    found, failures = [], []
    for arn in _arns(self, "serviceDeploymentArns"):
        hit = sd.lookup(self.current_account, self.region, arn, "service-deployment")
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(hit[1].to_dict())
    return json.dumps({"serviceDeployments": found, "failures": failures})


def describe_service_revisions(self: Any) -> str:
    _advanced(self)
    found, failures = [], []
    for arn in _arns(self, "serviceRevisionArns"):
        hit = sd.lookup(self.current_account, self.region, arn, "service-revision")
        if hit is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(hit[1].to_dict())
    return json.dumps({"serviceRevisions": found, "failures": failures})


def _record(self: Any) -> tuple[Any, sd.ServiceDeployment, str]:
    arn = self._get_param("serviceDeploymentArn") or ""
    hit = sd.lookup(self.current_account, self.region, arn, "service-deployment")
    if hit is None:
        raise ServiceDeploymentNotFoundException(
            f"The service deployment {arn} does not exist. Use ListServiceDeployments to "
            "find the service deployment ARNs.")
    return hit[0], hit[1], arn


def continue_service_deployment(self: Any) -> str:
    _advanced(self)
    service, record, arn = _record(self)
    hook_id, action = self._get_param("hookId") or "", self._get_param("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise InvalidParameterException(f"action must be CONTINUE or ROLLBACK, not {action}.")
    if record.status != sd.IN_PROGRESS:
        raise InvalidParameterException(
            f"The service deployment {arn} is {record.status}: only a deployment in the "
            "IN_PROGRESS state can be continued.")
    hook = next((h for h in record.hooks if h.hook_id == hook_id), None)
    if hook is None:
        raise InvalidParameterException(
            f"The service deployment {arn} has no lifecycle hook {hook_id}.")
    if hook.status != sd.AWAITING_ACTION:
        raise InvalidParameterException(
            f"The lifecycle hook {hook_id} is {hook.status}: only a hook in the "
            "AWAITING_ACTION status can be continued.")
    sd.answer_hook(service, record, hook, action, SETTINGS.clock.now())
    _after_change(self)
    return json.dumps({"serviceDeploymentArn": arn})


def stop_service_deployment(self: Any) -> str:
    _advanced(self)
    service, record, arn = _record(self)
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if stop_type != "ROLLBACK":
        raise InvalidParameterException(
            f"stopType {stop_type} is not supported; the valid value is ROLLBACK.")
    if not record.running:
        raise ConflictException(
            f"The service deployment {arn} is {record.status} and cannot be stopped.", [arn])
    if record.status == sd.IN_PROGRESS:
        sd.roll_back(service, record, SETTINGS.clock.now(),
                     "The service deployment was stopped with StopServiceDeployment "
                     "(stopType ROLLBACK).")
        _after_change(self)
    return json.dumps({"serviceDeploymentArn": arn})


def _after_change(self: Any) -> None:
    # A deploy action waiting for this deployment may be able to end now.
    from ecspipe.sandbox.executions import advance_region

    advance_region(self.current_account, self.region)


OPERATIONS = {
    "list_service_deployments": list_service_deployments,
    "describe_service_deployments": describe_service_deployments,
    "describe_service_revisions": describe_service_revisions,
    "continue_service_deployment": continue_service_deployment,
    "stop_service_deployment": stop_service_deployment,
}


def _set_alarm_state(original: Any) -> Any:
    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: Any,
                        state_value: str) -> Any:
        result = original(self, alarm_name, reason, reason_data, state_value)
        sd.alarm_changed(self.account_id, self.region_name, alarm_name, SETTINGS.clock.now())
        return result

    return set_alarm_state


def install() -> None:
    """Add the operations to moto's ECS responses; watch alarm changes. Idempotent."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    for name, function in OPERATIONS.items():
        if getattr(getattr(EC2ContainerServiceResponse, name, None), _MARK, False):
            continue
        setattr(function, _MARK, True)
        setattr(EC2ContainerServiceResponse, name, function)
    original = CloudWatchBackend.set_alarm_state
    if not getattr(original, _MARK, False):
        # functools.wraps keeps the other extensions' marks (codepipeline.py wraps it too).
        wrapper = functools.wraps(original)(_set_alarm_state(original))
        setattr(wrapper, _MARK, True)
        CloudWatchBackend.set_alarm_state = wrapper  # type: ignore[method-assign]
