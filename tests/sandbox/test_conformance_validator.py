"""The conformance validator itself: it passes what AWS sends and fails what AWS never would.

No moto here: hand-written raw answers (bytes and headers, as botocore's
before-parse sees them) against botocore's real models. Each wrong answer is
one deliberate defect, so the validator is proved able to fail on each kind.
"""

from __future__ import annotations

import json

import pytest
from tests.sandbox.conformance import Recorder, Response, validate

JSON11 = {"Content-Type": "application/x-amz-json-1.1"}
XML = {"Content-Type": "text/xml"}
ARN = "arn:aws:codeconnections:us-east-1:123456789012:connection/0f8f1b5e-1b4f-4c1e-9a4e-1f2d3c4b5a69"


def _json(service: str, operation: str, body, headers=None, status: int = 200) -> list[str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = Response(service, operation, status, JSON11 if headers is None else headers, raw)
    return [f"{p.path}: {p.message}" for p in validate(response)]


def _summary(**overrides):
    summary = {
        "pipelineExecutionId": "6e1a3c1e-58f1-4bd1-8c4b-6c3f0a1b2c3d",
        "status": "Succeeded",
        "startTime": 1790000000.0,
        "lastUpdateTime": 1790000007.5,
        "sourceRevisions": [{"actionName": "Source", "revisionId": "0a1b2c3"}],
        "trigger": {"triggerType": "StartPipelineExecution"},
        "executionMode": "SUPERSEDED",
        "executionType": "STANDARD",
    }
    summary.update(overrides)
    return summary


def _executions(*summaries, **extra):
    return {"pipelineExecutionSummaries": list(summaries) or [_summary()], **extra}


# --- JSON: what passes ---------------------------------------------------------------


def test_an_answer_as_aws_sends_it_has_no_problems():
    assert _json("codepipeline", "ListPipelineExecutions", _executions(nextToken="abc")) == []


def test_an_operation_without_output_may_answer_an_empty_body():
    assert _json("codepipeline", "DeletePipeline", b"") == []


def test_a_json_1_0_service_wants_the_1_0_content_type():
    body = {"Connection": {"ConnectionName": "web", "ConnectionArn": ARN,
                           "ProviderType": "GitHub", "ConnectionStatus": "PENDING"}}
    assert _json("codeconnections", "GetConnection", body,
                 {"Content-Type": "application/x-amz-json-1.0"}) == []
    assert _json("codeconnections", "GetConnection", body) == [
        "Content-Type: is 'application/x-amz-json-1.1'; the protocol says "
        "'application/x-amz-json-1.0'"
    ]


# --- JSON: each kind of defect --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_executions(_summary(startTime="2026-09-21T14:13:23.000Z")),
         "pipelineExecutionSummaries[0].startTime: is '2026-09-21T14:13:23.000Z': the JSON "
         "protocol sends timestamps as epoch seconds"),
        (_executions(nextToken=None),
         "nextToken: is null (AWS omits an absent member)"),
        (_executions(_summary(colour="blue")),
         "pipelineExecutionSummaries[0].colour: is not a member of PipelineExecutionSummary"),
        (_executions(_summary(status="Done")),
         "pipelineExecutionSummaries[0].status: 'Done' is not one of PipelineExecutionStatus's "
         "values ['Cancelled', 'InProgress', 'Stopped', 'Stopping', 'Succeeded', 'Superseded', "
         "'Failed']"),
        (_executions(_summary(sourceRevisions=[{"revisionId": "0a1b2c3"}])),
         "pipelineExecutionSummaries[0].sourceRevisions[0].actionName: required member of "
         "SourceRevision is missing"),
        (_executions(nextToken=""),
         "nextToken: has 0 characters; NextToken has at least 1"),
        (_executions(_summary(sourceRevisions="0a1b2c3")),
         "pipelineExecutionSummaries[0].sourceRevisions: is str, want a list"),
        (_executions(_summary(trigger=[])),
         "pipelineExecutionSummaries[0].trigger: is list, want an object (ExecutionTrigger)"),
    ],
    ids=["iso-timestamp", "null", "unknown-key", "enum", "required", "min-length", "list-type",
         "structure-type"],
)
def test_a_wrong_list_pipeline_executions_answer_is_caught(body, expected):
    assert _json("codepipeline", "ListPipelineExecutions", body) == [expected]


def test_patterns_and_maximum_lengths_are_checked_on_the_whole_string():
    summaries = [{"name": "bad name!", "version": 1}, {"name": "x" * 101, "version": 1}]

    problems = _json("codepipeline", "ListPipelines", {"pipelines": summaries})

    assert problems == [
        "pipelines[0].name: 'bad name!' does not match PipelineName's pattern [A-Za-z0-9.@\\-_]+",
        "pipelines[1].name: has 101 characters; PipelineName has at most 100",
    ]


def test_a_list_below_its_minimum_is_caught():
    problems = _json("codebuild", "BatchGetProjects", {"projects": [], "projectsNotFound": []})

    assert problems == ["projectsNotFound: has 0 items; ProjectNames has at least 1"]


def test_numbers_and_booleans_must_have_their_json_types():
    body = {"pipelineName": "web", "pipelineVersion": "1", "stageStates": [
        {"stageName": "Build", "inboundTransitionState": {"enabled": "true"}}]}

    problems = _json("codepipeline", "GetPipelineState", body)

    assert problems == [
        "pipelineVersion: is '1', want an integer",
        "stageStates[0].inboundTransitionState.enabled: is 'true', want true or false",
    ]


