"""What preflight reads from the sandbox seed (the guide's Part 1), for pure-builder tests."""

from __future__ import annotations

from ecspipe.config import Service, Target
from ecspipe.facts import EnvironmentFacts, ServiceFacts

ACCOUNT = "123456789012"
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/demo-web-task-role"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"


def seed_facts(cpu_architecture: str = "X86_64") -> ServiceFacts:
    return ServiceFacts(
        cluster_name="demo-cluster",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/demo-cluster",
        service_name="demo-web-service",
        service_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/demo-cluster/demo-web-service",
        task_definition_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/demo-web:1",
        family="demo-web",
        containers=("web",),
        container="web",
        cpu_architecture=cpu_architecture,
        task_role_arn=TASK_ROLE,
        execution_role_arn=EXECUTION_ROLE,
    )


def seed_environments(cpu_architecture: str = "X86_64") -> tuple[EnvironmentFacts, ...]:
    """The single `service:` form of config.example.yaml, as preflight reads it."""
    service = Service(cluster="demo-cluster", name="demo-web-service", container="web")
    return (EnvironmentFacts(Target(None, service), seed_facts(cpu_architecture)),)
