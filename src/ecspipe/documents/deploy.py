"""Which deploy action each environment gets, and how long it may wait: pure, from facts.

- Controller ECS, any strategy: the ECS deploy action ("Amazon Elastic Container
  Service deploy action reference": ClusterName, ServiceName, FileName,
  DeploymentTimeout "in minutes ... configurable up to the maximum default timeout
  for this action", which "Quotas in AWS CodePipeline" gives as 1 hour; the CDK
  enforces 1-60). It calls UpdateService and the service's own strategy runs.
  - ROLLING: nothing is set (the default is the maximum), exactly as before.
  - BLUE_GREEN, LINEAR, CANARY: DeploymentTimeout "60". AWS does not document what
    the action does when its timeout passes while ECS still bakes or waits at a
    hook; it fails the action, and nothing says it stops the deployment, so a
    shorter timeout could only fail a deployment that may still succeed. The least
    time the strategy takes is its bake time ("AWS::ECS::Service
    LinearConfiguration": BakeTimeInMinutes + StepBakeTimeInMinutes x steps, steps =
    100/StepPercent - 1 when it divides 100, else floor(100/StepPercent); canary:
    BakeTimeInMinutes + CanaryBakeTimeInMinutes), plus ROLLOUT_MINUTES for tasks to
    start and traffic to shift; a PAUSE hook waits for a person up to its timeout.
    When that can pass 60 minutes, plan says so: `release --wait` follows the
    service deployment itself to its end.
- Controller CODE_DEPLOY: CodeDeployToECS ("Amazon Elastic Container Service and
  CodeDeploy blue-green deploy action reference"), whose timeout CodePipeline fixes
  at 5 days ("Quotas in AWS CodePipeline"); nothing to choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ecspipe.documents.codedeploy import IMAGE_PLACEHOLDER, appspec_file, taskdef_file
from ecspipe.facts import EnvironmentFacts, ServiceFacts, Strategy

ECS_TIMEOUT_MAX = 60  # minutes
CODEDEPLOY_TIMEOUT = 5 * 24 * 60  # minutes, fixed
ROLLOUT_MINUTES = 10  # an allowance for tasks to start, pass health checks, shift traffic


@dataclass(frozen=True)
class DeployChoice:
    provider: str  # ECS | CodeDeployToECS
    strategy: str  # ROLLING | BLUE_GREEN | LINEAR | CANARY | CODE_DEPLOY
    timeout_minutes: int  # how long the action waits
    timeout_set: bool  # DeploymentTimeout is in the declaration
    minimum_minutes: int  # the least time the deployment takes (bakes, waits)
    why: str
    # The deployment can outlast the action: release --wait follows it to its end.
    outlasts_action: bool = False
    pauses: tuple[str, ...] = ()  # where a PAUSE hook waits, in words

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "strategy": self.strategy,
                "timeout_minutes": self.timeout_minutes, "timeout_set": self.timeout_set,
                "minimum_minutes": self.minimum_minutes, "why": self.why,
                "outlasts_action": self.outlasts_action, "pauses": list(self.pauses)}


def linear_steps(step_percent: float) -> int:
    """Traffic shifts of a linear deployment that are followed by a step bake."""
    steps = 100.0 / step_percent
    if abs(steps - round(steps)) < 1e-9:
        return int(round(steps)) - 1
    return math.floor(steps)


def bake_minutes(strategy: Strategy) -> int:
    if strategy.name == "LINEAR" and strategy.step_percent:
        return strategy.bake_minutes + strategy.step_bake_minutes * linear_steps(
            strategy.step_percent)
    if strategy.name == "CANARY":
        return strategy.bake_minutes + strategy.canary_bake_minutes
    return strategy.bake_minutes


def choose(service: ServiceFacts) -> DeployChoice:
    strategy = service.strategy
    if service.deployment_controller == "CODE_DEPLOY" and service.codedeploy:
        cd = service.codedeploy
        waits = cd.termination_wait_minutes + (
            cd.ready_wait_minutes if cd.ready_action == "STOP_DEPLOYMENT" else 0)
        why = (f"CODE_DEPLOY controller: CodeDeployToECS deploys through "
               f"{cd.application}/{cd.deployment_group} ({cd.deployment_config}); CodePipeline "
               f"fixes its timeout at 5 days, which covers the group's waits "
               f"(termination wait {cd.termination_wait_minutes} min")
        if cd.ready_action == "STOP_DEPLOYMENT":
            why += f", reroute wait up to {cd.ready_wait_minutes} min"
        return DeployChoice("CodeDeployToECS", "CODE_DEPLOY", CODEDEPLOY_TIMEOUT, False,
                            waits, why + ")")
    if not strategy.managed:
        return DeployChoice("ECS", strategy.name, ECS_TIMEOUT_MAX, False, 0,
                            "rolling update: the ECS action waits for the rollout, up to its "
                            "default (and maximum) of 60 minutes")
    bakes = bake_minutes(strategy)
    least = bakes + ROLLOUT_MINUTES
    pauses = tuple(f"PAUSE hook at {', '.join(h.stages)} (waits up to {h.timeout_minutes} min, "
                   f"then {h.timeout_action})" for h in strategy.pause_hooks)
    why = (f"{strategy.name}: the deployment takes at least {least} min (bake time {bakes} min "
           f"+ {ROLLOUT_MINUTES} min to start tasks and shift traffic)")
    if pauses:
        why += "; " + "; ".join(pauses) + " until answered"
    outlasts = bool(pauses) or least > ECS_TIMEOUT_MAX
    why += ("; DeploymentTimeout 60, the ECS action's maximum (a shorter one would only fail "
            "the action while ECS goes on)")
    return DeployChoice("ECS", strategy.name, ECS_TIMEOUT_MAX, True, least, why, outlasts,
                        pauses)


def deploy_action_configuration(env: EnvironmentFacts, imagedefinitions: str,
                                artifact: str) -> tuple[str, dict[str, str]]:
    """(provider, configuration) of the environment's deploy action."""
    service = env.service
    choice = choose(service)
    if choice.provider == "CodeDeployToECS" and service.codedeploy:
        return "CodeDeployToECS", {
            "ApplicationName": service.codedeploy.application,
            "DeploymentGroupName": service.codedeploy.deployment_group,
            "TaskDefinitionTemplateArtifact": artifact,
            "TaskDefinitionTemplatePath": taskdef_file(env.name),
            "AppSpecTemplateArtifact": artifact,
            "AppSpecTemplatePath": appspec_file(env.name),
            "Image1ArtifactName": artifact,
            "Image1ContainerName": IMAGE_PLACEHOLDER,
        }
    configuration = {
        "ClusterName": service.cluster_name,
        "ServiceName": service.service_name,
        "FileName": imagedefinitions,
    }
    if choice.timeout_set:
        configuration["DeploymentTimeout"] = str(choice.timeout_minutes)
    return "ECS", configuration
