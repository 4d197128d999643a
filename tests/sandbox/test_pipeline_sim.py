"""The sandbox's CodePipeline simulation, in mock mode with a manual clock.

Each test builds what it needs with boto3 (ECR repository and image, ECS
cluster/task definition/service, CodeBuild project, pipeline) through the
`World` helper below, then advances the clock: no sleeps. Default stage times
are Source 1 s, Build 3 s, Deploy 3 s, so an execution takes 7 s.
"""

from __future__ import annotations

import functools
import json
import re

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
REGION = "us-east-1"
REPO = "demo-app"
REPO_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}"
SEED_TAG = "20261101_120000-0a1b2c3"
SEED_IMAGE = f"{REPO_URI}:{SEED_TAG}"
CLUSTER, SERVICE, FAMILY = "demo-cluster", "demo-web-service", "demo-web"
PIPELINE = "demo-web-pipeline"
PROJECT = f"{PIPELINE}-build"


@pytest.fixture
def sim(clock):
    """moto in-process with the pipeline, ECS (and, if present, connections) extensions."""
    from moto import mock_aws

    from ecspipe.sandbox import codepipeline, ecs, settings

    codepipeline.install()
    ecs.install()
    try:
        from ecspipe.sandbox import connections

        connections.install()
    except ImportError:  # pragma: no cover - written concurrently by another engineer
        pass
    settings.reset(clock=clock)
    with mock_aws():
        yield settings.SETTINGS
    settings.reset()


def _trust(service: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _manifest(seed: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 100,
                "digest": "sha256:" + seed * 64,
            },
            "layers": [],
        }
    )


@functools.cache
def client(service: str):
    """One boto3 client per service for the whole module: creating clients is
    what costs time here (service models load per session), and moto's mock
    intercepts any client, whenever it was made."""
    import boto3

    session = boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return session.client(service)


