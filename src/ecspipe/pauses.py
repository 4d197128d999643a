"""`approve` for an ECS service deployment paused at a PAUSE lifecycle hook.

"Pause hooks for Amazon ECS service deployments" and "Continuing service
deployments" (ECS Developer Guide): a deployment paused at a PAUSE hook has a
lifecycleHookDetails entry with targetType PAUSE and status AWAITING_ACTION, the
deployment IN_PROGRESS; ContinueServiceDeployment (serviceDeploymentArn, hookId,
action CONTINUE | ROLLBACK) answers it. The paused deployment of a service is its
`currentServiceDeployment` (DescribeServices), described with
DescribeServiceDeployments (at most 20 ARNs a call): two rounds, whatever the
number of environments. `approve` looks here first; with nothing paused it
answers the pipeline's approvals as before (approve.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecspipe.aws import is_error
from ecspipe.config import Target
from ecspipe.errors import UserError
from ecspipe.resources.base import Context
from ecspipe.rounds import together
from ecspipe.status import describe_services

DESCRIBE_AT_MOST = 20  # DescribeServiceDeployments: "a maximum of 20 ARNs"


@dataclass
class Paused:
    """A service deployment waiting at a PAUSE hook for an answer."""

    target: Target
    deployment_arn: str
    hook_id: str
    stage: str | None
    expires_at: str | None
    timeout_action: str | None
    test_traffic: float | None = None
    production_traffic: float | None = None

    @property
    def env(self) -> str | None:
        return self.target.name

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.env, "cluster": self.target.service.cluster_name,
                "service": self.target.service.service_name,
                "service_deployment": self.deployment_arn, "hook_id": self.hook_id,
                "stage": self.stage, "expires_at": self.expires_at,
                "timeout_action": self.timeout_action, "test_traffic": self.test_traffic,
                "production_traffic": self.production_traffic}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else \
        (None if value is None else str(value))


def find(ctx: Context, env: str | None,
         check_account: Callable[[], object] | None = None) -> Paused | None:
    """The one paused deployment (of `env`, or of any environment without --env); None
    when nothing is paused; UserError when several are and no --env says which. The
    caller's account is checked in the first round."""
    targets = [t for t in ctx.config.targets if env is None or t.name == env]
    found: dict = {}
    _, *parts = together(check_account or (lambda: None), *describe_services(ctx, targets))
    for part in parts:
        found.update(part)
    current = {}
    for target in targets:
        service = found.get((target.service.cluster_name, target.service.service_name)) or {}
        arn = service.get("currentServiceDeployment")
        if arn and (service.get("deploymentController") or {}).get("type", "ECS") == "ECS":
            current[arn] = target
    if not current:
        return None
    ecs = ctx.aws.client("ecs")
    arns = list(current)
    described = together(*[(lambda chunk: lambda: ecs.describe_service_deployments(
        serviceDeploymentArns=chunk).get("serviceDeployments", []))(arns[i:i + DESCRIBE_AT_MOST])
        for i in range(0, len(arns), DESCRIBE_AT_MOST)])
    paused = []
    for deployment in (d for batch in described for d in batch):
        hook = next((h for h in deployment.get("lifecycleHookDetails") or []
                     if h.get("targetType") == "PAUSE" and h.get("status") == "AWAITING_ACTION"),
                    None)
        if hook is None or deployment.get("status") != "IN_PROGRESS":
            continue
        revision = deployment.get("targetServiceRevision") or {}
        paused.append(Paused(
            current[deployment["serviceDeploymentArn"]], deployment["serviceDeploymentArn"],
            hook["hookId"], deployment.get("lifecycleStage"), _iso(hook.get("expiresAt")),
            hook.get("timeoutAction"), revision.get("requestedTestTrafficWeight"),
            revision.get("requestedProductionTrafficWeight")))
    if len(paused) > 1:
        error = UserError(f"{len(paused)} service deployments wait at a pause hook: say which "
                          "one with --env", hint="ecspipe approve --env NAME")
        error.problems = [f"--env {p.env}: {p.target.service.service_name} at {p.stage}"
                          for p in paused]
        raise error
    return paused[0] if paused else None


def answer(ctx: Context, paused: Paused, approve: bool) -> dict[str, Any]:
    """ContinueServiceDeployment with CONTINUE (approve) or ROLLBACK (--reject)."""
    action = "CONTINUE" if approve else "ROLLBACK"
    try:
        ctx.aws.client("ecs").continue_service_deployment(
            serviceDeploymentArn=paused.deployment_arn, hookId=paused.hook_id, action=action)
    except Exception as exc:
        if is_error(exc, "InvalidParameterException", "ConflictException",
                    "ServiceDeploymentNotFoundException"):
            said = (getattr(exc, "response", None) or {}).get("Error", {}).get("Message")
            raise UserError(
                f"the service deployment of {paused.target.service.service_name} no longer "
                f"waits at that pause hook (ECS: {said or exc})",
                hint="`ecspipe status` shows what the service does now") from exc
        raise
    return {"environment": paused.env, "service_deployment": paused.deployment_arn,
            "hook_id": paused.hook_id, "action": action, "stage": paused.stage}
