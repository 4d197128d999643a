"""Ownership: ecspipe never changes what it did not create, and `down` leaves no residue.

- A same-name role, bucket or pipeline made by someone else (no ecspipe tags):
  `up` refuses before any write, `down` keeps it untouched.
- Permission and quota errors are one clear line naming the action and the
  resource, exit 1, no traceback.
- After `up` + `down`, listing every resource type ecspipe touches shows
  nothing but what was there before and what `down` said it kept.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest

ACCOUNT = "123456789012"
BUCKET = f"demo-app-artifacts-{ACCOUNT}-us-east-1"
FOREIGN_KEY = "legacy/build-output.zip"
FOREIGN_BODY = b"someone else's artifact"
# A trust policy as someone might write it by hand (not ecspipe's: no SourceAccount).
FOREIGN_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# moto accepts a pipeline only if its role trusts codepipeline as a *string* principal.
PIPELINE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codepipeline.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


# ---- foreign resources: made with boto3, without ecspipe's tags ----------------------


def make_foreign_role() -> None:
    boto3.client("iam").create_role(
        RoleName="demo-app-us-east-1-codebuild", Path="/", AssumeRolePolicyDocument=json.dumps(FOREIGN_TRUST)
    )


def make_foreign_bucket() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=FOREIGN_KEY, Body=FOREIGN_BODY)


def make_foreign_pipeline() -> None:
    role = boto3.client("iam").create_role(
        RoleName="legacy-pipeline-role", AssumeRolePolicyDocument=json.dumps(PIPELINE_TRUST)
    )["Role"]
    boto3.client("codepipeline").create_pipeline(
        pipeline={
            "name": "demo-app",
            "roleArn": role["Arn"],
            "artifactStore": {"type": "S3", "location": "legacy-artifacts"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "S3",
                                "version": "1",
                            },
                            "configuration": {
                                "S3Bucket": "legacy-sources",
                                "S3ObjectKey": "app.zip",
                                "PollForSourceChanges": "false",
                            },
                            "outputArtifacts": [{"name": "SourceOutput"}],
                        }
                    ],
                },
                {
                    "name": "Approve",
                    "actions": [
                        {
                            "name": "Approve",
                            "actionTypeId": {
                                "category": "Approval",
                                "owner": "AWS",
                                "provider": "Manual",
                                "version": "1",
                            },
                        }
                    ],
                },
            ],
        }
    )


def snapshot_role() -> dict:
    role = boto3.client("iam").get_role(RoleName="demo-app-us-east-1-codebuild")["Role"]
    return {
        "path": role["Path"],
        "trust": role["AssumeRolePolicyDocument"],
        "tags": role.get("Tags", []),
        "policies": boto3.client("iam").list_role_policies(RoleName="demo-app-us-east-1-codebuild")[
            "PolicyNames"
        ],
    }


def snapshot_bucket() -> dict:
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key=FOREIGN_KEY)["Body"].read()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    try:
        tags = s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    except s3.exceptions.ClientError:
        tags = []
    try:
        policy = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    except s3.exceptions.ClientError:
        policy = None
    return {
        "body": body,
        "keys": keys,
        "tags": tags,
        "policy": policy,
        "versioning": s3.get_bucket_versioning(Bucket=BUCKET).get("Status"),
    }


def snapshot_pipeline() -> dict:
    cp = boto3.client("codepipeline")
    declaration = cp.get_pipeline(name="demo-app")["pipeline"]
    tags = cp.list_tags_for_resource(
        resourceArn=f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:demo-app"
    )["tags"]
    return {"declaration": declaration, "tags": tags}


FOREIGN = {
    "role": ("CodeBuild role", "demo-app-us-east-1-codebuild", make_foreign_role, snapshot_role),
    "bucket": ("artifact bucket", BUCKET, make_foreign_bucket, snapshot_bucket),
    "pipeline": ("pipeline", "demo-app", make_foreign_pipeline, snapshot_pipeline),
}


@pytest.fixture
def config(seeded, write_config):
    return write_config()


@pytest.mark.parametrize("which", list(FOREIGN))
def test_up_refuses_a_same_name_resource_without_our_tags_and_down_leaves_it_untouched(
    config, ecspipe, calls, which
):
    kind, name, make, snapshot = FOREIGN[which]
    make()
    before = snapshot()

    refused = ecspipe("up", "-c", config)
    assert refused.code == 2, refused
    assert name in refused.err and kind in refused.err
    assert "not created by ecspipe" in refused.err
    assert "--adopt" in refused.err
    assert "Traceback" not in refused.err
    assert calls.writes == [], "the refusal comes before the first write"

    calls.clear()
    down = ecspipe("down", "-c", config, "--yes")
    assert down.code == 0, down
    kept = [line for line in down.out.splitlines() if line.strip().startswith("· keep")]
    assert any(kind in line and name in line for line in kept), down.out
    assert calls.writes == [], "nothing of ecspipe's exists, so nothing is deleted"
    assert snapshot() == before


def test_a_foreign_role_keeps_its_original_trust_policy_and_path(config, ecspipe):
    make_foreign_role()
    assert ecspipe("up", "-c", config).code == 2
    assert ecspipe("down", "-c", config, "--yes", "--delete-images").code == 0
    role = boto3.client("iam").get_role(RoleName="demo-app-us-east-1-codebuild")["Role"]
    assert role["Path"] == "/"
    assert role["AssumeRolePolicyDocument"] == FOREIGN_TRUST
    assert "Tags" not in role or role["Tags"] == []


def test_up_refuses_before_any_write_when_all_three_foreign_resources_exist(config, ecspipe, calls):
    for _kind, _name, make, _snapshot in FOREIGN.values():
        make()
    before = {which: snap() for which, (_k, _n, _m, snap) in FOREIGN.items()}

    refused = ecspipe("up", "-c", config)
    assert refused.code == 2, refused
    assert "not created by ecspipe" in refused.err and "--adopt" in refused.err
    assert "Traceback" not in refused.err
    assert calls.writes == []

    data = ecspipe("down", "-c", config, "--yes", "-o", "json")
    assert data.code == 0, data
    actions = {(c["resource"], c["name"]): c["action"] for c in data.json()["changes"]}
    for kind, name, _make, _snapshot in FOREIGN.values():
        assert actions[(kind, name)] == "keep"
    assert calls.writes == []
    assert {which: snap() for which, (_k, _n, _m, snap) in FOREIGN.items()} == before


# ---- permission and quota errors -------------------------------------------------------


class FakeHttp:
    status_code = 400


def refuse(operation: str, code: str, message: str):
    """A before-call hook failing `operation` with an AWS error (never reaching moto)."""

    def hook(model, **_kwargs):
        if model.name != operation:
            return None
        return FakeHttp(), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    return hook


# The messages name neither the operation nor the resource: ecspipe must add both.
DENIED = "explicitly denied by a service control policy"


@pytest.mark.parametrize(
    "operation,code,message,kind,name",
    [
        ("CreateProject", "AccessDeniedException", DENIED, "CodeBuild project", "demo-app-build"),
        ("CreateRole", "AccessDenied", DENIED, "CodeBuild role", "demo-app-us-east-1-codebuild"),
        (
            "CreatePipeline",
            "LimitExceededException",
            "Cannot exceed quota for PipelinesPerAccount: 1000",
            "pipeline",
            "demo-app",
        ),
    ],
    ids=["codebuild-access-denied", "iam-access-denied", "pipeline-quota"],
)
def test_a_permission_or_quota_error_is_one_line_naming_the_action_and_the_resource(
    config, ecspipe, operation, code, message, kind, name
):
    hook = refuse(operation, code, message)
    result = ecspipe(
        "up", "-c", config, "--serial", obj={"client_hooks": [("before-call.*.*", hook)]}
    )
    assert result.code == 1, result
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.err
    line = errors[0]
    assert operation in line, line
    assert re.search(rf"(^|\W){re.escape(kind)}(\W|$)", line), f"{kind!r} not in {line!r}"
    assert re.search(rf"(^|\s){re.escape(name)}(\W|$)", line), f"{name!r} not in {line!r}"
    if code == "LimitExceededException":
        assert "quota" in line
        assert "Service Quotas" in result.err
    else:
        assert "access denied" in line


# ---- snapshot: nothing left but what `down` said it kept -------------------------------


def _paged(client, method: str, key: str, field: str, **kwargs) -> set[str]:
    found: set[str] = set()
    for page in client.get_paginator(method).paginate(**kwargs):
        found |= {item[field] if field else item for item in page[key]}
    return found


def inventory() -> dict[str, set[str]]:
    """Every resource of every type ecspipe touches, by name."""
    cc = boto3.client("codeconnections")
    return {
        "connections": {c["ConnectionName"] for c in cc.list_connections()["Connections"]},
        "repositories": _paged(
            boto3.client("ecr"), "describe_repositories", "repositories", "repositoryName"
        ),
        "buckets": {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]},
        "log_groups": _paged(
            boto3.client("logs"), "describe_log_groups", "logGroups", "logGroupName"
        ),
        "roles": _paged(boto3.client("iam"), "list_roles", "Roles", "RoleName"),
        "projects": _paged(boto3.client("codebuild"), "list_projects", "projects", ""),
        "pipelines": _paged(boto3.client("codepipeline"), "list_pipelines", "pipelines", "name"),
    }


TYPE_OF = {
    "connection": "connections",
    "ECR repository": "repositories",
    "artifact bucket": "buckets",
    "log group": "log_groups",
    "CodeBuild role": "roles",
    "CodePipeline role": "roles",
    "CodeBuild project": "projects",
    "pipeline": "pipelines",
}
OURS = {
    "connections": {"demo-app-us-east-1"},
    "buckets": {BUCKET},
    "log_groups": {"/aws/codebuild/demo-app-build"},
    "roles": {"demo-app-us-east-1-codebuild", "demo-app-us-east-1-codepipeline"},
    "projects": {"demo-app-build"},
    "pipelines": {"demo-app"},
}


def _added(after: dict[str, set[str]], before: dict[str, set[str]]) -> dict[str, set[str]]:
    return {t: after[t] - before[t] for t in after if after[t] - before[t]}


def test_after_up_and_down_only_the_seed_and_what_down_kept_remain(config, ecspipe):
    baseline = inventory()
    assert baseline["repositories"] == {"demo-app"}
    assert {"ecsTaskExecutionRole", "demo-web-task-role"} <= baseline["roles"]

    assert ecspipe("up", "-c", config).code == 0
    assert _added(inventory(), baseline) == OURS, "the inventory sees everything `up` made"

    down = ecspipe("down", "-c", config, "--yes", "-o", "json")
    assert down.code == 0, down
    kept = [(c["resource"], c["name"]) for c in down.json()["changes"] if c["action"] == "keep"]
    assert kept == [("ECR repository", "demo-app")]

    expected = {t: set(names) for t, names in baseline.items()}
    for kind, name in kept:
        expected[TYPE_OF[kind]].add(name)
    assert inventory() == expected


def test_with_a_repository_ecspipe_created_nothing_of_ecspipes_is_left(
    seeded, ecspipe, write_config
):
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    baseline = inventory()

    assert ecspipe("up", "-c", config).code == 0
    assert _added(inventory(), baseline) == {**OURS, "repositories": {"demo-app-ci"}}

    down = ecspipe("down", "-c", config, "--yes", "-o", "json")
    assert down.code == 0, down
    assert [c for c in down.json()["changes"] if c["action"] == "keep"] == []
    assert inventory() == baseline
