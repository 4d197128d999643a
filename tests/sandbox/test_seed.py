"""Self-tests of the sandbox seed: what the guide's Part 1 made, as config.example.yaml expects."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from ecspipe.sandbox import seed as seed_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ecs(seeded, aws):
    return aws("ecs")


def test_seed_reports_the_image_uri_in_the_callers_account(seeded, aws):
    account = aws("sts").get_caller_identity()["Account"]

    assert seeded["account_id"] == account
    assert seeded["image_uri"] == (
        f"{account}.dkr.ecr.us-east-1.amazonaws.com/demo-app:20261101_120000-0a1b2c3"
    )


def test_the_seeded_service_runs_two_tasks_of_demo_web_on_fargate_with_the_ecs_controller(
    seeded, ecs
):
    answer = ecs.describe_services(cluster="demo-cluster", services=["demo-web-service"])

    assert answer["failures"] == []
    service = answer["services"][0]
    assert service["serviceArn"] == seeded["service_arn"]
    assert service["status"] == "ACTIVE"
    assert service["desiredCount"] == 2
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["launchType"] == "FARGATE"
    assert service["taskDefinition"] == seeded["task_definition_arn"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"]


@pytest.mark.skipif(
    importlib.util.find_spec("ecspipe.sandbox.ecs") is None,
    reason="moto drops deploymentConfiguration; the sandbox's ECS extension keeps it",
)
def test_the_seeded_service_has_a_circuit_breaker_that_rolls_back(seeded, ecs):
    service = ecs.describe_services(cluster="demo-cluster", services=["demo-web-service"])[
        "services"
    ][0]

    breaker = service["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}


def test_the_seeded_task_definition_is_a_fargate_x86_task_with_one_web_container(seeded, ecs):
    task = ecs.describe_task_definition(taskDefinition="demo-web")["taskDefinition"]

    assert task["taskDefinitionArn"] == seeded["task_definition_arn"]
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert task["runtimePlatform"] == {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX",
    }
    assert task["executionRoleArn"] == seeded["execution_role_arn"]
    assert task["taskRoleArn"] == seeded["task_role_arn"]
    [container] = task["containerDefinitions"]
    assert container["name"] == "web"
    assert container["image"] == seeded["image_uri"]
    assert container["portMappings"][0]["containerPort"] == 8080


def test_a_staging_service_in_its_own_cluster_runs_the_same_image_under_another_container_name(
    seeded, ecs
):
    staging = seeded["staging"]
    answer = ecs.describe_services(cluster="demo-staging", services=["demo-web-staging"])
    assert answer["failures"] == []
    service = answer["services"][0]
    assert service["serviceArn"] == staging["service_arn"] != seeded["service_arn"]
    assert service["clusterArn"] == staging["cluster_arn"] != seeded["cluster_arn"]
    td = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert [c["name"] for c in td["containerDefinitions"]] == ["app"]
    assert td["containerDefinitions"][0]["image"] == seeded["image_uri"]
    production = ecs.describe_task_definition(taskDefinition=seeded["task_definition_arn"])
    assert production["taskDefinition"]["containerDefinitions"][0]["name"] == "web"
    assert td["executionRoleArn"] == seeded["execution_role_arn"]


def test_a_blue_green_service_with_a_pause_hook_stands_behind_its_load_balancer(seeded, ecs,
                                                                                 aws):
    bluegreen = seeded["bluegreen"]
    service = ecs.describe_services(cluster="demo-web-bluegreen",
                                    services=["demo-web-bluegreen"])["services"][0]

    assert service["serviceArn"] == bluegreen["service_arn"]
    assert service["deploymentController"] == {"type": "ECS"}
    configuration = service["deploymentConfiguration"]
    assert (configuration["strategy"], configuration["bakeTimeInMinutes"]) == ("BLUE_GREEN", 1)
    assert configuration["lifecycleHooks"] == [{
        "targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 1440, "action": "ROLLBACK"}}]
    [balancer] = service["loadBalancers"]
    advanced = balancer["advancedConfiguration"]
    assert (balancer["targetGroupArn"], advanced["alternateTargetGroupArn"]) == (
        bluegreen["blue_target_group_arn"], bluegreen["green_target_group_arn"])
    assert advanced["roleArn"] == bluegreen["infrastructure_role_arn"]
    elbv2 = aws("elbv2")
    rules = elbv2.describe_rules(RuleArns=[advanced["productionListenerRule"],
                                           advanced["testListenerRule"]])["Rules"]
    for rule in rules:
        weights = {g["TargetGroupArn"]: g["Weight"]
                   for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
        assert weights == {bluegreen["blue_target_group_arn"]: 100,
                           bluegreen["green_target_group_arn"]: 0}
    trust = aws("iam").get_role(RoleName="ecsInfrastructureRoleForLoadBalancers")["Role"]
    assert trust["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs.amazonaws.com"}


def test_a_code_deploy_service_has_its_application_and_deployment_group(seeded, ecs, aws):
    codedeploy = seeded["codedeploy"]
    service = ecs.describe_services(cluster="demo-web-codedeploy",
                                    services=["demo-web-codedeploy"])["services"][0]
    cd = aws("codedeploy")
    group = cd.get_deployment_group(applicationName=codedeploy["application"],
                                    deploymentGroupName=codedeploy["deployment_group"])[
        "deploymentGroupInfo"]
    listeners = aws("elbv2").describe_listeners(
        LoadBalancerArn=codedeploy["load_balancer_arn"])["Listeners"]

    assert service["deploymentController"] == {"type": "CODE_DEPLOY"}
    assert service["loadBalancers"][0]["targetGroupArn"] == codedeploy["blue_target_group_arn"]
    assert cd.get_application(applicationName="demo-web-codedeploy")["application"][
        "computePlatform"] == "ECS"
    assert group["ecsServices"] == [{"serviceName": "demo-web-codedeploy",
                                     "clusterName": "demo-web-codedeploy"}]
    assert group["autoRollbackConfiguration"] == {"enabled": True, "events": [
        "DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]}
    assert group["serviceRoleArn"] == codedeploy["codedeploy_role_arn"]
    assert sorted(listener["Port"] for listener in listeners) == [80, 8080]


def test_the_seeded_repository_holds_the_image_and_has_no_ecspipe_tags(seeded, aws):
    ecr = aws("ecr")

    repository = ecr.describe_repositories(repositoryNames=["demo-app"])["repositories"][0]
    images = ecr.describe_images(repositoryName="demo-app")["imageDetails"]
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]

    assert repository["imageTagMutability"] == "MUTABLE"
    assert [image["imageTags"] for image in images] == [["20261101_120000-0a1b2c3"]]
    assert images[0]["imageDigest"] == seeded["image_digest"]
    assert tags == []


def test_the_seeded_image_manifest_is_a_docker_schema_2_manifest(seeded, aws):
    image = aws("ecr").batch_get_image(
        repositoryName="demo-app", imageIds=[{"imageTag": "20261101_120000-0a1b2c3"}]
    )["images"][0]

    manifest = json.loads(image["imageManifest"])
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["digest"].startswith("sha256:")
    assert len(manifest["layers"]) == 1


@pytest.mark.parametrize("role", ["ecsTaskExecutionRole", "demo-web-task-role"])
def test_the_seeded_task_roles_trust_ecs_tasks(seeded, aws, role):
    found = aws("iam").get_role(RoleName=role)["Role"]

    statement = found["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert found["Arn"] in (seeded["execution_role_arn"], seeded["task_role_arn"])


def test_the_seed_matches_config_example_yaml(seeded):
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())

    assert config["region"] == seeded["region"]
    assert config["service"]["cluster"] == seeded["cluster"]
    assert config["service"]["name"] == seeded["service"]
    assert config["service"]["container"] == seeded["container"]
    assert config["image"]["repository"] == seeded["repository"]


def test_seed_signs_with_fake_credentials_so_it_can_never_touch_real_aws():
    credentials = seed_module._session("us-east-1").get_credentials()

    assert (credentials.access_key, credentials.secret_key) == ("testing", "testing")



@pytest.mark.parametrize(("preset", "expected"), [(None, "false"), ("true", "true")])
def test_the_sandbox_does_not_fill_ec2_with_default_amis_unless_asked(preset, expected):
    """moto's ~4000 default AMIs cost 3 s of CPU after every start and reset, and
    ECS makes an EC2 backend: install() turns them off unless the user chose."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MOTO_EC2_LOAD_DEFAULT_AMIS"}
    if preset is not None:
        env["MOTO_EC2_LOAD_DEFAULT_AMIS"] = preset
    code = ("import os; from ecspipe import sandbox; sandbox.install(); "
            "print(os.environ['MOTO_EC2_LOAD_DEFAULT_AMIS'])")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == expected, done.stderr


