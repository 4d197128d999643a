"""Environments against the sandbox (mock mode): up makes the stages, preflight checks each one.

The seed has two environments whose clusters and container names differ: staging
(demo-staging / demo-web-staging / container `app`) and production (demo-cluster
/ demo-web-service / container `web`), as config.environments.example.yaml says.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.environments.example.yaml"


@pytest.fixture
def write_environments(tmp_path):
    """config.environments.example.yaml without `notify:` (tests/aws/test_notify.py has it),
    with text replacements."""

    def write(*replacements: tuple[str, str], notify: bool = False) -> str:
        text = EXAMPLE.read_text()
        if not notify:
            head, rest = text.split("\nnotify:", 1)
            text = head + "\nimage:" + rest.split("\nimage:", 1)[1]
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "environments.yaml"
        path.write_text(text)
        return str(path)

    return write


def _register_like(family: str, container: str, arch: str) -> str:
    ecs = boto3.client("ecs")
    current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    return ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"},
        executionRoleArn=current["executionRoleArn"], taskRoleArn=current["taskRoleArn"],
        containerDefinitions=[{"name": container, "image": "nginx", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_up_creates_a_stage_per_environment_and_a_second_up_changes_nothing(
        seeded, ecspipe, write_environments, calls):
    config = write_environments()
    plan = ecspipe("plan", "-c", config)
    assert plan.code == 0, plan
    up = ecspipe("up", "-c", config, "--wait-connection", "--timeout", "60")
    assert up.code == 0, up

    pipeline = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]
    stages = {s["name"]: s["actions"][0] for s in pipeline["stages"]}
    assert list(stages) == ["Source", "Build", "Deploy-staging", "Approve-production",
                            "Deploy-production"]
    assert stages["Deploy-staging"]["configuration"] == {
        "ClusterName": "demo-staging", "ServiceName": "demo-web-staging",
        "FileName": "imagedefinitions-staging.json"}
    assert stages["Deploy-production"]["configuration"]["FileName"] == \
        "imagedefinitions-production.json"
    assert stages["Approve-production"]["actionTypeId"]["provider"] == "Manual"

    project = boto3.client("codebuild").batch_get_projects(names=["demo-app-build"])[
        "projects"][0]
    buildspec = project["source"]["buildspec"]
    assert '"name":"app"' in buildspec and '"name":"web"' in buildspec

    role = boto3.client("iam").get_role_policy(
        RoleName="demo-app-us-east-1-codepipeline", PolicyName="ecspipe-codepipeline")
    statements = {s["Sid"]: s for s in role["PolicyDocument"]["Statement"]}
    assert sorted(statements["Service"]["Resource"]) == sorted([
        seeded["service_arn"], seeded["staging"]["service_arn"]])

    calls.clear()
    again = ecspipe("up", "-c", config, "-o", "json")
    assert again.code == 0, again
    assert {c["action"] for c in again.json()["changes"]} <= {"unchanged", "use"}, again
    assert calls.writes == []
    # Preflight read both services with one DescribeServices per cluster.
    assert calls.ops.count("DescribeServices") == 2


def test_validate_json_names_the_stages_and_files(ecspipe, write_environments):
    result = ecspipe("validate", "-c", write_environments(notify=True), "-o", "json")
    assert result.code == 0, result
    names = result.json()["names"]
    assert names["stages"] == ["Source", "Build", "Deploy-staging", "Approve-production",
                               "Deploy-production"]
    assert names["imagedefinitions"] == ["imagedefinitions-staging.json",
                                         "imagedefinitions-production.json"]
    assert names["notification_rule"] == "ecspipe-demo-app-us-east-1"


@pytest.mark.parametrize(("replacement", "needles"), [
    (("name: demo-web-service", "name: no-such-service"),
     ["environments[1] (production): service.name", "no-such-service", "does not exist"]),
    (("cluster: demo-staging", "cluster: no-such-cluster"),
     ["environments[0] (staging): service.cluster", "no-such-cluster"]),
    (("container: app", "container: web"),
     ["environments[0] (staging): service.container", "'web' is not in task definition",
      "its containers: app", "environments[0].service.container"]),
])
def test_a_problem_in_any_environment_is_exit_2_naming_it_before_any_write(
        seeded, ecspipe, write_environments, calls, replacement, needles):
    result = ecspipe("up", "-c", write_environments(replacement))
    assert result.code == 2, result
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in result.err, result
    assert calls.writes == [], "preflight must fail before any write"


def test_problems_of_several_environments_are_all_listed(seeded, ecspipe, write_environments,
                                                         calls):
    config = write_environments(("name: demo-web-staging", "name: gone"),
                                ("container: web", "container: nope"))
    result = ecspipe("up", "-c", config)
    assert result.code == 2, result
    assert "2 environments cannot be deployed to" in result.err
    assert "environments[0] (staging): service.name" in result.err
    assert "environments[1] (production): service.container" in result.err
    assert calls.writes == []


def test_environments_on_different_cpu_architectures_are_refused_listing_each(
        seeded, ecspipe, write_environments, calls):
    arn = _register_like("demo-web-staging", "app", "ARM64")
    boto3.client("ecs").update_service(cluster="demo-staging", service="demo-web-staging",
                                       taskDefinition=arn)
    calls.clear()
    result = ecspipe("up", "-c", write_environments())
    assert result.code == 2, result
    assert "different CPU architectures" in result.err
    assert "environments[0] (staging): service: demo-web-staging runs ARM64" in result.err
    assert "environments[1] (production): service: demo-web runs X86_64" in result.err
    assert [op for op in calls.writes if op != "UpdateService"] == []


def test_an_environment_arn_of_another_account_is_refused_by_preflight(
        seeded, ecspipe, write_environments, calls):
    other = "arn:aws:ecs:us-east-1:210987654321:cluster/demo-cluster"
    result = ecspipe("up", "-c", write_environments(("cluster: demo-cluster", f"cluster: {other}")))
    assert result.code == 2, result
    assert "environments[1] (production): service.cluster" in result.err
    assert "is in account 210987654321, but the credentials are for account" in result.err
    assert calls.writes == []


def test_a_single_service_config_keeps_its_pipeline_after_the_change(seeded, ecspipe,
                                                                     write_config, calls):
    # The same single-service pipeline as before environments: nothing to update.
    config = write_config()
    assert ecspipe("up", "-c", config).code == 0
    pipeline = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    assert pipeline["stages"][2]["actions"][0]["configuration"]["FileName"] == \
        "imagedefinitions.json"
    calls.clear()
    assert ecspipe("plan", "-c", config).code == 0
    assert json.dumps(calls.writes) == "[]"