class World:
    """An existing ECS service plus a CodeBuild project, ready for a pipeline."""

    def __init__(self, clock, *, env_vars: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.iam, self.ecr, self.ecs = client("iam"), client("ecr"), client("ecs")
        self.codebuild, self.cp, self.logs = (
            client("codebuild"),
            client("codepipeline"),
            client("logs"),
        )

        self.ecr.create_repository(repositoryName=REPO)
        self.ecr.put_image(repositoryName=REPO, imageManifest=_manifest("a"), imageTag=SEED_TAG)
        self.ecs.create_cluster(clusterName=CLUSTER)
        self.task_definition = self.ecs.register_task_definition(
            family=FAMILY,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "web", "image": SEED_IMAGE, "essential": True}],
        )["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=FAMILY,
            desiredCount=2,
            launchType="FARGATE",
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True}
            },
        )
        build_role = self.iam.create_role(
            RoleName="build", AssumeRolePolicyDocument=_trust("codebuild.amazonaws.com")
        )["Role"]["Arn"]
        self.pipeline_role = self.iam.create_role(
            RoleName="pipeline", AssumeRolePolicyDocument=_trust("codepipeline.amazonaws.com")
        )["Role"]["Arn"]
        if env_vars is None:
            env_vars = {"IMAGE_REPO_URI": REPO_URI, "CONTAINER_NAME": "web"}
        self.codebuild.create_project(
            name=PROJECT,
            # `location` only because bare moto insists; AWS does not need it here.
            source={"type": "CODEPIPELINE", "location": "placeholder"},
            artifacts={"type": "CODEPIPELINE", "location": "placeholder"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": True,
                "environmentVariables": [
                    {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in env_vars.items()
                ],
            },
            serviceRole=build_role,
        )

    # --- connection and pipeline ---

    def connection(self, *, available: bool = True) -> str:
        """A GitHub connection ARN (AVAILABLE, or left PENDING)."""
        try:
            from ecspipe.sandbox import connections
        except ImportError:  # pragma: no cover - the connections module is another's
            return f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/unknown"
        arn = client("codestar-connections").create_connection(
            ProviderType="GitHub", ConnectionName="github"
        )["ConnectionArn"]
        if available:
            connections.complete_handshake(arn)
        return arn

    def create_pipeline(self, connection_arn: str | None = None, mode: str = "SUPERSEDED",
                        shape=None) -> str:
        """Create the pipeline (which starts execution #1); return that execution's id.

        `shape(stages)`, if given, returns the stages to declare instead (approvals,
        conditions, more deploy stages)."""
        arn = connection_arn or self.connection()

        def action(name, category, provider, configuration, inputs=(), outputs=()):
            return {
                "name": name,
                "actionTypeId": {
                    "category": category,
                    "owner": "AWS",
                    "provider": provider,
                    "version": "1",
                },
                "configuration": configuration,
                "inputArtifacts": [{"name": n} for n in inputs],
                "outputArtifacts": [{"name": n} for n in outputs],
                "runOrder": 1,
            }

        source = action(
            "Source",
            "Source",
            "CodeStarSourceConnection",
            {
                "ConnectionArn": arn,
                "FullRepositoryId": "acme/demo-app",
                "BranchName": "main",
                "DetectChanges": "false",
                "OutputArtifactFormat": "CODE_ZIP",
            },
            outputs=["SourceOutput"],
        )
        build = action(
            "Build",
            "Build",
            "CodeBuild",
            {"ProjectName": PROJECT},
            ["SourceOutput"],
            ["BuildOutput"],
        )
        deploy = action(
            "Deploy",
            "Deploy",
            "ECS",
            {"ClusterName": CLUSTER, "ServiceName": SERVICE, "FileName": "imagedefinitions.json"},
            ["BuildOutput"],
        )
        self.cp.create_pipeline(
            pipeline={
                "name": PIPELINE,
                "roleArn": self.pipeline_role,
                "artifactStore": {"type": "S3", "location": "demo-artifacts"},
                "pipelineType": "V2",
                "executionMode": mode,
                "variables": [{"name": "RELEASE_NOTE", "defaultValue": "none"}],
                "stages": (shape or list)([
                    {"name": "Source", "actions": [source]},
                    {"name": "Build", "actions": [build]},
                    {"name": "Deploy", "actions": [deploy]},
                ]),
            }
        )
        return self.summaries()[0]["pipelineExecutionId"]

    # --- reading ---

    def summaries(self) -> list[dict]:
        return self.cp.list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"]

    def summary(self, execution_id: str) -> dict:
        return next(s for s in self.summaries() if s["pipelineExecutionId"] == execution_id)

    def execution(self, execution_id: str) -> dict:
        return self.cp.get_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=execution_id
        )["pipelineExecution"]

    def status(self, execution_id: str) -> str:
        return self.execution(execution_id)["status"]

    def run_until_done(self, execution_id: str, limit: float = 60) -> str:
        """Advance the clock 1 s at a time until the execution leaves InProgress."""
        for _ in range(int(limit)):
            status = self.status(execution_id)
            if status not in ("InProgress", "Stopping"):
                return status
            self.clock.advance(1)
        raise AssertionError(f"execution {execution_id} still {status} after {limit} s")

    def actions(self, execution_id: str | None = None, **kwargs) -> list[dict]:
        if execution_id:
            kwargs["filter"] = {"pipelineExecutionId": execution_id}
        return self.cp.list_action_executions(pipelineName=PIPELINE, **kwargs)[
            "actionExecutionDetails"
        ]

    def action(self, execution_id: str, name: str) -> dict:
        return next(a for a in self.actions(execution_id) if a["actionName"] == name)

    def build(self, execution_id: str) -> dict:
        build_id = self.action(execution_id, "Build")["output"]["executionResult"][
            "externalExecutionId"
        ]
        return self.codebuild.batch_get_builds(ids=[build_id])["builds"][0]

    def log_lines(self, build: dict) -> list[str]:
        events = self.logs.get_log_events(
            logGroupName=build["logs"]["groupName"],
            logStreamName=build["logs"]["streamName"],
            startFromHead=True,
        )["events"]
        return [e["message"] for e in events]

    def service(self) -> dict:
        return self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]

    def image_tags(self) -> list[str]:
        details = self.ecr.describe_images(repositoryName=REPO)["imageDetails"]
        return sorted(tag for d in details for tag in d.get("imageTags", []))

    def revisions(self) -> list[str]:
        return self.ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]


@pytest.fixture
def world(sim, clock) -> World:
    return World(clock)


def stage_statuses(world: World) -> dict[str, str | None]:
    state = world.cp.get_pipeline_state(name=PIPELINE)
    return {
        s["stageName"]: s.get("latestExecution", {}).get("status") for s in state["stageStates"]
    }


