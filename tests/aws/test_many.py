"""Several pipelines in one run: `validate`/`plan`/`up` with -c repeated or a directory."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from tests.conftest import EXAMPLE

NAMES = ("multi-01", "multi-02", "multi-03")


def write_pipeline_config(directory: Path, name: str, **replace: str) -> str:
    """config.example.yaml for pipeline `name`, on its own ECS service and repository."""
    text = EXAMPLE.read_text()
    for old, new in [("name: demo-app", f"name: {name}"),
                     ("name: demo-web-service", f"name: {name}-svc"),
                     ("  repository: demo-app ", f"  repository: {name} "),
                     *replace.items()]:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def configs(seeded, tmp_path):
    """A directory of three configs, each with its own ECS service in the seeded cluster."""
    ecs = boto3.client("ecs")
    directory = tmp_path / "pipelines"
    directory.mkdir()
    for name in NAMES:
        ecs.create_service(cluster="demo-cluster", serviceName=f"{name}-svc",
                           taskDefinition="demo-web", desiredCount=1, launchType="FARGATE")
        write_pipeline_config(directory, name)
    return directory


def pipelines() -> list[str]:
    return sorted(p["name"] for p in boto3.client("codepipeline").list_pipelines()["pipelines"])


def test_up_over_a_directory_makes_every_pipeline_and_a_second_run_writes_nothing(
        configs, ecspipe, calls):
    result = ecspipe("up", "-c", str(configs))
    assert result.code == 0, result
    assert pipelines() == list(NAMES)
    assert "3 pipelines" in result.out and "Result: 24 created." in result.out
    for name in NAMES:  # progress lines say which pipeline they belong to
        assert f"[{name}] creating pipeline {name} …" in result.err
    # One client per service for the whole run: the account is looked up once.
    assert calls.ops.count("GetCallerIdentity") == 1
    assert calls.writes.count("CreatePipeline") == 3

    calls.clear()
    again = ecspipe("up", "-c", str(configs))
    assert again.code == 0, again
    assert calls.writes == []
    assert "Result: no changes, 24 unchanged." in again.out


def test_repeated_c_and_json_output_list_each_pipeline_with_its_config(configs, ecspipe):
    files = sorted(str(p) for p in configs.iterdir())
    result = ecspipe("plan", "-c", files[0], "-c", files[2], "-o", "json")
    assert result.code == 0, result
    data = result.json()
    assert [p["config"] for p in data["pipelines"]] == [files[0], files[2]]
    assert [p["pipeline"] for p in data["pipelines"]] == ["multi-01", "multi-03"]
    assert all(p["summary"] == {"create": 8} and not p["applied"] for p in data["pipelines"])
    assert pipelines() == []


def test_every_problem_of_every_config_is_reported_before_any_call(configs, ecspipe, calls):
    write_pipeline_config(configs, "multi-02", **{"branch: main": "branch: ''"})
    write_pipeline_config(configs, "multi-03", **{"compute_type:": "compute_typ:"})
    result = ecspipe("up", "-c", str(configs))
    assert result.code == 2, result
    assert "2 of 3 config files are invalid" in result.err
    assert "multi-02.yaml" in result.err and "source.branch" in result.err
    assert "multi-03.yaml" in result.err and "did you mean 'compute_type'" in result.err
    assert "Traceback" not in result.err
    assert calls.ops == []


def test_two_configs_naming_the_same_resources_are_refused(configs, ecspipe, calls):
    clash = configs / "copy.yaml"
    clash.write_text((configs / "multi-01.yaml").read_text())
    result = ecspipe("validate", "-c", str(configs))
    assert result.code == 2, result
    assert "name 'multi-01' in us-east-1 is also in" in result.err
    assert "image.repository 'multi-01' in us-east-1" in result.err
    assert calls.ops == []


def test_a_refusal_in_one_pipeline_stops_every_pipeline_before_the_first_write(
        configs, ecspipe, calls):
    iam = boto3.client("iam")
    iam.create_role(RoleName="multi-02-us-east-1-codebuild", Path="/ecspipe/",
                    AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}')
    result = ecspipe("up", "-c", str(configs))
    assert result.code == 2, result
    assert "multi-02.yaml: CodeBuild role 'multi-02-us-east-1-codebuild' already exists and " \
        "was not " \
        "created by ecspipe" in result.err
    assert calls.writes == []
    assert pipelines() == []


def test_a_failure_while_applying_one_pipeline_leaves_the_others_done(configs, ecspipe):
    def refuse_multi_02(params, **_kwargs):
        if params.get("pipeline", {}).get("name") == "multi-02":
            raise ClientError({"Error": {"Code": "AccessDeniedException",
                                         "Message": "not allowed"}}, "CreatePipeline")

    hooks = [("before-parameter-build.codepipeline.CreatePipeline", refuse_multi_02)]
    result = ecspipe("up", "-c", str(configs), obj={"client_hooks": hooks})
    assert result.code == 1, result
    assert "multi-02.yaml: pipeline multi-02: CreatePipeline: access denied" in result.err
    assert pipelines() == ["multi-01", "multi-03"]
    assert "ecspipe up: pipeline multi-01" in result.out
    assert "ecspipe up: pipeline multi-03" in result.out
    assert "ecspipe up: pipeline multi-02" not in result.out

    # Fixed, the next run finishes the one that failed and leaves the others alone.
    again = ecspipe("up", "-c", str(configs))
    assert again.code == 0, again
    assert pipelines() == list(NAMES)
    assert "Result: 1 created, 23 unchanged." in again.out


@pytest.mark.parametrize("command", ["status", "release"])
def test_commands_for_one_pipeline_refuse_several_configs(configs, ecspipe, calls, command):
    result = ecspipe(command, "-c", str(configs))
    assert result.code == 2, result
    assert f"`{command}` works on one pipeline, but -c gives 3 config files" in result.err
    assert calls.ops == []


def test_a_directory_without_configs_is_a_user_error(tmp_path, ecspipe):
    result = ecspipe("up", "-c", str(tmp_path))
    assert result.code == 2, result
    assert "holds no *.yaml or *.yml file" in result.err


def test_the_same_file_twice_is_a_user_error(configs, ecspipe):
    one = str(configs / "multi-01.yaml")
    result = ecspipe("plan", "-c", one, "-c", one)
    assert result.code == 2, result
    assert "given more than once" in result.err


def test_ecspipe_config_holds_paths_with_spaces_and_several_split_on_pathsep(
        configs, ecspipe, monkeypatch):
    import os

    spaced = configs / "with space"
    spaced.mkdir()
    one = spaced / "multi 01.yaml"
    one.write_text((configs / "multi-01.yaml").read_text())
    monkeypatch.setenv("ECSPIPE_CONFIG", str(one))
    alone = ecspipe("validate", "-o", "json")
    assert alone.code == 0, alone
    assert alone.json()["names"]["pipeline"] == "multi-01"

    monkeypatch.setenv("ECSPIPE_CONFIG", os.pathsep.join(
        [str(one), str(configs / "multi-02.yaml")]))
    both = ecspipe("validate", "-o", "json")
    assert both.code == 0, both
    assert [c["config"] for c in both.json()["configs"]] == [
        str(one), str(configs / "multi-02.yaml")]


def _seed_service_in(region: str) -> None:
    """The seeded demo service again, in another region (IAM roles are the seed's)."""
    ecs = boto3.client("ecs", region_name=region)
    iam = boto3.client("iam")
    roles = {r["RoleName"]: r["Arn"] for r in iam.list_roles()["Roles"]}
    ecs.create_cluster(clusterName="demo-cluster")
    task = ecs.register_task_definition(
        family="demo-web", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn=roles["ecsTaskExecutionRole"],
        taskRoleArn=roles["demo-web-task-role"],
        containerDefinitions=[{"name": "web", "image": "nginx:1", "essential": True}],
    )["taskDefinition"]
    ecs.create_service(cluster="demo-cluster", serviceName="multi-01-svc",
                       taskDefinition=task["taskDefinitionArn"], desiredCount=1,
                       launchType="FARGATE")


def test_one_name_in_two_regions_makes_two_pipelines_and_down_in_one_leaves_the_other(
        configs, ecspipe):
    west = configs / "west.yaml"
    west.write_text((configs / "multi-01.yaml").read_text().replace(
        "region: us-east-1", "region: eu-west-1", 1))
    east = str(configs / "multi-01.yaml")
    assert ecspipe("validate", "-c", east, "-c", str(west)).code == 0
    _seed_service_in("eu-west-1")
    up = ecspipe("up", "-c", east, "-c", str(west))
    assert up.code == 0, up

    iam = boto3.client("iam")
    roles = {r["RoleName"] for r in iam.list_roles(PathPrefix="/ecspipe/")["Roles"]}
    assert roles == {f"multi-01-{region}-{service}" for region in ("us-east-1", "eu-west-1")
                     for service in ("codebuild", "codepipeline")}
    west_pipeline = boto3.client("codepipeline", region_name="eu-west-1").get_pipeline(
        name="multi-01")["pipeline"]
    assert west_pipeline["roleArn"].endswith("/multi-01-eu-west-1-codepipeline")

    down = ecspipe("down", "-c", east, "--yes")
    assert down.code == 0, down
    roles = {r["RoleName"] for r in iam.list_roles(PathPrefix="/ecspipe/")["Roles"]}
    assert roles == {"multi-01-eu-west-1-codebuild", "multi-01-eu-west-1-codepipeline"}
    assert pipelines() == []
    assert boto3.client("codepipeline", region_name="eu-west-1").get_pipeline(
        name="multi-01")["pipeline"]["roleArn"] == west_pipeline["roleArn"]
    again = ecspipe("plan", "-c", str(west))
    assert again.code == 0 and "Plan: no changes, 8 unchanged." in again.out, again


# ---- down of several pipelines ------------------------------------------------------------

def test_down_over_a_directory_shows_every_teardown_then_asks_once(configs, ecspipe, calls,
                                                                     monkeypatch):
    assert ecspipe("up", "-c", str(configs)).code == 0
    asked = []

    def answer(text, **_kwargs):
        asked.append(text)
        assert calls.writes == [], "nothing is deleted before the one confirmation"
        return True

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("click.confirm", answer)
    calls.clear()
    result = ecspipe("down", "-c", str(configs))
    assert result.code == 0, result
    assert len(asked) == 1
    for name in NAMES:
        assert f"ecspipe down: pipeline {name} in us-east-1" in result.out
    assert "3 pipelines" in result.out
    assert pipelines() == []
    assert calls.writes.count("DeletePipeline") == 3

    calls.clear()
    assert "nothing to delete" in ecspipe("down", "-c", str(configs), "--yes").out
    assert calls.writes == []


def test_down_of_several_refuses_without_a_terminal_or_yes_and_deletes_nothing(
        configs, ecspipe, calls):
    assert ecspipe("up", "-c", str(configs)).code == 0
    calls.clear()
    result = ecspipe("down", "-c", str(configs))
    assert result.code == 2, result
    assert "refusing to delete without confirmation" in result.err
    assert calls.writes == []
    assert pipelines() == list(NAMES)


def test_down_of_several_validates_every_config_first(configs, ecspipe, calls):
    write_pipeline_config(configs, "multi-02", **{"branch: main": "branch: ''"})
    result = ecspipe("down", "-c", str(configs), "--yes")
    assert result.code == 2, result
    assert "1 of 3 config files are invalid" in result.err and "multi-02.yaml" in result.err
    assert calls.ops == []


def test_a_failure_while_deleting_one_pipeline_is_reported_with_its_file(configs, ecspipe):
    assert ecspipe("up", "-c", str(configs)).code == 0

    def refuse_multi_02(params, **_kwargs):
        if params.get("name") == "multi-02":
            raise ClientError({"Error": {"Code": "AccessDeniedException",
                                         "Message": "not allowed"}}, "DeletePipeline")

    hooks = [("before-parameter-build.codepipeline.DeletePipeline", refuse_multi_02)]
    result = ecspipe("down", "-c", str(configs), "--yes", obj={"client_hooks": hooks})
    assert result.code == 1, result
    assert "multi-02.yaml: pipeline multi-02: DeletePipeline: access denied" in result.err
    assert pipelines() == ["multi-02"]
    again = ecspipe("down", "-c", str(configs), "--yes")
    assert again.code == 0, again
    assert pipelines() == []


def test_one_run_makes_each_client_once_and_looks_up_credentials_once(
        configs, ecspipe, monkeypatch):
    """Three pipelines, one region: one session, one client per AWS service (so one
    connection pool each, reused by every pipeline), credentials resolved once."""
    import botocore.credentials
    import botocore.session

    made: list[str] = []
    resolved: list[int] = []
    create_client = botocore.session.Session.create_client
    load = botocore.credentials.CredentialResolver.load_credentials

    def counting_client(self, service_name, *args, **kwargs):
        made.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    def counting_load(self):
        resolved.append(1)
        return load(self)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting_client)
    monkeypatch.setattr(botocore.credentials.CredentialResolver, "load_credentials",
                        counting_load)
    result = ecspipe("up", "-c", str(configs))
    assert result.code == 0, result
    assert sorted(made) == sorted(set(made)), f"a client made twice: {sorted(made)}"
    assert set(made) >= {"sts", "ecs", "s3", "iam", "codebuild", "codepipeline"}
    assert len(resolved) == 1
