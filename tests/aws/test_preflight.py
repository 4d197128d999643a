"""Preflight: every way the ECS service can be unusable is exit 2 before any write."""

from __future__ import annotations

import boto3
import pytest

ACCOUNT = "123456789012"


def _register(family: str, containers: list[str], arch: str | None = None) -> str:
    kwargs = {}
    if arch:
        kwargs["runtimePlatform"] = {"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"}
    return boto3.client("ecs").register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": n, "image": "nginx", "essential": True} for n in containers],
        **kwargs,
    )["taskDefinition"]["taskDefinitionArn"]


def _service(name: str, task_definition: str, controller: str = "ECS") -> None:
    boto3.client("ecs").create_service(
        cluster="demo-cluster", serviceName=name, taskDefinition=task_definition,
        desiredCount=1, deploymentController={"type": controller},
    )


def _fails(ecspipe, calls, config: str, *needles: str) -> str:
    result = ecspipe("up", "-c", config)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in result.err, result
    assert calls.writes == [], "preflight must fail before any write"
    return result.err


def test_a_missing_cluster_is_refused_naming_the_field(seeded, ecspipe, write_config, calls):
    config = write_config(("cluster: demo-cluster", "cluster: no-such-cluster"))
    _fails(ecspipe, calls, config, "service.cluster", "no-such-cluster", "does not exist")


def test_a_missing_service_is_refused_naming_the_field(seeded, ecspipe, write_config, calls):
    config = write_config(("name: demo-web-service", "name: no-such-service"))
    _fails(ecspipe, calls, config, "service.name", "no-such-service", "does not exist")


def test_an_ambiguous_container_lists_the_task_definitions_containers(
        seeded, ecspipe, write_config, calls):
    _service("two-containers", _register("two", ["app", "sidecar"]))
    config = write_config(("name: demo-web-service", "name: two-containers"),
                          ("  container: web ", "  # container: web "))
    _fails(ecspipe, calls, config, "service.container", "app, sidecar")


def test_a_wrong_container_name_lists_the_real_ones(seeded, ecspipe, write_config, calls):
    config = write_config(("container: web", "container: demo-web-service"))
    _fails(ecspipe, calls, config, "service.container", "'demo-web-service'", "web")


def test_a_single_container_needs_no_container_setting(seeded, ecspipe, write_config):
    config = write_config(("  container: web ", "  # container: web "))
    assert ecspipe("plan", "-c", config).code == 0


@pytest.mark.parametrize("controller,needle", [
    ("CODE_DEPLOY", "no CodeDeploy deployment group deploys it"),
    ("EXTERNAL", "EXTERNAL deployment controller"),
])
def test_a_service_not_deployed_by_ecs_is_refused(seeded, ecspipe, write_config, calls,
                                                  controller, needle):
    _service("bg", _register("bg", ["web"]), controller=controller)
    config = write_config(("name: demo-web-service", "name: bg"))
    _fails(ecspipe, calls, config, needle)


def test_an_arm64_task_definition_gets_an_arm_codebuild_image(seeded, ecspipe, write_config):
    _service("arm", _register("arm", ["web"], arch="ARM64"))
    config = write_config(("name: demo-web-service", "name: arm"))
    assert ecspipe("up", "-c", config).code == 0
    env = boto3.client("codebuild").batch_get_projects(names=["demo-app-build"])["projects"][0][
        "environment"]
    assert env["type"] == "ARM_CONTAINER"
    assert "aarch64" in env["image"]


def test_a_foreign_role_with_our_name_is_refused_and_adopt_takes_it_over(
        seeded, ecspipe, write_config, calls):
    iam = boto3.client("iam")
    iam.create_role(RoleName="demo-app-us-east-1-codebuild", AssumeRolePolicyDocument="{}")
    config = write_config()
    err = _fails(ecspipe, calls, config, "CodeBuild role 'demo-app-us-east-1-codebuild'",
                 "not created by ecspipe", "--adopt")
    assert "hint:" in err
    # Nothing else was created either: the refusal comes from planning, before writes.
    assert boto3.client("codepipeline").list_pipelines()["pipelines"] == []
    adopted = ecspipe("up", "--adopt", "-c", config)
    assert adopted.code == 0, adopted
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="demo-app-us-east-1-codebuild")["Tags"]}
    assert tags["managed-by"] == "ecspipe"


def test_credentials_for_another_account_are_refused(seeded, ecspipe, write_config, calls):
    config = write_config(("# account_id: \"123456789012\"", "account_id: \"210987654321\""))
    _fails(ecspipe, calls, config, "account_id", "210987654321", ACCOUNT)


def test_too_many_secret_references_are_refused_before_any_write(
        seeded, ecspipe, write_config, calls):
    refs = "".join(f"    S{i}:\n      parameter_store: /demo-app/{'p' * 60}-{i}\n"
                   for i in range(150))
    config = write_config(("    APP_ENV: production       # a plain value (never put secrets here)\n",
                           f"    APP_ENV: production\n{refs}"))
    _fails(ecspipe, calls, config, "build.env", "over IAM's 10240")