# --- the happy path ---------------------------------------------------------------


def test_creating_a_pipeline_starts_an_execution_that_walks_through_the_stages(world):
    execution_id = world.create_pipeline()
    assert world.summary(execution_id)["trigger"]["triggerType"] == "CreatePipeline"

    seen = []
    for _ in range(9):
        seen.append((world.status(execution_id), stage_statuses(world)))
        world.clock.advance(1)

    assert seen[0] == ("InProgress", {"Source": "InProgress", "Build": None, "Deploy": None})
    assert seen[1] == (
        "InProgress",
        {"Source": "Succeeded", "Build": "InProgress", "Deploy": None},
    )
    assert seen[4] == (
        "InProgress",
        {"Source": "Succeeded", "Build": "Succeeded", "Deploy": "InProgress"},
    )
    assert seen[7] == (
        "Succeeded",
        {"Source": "Succeeded", "Build": "Succeeded", "Deploy": "Succeeded"},
    )
    summary = world.summary(execution_id)
    assert (summary["lastUpdateTime"] - summary["startTime"]).total_seconds() == 7


def test_a_successful_execution_pushes_one_image_and_deploys_it_exactly_once(world):
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Succeeded"
    for _ in range(3):  # more reads, later: nothing happens twice
        world.clock.advance(5)
        world.summaries()
        world.service()

    sha = world.summary(execution_id)["sourceRevisions"][0]["revisionId"]
    new_tags = [t for t in world.image_tags() if t != SEED_TAG]
    assert len(new_tags) == 1
    assert re.fullmatch(rf"\d{{8}}_\d{{6}}-{sha[:7]}", new_tags[0])

    revisions = world.revisions()
    assert len(revisions) == 2
    new_definition = world.ecs.describe_task_definition(taskDefinition=revisions[-1])[
        "taskDefinition"
    ]
    [web] = new_definition["containerDefinitions"]
    assert (web["name"], web["image"]) == ("web", f"{REPO_URI}:{new_tags[0]}")
    assert new_definition["cpu"] == "256" and new_definition["requiresCompatibilities"] == [
        "FARGATE"
    ]

    service = world.service()
    [primary] = service["deployments"]
    assert primary["status"] == "PRIMARY"
    assert primary["taskDefinition"] == revisions[-1] == service["taskDefinition"]
    assert primary["rolloutState"] == "COMPLETED"
    assert service["runningCount"] == service["desiredCount"] == 2
    assert service["events"][0]["message"] == f"(service {SERVICE}) has reached a steady state."
    assert (
        world.action(execution_id, "Deploy")["output"]["executionResult"]["externalExecutionId"]
        == primary["id"]
    )


def test_the_build_record_and_its_log_are_readable_while_and_after_it_runs(world):
    execution_id = world.create_pipeline()
    world.clock.advance(2)  # inside the Build stage

    running = world.build(execution_id)
    assert running["buildStatus"] == "IN_PROGRESS"
    assert running["currentPhase"] == "BUILD"
    assert running["logs"]["groupName"] == f"/aws/codebuild/{PROJECT}"
    assert running["initiator"] == f"codepipeline/{PIPELINE}"
    assert any("Running command docker build" in line for line in world.log_lines(running))

    world.run_until_done(execution_id)
    build = world.build(execution_id)
    sha = world.summary(execution_id)["sourceRevisions"][0]["revisionId"]
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["buildComplete"] is True
    assert build["resolvedSourceVersion"] == sha
    assert [p["phaseType"] for p in build["phases"]][-1] == "COMPLETED"
    # moto's own batch_get_builds would rewrite the record on every call: ours stays put.
    assert world.build(execution_id)["phases"] == build["phases"]

    lines = world.log_lines(build)
    assert any(line.startswith("Image tag: ") and line.endswith(sha[:7]) for line in lines)
    assert any(line.startswith(f"The push refers to repository [{REPO_URI}]") for line in lines)
    assert lines[-1].endswith("Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED")


# --- failures ---------------------------------------------------------------------