def test_a_number_outside_its_range_is_caught():
    body = {"pipelineName": "web", "pipelineVersion": 0}

    assert _json("codepipeline", "GetPipelineState", body) == [
        "pipelineVersion: is 0; PipelineVersion is at least 1"
    ]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Content-Type": "text/html; charset=utf-8"}, "'text/html'"), ({}, "'absent'")],
)
def test_a_json_answer_without_the_awsjson_content_type_is_caught(headers, expected):
    assert _json("codepipeline", "ListPipelineExecutions", _executions(), headers) == [
        f"Content-Type: is {expected}; the protocol says 'application/x-amz-json-1.1'"
    ]


def test_a_body_that_is_not_json_is_caught():
    problems = _json("codepipeline", "ListPipelines", b"<html>Internal Server Error</html>")

    assert len(problems) == 1 and problems[0].startswith("$: body is not JSON")


def test_an_operation_the_model_does_not_have_is_caught():
    assert _json("codepipeline", "ListEverything", {}) == ["$: no such operation in the botocore model"]


# --- JSON errors -----------------------------------------------------------------------


def test_a_json_error_as_aws_sends_it_has_no_problems():
    body = {"__type": "PipelineNotFoundException", "message": "no pipeline 'web'"}

    assert _json("codepipeline", "GetPipeline", body, status=400) == []


def test_a_json_error_without_a_type_or_with_foreign_members_is_caught():
    untyped = _json("codepipeline", "GetPipeline", {"message": "no"}, status=400)
    foreign = _json("codepipeline", "GetPipeline",
                    {"__type": "PipelineNotFoundException", "message": "no", "Code": "x"},
                    status=400)

    assert untyped == ["__type: an error without __type (nor x-amzn-ErrorType)"]
    assert foreign == ["Code: is not a member of the error PipelineNotFoundException"]


# --- XML: query (IAM, STS) and rest-xml (S3) ------------------------------------------

ROLE = (
    "<Path>/ecspipe/</Path><RoleName>web-codebuild</RoleName><RoleId>AROA1234567890EXAMPLE</RoleId>"
    "<Arn>arn:aws:iam::123456789012:role/ecspipe/web-codebuild</Arn>"
    "<CreateDate>2026-09-21T14:13:23Z</CreateDate>"
)


def _get_role(role: str, extra: str = "") -> list[str]:
    body = (
        '<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<GetRoleResult><Role>{role}</Role></GetRoleResult>{extra}"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetRoleResponse>"
    )
    response = Response("iam", "GetRole", 200, XML, body.encode())
    return [f"{p.path}: {p.message}" for p in validate(response)]


def test_a_query_answer_as_aws_sends_it_has_no_problems():
    assert _get_role(ROLE + "<Tags><member><Key>a</Key><Value>b</Value></member></Tags>") == []


def test_a_query_answer_missing_a_required_member_is_caught():
    assert _get_role(ROLE.replace("<Arn>arn:aws:iam::123456789012:role/ecspipe/web-codebuild</Arn>",
                                  "")) == ["Role.Arn: required member of Role is missing"]


def test_a_query_answer_with_unknown_elements_or_wrong_values_is_caught():
    problems = _get_role(
        ROLE.replace("2026-09-21T14:13:23Z", "yesterday")
        + "<Colour>blue</Colour><MaxSessionDuration>many</MaxSessionDuration>"
        + "<Tags><item><Key>a</Key><Value>b</Value></item></Tags>",
        extra="<Debug>1</Debug>",
    )

    assert problems == [
        "Debug: unexpected element in <GetRoleResponse>",
        "Role.CreateDate: is 'yesterday', want an ISO 8601 timestamp",
        "Role.Colour: is not a member of Role",
        "Role.MaxSessionDuration: is 'many', want an integer",
        "Role.Tags[0]: is <item>, want <member>",
    ]


def _s3(operation: str, body: str, headers=None, status: int = 200) -> list[str]:
    response = Response("s3", operation, status,
                        {"Content-Type": "application/xml"} if headers is None else headers,
                        body.encode())
    return [f"{p.path}: {p.message}" for p in validate(response)]


def test_a_rest_xml_answer_with_flattened_lists_passes_and_unknown_tags_fail():
    versions = (
        "<ListVersionsResult><Name>b</Name><IsTruncated>true</IsTruncated>"
        "<NextKeyMarker>k</NextKeyMarker><MaxKeys>2</MaxKeys>"
        "<Version><Key>k</Key><VersionId>1</VersionId><IsLatest>true</IsLatest>"
        "<LastModified>2026-09-21T14:13:23.000Z</LastModified></Version>"
        "<DeleteMarker><Key>j</Key><VersionId>2</VersionId></DeleteMarker>"
        "</ListVersionsResult>"
    )

    assert _s3("ListObjectVersions", versions) == []
    assert _s3("ListObjectVersions", versions.replace("<MaxKeys>2", "<Limit>2</Limit><MaxKeys>2")) == [
        "Limit: is not a member of ListObjectVersionsOutput"
    ]


def test_a_rest_xml_answer_missing_a_required_list_is_caught():
    assert _s3("GetBucketTagging", "<Tagging></Tagging>") == [
        "TagSet: required member of GetBucketTaggingOutput is missing"
    ]


def test_an_operation_without_output_must_not_answer_a_body():
    assert _s3("PutBucketPolicy", "True", {}) == [
        "$: the operation has no output, yet there is a body"
    ]


# --- the recorder --------------------------------------------------------------------


def test_the_recorder_keeps_raw_answers_as_before_parse_gives_them():
    class Operation:
        name = "ListPipelines"

        class service_model:  # noqa: N801 - mimics botocore's attribute
            service_name = "codepipeline"

    recorder = Recorder()
    recorder.hook(Operation, {"status_code": 200, "headers": JSON11, "body": b'{"pipelines": []}'})

    assert recorder.operations() == {("codepipeline", "ListPipelines")}
    assert validate(recorder.responses[0]) == []
