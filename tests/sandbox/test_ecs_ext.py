"""The sandbox's ECS extension: deployments that roll out, complete and roll back.

Mock mode with a manual clock; a rollout takes SETTINGS.stage_seconds["Deploy"]
(3 s by default).
"""

from __future__ import annotations

import functools

import pytest

ACCOUNT = "123456789012"
REGION = "us-east-1"
CLUSTER, SERVICE, FAMILY = "demo-cluster", "demo-web-service", "demo-web"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/demo-app:20261101_120000-0a1b2c3"


@pytest.fixture
def sim(clock):
    """moto in-process with the ECS extension and a manual clock."""
    from moto import mock_aws

    from ecspipe.sandbox import ecs, settings

    ecs.install()
    settings.reset(clock=clock)
    with mock_aws():
        yield settings.SETTINGS
    settings.reset()


@functools.cache
def ecs_client():
    import boto3

    return boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("ecs")


def register(image: str = IMAGE) -> str:
    return ecs_client().register_task_definition(
        family=FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": image, "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture
def service(sim) -> str:
    """A running service (desired 2) on revision 1; returns that revision's ARN."""
    ecs_client().create_cluster(clusterName=CLUSTER)
    first = register()
    ecs_client().create_service(
        cluster=CLUSTER,
        serviceName=SERVICE,
        taskDefinition=FAMILY,
        desiredCount=2,
        launchType="FARGATE",
    )
    return first


def describe() -> dict:
    return ecs_client().describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]


def messages(service: dict) -> list[str]:
    return [e["message"] for e in service["events"]]


def test_a_created_service_runs_with_one_completed_primary_deployment(service):
    described = describe()
    [primary] = described["deployments"]
    assert primary["status"] == "PRIMARY"
    assert primary["rolloutState"] == "COMPLETED"
    assert primary["rolloutStateReason"] == f"ECS deployment {primary['id']} completed."
    assert primary["id"].startswith("ecs-svc/")
    assert primary["taskDefinition"] == service == described["taskDefinition"]
    assert described["runningCount"] == described["desiredCount"] == primary["runningCount"] == 2
    assert described["pendingCount"] == 0
    assert messages(described) == [f"(service {SERVICE}) has reached a steady state."]
    cluster = ecs_client().describe_clusters(clusters=[CLUSTER])["clusters"][0]
    assert (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (2, 0)


def test_deployment_configuration_is_kept_and_defaults_like_aws(sim, service):
    assert describe()["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    ecs_client().create_service(
        cluster=CLUSTER,
        serviceName="other",
        taskDefinition=FAMILY,
        desiredCount=1,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "minimumHealthyPercent": 50,
        },
    )
    other = ecs_client().describe_services(cluster=CLUSTER, services=["other"])["services"][0]
    assert other["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 50,
    }