def test_a_failing_build_fails_the_execution_with_the_codebuild_message(sim, world):
    sim.fail_stage = "Build"
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Failed"

    expected = (
        "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, "
        "Message: Error while executing command: docker build -t $IMAGE_REPO_URI:$IMAGE_TAG .. "
        "Reason: exit status 1"
    )
    assert world.summary(execution_id)["statusSummary"] == expected
    build_action = world.action(execution_id, "Build")
    assert build_action["status"] == "Failed"
    assert build_action["output"]["executionResult"]["errorDetails"] == {
        "code": "JobFailed",
        "message": expected,
    }
    state = world.cp.get_pipeline_state(name=PIPELINE)
    build_state = state["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert build_state["errorDetails"]["message"] == expected
    assert "latestExecution" not in state["stageStates"][2]  # Deploy never ran

    build = world.build(execution_id)
    assert build["buildStatus"] == "FAILED"
    [failed_phase] = [p for p in build["phases"] if p.get("phaseStatus") == "FAILED"]
    assert failed_phase["phaseType"] == "BUILD"
    assert failed_phase["contexts"][0]["statusCode"] == "COMMAND_EXECUTION_ERROR"
    tail = world.log_lines(build)[-8:]
    assert any("npm ERR! Test failed." in line for line in tail)
    assert any(
        "Command did not exit successfully docker build -t $IMAGE_REPO_URI:$IMAGE_TAG . "
        "exit status 1" in line
        for line in tail
    )
    assert any(line.endswith("Phase complete: BUILD State: FAILED") for line in tail)

    assert world.image_tags() == [SEED_TAG]  # nothing pushed
    assert len(world.revisions()) == 1
    service = world.service()
    assert service["taskDefinition"] == world.task_definition
    assert len(service["deployments"]) == 1


def test_a_pending_connection_fails_the_source_action_with_the_aws_message(sim, world):
    pytest.importorskip("ecspipe.sandbox.connections")
    sim.handshake_delay = None  # nobody completes the handshake
    arn = world.connection(available=False)
    execution_id = world.create_pipeline(connection_arn=arn)
    assert world.run_until_done(execution_id) == "Failed"

    source = world.action(execution_id, "Source")
    message = source["output"]["executionResult"]["errorDetails"]["message"]
    assert message.startswith(f"Connection {arn} is not available.")
    assert message.endswith("The connection is in the PENDING state.")
    assert world.summary(execution_id)["statusSummary"] == message
    assert world.summary(execution_id)["sourceRevisions"] == []
    assert [a["actionName"] for a in world.actions(execution_id)] == ["Source"]


def test_once_the_connection_is_available_a_new_execution_succeeds(sim, world):
    pytest.importorskip("ecspipe.sandbox.connections")
    from ecspipe.sandbox import connections

    sim.handshake_delay = None
    arn = world.connection(available=False)
    first = world.create_pipeline(connection_arn=arn)
    assert world.run_until_done(first) == "Failed"
    connections.complete_handshake(arn)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(second) == "Succeeded"


def test_a_container_missing_from_the_task_definition_fails_the_deploy(sim, clock):
    world = World(clock, env_vars={"IMAGE_REPO_URI": REPO_URI, "CONTAINER_NAME": "api"})
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Failed"
    deploy = world.action(execution_id, "Deploy")
    assert deploy["output"]["executionResult"]["errorDetails"]["message"] == (
        "The AWS ECS container api does not exist"
    )
    assert world.service()["taskDefinition"] == world.task_definition


def test_without_image_variables_the_build_targets_the_service_image_repository(sim, clock):
    world = World(clock, env_vars={})
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Succeeded"
    sha = world.summary(execution_id)["sourceRevisions"][0]["revisionId"]
    image = world.ecs.describe_task_definition(taskDefinition=world.service()["taskDefinition"])[
        "taskDefinition"
    ]["containerDefinitions"][0]["image"]
    assert image.startswith(f"{REPO_URI}:") and image.endswith(sha[:7])


def test_with_rollback_the_deploy_action_succeeds_but_ecs_returns_to_the_old_revision(sim, world):
    sim.rollback = True
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Succeeded"  # the well-known complaint
    assert world.action(execution_id, "Deploy")["status"] == "Succeeded"
    world.clock.advance(10)  # let the rollback deployment finish

    service = world.service()
    assert service["taskDefinition"] == world.task_definition
    primary, failed = service["deployments"]
    assert (primary["status"], primary["rolloutState"]) == ("PRIMARY", "COMPLETED")
    assert primary["taskDefinition"] == world.task_definition
    assert failed["rolloutState"] == "FAILED"
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["taskDefinition"] == world.revisions()[-1]
    messages = [e["message"] for e in service["events"]]
    assert any(m.endswith("deployment failed: tasks failed to start.") for m in messages)
    assert any("rolling back to deployment ecs-svc/" in m for m in messages)
    assert service["runningCount"] == service["desiredCount"] == 2


def test_fail_stage_deploy_fails_the_action_and_ecs_rolls_back(sim, world):
    sim.fail_stage = "Deploy"
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Failed"
    message = world.summary(execution_id)["statusSummary"]
    assert message.startswith("Deployment ecs-svc/")
    assert message.endswith("failed: ECS deployment circuit breaker: tasks failed to start.")
    world.clock.advance(10)
    assert world.service()["taskDefinition"] == world.task_definition


def test_fail_stage_source_fails_with_a_missing_branch(sim, world):
    sim.fail_stage = "Source"
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Failed"
    assert world.summary(execution_id)["statusSummary"] == (
        "[GitHub] No Branch [main] found for FullRepositoryName [acme/demo-app]"
    )


# --- stopping and superseding ------------------------------------------------------


def test_stopping_with_abandon_stops_at_once_and_abandons_the_running_build(world):
    execution_id = world.create_pipeline()
    world.clock.advance(2)  # in Build
    world.cp.stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=True, reason="oops"
    )
    assert world.status(execution_id) == "Stopped"
    assert world.summary(execution_id)["stopTrigger"] == {"reason": "oops"}
    assert world.action(execution_id, "Build")["status"] == "Abandoned"
    assert stage_statuses(world)["Build"] == "Stopped"
    assert world.build(execution_id)["buildStatus"] == "STOPPED"
    world.clock.advance(30)
    assert world.status(execution_id) == "Stopped"
    assert world.image_tags() == [SEED_TAG]


