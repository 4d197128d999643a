"""Preflight's reads of how each service deploys: its strategy, and for CODE_DEPLOY its group.

ecspipe never changes either (they are the service owner's choice); the pipeline
is built to fit them.

- The ECS controller's strategy is `deploymentConfiguration.strategy` (absent means
  ROLLING), with `bakeTimeInMinutes`, `linearConfiguration`, `canaryConfiguration`
  and `lifecycleHooks` (ECS API Reference, "DeploymentConfiguration",
  "DeploymentLifecycleHook": targetType AWS_LAMBDA | PAUSE, absent means AWS_LAMBDA;
  a PAUSE hook's timeoutConfiguration defaults to 1440 minutes and ROLLBACK).
- A CODE_DEPLOY service has no strategy of its own: its CodeDeploy deployment group
  names it in `ecsServices` (clusterName, serviceName: names, not ARNs). Nothing
  finds a group by service, so: ListApplications (paged), BatchGetApplications (at
  most 100 names) for the ECS ones, ListDeploymentGroups of each (paged), then
  BatchGetDeploymentGroups (at most 100 names) -- read only when some environment
  is CODE_DEPLOY, each round's calls at once. The group's loadBalancerInfo
  (targetGroupPairInfoList: two target groups, production and test listeners) and
  the service's loadBalancers (container name and port) go into the appspec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ecspipe.errors import UserError
from ecspipe.facts import CodeDeployFacts, PauseHook, Strategy
from ecspipe.rounds import together

BATCH = 100  # BatchGetApplications / BatchGetDeploymentGroups: at most 100 names


def strategy_of(service: dict[str, Any]) -> Strategy:
    """The service's deployment strategy, as DescribeServices says it."""
    balancers = tuple(
        (str(b.get("targetGroupArn") or ""), str(b.get("containerName") or ""),
         int(b.get("containerPort") or 0),
         (b.get("advancedConfiguration") or {}).get("alternateTargetGroupArn"))
        for b in service.get("loadBalancers") or [])
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    if controller == "CODE_DEPLOY":
        return Strategy(name="CODE_DEPLOY", load_balancers=balancers)
    config = service.get("deploymentConfiguration") or {}
    hooks = config.get("lifecycleHooks") or []
    pauses = tuple(
        PauseHook(tuple(h.get("lifecycleStages") or ()),
                  int((h.get("timeoutConfiguration") or {}).get("timeoutInMinutes") or 1440),
                  str((h.get("timeoutConfiguration") or {}).get("action") or "ROLLBACK"))
        for h in hooks if h.get("targetType") == "PAUSE")
    linear = config.get("linearConfiguration") or {}
    canary = config.get("canaryConfiguration") or {}
    name = str(config.get("strategy") or "ROLLING")
    return Strategy(
        name=name,
        bake_minutes=int(config.get("bakeTimeInMinutes") or 0),
        # The documented defaults: linear 10 % every 6 minutes, canary 5 % for 10 minutes.
        step_percent=float(linear.get("stepPercent") or 10.0) if name == "LINEAR" else None,
        step_bake_minutes=int(linear.get("stepBakeTimeInMinutes", 6)) if name == "LINEAR"
        else 0,
        canary_percent=float(canary.get("canaryPercent") or 5.0) if name == "CANARY" else None,
        canary_bake_minutes=int(canary.get("canaryBakeTimeInMinutes", 10)) if name == "CANARY"
        else 0,
        pause_hooks=pauses,
        lambda_hooks=len(hooks) - len(pauses),
        load_balancers=balancers,
    )


def _chunks(items: Sequence[str], size: int = BATCH) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def deployment_groups(codedeploy: Any) -> list[dict[str, Any]]:
    """Every deployment group of every ECS application of the account and region."""
    apps = [a for page in codedeploy.get_paginator("list_applications").paginate()
            for a in page.get("applications", [])]
    def described(chunk: list[str]) -> Callable[[], list[dict[str, Any]]]:
        return lambda: codedeploy.batch_get_applications(applicationNames=chunk).get(
            "applicationsInfo", [])

    infos = together(*[described(chunk) for chunk in _chunks(apps)])
    ecs_apps = [i["applicationName"] for batch in infos for i in batch
                if i.get("computePlatform") == "ECS"]

    def listed(app: str) -> Callable[[], list[str]]:
        return lambda: [g for page in codedeploy.get_paginator("list_deployment_groups").paginate(
            applicationName=app) for g in page.get("deploymentGroups", [])]

    names = together(*[listed(a) for a in ecs_apps])
    calls = [(lambda app, chunk: lambda: codedeploy.batch_get_deployment_groups(
        applicationName=app, deploymentGroupNames=chunk).get("deploymentGroupsInfo", []))(a, c)
        for a, groups in zip(ecs_apps, names, strict=True) for c in _chunks(groups)]
    return [g for batch in together(*calls) for g in batch]


