"""Self-tests of the sandbox's IAM propagation (sandbox/propagation.py), mock and server mode.

A role created, or whose trust policy changed, less than `role_propagation`
seconds ago (sandbox clock) is refused by CodeBuild and CodePipeline with the
errors AWS gives, and those must be exactly what retry.py retries. Time moves
only on the manual clock: nothing here waits.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecspipe.retry import is_propagation_error
from ecspipe.sandbox.propagation import CODEBUILD_MESSAGE, codepipeline_message

ACCOUNT = "123456789012"
PROPAGATION = 8.0


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _project(role_arn: str, name: str = "prop-build") -> dict[str, Any]:
    return {
        "name": name,
        "source": {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {"type": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL",
                        "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0"},
        "serviceRole": role_arn,
    }


def _pipeline(role_arn: str, name: str = "prop-pipeline") -> dict[str, Any]:
    def action(category: str, provider: str, **extra: Any) -> dict[str, Any]:
        return {"name": category, "actionTypeId": {"category": category, "owner": "AWS",
                                                   "provider": provider, "version": "1"},
                "configuration": {"ProjectName": "prop-build"}, **extra}

    return {
        "name": name,
        "roleArn": role_arn,
        "artifactStore": {"type": "S3", "location": "prop-artifacts"},
        "stages": [
            {"name": "Source", "actions": [action(
                "Source", "S3", outputArtifacts=[{"name": "src"}],
                configuration={"S3Bucket": "prop-artifacts", "S3ObjectKey": "src.zip"})]},
            {"name": "Build", "actions": [action("Build", "CodeBuild",
                                                 inputArtifacts=[{"name": "src"}])]},
        ],
    }


def _refused(call: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value


def _story(client: Any, clock: Any, settings: Any) -> None:
    """What every mode must show, on the clients given."""
    iam, codebuild, codepipeline = client("iam"), client("codebuild"), client("codepipeline")
    client("s3").create_bucket(Bucket="prop-artifacts")
    settings.role_propagation = PROPAGATION
    build_role = iam.create_role(RoleName="prop-codebuild", Path="/ecspipe/",
                                 AssumeRolePolicyDocument=_trust("codebuild.amazonaws.com"))
    pipeline_role = iam.create_role(RoleName="prop-codepipeline", Path="/ecspipe/",
                                    AssumeRolePolicyDocument=_trust("codepipeline.amazonaws.com"))
    build_arn, pipeline_arn = build_role["Role"]["Arn"], pipeline_role["Role"]["Arn"]

    # Just created: refused, with AWS's errors, which retry.py retries.
    error = _refused(codebuild.create_project, **_project(build_arn))
    assert error.response["Error"] == {"Code": "InvalidInputException",
                                       "Message": CODEBUILD_MESSAGE}
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_propagation_error(error)
    error = _refused(codepipeline.create_pipeline, pipeline=_pipeline(pipeline_arn))
    assert error.response["Error"] == {"Code": "InvalidStructureException",
                                       "Message": codepipeline_message(pipeline_arn)}
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_propagation_error(error)
    assert codebuild.batch_get_projects(names=["prop-build"]).get("projects") == []
    assert codepipeline.list_pipelines()["pipelines"] == [], "a refused create made nothing"

    clock.advance(PROPAGATION - 0.1)
    assert is_propagation_error(_refused(codebuild.create_project, **_project(build_arn)))

    # N seconds old: accepted.
    clock.advance(0.1)
    codebuild.create_project(**_project(build_arn))
    codepipeline.create_pipeline(pipeline=_pipeline(pipeline_arn))
    codebuild.start_build(projectName="prop-build")

    # A new trust policy propagates again: UpdateProject, StartBuild, UpdatePipeline refuse it.
    iam.update_assume_role_policy(RoleName="prop-codebuild",
                                  PolicyDocument=_trust("codebuild.amazonaws.com"))
    iam.update_assume_role_policy(RoleName="prop-codepipeline",
                                  PolicyDocument=_trust("codepipeline.amazonaws.com"))
    error = _refused(codebuild.update_project, name="prop-build", serviceRole=build_arn)
    assert error.response["Error"]["Message"] == CODEBUILD_MESSAGE
    assert is_propagation_error(error)
    error = _refused(codebuild.start_build, projectName="prop-build")
    assert error.response["Error"] == {"Code": "InvalidInputException",
                                       "Message": CODEBUILD_MESSAGE}
    declaration = codepipeline.get_pipeline(name="prop-pipeline")["pipeline"]
    error = _refused(codepipeline.update_pipeline, pipeline=declaration)
    assert error.response["Error"]["Code"] == "InvalidStructureException"
    assert is_propagation_error(error)
    # UpdateProject without a serviceRole does not name a role: nothing to refuse.
    codebuild.update_project(name="prop-build", description="no role named")

    clock.advance(PROPAGATION)
    codebuild.update_project(name="prop-build", serviceRole=build_arn)
    codebuild.start_build(projectName="prop-build")
    codepipeline.update_pipeline(pipeline=declaration)

    # Off (the default): a role is usable the moment it exists.
    settings.role_propagation = 0.0
    fresh = iam.create_role(RoleName="prop-fresh", AssumeRolePolicyDocument=_trust(
        "codebuild.amazonaws.com"))["Role"]["Arn"]
    codebuild.create_project(**_project(fresh, name="prop-fresh-build"))


def test_a_new_role_is_refused_until_it_is_n_seconds_old_in_mock_mode(sandbox, aws, clock):
    _story(aws, clock, sandbox)


def test_propagation_is_off_by_default(sandbox):
    assert sandbox.role_propagation == 0.0


def test_the_error_texts_are_the_ones_retry_py_recognises_for_every_refused_call():
    from ecspipe.retry import PROPAGATION_ERRORS

    def error(operation: str, code: str, message: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": message}}, operation)

    role = f"arn:aws:iam::{ACCOUNT}:role/ecspipe/demo-app-us-east-1-codepipeline"
    for operation in ("CreateProject", "UpdateProject"):
        assert is_propagation_error(error(operation, "InvalidInputException", CODEBUILD_MESSAGE))
    for operation in ("CreatePipeline", "UpdatePipeline"):
        assert is_propagation_error(error(operation, "InvalidStructureException",
                                          codepipeline_message(role)))
    # The rule for CodeBuild is the substring both of AWS's wordings share.
    old = f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}"
    assert is_propagation_error(error("CreateProject", "InvalidInputException", old))
    rule = next(r for r in PROPAGATION_ERRORS if r[0] == "CreateProject")
    assert rule[2] in CODEBUILD_MESSAGE and rule[2] in old


def test_a_pipeline_build_started_while_the_role_is_new_fails_as_codepipeline_reports_it(
        seeded, ecspipe, write_config, aws, clock, sandbox):
    assert ecspipe("up", "-c", write_config(), "--wait-connection").code == 0
    # The roles were made moments ago on the sandbox clock: now they propagate for an hour.
    sandbox.role_propagation = 3600.0
    codepipeline = aws("codepipeline")
    execution = codepipeline.start_pipeline_execution(name="demo-app")["pipelineExecutionId"]
    clock.advance(30)
    state = codepipeline.get_pipeline_state(name="demo-app")
    build = next(s for s in state["stageStates"] if s["stageName"] == "Build")
    latest = build["actionStates"][0]["latestExecution"]
    assert build["latestExecution"]["pipelineExecutionId"] == execution
    assert latest["status"] == "Failed"
    assert latest["errorDetails"]["code"] == "JobFailed"
    message = latest["errorDetails"]["message"]
    assert message.startswith(f"Error calling startBuild: {CODEBUILD_MESSAGE} (Service: "
                              "AWSCodeBuild; Status Code: 400; Error Code: "
                              "InvalidInputException; Request ID: ")
    assert codepipeline.get_pipeline_execution(
        pipelineName="demo-app", pipelineExecutionId=execution
    )["pipelineExecution"]["status"] == "Failed"


# ---- server mode: the same story over HTTP, with the setting given to serve() --------

@pytest.fixture(scope="module")
def propagating_server():
    """An in-process sandbox server started with role_propagation (unseeded)."""
    from ecspipe.sandbox import server

    urls: list[str] = []
    ready = threading.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=server.serve, kwargs={
        "port": 0, "seed": False, "role_propagation": PROPAGATION, "ready": on_ready})
    thread.start()
    try:
        assert ready.wait(120), "the sandbox server did not start"
        yield urls[0]
    finally:
        server.request_stop()
        thread.join(30)


def test_a_new_role_is_refused_until_it_is_n_seconds_old_in_server_mode(
        propagating_server, aws, clock):
    from ecspipe.sandbox import settings

    reset = urllib.request.Request(f"{propagating_server}/_ecspipe/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).close()
    assert settings.SETTINGS.role_propagation == PROPAGATION, "a reset keeps serve()'s setting"
    settings.SETTINGS.clock = clock
    try:
        _story(lambda service: aws(service, endpoint_url=propagating_server), clock,
               settings.SETTINGS)
    finally:
        urllib.request.urlopen(reset, timeout=30).close()