def test_stopping_without_abandon_lets_the_current_stage_finish(world):
    execution_id = world.create_pipeline()
    world.clock.advance(2)  # in Build
    world.cp.stop_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)
    assert world.status(execution_id) == "Stopping"
    with pytest.raises(ClientError) as again:
        world.cp.stop_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)
    assert again.value.response["Error"]["Code"] == "DuplicatedStopRequestException"

    world.clock.advance(2)  # Build ends
    assert world.status(execution_id) == "Stopped"
    assert world.action(execution_id, "Build")["status"] == "Succeeded"
    assert "latestExecution" not in world.cp.get_pipeline_state(name=PIPELINE)["stageStates"][2]
    assert len(world.image_tags()) == 2  # the build did finish and push
    assert world.service()["taskDefinition"] == world.task_definition  # but nothing deployed


def test_a_finished_execution_cannot_be_stopped(world):
    execution_id = world.create_pipeline()
    world.run_until_done(execution_id)
    with pytest.raises(ClientError) as error:
        world.cp.stop_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)
    assert error.value.response["Error"]["Code"] == "PipelineExecutionNotStoppableException"


def test_a_newer_execution_supersedes_one_waiting_for_the_same_stage(world):
    first = world.create_pipeline()  # t=0, in Source until t=1
    world.clock.advance(0.25)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    world.clock.advance(0.25)
    third = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]

    assert world.status(second) == "Superseded"  # never entered Source
    assert world.status(third) == "InProgress"
    inbound = world.cp.get_pipeline_state(name=PIPELINE)["stageStates"][0]["inboundExecution"]
    assert inbound["pipelineExecutionId"] == third

    assert world.run_until_done(first) == "Succeeded"
    assert world.run_until_done(third) == "Succeeded"
    assert world.status(second) == "Superseded"
    assert [s["pipelineExecutionId"] for s in world.summaries()] == [third, second, first]
    assert len(world.image_tags()) == 3  # seed + first + third
    # first ran Build at t=1..4; third waited for it, then followed one stage behind.
    assert world.summary(third)["lastUpdateTime"] > world.summary(first)["lastUpdateTime"]


def test_queued_mode_runs_waiting_executions_in_order_without_superseding(world):
    first = world.create_pipeline(mode="QUEUED")
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    third = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    for execution_id in (first, second, third):
        assert world.run_until_done(execution_id) == "Succeeded"