def test_moto_routes_requests_without_listing_its_package_each_time(monkeypatch):
    import os

    from moto import backends

    from ecspipe import sandbox

    sandbox.install()
    listed = backends.list_of_moto_modules()
    assert "s3" in listed and "ecs" in listed and "__pycache__" not in listed

    def no_listdir(path):
        raise AssertionError(f"listed {path} again")

    monkeypatch.setattr(os, "listdir", no_listdir)
    assert backends.list_of_moto_modules() == listed


def test_mock_mode_answers_one_request_at_a_time_as_the_server_does(sandbox, aws):
    """moto's backends are not thread-safe; the sandbox serialises mock-mode requests
    (its server holds a lock around each one), so concurrent writes never race."""
    from concurrent.futures import ThreadPoolExecutor

    from moto.core.botocore_stubber import BotocoreStubber

    assert getattr(BotocoreStubber.process_request, "ecspipe_serialised", False)
    iam = aws("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})

    def make(i: int) -> str:
        iam.create_role(RoleName=f"r{i}", AssumeRolePolicyDocument=trust,
                        Tags=[{"Key": "n", "Value": str(i)}])
        return iam.list_roles()["Roles"][0]["RoleName"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(make, range(40)))
    assert len(iam.list_roles(MaxItems=100)["Roles"]) == 40