def codedeploy_facts(where: str, cluster: str, service: dict[str, Any],
                     groups: list[dict[str, Any]]) -> CodeDeployFacts:
    """The one deployment group deploying `service`; UserError (exit 2) for none or several."""
    name = service["serviceName"]
    mine = [g for g in groups if any(
        s.get("clusterName") == cluster and s.get("serviceName") == name
        for s in g.get("ecsServices") or [])]
    if not mine:
        raise UserError(
            f"{where}.name: {name!r} uses the CODE_DEPLOY deployment controller, but no "
            f"CodeDeploy deployment group deploys it (no ECS application's group names "
            f"service {name} in cluster {cluster})",
            hint="create the CodeDeploy application and deployment group for this service "
            "(ecspipe reads them, never creates them), or use the ECS controller")
    if len(mine) > 1:
        found = ", ".join(f"{g['applicationName']}/{g['deploymentGroupName']}" for g in mine)
        raise UserError(
            f"{where}.name: {len(mine)} CodeDeploy deployment groups deploy {name!r} "
            f"({found}); ecspipe cannot tell which one the pipeline should use",
            hint="keep one deployment group per ECS service")
    group = mine[0]
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    balancers = service.get("loadBalancers") or []
    if not pairs or not balancers:
        raise UserError(
            f"{where}.name: CodeDeploy deployment group {group['applicationName']}/"
            f"{group['deploymentGroupName']} has no target group pair, or service {name!r} "
            "no load balancer: a blue/green deployment shifts traffic between two target groups",
            hint="give the deployment group a target group pair with a production listener")
    pair = pairs[0]
    blue_green = group.get("blueGreenDeploymentConfiguration") or {}
    terminate = blue_green.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    ready = blue_green.get("deploymentReadyOption") or {}
    return CodeDeployFacts(
        application=group["applicationName"],
        deployment_group=group["deploymentGroupName"],
        deployment_config=group.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce",
        target_groups=tuple(t.get("name", "") for t in pair.get("targetGroups") or []),
        production_listeners=tuple((pair.get("prodTrafficRoute") or {}).get("listenerArns")
                                   or ()),
        test_listeners=tuple((pair.get("testTrafficRoute") or {}).get("listenerArns") or ()),
        container_name=str(balancers[0].get("containerName") or ""),
        container_port=int(balancers[0].get("containerPort") or 0),
        termination_wait_minutes=int(terminate.get("terminationWaitTimeInMinutes") or 0)
        if terminate.get("action", "TERMINATE") == "TERMINATE" else 0,
        ready_action=str(ready.get("actionOnTimeout") or "CONTINUE_DEPLOYMENT"),
        ready_wait_minutes=int(ready.get("waitTimeInMinutes") or 0),
        auto_rollback=bool((group.get("autoRollbackConfiguration") or {}).get("enabled")),
    )


def deploy_summary(service: dict[str, Any] | None, action: dict[str, Any] | None) -> dict:
    """`status`: how an environment deploys now, from its service (DescribeServices) and
    the pipeline's deploy action (GetPipeline): no extra request."""
    strategy = strategy_of(service or {})
    provider = ((action or {}).get("actionTypeId") or {}).get("provider")
    config = (action or {}).get("configuration") or {}
    if provider == "CodeDeployToECS":
        timeout, why = 7200, "CodeDeployToECS: CodePipeline's fixed 5 days"
    elif config.get("DeploymentTimeout"):
        timeout, why = int(config["DeploymentTimeout"]), "DeploymentTimeout of the ECS action"
    else:
        timeout, why = 60, "the ECS action's default (and maximum)"
    out = {"provider": provider, "strategy": strategy.name, "timeout_minutes": timeout,
           "why": why, "bake_minutes": strategy.bake_minutes,
           "pause_hooks": [{"stages": list(h.stages), "timeout_minutes": h.timeout_minutes,
                            "timeout_action": h.timeout_action} for h in strategy.pause_hooks],
           "application": config.get("ApplicationName"),
           "deployment_group": config.get("DeploymentGroupName")}
    if provider == "ECS" and strategy.name == "CODE_DEPLOY":
        out["problem"] = ("the service now uses the CODE_DEPLOY controller but the pipeline "
                          "deploys it with the ECS action: run `ecspipe up`")
    elif provider == "CodeDeployToECS" and strategy.name != "CODE_DEPLOY":
        out["problem"] = ("the service no longer uses the CODE_DEPLOY controller: run "
                          "`ecspipe up`")
    return out