def test_update_service_rolls_out_a_new_deployment_that_completes(sim, clock, service):
    second = register(IMAGE.replace("0a1b2c3", "1111111"))
    old_id = describe()["deployments"][0]["id"]
    # A family name alone means its latest revision, resolved to the full ARN.
    ecs_client().update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=FAMILY)

    rolling = describe()
    assert rolling["taskDefinition"] == second
    new, old = rolling["deployments"]
    assert (new["status"], new["rolloutState"], new["taskDefinition"]) == (
        "PRIMARY",
        "IN_PROGRESS",
        second,
    )
    assert (new["runningCount"], new["pendingCount"]) == (0, 2)
    assert (old["id"], old["status"], old["runningCount"]) == (old_id, "ACTIVE", 2)
    assert messages(rolling)[0].startswith(f"(service {SERVICE}) has started 2 tasks: (task ")

    clock.advance(2.9)
    assert describe()["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    clock.advance(0.1)
    done = describe()
    [primary] = done["deployments"]
    assert (primary["id"], primary["rolloutState"]) == (new["id"], "COMPLETED")
    assert done["runningCount"] == done["desiredCount"] == primary["runningCount"] == 2
    assert messages(done)[:2] == [
        f"(service {SERVICE}) has reached a steady state.",
        f"(service {SERVICE}) deployment {new['id']} deployment completed.",
    ]
    # The transition is stamped with the time it was due, not when it was read.
    clock.advance(100)
    assert describe()["deployments"][0]["updatedAt"] == primary["updatedAt"]


def test_deploy_with_rollback_fails_the_deployment_and_returns_to_the_old_revision(
    sim, clock, service
):
    from ecspipe.sandbox import ecs

    second = register(IMAGE.replace("0a1b2c3", "2222222"))
    deployment = ecs.deploy(ACCOUNT, REGION, CLUSTER, SERVICE, second, clock.now(), rollback=True)
    assert describe()["taskDefinition"] == second

    clock.advance(3)  # the circuit breaker trips; the rollback starts
    rolling_back = describe()
    assert rolling_back["taskDefinition"] == service
    rollback, failed, previous = rolling_back["deployments"]
    assert (rollback["status"], rollback["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert rollback["taskDefinition"] == service
    assert failed["id"] == deployment["id"]
    assert (failed["status"], failed["rolloutState"]) == ("ACTIVE", "FAILED")
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert messages(rolling_back)[:2] == [
        f"(service {SERVICE}) rolling back to deployment {previous['id']}.",
        f"(service {SERVICE}) deployment {deployment['id']} deployment failed: "
        "tasks failed to start.",
    ]

    clock.advance(3)
    settled = describe()
    primary, failed = settled["deployments"]
    assert (primary["status"], primary["rolloutState"], primary["taskDefinition"]) == (
        "PRIMARY",
        "COMPLETED",
        service,
    )
    assert (failed["status"], failed["rolloutState"], failed["runningCount"]) == (
        "INACTIVE",
        "FAILED",
        0,
    )
    assert settled["taskDefinition"] == service
    assert settled["runningCount"] == settled["desiredCount"] == 2
    assert messages(settled)[0] == f"(service {SERVICE}) has reached a steady state."


def test_scaling_alone_changes_counts_without_a_new_deployment(service):
    ecs_client().update_service(cluster=CLUSTER, service=SERVICE, desiredCount=3)
    described = describe()
    [primary] = described["deployments"]
    assert primary["rolloutState"] == "COMPLETED"
    assert primary["desiredCount"] == primary["runningCount"] == described["runningCount"] == 3


def test_force_new_deployment_rolls_out_the_same_revision_again(clock, service):
    old_id = describe()["deployments"][0]["id"]
    ecs_client().update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
    new, old = describe()["deployments"]
    assert new["id"] != old_id and new["taskDefinition"] == service
    assert new["rolloutState"] == "IN_PROGRESS"
    clock.advance(3)
    assert [d["rolloutState"] for d in describe()["deployments"]] == ["COMPLETED"]


def test_create_service_without_security_groups_uses_the_vpc_default_as_aws_does(sim):
    import boto3

    ec2 = boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ecs_client().create_cluster(clusterName=CLUSTER)
    register()
    network = {"awsvpcConfiguration": {"subnets": [subnet], "assignPublicIp": "DISABLED"}}

    created = ecs_client().create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=FAMILY, desiredCount=1,
        launchType="FARGATE", networkConfiguration=network,
    )["service"]

    assert created["networkConfiguration"] == network
    assert describe()["networkConfiguration"] == network


def test_moto_still_has_every_hook_point_the_ecs_extension_uses():
    """Fails loudly when a moto upgrade moves what the extension wraps or reads."""
    import importlib
    import inspect

    from moto.ecs.models import EC2ContainerServiceBackend

    from ecspipe.sandbox import ecs

    for module, cls_name, method, _ in ecs.HOOKS:
        cls = getattr(importlib.import_module(module), cls_name)
        assert callable(getattr(cls, method, None)), f"{cls_name}.{method} is gone"
    for helper in ("_get_service", "_get_cluster", "update_cluster_resources"):
        assert callable(getattr(EC2ContainerServiceBackend, helper, None)), helper
    parameters = inspect.signature(EC2ContainerServiceBackend.describe_services).parameters
    assert list(parameters)[1:] == ["cluster_str", "service_names_or_arns"]
    parameters = inspect.signature(EC2ContainerServiceBackend.update_service).parameters
    assert list(parameters)[1:] == ["service_properties"]


def test_installing_twice_wraps_each_ecs_hook_point_once(sim):
    import importlib

    from ecspipe.sandbox import ecs

    ecs.install()
    for module, cls_name, method, _ in ecs.HOOKS:
        function = getattr(getattr(importlib.import_module(module), cls_name), method)
        ours = 0
        while function is not None:
            ours += function.__code__.co_filename == ecs.__file__
            function = getattr(function, "__wrapped__", None)
        assert ours == 1, f"{cls_name}.{method} wrapped {ours} times"