# --- shapes ---------------------------------------------------------------------------


def test_get_pipeline_state_has_the_shape_of_the_api(world):
    from datetime import datetime

    execution_id = world.create_pipeline()
    world.run_until_done(execution_id)
    state = world.cp.get_pipeline_state(name=PIPELINE)

    assert state["pipelineName"] == PIPELINE and state["pipelineVersion"] == 1
    assert isinstance(state["created"], datetime) and isinstance(state["updated"], datetime)
    source, build, deploy = state["stageStates"]
    assert [s["stageName"] for s in (source, build, deploy)] == ["Source", "Build", "Deploy"]
    assert "inboundTransitionState" not in source
    assert build["inboundTransitionState"]["enabled"] is True
    for stage in (source, build, deploy):
        assert stage["latestExecution"] == {
            "pipelineExecutionId": execution_id,
            "status": "Succeeded",
            "type": "STANDARD",
        }
        [action] = stage["actionStates"]
        latest = action["latestExecution"]
        assert latest["status"] == "Succeeded"
        assert isinstance(latest["lastStatusChange"], datetime)
        assert latest["actionExecutionId"] and latest["externalExecutionId"]
        assert latest["externalExecutionUrl"].startswith("https://")
    sha = world.summary(execution_id)["sourceRevisions"][0]["revisionId"]
    assert source["actionStates"][0]["currentRevision"]["revisionId"] == sha
    assert source["actionStates"][0]["latestExecution"]["summary"] == "Update demo-app (#1)"
    assert build["actionStates"][0]["latestExecution"]["externalExecutionId"].startswith(
        f"{PROJECT}:"
    )


def test_list_action_executions_reports_inputs_outputs_and_pages(world):
    execution_id = world.create_pipeline()
    world.run_until_done(execution_id)
    details = world.actions(execution_id)
    assert [d["actionName"] for d in details] == ["Deploy", "Build", "Source"]  # newest first

    deploy, build, source = details
    assert (
        source["output"]["outputVariables"]["CommitId"]
        == source["output"]["executionResult"]["externalExecutionId"]
    )
    assert source["output"]["outputVariables"]["BranchName"] == "main"
    assert source["output"]["outputArtifacts"][0]["name"] == "SourceOutput"
    assert build["input"]["actionTypeId"]["provider"] == "CodeBuild"
    assert build["input"]["configuration"] == {"ProjectName": PROJECT}
    assert build["input"]["inputArtifacts"][0]["s3location"]["bucket"] == "demo-artifacts"
    assert build["output"]["outputArtifacts"][0]["name"] == "BuildOutput"
    assert deploy["input"]["roleArn"] == world.pipeline_role
    for detail in details:
        assert detail["pipelineExecutionId"] == execution_id
        assert detail["status"] == "Succeeded"
        assert detail["startTime"] <= detail["lastUpdateTime"]

    page = world.cp.list_action_executions(pipelineName=PIPELINE, maxResults=2)
    assert len(page["actionExecutionDetails"]) == 2
    rest = world.cp.list_action_executions(
        pipelineName=PIPELINE, maxResults=2, nextToken=page["nextToken"]
    )
    assert [d["actionName"] for d in rest["actionExecutionDetails"]] == ["Source"]
    assert "nextToken" not in rest

    with pytest.raises(ClientError) as error:
        world.actions("00000000-0000-0000-0000-000000000000")
    assert error.value.response["Error"]["Code"] == "PipelineExecutionNotFoundException"


def _all_pages(call, key, **kwargs) -> tuple[list[dict], int]:
    """Every item of a paged call, following nextToken; (items, pages)."""
    items, pages, token = [], 0, None
    while True:
        answer = call(**kwargs, **({"nextToken": token} if token else {}))
        items += answer[key]
        pages += 1
        token = answer.get("nextToken")
        if not token:
            return items, pages


