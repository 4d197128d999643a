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


def test_status_and_release_page_past_the_first_page_of_executions(
        config, ecspipe, sandbox, clock, calls):
    from ecspipe.app import App
    from ecspipe.release import _newer_deployed

    ours = ecspipe("release", "-c", config, "--wait", "-o", "json").json()
    newer = ecspipe("release", "-c", config, "--wait", "-o", "json").json()
    assert newer["succeeded"] is True
    _fail_many(sandbox, clock, 3)
    calls.clear()
    # The common case: the latest success is on the first page, one request.
    near = ecspipe("status", "-c", config, "--limit", "2", "-o", "json").json()
    # (two ListPipelineExecutions: the executions, and those whose Build succeeded)
    assert sorted(calls.ops) == sorted([
        "GetCallerIdentity", "GetPipeline", "GetConnection", "ListPipelineExecutions",
        "ListPipelineExecutions", "GetPipelineState", "DescribeServices",
        "DescribeTaskDefinition",
    ])
    _fail_many(sandbox, clock, 30)  # more than a page (status.HISTORY, 25) of failures
    calls.clear()

    far = ecspipe("status", "-c", config, "-o", "json").json()
    far_lists = calls.ops.count("ListPipelineExecutions")
    many = ecspipe("status", "-c", config, "--limit", "30", "-o", "json").json()
    ctx = App(config_path=config).context(preflight=False)
    image = newer["service"]["image"]

    assert near["service"]["latest_success_commit"] == newer["commit"]
    assert [e["status"] for e in far["executions"]][:1] == ["Failed"]
    assert far["service"]["latest_success_commit"] == newer["commit"]
    assert far["service"]["matches_latest_success"] is True
    assert far_lists == 3  # two pages of executions, one of the builds
    assert len(many["executions"]) == 30  # more than HISTORY
    # release: the newer deployed execution is no longer on the first page.
    assert _newer_deployed(ctx, ours["execution_id"], image) == newer["execution_id"]
    assert _newer_deployed(ctx, newer["execution_id"], image) is None


def test_down_empties_deletes_and_counts_over_several_pages(
        seeded, ecspipe, write_config, monkeypatch, calls):
    from ecspipe.resources import bucket, repository, roles

    monkeypatch.setattr(bucket, "PAGE_SIZE", 3)
    monkeypatch.setattr(roles, "PAGE_SIZE", 1)
    monkeypatch.setattr(repository, "PAGE_SIZE", 2)
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    assert ecspipe("up", "-c", config).code == 0
    s3, iam, ecr = boto3.client("s3"), boto3.client("iam"), boto3.client("ecr")
    for n in range(5):  # 11 object versions and markers: 4 pages of 3
        s3.put_object(Bucket=BUCKET, Key=f"artifact-{n}.zip", Body=b"1")
        s3.put_object(Bucket=BUCKET, Key=f"artifact-{n}.zip", Body=b"2")
    s3.delete_object(Bucket=BUCKET, Key="artifact-0.zip")
    role = "demo-app-us-east-1-codebuild"  # names.py: IAM role names carry the region
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    for extra in ("extra-1", "extra-2"):  # 3 inline and 2 attached policies, 1 a page
        iam.put_role_policy(RoleName=role, PolicyName=extra, PolicyDocument=document)
        arn = iam.create_policy(PolicyName=extra, PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    for n in range(5):  # 5 images, 2 a page
        manifest = {"schemaVersion": 2, "mediaType":
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                               "size": 1, "digest": f"sha256:{n:064x}"},
                    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                "size": 1, "digest": f"sha256:{n + 100:064x}"}]}
        ecr.put_image(repositoryName="demo-app-ci", imageTag=f"20261128_12000{n}-abcdef{n}",
                      imageManifest=json.dumps(manifest))
    calls.clear()

    result = ecspipe("down", "-c", config, "--yes")

    assert result.code == 0, result
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert calls.ops.count("ListObjectVersions") >= 4
    assert role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert calls.ops.count("ListRolePolicies") == 3 + 1  # + the other role's one page
    # (moto may end a paged list with an empty page)
    assert calls.ops.count("ListAttachedRolePolicies") >= 2 + 1
    assert "holds 5 image(s); pass --delete-images" in result.out
    assert calls.ops.count("DescribeImages") == 3
