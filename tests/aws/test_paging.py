"""ecspipe reads every page of what it lists (mock mode; the sandbox pages as AWS does).

`status` finds the latest success behind more failed executions than a page
holds; `release` finds a newer deployed execution on a later page; `down`
empties a bucket, a role and counts images over several pages. Page sizes are
the services' own maxima in production; the tests lower ecspipe's constants so
that a few objects make several pages. The common case stays one request.
"""

from __future__ import annotations

import json

import boto3
import pytest

ACCOUNT = "123456789012"
BUCKET = f"demo-app-artifacts-{ACCOUNT}-us-east-1"


@pytest.fixture
def config(seeded, write_config, ecspipe):
    path = write_config()
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


def _fail_many(sandbox, clock, count: int) -> None:
    """`count` more executions that do not succeed (one fails, the others are superseded)."""
    sandbox.fail_stage = "Build"
    codepipeline = boto3.client("codepipeline")
    for _ in range(count):
        codepipeline.start_pipeline_execution(name="demo-app")
    clock.advance(60)
    # The simulation moves on reads: read while the failure is still injected.
    codepipeline.list_pipeline_executions(pipelineName="demo-app", maxResults=1)
    sandbox.fail_stage = None


def test_status_pages_back_to_the_latest_success_behind_a_page_of_failures(
        config, ecspipe, sandbox, clock, calls):
    released = ecspipe("release", "-c", config, "--wait", "-o", "json")
    assert released.code == 0, released
    _fail_many(sandbox, clock, 30)  # more than status.HISTORY (25) executions
    calls.clear()

    data = ecspipe("status", "-c", config, "-o", "json").json()

    assert [e["status"] for e in data["executions"]][:1] == ["Failed"]
    assert data["service"]["latest_success_commit"] == released.json()["commit"]
    assert data["service"]["matches_latest_success"] is True
    assert calls.ops.count("ListPipelineExecutions") == 2


def test_status_with_the_latest_success_on_the_first_page_makes_one_list_request(
        config, ecspipe, sandbox, clock, calls):
    assert ecspipe("release", "-c", config, "--wait").code == 0
    _fail_many(sandbox, clock, 3)
    calls.clear()

    data = ecspipe("status", "-c", config, "--limit", "2", "-o", "json").json()

    assert len(data["executions"]) == 2 and data["service"]["latest_success_commit"]
    assert calls.ops == [
        "GetCallerIdentity", "GetPipeline", "GetConnection", "ListPipelineExecutions",
        "GetPipelineState", "DescribeServices", "DescribeTaskDefinition",
    ]


def test_status_shows_as_many_executions_as_asked_beyond_the_default_page(
        config, ecspipe, sandbox, clock):
    _fail_many(sandbox, clock, 40)

    data = ecspipe("status", "-c", config, "--limit", "40", "-o", "json").json()

    assert len(data["executions"]) == 40


def test_release_finds_a_newer_deployed_execution_beyond_the_first_page(
        config, ecspipe, sandbox, clock):
    from ecspipe.app import App
    from ecspipe.release import _newer_deployed

    ours = ecspipe("release", "-c", config, "--wait", "-o", "json").json()
    newer = ecspipe("release", "-c", config, "--wait", "-o", "json").json()
    _fail_many(sandbox, clock, 30)  # pushes `newer` off the first page
    image = newer["service"]["image"]
    ctx = App(config_path=config).context(preflight=False)

    assert _newer_deployed(ctx, ours["execution_id"], image) == newer["execution_id"]
    assert _newer_deployed(ctx, newer["execution_id"], image) is None


def test_down_empties_a_bucket_of_more_versions_than_one_page(config, ecspipe, calls,
                                                              monkeypatch):
    from ecspipe.resources import bucket

    monkeypatch.setattr(bucket, "PAGE_SIZE", 3)
    s3 = boto3.client("s3")
    for n in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"artifact-{n}.zip", Body=b"1")
        s3.put_object(Bucket=BUCKET, Key=f"artifact-{n}.zip", Body=b"2")
    s3.delete_object(Bucket=BUCKET, Key="artifact-0.zip")  # a delete marker too
    calls.clear()

    result = ecspipe("down", "-c", config, "--yes")

    assert result.code == 0, result
    assert calls.ops.count("ListObjectVersions") >= 4  # 11 versions, 3 a page
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_down_deletes_a_role_with_more_policies_than_one_page(config, ecspipe, calls,
                                                              monkeypatch):
    from ecspipe.resources import roles

    monkeypatch.setattr(roles, "PAGE_SIZE", 1)
    iam = boto3.client("iam")
    name = "demo-app-codebuild"
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    for extra in ("extra-1", "extra-2"):
        iam.put_role_policy(RoleName=name, PolicyName=extra, PolicyDocument=document)
        arn = iam.create_policy(PolicyName=extra, PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    calls.clear()

    result = ecspipe("down", "-c", config, "--yes")

    assert result.code == 0, result
    assert name not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert calls.ops.count("ListRolePolicies") == 3 + 1  # 3 policies (1 a page) + the other role
    # 2 attached, 1 a page (moto may end with an empty page) + the other role
    assert calls.ops.count("ListAttachedRolePolicies") >= 2 + 1


def test_down_counts_the_images_of_a_repository_over_several_pages(
        seeded, ecspipe, write_config, monkeypatch, calls):
    from ecspipe.resources import repository

    monkeypatch.setattr(repository, "PAGE_SIZE", 2)
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    assert ecspipe("up", "-c", config).code == 0
    ecr = boto3.client("ecr")
    for n in range(5):
        manifest = {"schemaVersion": 2, "mediaType":
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                               "size": 1, "digest": f"sha256:{n:064x}"},
                    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                "size": 1, "digest": f"sha256:{n + 100:064x}"}]}
        ecr.put_image(repositoryName="demo-app-ci", imageTag=f"20261128_12000{n}-abcdef{n}",
                      imageManifest=json.dumps(manifest))
    calls.clear()

    kept = ecspipe("down", "-c", config, "--yes")

    assert kept.code == 0, kept
    assert "holds 5 image(s); pass --delete-images" in kept.out
    assert calls.ops.count("DescribeImages") == 3