def test_list_pipeline_executions_pages_newest_first_and_loses_none(world):
    first = world.create_pipeline()
    started = [first] + [
        world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
        for _ in range(4)
    ]
    page = world.cp.list_pipeline_executions(pipelineName=PIPELINE, maxResults=2)
    # An execution started between two pages must not shift the next one.
    newest = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    rest, pages = _all_pages(
        world.cp.list_pipeline_executions, "pipelineExecutionSummaries",
        pipelineName=PIPELINE, maxResults=2,
    )

    assert [s["pipelineExecutionId"] for s in page["pipelineExecutionSummaries"]] == [
        started[4], started[3]
    ]
    assert page["nextToken"]
    assert [s["pipelineExecutionId"] for s in rest] == [newest, *reversed(started)]
    assert pages == 3
    followed = world.cp.list_pipeline_executions(
        pipelineName=PIPELINE, maxResults=2, nextToken=page["nextToken"]
    )["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in followed] == [started[2], started[1]]


def test_list_pipeline_executions_defaults_to_100_and_refuses_more(world):
    world.create_pipeline()
    for _ in range(100):
        world.cp.start_pipeline_execution(name=PIPELINE)

    page = world.cp.list_pipeline_executions(pipelineName=PIPELINE)
    with pytest.raises(ClientError) as too_many:
        world.cp.list_pipeline_executions(pipelineName=PIPELINE, maxResults=101)
    with pytest.raises(ClientError) as forged:
        world.cp.list_pipeline_executions(pipelineName=PIPELINE, nextToken="not-a-token")

    assert len(page["pipelineExecutionSummaries"]) == 100 and page["nextToken"]
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert forged.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_list_pipeline_executions_filters_those_that_succeeded_in_a_stage(world, sim):
    def succeeded_in(stage: str) -> list[str]:
        return [
            s["pipelineExecutionId"]
            for s in world.cp.list_pipeline_executions(
                pipelineName=PIPELINE, filter={"succeededInStage": {"stageName": stage}}
            )["pipelineExecutionSummaries"]
        ]

    good = world.create_pipeline(mode="QUEUED")
    world.run_until_done(good)
    sim.fail_stage = "Deploy"
    deploy_failed = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(deploy_failed) == "Failed"
    sim.fail_stage = "Build"
    build_failed = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(build_failed) == "Failed"

    assert succeeded_in("Deploy") == [good]
    assert succeeded_in("Build") == [deploy_failed, good]
    assert succeeded_in("Source") == [build_failed, deploy_failed, good]
    assert succeeded_in("NoSuchStage") == []
    # "in the current pipeline version": an update leaves the older ones out.
    declaration = world.cp.get_pipeline(name=PIPELINE)["pipeline"]
    world.cp.update_pipeline(pipeline=declaration)
    assert succeeded_in("Source") == []


def test_source_revisions_pin_the_commit_that_is_built_and_deployed(world):
    first = world.create_pipeline()
    world.run_until_done(first)
    sha = "0123456789abcdef0123456789abcdef01234567"
    execution_id = world.cp.start_pipeline_execution(
        name=PIPELINE,
        sourceRevisions=[
            {"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": sha}
        ],
        variables=[{"name": "RELEASE_NOTE", "value": "hotfix"}],
    )["pipelineExecutionId"]
    assert world.run_until_done(execution_id) == "Succeeded"

    summary = world.summary(execution_id)
    assert summary["trigger"]["triggerType"] == "StartPipelineExecution"
    [revision] = summary["sourceRevisions"]
    assert revision["actionName"] == "Source"
    assert revision["revisionId"] == sha
    assert revision["revisionUrl"] == f"https://github.com/acme/demo-app/commit/{sha}"
    assert json.loads(revision["revisionSummary"]) == {
        "ProviderType": "GitHub",
        "CommitMessage": "Update demo-app (0123456)",
    }
    execution = world.execution(execution_id)
    assert execution["artifactRevisions"][0]["name"] == "SourceOutput"
    assert execution["artifactRevisions"][0]["revisionId"] == sha
    assert execution["variables"] == [{"name": "RELEASE_NOTE", "resolvedValue": "hotfix"}]
    assert world.execution(first)["variables"] == [
        {"name": "RELEASE_NOTE", "resolvedValue": "none"}
    ]
    image = world.ecs.describe_task_definition(taskDefinition=world.service()["taskDefinition"])[
        "taskDefinition"
    ]["containerDefinitions"][0]["image"]
    assert image.endswith(f"-{sha[:7]}")


def test_a_source_revision_for_an_unknown_action_is_refused(world):
    world.create_pipeline()
    with pytest.raises(ClientError) as error:
        world.cp.start_pipeline_execution(
            name=PIPELINE,
            sourceRevisions=[
                {"actionName": "Nope", "revisionType": "COMMIT_ID", "revisionValue": "a"}
            ],
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_unpinned_executions_get_distinct_deterministic_commits(world):
    from ecspipe.sandbox.actions import fake_sha

    first = world.create_pipeline()
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    world.run_until_done(first)
    world.run_until_done(second)
    shas = [world.summary(e)["sourceRevisions"][0]["revisionId"] for e in (first, second)]
    assert shas == [fake_sha(PIPELINE, 1), fake_sha(PIPELINE, 2)]
    assert all(re.fullmatch(r"[0-9a-f]{40}", s) for s in shas)


# --- moto hook points -----------------------------------------------------------------


def test_moto_still_has_every_hook_point_the_pipeline_simulation_uses():
    """Fails loudly when a moto upgrade moves what the simulation wraps or reads."""
    import importlib

    import moto.codebuild.models as codebuild_models
    import moto.codepipeline.models as codepipeline_models
    import moto.ecr.models as ecr_models
    import moto.logs.models as logs_models

    from ecspipe.sandbox import codepipeline

    for module, cls_name, method, _ in codepipeline.HOOKS:
        cls = getattr(importlib.import_module(module), cls_name)
        if method not in codepipeline.NEW_OPERATIONS:
            assert callable(getattr(cls, method, None)), f"{cls_name}.{method} is gone"

    # What the simulation reads or writes on moto's objects.
    execution = codepipeline_models.PipelineExecution("p", 1, None)
    for attribute in ("pipeline_execution_id", "pipeline_name", "pipeline_version", "variables"):
        assert hasattr(execution, attribute)
    backend = codepipeline_models.CodePipelineBackend(REGION, ACCOUNT)
    assert backend.pipelines == {}
    pipeline = codepipeline_models.CodePipeline(ACCOUNT, REGION, {"name": "p", "stages": []})
    for attribute in ("pipeline", "executions", "_created", "_updated"):
        assert hasattr(pipeline, attribute), attribute
    build_backend = codebuild_models.CodeBuildBackend(REGION, ACCOUNT)
    for attribute in ("codebuild_projects", "build_history", "build_metadata_history"):
        assert hasattr(build_backend, attribute)
    assert callable(build_backend.start_build)
    assert callable(ecr_models.ECRBackend.put_image)
    assert callable(logs_models.LogGroup.put_log_events)
    assert callable(logs_models.LogGroup.create_log_stream)
    assert hasattr(logs_models.LogsBackend(REGION, ACCOUNT), "groups")


def test_installing_twice_wraps_each_hook_point_once(sim):
    import importlib

    from ecspipe.sandbox import codepipeline

    codepipeline.install()
    for module, cls_name, method, _ in codepipeline.HOOKS:
        function = getattr(getattr(importlib.import_module(module), cls_name), method)
        ours = 0
        while function is not None:
            ours += function.__code__.co_filename == codepipeline.__file__
            function = getattr(function, "__wrapped__", None)
        assert ours == 1, f"{cls_name}.{method} wrapped {ours} times"


def test_botocore_models_the_operations_the_sandbox_adds():
    import botocore.session

    model = botocore.session.get_session().get_service_model("codepipeline")
    for operation in ("GetPipelineState", "ListActionExecutions", "StopPipelineExecution",
                      "PutApprovalResult", "RollbackStage"):
        assert operation in model.operation_names
    start = model.operation_model("StartPipelineExecution").input_shape
    assert "sourceRevisions" in start.members


def test_commit_message_sets_the_message_the_source_finds_and_the_failing_test(sim, world):
    message = "fix \x1b[31mred\x1b[0m [bold]x[/] \u202e\nsecond line"
    sim.commit_message = message
    sim.fail_stage = "Build"
    execution_id = world.create_pipeline()
    assert world.run_until_done(execution_id) == "Failed"
    [revision] = world.summary(execution_id)["sourceRevisions"]
    assert json.loads(revision["revisionSummary"])["CommitMessage"] == message
    source = world.action(execution_id, "Source")
    assert source["output"]["outputVariables"]["CommitMessage"] == message
    lines = world.log_lines(world.build(execution_id))
    assert f"#5 7.104 not ok 3 - {message}" in lines
