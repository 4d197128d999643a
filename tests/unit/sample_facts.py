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


ENVIRONMENT_NAMES = ("staging", "production", "qa", "perf", "eu-prod", "us-prod", "canary",
                     "sandbox", "demo", "dr")


def environments(count: int, cpu_architecture: str = "X86_64",
                 approval_from: int = 1) -> tuple[EnvironmentFacts, ...]:
    """`count` environments as preflight reads them: each its own cluster, service,
    task family, container name and task role (all share the execution role); every
    one from `approval_from` on asks for an approval."""
    out = []
    for index, name in enumerate(ENVIRONMENT_NAMES[:count]):
        cluster, service = f"{name}-cluster", f"demo-web-{name}"
        facts = ServiceFacts(
            cluster_name=cluster,
            cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/{cluster}",
            service_name=service,
            service_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{cluster}/{service}",
            task_definition_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{service}:3",
            family=service,
            containers=(f"app-{index}", "sidecar"),
            container=f"app-{index}",
            cpu_architecture=cpu_architecture,
            task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/demo-web-{name}-task",
            execution_role_arn=EXECUTION_ROLE,
        )
        target = Target(name, Service(cluster=cluster, name=service, container=f"app-{index}"),
                        approval=index >= approval_from, index=index)
        out.append(EnvironmentFacts(target, facts))
    return tuple(out)


def codedeploy_task_definition(tags: bool = True) -> dict:
    """DescribeTaskDefinition (include TAGS) of a CODE_DEPLOY service: every read-only field
    AWS returns, two containers, secrets, volumes and tags."""
    return {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/demo-web-cd:7",
        "family": "demo-web-cd", "revision": 7, "status": "ACTIVE",
        "taskRoleArn": TASK_ROLE, "executionRoleArn": EXECUTION_ROLE,
        "networkMode": "awsvpc", "cpu": "512", "memory": "1024",
        "requiresCompatibilities": ["FARGATE"], "compatibilities": ["EC2", "FARGATE"],
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "registeredAt": "2026-11-01T12:00:00+00:00", "registeredBy": f"arn:aws:iam::{ACCOUNT}:root",
        "volumes": [{"name": "scratch"}], "placementConstraints": [],
        "ephemeralStorage": {"sizeInGiB": 30},
        "containerDefinitions": [
            {"name": "web", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/demo-app:old",
             "essential": True, "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
             "environment": [{"name": "GREETING", "value": "it's $HOME"}],
             "secrets": [{"name": "TOKEN", "valueFrom": "/demo/token"}],
             "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp/s"}]},
            {"name": "sidecar", "image": "public.ecr.aws/aws-observability/aws-otel-collector",
             "essential": False},
        ],
        "tags": [{"key": "team", "value": "platform"}] if tags else [],
    }


def codedeploy_environments(tags: bool = True) -> tuple[EnvironmentFacts, ...]:
    """A CODE_DEPLOY service and its deployment group, as preflight reads them."""
    from dataclasses import replace

    from ecspipe.facts import CodeDeployFacts, Strategy

    base = seed_facts()
    facts = replace(
        base, cluster_name="cd-cluster", service_name="demo-web-cd", family="demo-web-cd",
        cluster_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/cd-cluster",
        service_arn=f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/cd-cluster/demo-web-cd",
        containers=("web", "sidecar"), deployment_controller="CODE_DEPLOY",
        strategy=Strategy(name="CODE_DEPLOY"),
        codedeploy=CodeDeployFacts(
            application="demo-app-cd", deployment_group="demo-web-cd-dg",
            deployment_config="CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            target_groups=("blue", "green"), production_listeners=("arn:listener/80",),
            test_listeners=("arn:listener/8080",), container_name="web", container_port=8080,
            termination_wait_minutes=5),
        task_definition=codedeploy_task_definition(tags))
    service = Service(cluster="cd-cluster", name="demo-web-cd", container="web")
    return (EnvironmentFacts(Target(None, service), facts),)
