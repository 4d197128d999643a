"""Every request ecspipe builds respects AWS's API model: max lengths, patterns, enums, ranges.

botocore checks only `required`, types and `min` before sending; the services check
the rest, often after earlier resources already exist (CodeBuild's 255-character
description made CreateProject fail once the roles had been created). So a full
`up`, the webhook re-save, a no-op `plan` and `down` run against the sandbox with
the most extreme config that `validate` accepts (longest names everywhere, 45 tags
of maximal size, a 255-character branch pattern, many env vars and secrets, a
container of 255 characters, ...), every request's parameters are captured before
botocore serialises them (`before-parameter-build`), and each parameter tree is
validated against its operation's input shape in the installed botocore models.
Patterns are applied to the whole value (AWS's patterns are unanchored in the
models and full-matched by the services); they use Java regex classes such as
`\\p{L}`, hence the `regex` module.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
import regex
import yaml

ACCOUNT = "123456789012"
REGION = "ap-southeast-2"


def shape_problems(shape: Any, value: Any, path: str) -> list[str]:
    """Every way `value` breaks `shape` (a botocore Shape): one line each."""
    problems: list[str] = []
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected a structure"]
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name}: required")
        for name, item in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: unknown member")
                continue
            problems += shape_problems(shape.members[name], item, f"{path}.{name}")
        return problems
    if kind == "list":
        problems += _length(meta, len(value), path, "items")
        for i, item in enumerate(value):
            problems += shape_problems(shape.member, item, f"{path}[{i}]")
        return problems
    if kind == "map":
        problems += _length(meta, len(value), path, "entries")
        for key, item in value.items():
            problems += shape_problems(shape.key, key, f"{path}.<key {key!r}>")
            problems += shape_problems(shape.value, item, f"{path}[{key!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string"]
        problems += _length(meta, len(value), path, "characters")
        pattern = meta.get("pattern")
        if pattern and not regex.fullmatch(pattern, value, regex.DOTALL):
            problems.append(f"{path}: {value[:80]!r} does not match {pattern}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        return problems
    if kind in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            problems.append(f"{path}: {value} < min {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} > max {meta['max']}")
    return problems


def _length(meta: dict, length: int, path: str, what: str) -> list[str]:
    out = []
    if "min" in meta and length < meta["min"]:
        out.append(f"{path}: {length} {what} < min {meta['min']}")
    if "max" in meta and length > meta["max"]:
        out.append(f"{path}: {length} {what} > max {meta['max']}")
    return out


class Requests:
    """Every operation ecspipe's clients send, with the problems of its parameters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.operations: list[str] = []
        self.problems: list[str] = []

    def hook(self, params: dict, model: Any, **_kwargs: Any) -> None:
        where = f"{model.service_model.service_name}.{model.name}"
        found = shape_problems(model.input_shape, params, where) if model.input_shape else []
        with self.lock:
            self.operations.append(where)
            self.problems += found


def test_the_checker_finds_what_botocore_lets_through() -> None:
    codebuild = boto3.client("codebuild")
    model = codebuild.meta.service_model.operation_model("CreateProject")
    request = {"name": "-bad", "description": "d" * 256, "source": {"type": "NOPE"},
               "artifacts": {"type": "NO_ARTIFACTS"}, "environment": {
                   "type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"},
               "serviceRole": "r", "timeoutInMinutes": 5000,
               "tags": [{"key": "k", "value": "v"}] * 51}
    found = "\n".join(shape_problems(model.input_shape, request, "CreateProject"))
    assert "CreateProject.name: '-bad' does not match" in found
    assert "CreateProject.description: 256 characters > max 255" in found
    assert "CreateProject.source.type: 'NOPE' is not one of" in found
    assert "CreateProject.timeoutInMinutes: 5000 > max 2160" in found
    assert "CreateProject.tags: 51 items > max 50" in found


# ---- the most extreme config validate accepts ------------------------------------------------

LONG_CLUSTER = "c" * 254 + "1"
LONG_SERVICE = "s" * 254 + "2"
LONG_FAMILY = "f" * 255
LONG_CONTAINER = "C" * 100 + "-" * 100 + "_" * 55
LONG_REPOSITORY = "/".join(["r" * 50] * 5)[:255] + "z"  # 256: ECR's maximum
BRANCH = "{" * 100 + "b" * 55  # 155 characters, 255 escaped as a trigger pattern


