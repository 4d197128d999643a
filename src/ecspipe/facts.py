"""What preflight learned about the existing ECS service (read from AWS, never written).

Documents are built from config + names + these facts, so every builder stays pure.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecspipe.config import Target


@dataclass(frozen=True)
class PauseHook:
    """A PAUSE lifecycle hook: the deployment waits there for ContinueServiceDeployment."""

    stages: tuple[str, ...]
    timeout_minutes: int = 1440  # "Default: 1440 (24 hours)"
    timeout_action: str = "ROLLBACK"  # "Default: ROLLBACK"


@dataclass(frozen=True)
class Strategy:
    """How the service deploys, read from DescribeServices (the owner's choice: ecspipe
    reads it and never changes it). `name` is ROLLING, BLUE_GREEN, LINEAR or CANARY for
    the ECS controller, CODE_DEPLOY for CodeDeploy's."""

    name: str = "ROLLING"
    bake_minutes: int = 0
    step_percent: float | None = None  # LINEAR
    step_bake_minutes: int = 0
    canary_percent: float | None = None  # CANARY
    canary_bake_minutes: int = 0
    pause_hooks: tuple[PauseHook, ...] = ()
    lambda_hooks: int = 0
    # (target group ARN, container, port, alternate target group ARN or None) per balancer.
    load_balancers: tuple[tuple[str, str, int, str | None], ...] = ()

    @property
    def managed(self) -> bool:
        """ECS itself runs a blue/green, linear or canary deployment."""
        return self.name in ("BLUE_GREEN", "LINEAR", "CANARY")


@dataclass(frozen=True)
class CodeDeployFacts:
    """The CodeDeploy application and deployment group whose ECS service is this one."""

    application: str
    deployment_group: str
    deployment_config: str
    target_groups: tuple[str, ...]
    production_listeners: tuple[str, ...]
    test_listeners: tuple[str, ...]
    container_name: str  # the container and port the load balancer sends traffic to
    container_port: int
    termination_wait_minutes: int = 0
    ready_action: str = "CONTINUE_DEPLOYMENT"  # deploymentReadyOption.actionOnTimeout
    ready_wait_minutes: int = 0
    auto_rollback: bool = False


@dataclass(frozen=True)
class ServiceFacts:
    cluster_name: str
    cluster_arn: str
    service_name: str
    service_arn: str
    task_definition_arn: str
    family: str
    containers: tuple[str, ...]
    container: str  # the container that receives the new image
    cpu_architecture: str = "X86_64"  # X86_64 | ARM64
    deployment_controller: str = "ECS"
    task_role_arn: str | None = None
    execution_role_arn: str | None = None
    image: str | None = None  # the image the container runs now
    strategy: Strategy = field(default_factory=Strategy)
    codedeploy: CodeDeployFacts | None = None
    # The task definition as DescribeTaskDefinition returned it (with its `tags`): the
    # CodeDeploy build's taskdef.json is derived from it.
    task_definition: dict | None = field(default=None, compare=False, repr=False)

    @property
    def pass_role_arns(self) -> list[str]:
        """Roles CodePipeline's ECS action passes when it registers a task definition."""
        return sorted({a for a in (self.task_role_arn, self.execution_role_arn) if a})


@dataclass(frozen=True)
class EnvironmentFacts:
    """One environment the pipeline deploys to: its place in the config, and its service."""

    target: Target
    service: ServiceFacts
    # Those of the target's alarms that are composite alarms (preflight reads them):
    # DescribeAlarms answers for composite alarms only to a permission scoped to `*`.
    composite_alarms: frozenset[str] = frozenset()

    @property
    def name(self) -> str | None:
        """None for the single `service:` form."""
        return self.target.name

    @property
    def approval(self) -> bool:
        return self.target.approval


def shared_architecture(environments: Sequence[EnvironmentFacts]) -> str:
    """The one CPU architecture every environment runs (preflight checked they agree)."""
    return environments[0].service.cpu_architecture if environments else "X86_64"


@dataclass
class Outputs:
    """Values known only once a step has run (e.g. a new connection's ARN)."""

    connection_arn: str | None = None
    connection_status: str | None = None
    # Cleared while the connection is being planned, so resources planned
    # concurrently with it wait (`connection_arn_planned`) before they use its ARN.
    connection_known: threading.Event = field(default_factory=threading.Event, repr=False,
                                              compare=False)

    # While `up` applies: one event per resource kind, set once its apply has ended (done
    # or failed), for a step that needs another resource made in the same wave.
    applied: dict[str, threading.Event] = field(default_factory=dict, repr=False,
                                                compare=False)

    def __post_init__(self) -> None:
        self.connection_known.set()

    def wait_applied(self, kind: str, timeout: float = 600.0) -> None:
        """Until `kind` has been applied in this run (at once when it is not being applied)."""
        event = self.applied.get(kind)
        if event is not None:
            event.wait(timeout)

    def connection_arn_planned(self, timeout: float = 600.0) -> str | None:
        """The connection ARN, once the connection's plan has run (at once outside planning)."""
        self.connection_known.wait(timeout)
        return self.connection_arn
