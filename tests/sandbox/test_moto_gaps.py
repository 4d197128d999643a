"""moto answers the sandbox corrects, checked on the wire (mock mode).

The awsJson protocol (Content-Type, epoch-second timestamps, no nulls: see
sandbox/protocol.py), paging moto ignores (ECR DescribeImages, IAM
ListRolePolicies) and S3 PutBucketPolicy's empty body. Raw answers are caught
with the conformance Recorder, before botocore's lenient parser smooths them.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from tests.sandbox.conformance import Recorder, validate_all

ROLE_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


@pytest.fixture
def recorded(sandbox, aws):
    """(make a recorded client, the recorder)."""
    recorder = Recorder()

    def make(service: str):
        client = aws(service)
        client.meta.events.register(Recorder.EVENT, recorder.hook)
        return client

    return make, recorder


def _raw(recorder: Recorder, operation: str):
    return [r for r in recorder.responses if r.operation == operation][-1]


def _pipeline(iam, codepipeline) -> None:
    role = iam.create_role(RoleName="p", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
    action = {"name": "Approve", "runOrder": 1,
              "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                               "version": "1"}}
    codepipeline.create_pipeline(pipeline={
        "name": "p", "roleArn": role, "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": [{"name": "One", "actions": [dict(action, name="A")]},
                   {"name": "Two", "actions": [dict(action, name="B")]}],
    })


def test_json_answers_carry_the_awsjson_content_type_of_their_protocol(recorded):
    make, recorder = recorded
    codepipeline, logs, codebuild = make("codepipeline"), make("logs"), make("codebuild")
    _pipeline(make("iam"), codepipeline)

    codepipeline.get_pipeline(name="p")
    logs.describe_log_groups()
    codebuild.batch_get_projects(names=["nope"])
    with pytest.raises(ClientError):
        codepipeline.get_pipeline(name="missing")

    content_types = {(r.operation, r.status): r.headers.get("Content-Type")
                     for r in recorder.responses if r.service != "iam"}
    assert content_types == {
        ("CreatePipeline", 200): "application/x-amz-json-1.1",
        ("GetPipeline", 200): "application/x-amz-json-1.1",
        ("DescribeLogGroups", 200): "application/x-amz-json-1.1",
        ("BatchGetProjects", 200): "application/x-amz-json-1.1",
        ("GetPipeline", 400): "application/x-amz-json-1.1",
    }


def test_codepipeline_timestamps_are_epoch_seconds_on_the_wire(recorded, clock):
    make, recorder = recorded
    codepipeline = make("codepipeline")
    _pipeline(make("iam"), codepipeline)

    codepipeline.get_pipeline(name="p")
    codepipeline.list_pipelines()
    execution = codepipeline.list_pipeline_executions(pipelineName="p")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]
    codepipeline.get_pipeline_execution(pipelineName="p", pipelineExecutionId=execution)
    codepipeline.get_pipeline_state(name="p")
    codepipeline.list_action_executions(pipelineName="p")

    metadata = json.loads(_raw(recorder, "GetPipeline").body)["metadata"]
    listed = json.loads(_raw(recorder, "ListPipelines").body)["pipelines"][0]
    assert metadata["created"] == metadata["updated"] == clock.now()
    assert isinstance(listed["created"], float) and isinstance(listed["updated"], float)
    assert validate_all(recorder.responses) == []


def test_an_absent_member_is_left_out_not_sent_as_null(recorded):
    make, recorder = recorded
    make("logs").describe_log_groups()
    codepipeline = make("codepipeline")
    _pipeline(make("iam"), codepipeline)
    codepipeline.list_pipeline_executions(pipelineName="p")

    for operation in ("DescribeLogGroups", "ListPipelineExecutions"):
        assert b"null" not in _raw(recorder, operation).body, operation


def test_describe_images_pages_with_max_results_and_next_token(recorded):
    make, _ = recorded
    ecr = make("ecr")
    ecr.create_repository(repositoryName="app")
    for n in range(101):
        manifest = {"schemaVersion": 2, "layers": [],
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": f"sha256:{n:064x}", "size": 1,
                               "mediaType": "application/vnd.docker.container.image.v1+json"}}
        ecr.put_image(repositoryName="app", imageManifest=json.dumps(manifest), imageTag=f"t{n}")

    default = ecr.describe_images(repositoryName="app")
    rest = ecr.describe_images(repositoryName="app", nextToken=default["nextToken"])
    small = ecr.describe_images(repositoryName="app", maxResults=60)
    paged = [i["imageTags"][0] for p in ecr.get_paginator("describe_images").paginate(
        repositoryName="app", PaginationConfig={"PageSize": 40}) for i in p["imageDetails"]]
    with pytest.raises(ClientError) as mixed:
        ecr.describe_images(repositoryName="app", imageIds=[{"imageTag": "t1"}], maxResults=5)

    assert len(default["imageDetails"]) == 100
    assert len(rest["imageDetails"]) == 1 and "nextToken" not in rest
    assert len(small["imageDetails"]) == 60 and small["nextToken"]
    assert sorted(paged) == sorted(f"t{n}" for n in range(101))
    assert mixed.value.response["Error"]["Code"] == "InvalidParameterException"


def test_list_role_policies_pages_with_max_items_and_marker(recorded):
    make, _ = recorded
    iam = make("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=ROLE_TRUST)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    for name in ("a", "b", "c"):
        iam.put_role_policy(RoleName="r", PolicyName=name, PolicyDocument=policy)

    first = iam.list_role_policies(RoleName="r", MaxItems=2)
    second = iam.list_role_policies(RoleName="r", MaxItems=2, Marker=first["Marker"])
    everything = iam.list_role_policies(RoleName="r")

    assert (first["PolicyNames"], first["IsTruncated"]) == (["a", "b"], True)
    assert (second["PolicyNames"], second["IsTruncated"]) == (["c"], False)
    assert "Marker" not in second
    assert (everything["PolicyNames"], everything["IsTruncated"]) == (["a", "b", "c"], False)


def test_put_bucket_policy_answers_200_with_an_empty_body(recorded):
    make, recorder = recorded
    s3 = make("s3")
    s3.create_bucket(Bucket="artifacts")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": "arn:aws:s3:::artifacts/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}

    s3.put_bucket_policy(Bucket="artifacts", Policy=json.dumps(policy))

    raw = _raw(recorder, "PutBucketPolicy")
    assert (raw.status, raw.body) == (200, b"")
