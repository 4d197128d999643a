"""`ecspipe down`: deletes what ecspipe created, in reverse order, and nothing else."""

from __future__ import annotations

import boto3
import pytest

ACCOUNT = "123456789012"
BUCKET = f"demo-app-artifacts-{ACCOUNT}-us-east-1"
MANIFEST = (
    '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",'
    ' "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,'
    ' "digest": "sha256:' + "a" * 64 + '"}, "layers": []}'
)


@pytest.fixture
def config(seeded, write_config):
    return write_config()


def _exists_pipeline() -> bool:
    return bool(boto3.client("codepipeline").list_pipelines()["pipelines"])


def _roles() -> set[str]:
    return {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}


def test_down_deletes_everything_ecspipe_created_in_reverse_order(config, ecspipe, calls):
    assert ecspipe("up", "-c", config).code == 0
    boto3.client("s3").put_object(Bucket=BUCKET, Key="artifact.zip", Body=b"1")
    boto3.client("s3").put_object(Bucket=BUCKET, Key="artifact.zip", Body=b"2")
    calls.clear()
    result = ecspipe("down", "-c", config, "--yes")
    assert result.code == 0, result
    deletes = [op for op in calls.writes if op.startswith("Delete")]
    assert deletes == [
        "DeletePipeline", "DeleteProject", "DeleteLogGroup",
        "DeleteRolePolicy", "DeleteRole", "DeleteRolePolicy", "DeleteRole",
        "DeleteObjects", "DeleteBucket", "DeleteConnection",
    ]
    assert not _exists_pipeline()
    assert "demo-app-us-east-1-codebuild" not in _roles() and "demo-app-us-east-1-codepipeline" not in _roles()
    assert BUCKET not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert boto3.client("codeconnections").list_connections()["Connections"] == []
    # The seeded repository (the guide's Part 1, not ecspipe's) is kept with its image.
    images = boto3.client("ecr").list_images(repositoryName="demo-app")["imageIds"]
    assert len(images) == 1
    assert "keep       ECR repository" in result.out


def test_down_without_a_terminal_or_yes_refuses_and_deletes_nothing(config, ecspipe, calls):
    assert ecspipe("up", "-c", config).code == 0
    calls.clear()
    result = ecspipe("down", "-c", config)
    assert result.code == 2, result
    assert "--yes" in result.err
    assert "- delete     pipeline" in result.out, "the plan is shown before refusing"
    assert calls.writes == []
    assert _exists_pipeline()


def test_down_twice_or_on_an_empty_account_has_nothing_to_delete(config, ecspipe, calls):
    first = ecspipe("down", "-c", config, "--yes")
    assert first.code == 0, first
    assert "nothing to delete" in first.out
    assert calls.writes == []


def test_down_never_deletes_a_same_name_resource_without_our_tags(config, ecspipe):
    iam = boto3.client("iam")
    iam.create_role(RoleName="demo-app-us-east-1-codebuild", AssumeRolePolicyDocument="{}")
    result = ecspipe("down", "-c", config, "--yes", "--delete-images")
    assert result.code == 0, result
    assert "demo-app-us-east-1-codebuild" in _roles()
    assert "keep       CodeBuild role" in result.out


def test_an_ecr_repository_with_images_is_kept_unless_delete_images(
        seeded, ecspipe, write_config):
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    assert ecspipe("up", "-c", config).code == 0
    ecr = boto3.client("ecr")
    ecr.put_image(repositoryName="demo-app-ci", imageTag="20261128_120000-abcdef0",
                  imageManifest=MANIFEST)
    kept = ecspipe("down", "-c", config, "--yes")
    assert kept.code == 0, kept
    assert "holds 1 image(s); pass --delete-images" in kept.out
    assert ecr.describe_repositories(repositoryNames=["demo-app-ci"])["repositories"]
    gone = ecspipe("down", "-c", config, "--yes", "--delete-images")
    assert gone.code == 0, gone
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["demo-app-ci"])


def test_an_empty_ecr_repository_ecspipe_created_is_deleted(seeded, ecspipe, write_config):
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    assert ecspipe("up", "-c", config).code == 0
    assert ecspipe("down", "-c", config, "--yes").code == 0
    ecr = boto3.client("ecr")
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["demo-app-ci"])


def test_a_connection_given_by_arn_is_never_deleted(seeded, ecspipe, write_config):
    arn = boto3.client("codeconnections").create_connection(
        ProviderType="GitHub", ConnectionName="shared")["ConnectionArn"]
    config = write_config(("  provider: GitHub", f"  provider: GitHub\n  connection_arn: {arn}"))
    assert ecspipe("up", "-c", config).code == 0
    result = ecspipe("down", "-c", config, "--yes")
    assert result.code == 0, result
    conns = boto3.client("codeconnections").list_connections()["Connections"]
    assert [c["ConnectionArn"] for c in conns] == [arn]


def test_down_after_an_up_interrupted_half_way_removes_what_exists(config, ecspipe):
    def interrupt(model, **_kwargs):
        if model.name == "CreateProject":
            raise KeyboardInterrupt

    half = ecspipe("up", "-c", config, "--serial",
                   obj={"client_hooks": [("before-call.*.*", interrupt)]})
    assert half.code == 130, half
    assert "demo-app-us-east-1-codebuild" in _roles() and not _exists_pipeline()
    result = ecspipe("down", "-c", config, "--yes")
    assert result.code == 0, result
    assert "  absent" not in result.out, "absent resources are not listed"
    assert "2 not present" in result.out
    assert "demo-app-us-east-1-codebuild" not in _roles()
    assert boto3.client("codeconnections").list_connections()["Connections"] == []


def test_down_json_reports_each_resource(config, ecspipe):
    assert ecspipe("up", "-c", config).code == 0
    data = ecspipe("down", "-c", config, "--yes", "-o", "json").json()
    actions = {c["resource"]: c["action"] for c in data["changes"]}
    assert actions["pipeline"] == "delete" and actions["ECR repository"] == "keep"
    assert data["applied"] is True
