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
