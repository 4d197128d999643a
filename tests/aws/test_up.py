"""`ecspipe up` and `plan` against the sandbox in mock mode: create, no-op, update."""

from __future__ import annotations

import json

import boto3
import pytest

ACCOUNT = "123456789012"
BUCKET = f"demo-app-artifacts-{ACCOUNT}-us-east-1"
OWN_TAGS = {"ecspipe:pipeline": "demo-app", "managed-by": "ecspipe", "team": "platform"}


@pytest.fixture
def config(seeded, write_config):
    return write_config()


def test_up_creates_every_resource_with_the_documented_properties(config, ecspipe):
    result = ecspipe("up", "-c", config)
    assert result.code == 0, result

    conn = boto3.client("codeconnections").list_connections()["Connections"]
    assert [(c["ConnectionName"], c["ProviderType"]) for c in conn] == [
        ("demo-app-us-east-1", "GitHub")]

    s3 = boto3.client("s3")
    enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    owner = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]
    assert owner["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rules[0]["Expiration"]["Days"] == 30
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == OWN_TAGS

    iam = boto3.client("iam")
    for role, service in (("demo-app-us-east-1-codebuild", "codebuild"),
                          ("demo-app-us-east-1-codepipeline", "codepipeline")):
        got = iam.get_role(RoleName=role)["Role"]
        assert got["Path"] == "/ecspipe/"
        trust = got["AssumeRolePolicyDocument"]["Statement"][0]
        assert trust["Principal"] == {"Service": f"{service}.amazonaws.com"}
        if service == "codebuild":
            assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        else:  # AWS's documented CodePipeline trust policy has no condition
            assert "Condition" not in trust
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == [f"ecspipe-{service}"]
        assert {t["Key"]: t["Value"] for t in got["Tags"]} == OWN_TAGS

    project = boto3.client("codebuild").batch_get_projects(names=["demo-app-build"])[
        "projects"][0]
    assert project["source"]["type"] == "CODEPIPELINE"
    assert "imagedefinitions.json" in project["source"]["buildspec"]
    assert project["environment"]["type"] == "LINUX_CONTAINER"
    assert "x86_64" in project["environment"]["image"]
    assert project["environment"]["privilegedMode"] is True
    env = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert env == {
        "IMAGE_REPO_URI": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/demo-app",
        "CONTAINER_NAME": "web",
        "APP_ENV": "production",
    }
    assert project["serviceRole"] == (
        f"arn:aws:iam::{ACCOUNT}:role/ecspipe/demo-app-us-east-1-codebuild")
    assert project["logsConfig"]["cloudWatchLogs"]["groupName"] == "/aws/codebuild/demo-app-build"

    groups = boto3.client("logs").describe_log_groups(
        logGroupNamePrefix="/aws/codebuild/demo-app-build")["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [30]

    cp = boto3.client("codepipeline")
    pipeline = cp.get_pipeline(name="demo-app")["pipeline"]
    assert pipeline["pipelineType"] == "V2"
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy"]
    source = pipeline["stages"][0]["actions"][0]
    assert source["actionTypeId"]["provider"] == "CodeStarSourceConnection"
    assert source["configuration"]["FullRepositoryId"] == "acme/demo-app"
    assert source["configuration"]["BranchName"] == "main"
    assert source["configuration"]["ConnectionArn"] == conn[0]["ConnectionArn"]
    # A push trigger starts it: AWS documents DetectChanges false with one.
    assert source["configuration"]["DetectChanges"] == "false"
    deploy = pipeline["stages"][2]["actions"][0]["configuration"]
    assert deploy == {"ClusterName": "demo-cluster", "ServiceName": "demo-web-service",
                      "FileName": "imagedefinitions.json"}
    assert pipeline["triggers"][0]["gitConfiguration"]["push"] == [
        {"branches": {"includes": ["main"]}}]
    assert pipeline["artifactStore"] == {"type": "S3", "location": BUCKET}

    # The ECR repository the guide's Part 1 made is used as is: not ours, not modified.
    repo = boto3.client("ecr").describe_repositories(repositoryNames=["demo-app"])[
        "repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"
    assert "use as is" in result.out and "ECR repository" in result.out
    assert "ACTION REQUIRED" in result.err
    assert "connections?region=us-east-1" in result.err


def test_both_roles_exist_before_any_policy_and_the_pipeline_role_waits_for_the_connection(
        config, ecspipe, calls):
    """Concurrent `up`: the roles are made first (so IAM propagates them while the rest is
    made), and the pipeline role's policy, which names the new connection, comes after it."""
    result = ecspipe("up", "-c", config)
    assert result.code == 0, result
    ops = calls.ops
    first_policy = ops.index("PutRolePolicy")
    assert [i for i, op in enumerate(ops) if op == "CreateRole"][-1] < ops.index("CreateProject")
    assert ops.index("CreateConnection") < len(ops) - 1 - ops[::-1].index("PutRolePolicy")
    assert first_policy < ops.index("CreateProject") < ops.index("CreatePipeline")
    arn = boto3.client("codeconnections").list_connections()["Connections"][0]["ConnectionArn"]
    document = boto3.client("iam").get_role_policy(
        RoleName="demo-app-us-east-1-codepipeline", PolicyName="ecspipe-codepipeline"
    )["PolicyDocument"]
    use = next(s for s in document["Statement"] if "UseConnection" in str(s["Action"]))
    assert use["Resource"] == arn


def test_a_second_up_changes_nothing_and_sends_no_write_request(config, ecspipe, calls):
    assert ecspipe("up", "-c", config).code == 0
    calls.clear()
    again = ecspipe("up", "-c", config, "-o", "json")
    assert again.code == 0, again
    assert calls.ops, "the second run must read AWS"
    assert calls.writes == []
    actions = {c["resource"]: c["action"] for c in again.json()["changes"]}
    assert set(actions.values()) == {"unchanged", "use"}
    assert actions["ECR repository"] == "use"


# Every read of a no-op `up`, each sent once (bench/RESULTS.md lists the same).
NOOP_READS = {
    "GetCallerIdentity": 1, "DescribeServices": 1, "DescribeTaskDefinition": 1,
    "ListConnections": 1, "DescribeRepositories": 1, "GetLifecyclePolicy": 1,
    "GetBucketTagging": 1, "GetBucketEncryption": 1, "GetPublicAccessBlock": 1,
    "GetBucketOwnershipControls": 1, "GetBucketPolicy": 1, "GetBucketVersioning": 1,
    "GetBucketLifecycleConfiguration": 1, "DescribeLogGroups": 1, "GetRole": 2,
    "GetRolePolicy": 2, "BatchGetProjects": 1, "GetPipeline": 1,
    # connection, ECR repository, log group, pipeline
    "ListTagsForResource": 4,
}


def test_a_no_op_up_sends_each_read_once_though_planning_reads_start_during_preflight(
        config, ecspipe, calls):
    assert ecspipe("up", "-c", config, "--wait-connection").code == 0
    calls.clear()
    assert ecspipe("up", "-c", config).code == 0
    from collections import Counter

    assert Counter(calls.ops) == NOOP_READS


def test_planning_reads_start_before_preflight_has_read_the_task_definition(
        config, ecspipe):
    """The account is all the names need: the resources' reads go out while preflight is
    still reading the task definition (here held until they have), not after it."""
    import threading

    assert ecspipe("up", "-c", config).code == 0
    planning_read = threading.Event()
    held: list[bool] = []

    def hook(model, **_kwargs):
        if model.name in ("ListConnections", "GetRole", "GetBucketTagging"):
            planning_read.set()
        if model.name == "DescribeTaskDefinition":
            held.append(planning_read.wait(timeout=30))

    result = ecspipe("plan", "-c", config, obj={"client_hooks": [("before-call.*.*", hook)]})
    assert result.code == 0, result
    assert held == [True], "a planning read was sent while preflight waited"


def test_plan_writes_nothing_and_lists_what_up_would_create(config, ecspipe, calls):
    result = ecspipe("plan", "-c", config, "-o", "json")
    assert result.code == 0, result
    assert calls.writes == []
    actions = {c["resource"]: c["action"] for c in result.json()["changes"]}
    assert actions["pipeline"] == "create" and actions["artifact bucket"] == "create"
    assert boto3.client("codepipeline").list_pipelines()["pipelines"] == []


def test_up_dry_run_is_plan(config, ecspipe, calls):
    result = ecspipe("up", "--dry-run", "-c", config)
    assert result.code == 0, result
    assert calls.writes == []
    assert "Plan: " in result.out and "to create" in result.out


def test_changing_the_branch_updates_exactly_the_pipeline(seeded, ecspipe, write_config):
    assert ecspipe("up", "-c", write_config()).code == 0
    changed = write_config(("branch: main", "branch: release"))
    result = ecspipe("up", "-c", changed, "-o", "json")
    assert result.code == 0, result
    updates = [c for c in result.json()["changes"] if c["action"] == "update"]
    assert [c["resource"] for c in updates] == ["pipeline"]
    fields = {f["field"]: (f["before"], f["after"]) for f in updates[0]["changes"]}
    assert fields["stages.Source.actions.Source.configuration.BranchName"] == ("main", "release")
    pipeline = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "release"
    assert pipeline["triggers"][0]["gitConfiguration"]["push"][0]["branches"]["includes"] == [
        "release"]


def test_changing_build_env_updates_exactly_the_project(seeded, ecspipe, write_config, calls):
    assert ecspipe("up", "-c", write_config()).code == 0
    calls.clear()
    changed = write_config(("APP_ENV: production", "APP_ENV: staging"))
    result = ecspipe("up", "-c", changed)
    assert result.code == 0, result
    assert calls.writes == ["UpdateProject"]
    assert "~ update     CodeBuild project" in result.out
    assert "'production' → 'staging'" in result.out
    project = boto3.client("codebuild").batch_get_projects(names=["demo-app-build"])[
        "projects"][0]
    env = {v["name"]: v["value"] for v in project["environment"]["environmentVariables"]}
    assert env["APP_ENV"] == "staging"


def test_a_repository_ecspipe_creates_is_immutable_scanned_and_pruned(
        seeded, ecspipe, write_config):
    config = write_config(("repository: demo-app", "repository: demo-app-ci"))
    assert ecspipe("up", "-c", config).code == 0
    ecr = boto3.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["demo-app-ci"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName="demo-app-ci")[
        "lifecyclePolicyText"])
    assert lifecycle["rules"][0]["selection"]["countNumber"] == 20
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert {t["Key"]: t["Value"] for t in tags} == OWN_TAGS


def test_reusing_an_existing_connection_arn_uses_it_as_is(seeded, ecspipe, write_config, calls):
    arn = boto3.client("codestar-connections").create_connection(
        ProviderType="GitHub", ConnectionName="mine")["ConnectionArn"]
    config = write_config(("  provider: GitHub", f"  provider: GitHub\n  connection_arn: {arn}"))
    result = ecspipe("up", "-c", config)
    assert result.code == 0, result
    assert "CreateConnection" not in calls.writes
    pipeline = boto3.client("codepipeline").get_pipeline(name="demo-app")["pipeline"]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["ConnectionArn"] == arn
    policy = boto3.client("iam").get_role_policy(
        RoleName="demo-app-us-east-1-codepipeline", PolicyName="ecspipe-codepipeline")["PolicyDocument"]
    use = [s for s in policy["Statement"] if s["Sid"] == "SourceConnection"][0]
    assert use["Action"] == "codestar-connections:UseConnection" and use["Resource"] == arn


def test_an_unknown_connection_arn_is_a_user_error_before_any_write(
        seeded, ecspipe, write_config, calls):
    arn = f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/0000-missing"
    config = write_config(("  provider: GitHub", f"  provider: GitHub\n  connection_arn: {arn}"))
    result = ecspipe("up", "-c", config)
    assert result.code == 2, result
    assert "source.connection_arn" in result.err and "does not exist" in result.err
    assert calls.writes == []


def test_changing_tags_retags_every_resource_ecspipe_owns_and_nothing_else(
        seeded, ecspipe, write_config, calls):
    assert ecspipe("up", "-c", write_config()).code == 0
    calls.clear()
    changed = write_config(("  team: platform", "  owner: web-team"))
    result = ecspipe("up", "-c", changed, "-o", "json")
    assert result.code == 0, result
    updated = {c["resource"] for c in result.json()["changes"] if c["action"] == "update"}
    assert updated == {"connection", "artifact bucket", "log group", "CodeBuild role",
                       "CodePipeline role", "CodeBuild project", "pipeline"}
    assert "ECR repository" not in updated, "a repository ecspipe does not own is never touched"
    want = {"ecspipe:pipeline": "demo-app", "managed-by": "ecspipe", "owner": "web-team"}
    iam = boto3.client("iam")
    assert {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName="demo-app-us-east-1-codebuild"
                                                           )["Tags"]} == want
    cp = boto3.client("codepipeline")
    arn = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:demo-app"
    # The connection is still PENDING here: the pipeline keeps its webhook marker.
    assert {t["key"]: t["value"] for t in cp.list_tags_for_resource(resourceArn=arn)[
        "tags"]} == {**want, "ecspipe:webhook": "pending"}
    logs = boto3.client("logs").list_tags_for_resource(
        resourceArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/demo-app-build")
    assert logs["tags"] == want
    conn = boto3.client("codeconnections")
    conn_arn = conn.list_connections()["Connections"][0]["ConnectionArn"]
    assert {t["Key"]: t["Value"] for t in conn.list_tags_for_resource(ResourceArn=conn_arn)[
        "Tags"]} == want
    s3_tags = boto3.client("s3").get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    assert {t["Key"]: t["Value"] for t in s3_tags} == want
    # And the next run is quiet again.
    calls.clear()
    assert ecspipe("up", "-c", changed).code == 0
    assert calls.writes == []