def _extreme_config(tmp_path) -> str:
    iam = boto3.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    roles = [iam.create_role(RoleName=("t" * 63) + str(i), Path="/" + "p" * 100 + "/",
                             AssumeRolePolicyDocument=trust)["Role"]["Arn"] for i in range(2)]
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName=LONG_CLUSTER)
    task = ecs.register_task_definition(
        family=LONG_FAMILY, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", executionRoleArn=roles[0], taskRoleArn=roles[1],
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[{"name": LONG_CONTAINER, "image": "nginx:1", "essential": True}],
    )["taskDefinition"]
    ecs.create_service(cluster=LONG_CLUSTER, serviceName=LONG_SERVICE,
                       taskDefinition=task["taskDefinitionArn"], desiredCount=1,
                       launchType="FARGATE")
    env: dict[str, Any] = {f"PLAIN_{i:02d}": "v" * 2000 for i in range(40)}
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for i in range(12):
        env[f"PARAM_{i:02d}"] = {"parameter_store": f"/{'p' * 40}/{i:02d}",
                                 "kms_key": key if i % 2 else f"alias/{'a' * 40}{i}"}
        env[f"SECRET_{i:02d}"] = {"secrets_manager": f"{'s' * 40}/{i:02d}:json-key:AWSCURRENT",
                                  "kms_key": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/k{i}"}
    config = {
        "version": 1,
        "name": "abcdefghijklmnopqrstuvwx",
        "region": REGION,
        "account_id": ACCOUNT,
        "source": {"repository": ("o" * 38) + "1/" + ("r" * 99) + ".",
                   "branch": BRANCH, "provider": "Bitbucket"},
        "service": {"cluster": LONG_CLUSTER, "name": LONG_SERVICE, "container": LONG_CONTAINER},
        "build": {
            "context": "/".join(["d" * 60] * 4),
            "dockerfile": "/".join(["d" * 60] * 4) + "/Dockerfile.production",
            "compute_type": "BUILD_GENERAL1_2XLARGE",
            "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{'i' * 100}:{'t' * 90}",
            "timeout_minutes": 2160,
            "env": env,
            "test_commands": [f"echo {'x' * 990} > /dev/null"] * 30,
        },
        "image": {"repository": LONG_REPOSITORY, "keep": 1000},
        "tags": {f"k{i:02d}" + "K" * 124: "v" * 255 for i in range(45)},
    }
    path = tmp_path / "extreme.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


@pytest.fixture
def extreme(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return _extreme_config(tmp_path)


def test_every_request_of_up_plan_and_down_fits_the_api_models(extreme, sandbox, ecspipe, calls):
    from ecspipe.sandbox.connections import complete_handshake

    sandbox.handshake_delay = None
    requests = Requests()
    hooks = {"client_hooks": [("before-parameter-build.*.*", requests.hook)]}
    assert ecspipe("validate", "-c", extreme).code == 0

    up = ecspipe("up", "-c", extreme, obj=hooks)
    assert up.code == 0, up
    (conn,) = boto3.client("codeconnections", region_name=REGION).list_connections()[
        "Connections"]
    complete_handshake(conn["ConnectionArn"])
    resave = ecspipe("up", "-c", extreme, obj=hooks)  # UpdatePipeline, UntagResource
    assert resave.code == 0, resave
    # Every update path: other tags on everything, another build, another branch.
    text = Path(extreme).read_text()
    changed = yaml.safe_load(text)
    changed["tags"] = {f"n{i:02d}" + "N" * 124: "w" * 255 for i in range(45)}
    changed["build"]["test_commands"] = [f"echo {'y' * 990} > /dev/null"] * 30
    changed["source"]["branch"] = "}" * 100 + "c" * 55
    Path(extreme).write_text(yaml.safe_dump(changed, sort_keys=False))
    update = ecspipe("up", "-c", extreme, obj=hooks)
    assert update.code == 0, update
    calls.clear()
    plan = ecspipe("plan", "-c", extreme, obj=hooks)
    assert plan.code == 0 and "Plan: no changes" in plan.out, plan
    assert calls.writes == []
    down = ecspipe("down", "-c", extreme, "--yes", "--delete-images", obj=hooks)
    assert down.code == 0, down

    operations = set(requests.operations)
    for expected in ("codebuild.CreateProject", "codepipeline.CreatePipeline",
                     "codepipeline.UpdatePipeline", "iam.CreateRole", "iam.PutRolePolicy",
                     "s3.CreateBucket", "s3.PutBucketPolicy", "ecr.CreateRepository",
                     "ecr.PutLifecyclePolicy", "logs.CreateLogGroup",
                     "codeconnections.CreateConnection", "codepipeline.DeletePipeline",
                     "codebuild.UpdateProject", "iam.TagRole", "iam.UntagRole",
                     "codepipeline.TagResource", "codepipeline.UntagResource",
                     "s3.PutBucketTagging", "codeconnections.TagResource",
                     "iam.DeleteRole", "s3.DeleteBucket"):
        assert expected in operations, (expected, sorted(operations))
    assert requests.problems == []
