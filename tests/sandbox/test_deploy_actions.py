"""The pipeline's deploy actions for services that do not roll, and the build files they read.

On the seed (`seeded`, mock mode, manual clock): a pipeline Source -> Build ->
Deploy whose Deploy is the ECS action on the ECS-native blue/green service (a
PAUSE hook at POST_TEST_TRAFFIC_SHIFT, a one-minute bake) or CodeDeployToECS on
the CODE_DEPLOY service. The build's buildspec writes imageDetail.json,
taskdef.json and appspec.yaml the way a buildspec does (printf), which the
sandbox's build evaluates (buildfiles.py). Stages: Source 1 s, Build 3 s.
"""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from ecspipe.sandbox import buildfiles

BLUEGREEN, CODEDEPLOY = "demo-web-bluegreen", "demo-web-codedeploy"
PIPELINE = "strategies"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def _taskdef(seeded: dict) -> dict:
    return {"family": CODEDEPLOY, "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc", "cpu": "256", "memory": "512",
            "executionRoleArn": seeded["execution_role_arn"],
            "taskRoleArn": seeded["task_role_arn"],
            "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>", "essential": True,
                                      "portMappings": [{"containerPort": 8080}]}]}


APPSPEC = ("version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n"
           "      Properties:\n        TaskDefinition: <TASK_DEFINITION>\n"
           "        LoadBalancerInfo:\n          ContainerName: \"web\"\n"
           "          ContainerPort: 8080\n")


def _buildspec(files: dict[str, str]) -> str:
    commands = [f"printf '%s' {shlex.quote(text)} > {name}" for name, text in files.items()]
    commands.insert(0, "printf '{\"ImageURI\":\"%s\"}' \"$IMAGE_URI\" > imageDetail.json")
    return yaml.safe_dump({"version": 0.2, "phases": {"build": {"commands": commands}},
                           "artifacts": {"files": ["imageDetail.json", *files],
                                         "discard-paths": "yes"}})


class Pipeline:
    def __init__(self, seeded: dict, aws, clock) -> None:
        from ecspipe.sandbox import connections

        self.seeded, self.clock = seeded, clock
        self.cp, self.ecs, self.cd = aws("codepipeline"), aws("ecs"), aws("codedeploy")
        self.iam, self.codebuild = aws("iam"), aws("codebuild")
        self.role = self.iam.create_role(RoleName="p", AssumeRolePolicyDocument=json.dumps(
            TRUST))["Role"]["Arn"]
        self.connection = aws("codestar-connections").create_connection(
            ProviderType="GitHub", ConnectionName="github")["ConnectionArn"]
        connections.complete_handshake(self.connection)

    def create(self, deploy: dict, buildspec: str, name: str = PIPELINE) -> str:
        self.name = name
        self.codebuild.create_project(
            name=name, source={"type": "CODEPIPELINE", "buildspec": buildspec},
            artifacts={"type": "CODEPIPELINE"}, serviceRole=self.role, environment={
                "type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": True,
                "environmentVariables": [
                    {"name": "IMAGE_REPO_URI", "value": self.seeded["repository_uri"]},
                    {"name": "CONTAINER_NAME", "value": "web"}]})

        def action(name, category, provider, configuration, inputs=(), outputs=()):
            return {"name": name, "actionTypeId": {"category": category, "owner": "AWS",
                                                   "provider": provider, "version": "1"},
                    "configuration": configuration, "runOrder": 1,
                    "inputArtifacts": [{"name": n} for n in inputs],
                    "outputArtifacts": [{"name": n} for n in outputs]}

        self.cp.create_pipeline(pipeline={
            "name": name, "roleArn": self.role, "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [
                {"name": "Source", "actions": [action(
                    "Source", "Source", "CodeStarSourceConnection", {
                        "ConnectionArn": self.connection, "FullRepositoryId": "acme/demo-app",
                        "BranchName": "main"}, outputs=["SourceOutput"])]},
                {"name": "Build", "actions": [action("Build", "Build", "CodeBuild",
                                                     {"ProjectName": name}, ["SourceOutput"],
                                                     ["BuildOutput"])]},
                {"name": "Deploy", "actions": [action("Deploy", "Deploy", deploy["provider"],
                                                      deploy["configuration"], ["BuildOutput"])]},
            ]})
        return self.cp.list_pipeline_executions(pipelineName=name)[
            "pipelineExecutionSummaries"][0]["pipelineExecutionId"]

    def deploy_action(self, execution: str) -> dict:
        return next(a for a in self.cp.list_action_executions(
            pipelineName=self.name, filter={"pipelineExecutionId": execution})[
            "actionExecutionDetails"] if a["actionName"] == "Deploy")

    def status(self, execution: str) -> str:
        return self.cp.get_pipeline_execution(pipelineName=self.name,
                                              pipelineExecutionId=execution)[
            "pipelineExecution"]["status"]

    def service(self, name: str) -> dict:
        return self.ecs.describe_services(cluster=name, services=[name])["services"][0]

    def image_of(self, task_definition: str) -> str:
        return self.ecs.describe_task_definition(taskDefinition=task_definition)[
            "taskDefinition"]["containerDefinitions"][0]["image"]


@pytest.fixture
def pipeline(seeded, aws, clock) -> Pipeline:
    return Pipeline(seeded, aws, clock)


def _codedeploy_action(**extra: str) -> dict:
    configuration = {"ApplicationName": CODEDEPLOY, "DeploymentGroupName": CODEDEPLOY,
                     "TaskDefinitionTemplateArtifact": "BuildOutput",
                     "AppSpecTemplateArtifact": "BuildOutput",
                     "Image1ArtifactName": "BuildOutput", "Image1ContainerName": "IMAGE1_NAME",
                     **extra}
    return {"provider": "CodeDeployToECS",
            "configuration": {k: v for k, v in configuration.items() if v}}


def _ecs_action(**extra: str) -> dict:
    return {"provider": "ECS", "configuration": {"ClusterName": BLUEGREEN,
                                                 "ServiceName": BLUEGREEN, **extra}}


def _files(seeded: dict) -> dict[str, str]:
    return {"taskdef.json": json.dumps(_taskdef(seeded)), "appspec.yaml": APPSPEC}


# --- CodeDeployToECS ----------------------------------------------------------------------


def test_codedeploy_to_ecs_deploys_the_built_image_and_ends_with_the_deployment(pipeline, seeded,
                                                                                 clock):
    execution = pipeline.create(_codedeploy_action(), _buildspec(_files(seeded)))
    clock.advance(4 + 5)  # source and build; install, test traffic, production traffic

    action = pipeline.deploy_action(execution)
    ident = action["output"]["executionResult"]["externalExecutionId"]
    info = pipeline.cd.get_deployment(deploymentId=ident)["deploymentInfo"]
    assert action["status"] == "InProgress"  # the termination wait
    assert (info["status"], info["instanceTerminationWaitTimeStarted"]) == ("InProgress", True)
    assert "<TASK_DEFINITION>" not in info["revision"]["appSpecContent"]["content"]
    clock.advance(60)

    assert pipeline.status(execution) == "Succeeded"
    assert pipeline.deploy_action(execution)["status"] == "Succeeded"
    [task_set] = pipeline.service(CODEDEPLOY)["taskSets"]
    image = pipeline.image_of(task_set["taskDefinition"])
    assert image.startswith(seeded["repository_uri"] + ":") and image != seeded["image_uri"]
    assert pipeline.image_of(pipeline.service(CODEDEPLOY)["taskDefinition"]) == image


def test_a_failed_codedeploy_deployment_fails_the_action_with_its_reason(pipeline, seeded, clock,
                                                                         sandbox):
    sandbox.rollback = True
    execution = pipeline.create(_codedeploy_action(), _buildspec(_files(seeded)))
    clock.advance(4 + 3)

    action = pipeline.deploy_action(execution)
    assert action["status"] == "Failed"
    assert action["output"]["executionResult"]["externalExecutionSummary"].startswith(
        f"Deployment {action['output']['executionResult']['externalExecutionId']} failed: ")
    [task_set] = pipeline.service(CODEDEPLOY)["taskSets"]
    assert task_set["taskDefinition"] == seeded["codedeploy"]["task_definition_arn"]


def test_codedeploy_to_ecs_refuses_what_it_cannot_deploy(pipeline, seeded, clock):
    cases = [
        ({"appspec.yaml": APPSPEC}, {},
         "Exception while trying to read the task definition artifact file from: BuildOutput."),
        (None, {"Image1ContainerName": ""},
         "Action configuration is missing 'Image1ContainerName' configuration."),
        (None, {"Image1ContainerName": "WEB_IMAGE"},
         "The task definition file taskdef.json has no placeholder <WEB_IMAGE>"),
        ({"taskdef.json": "{}"}, {"Image1ArtifactName": ""},
         "The task definition file taskdef.json needs family and containerDefinitions."),
        ({"taskdef.json": json.dumps({**_taskdef(seeded), "revision": 3})}, {},
         "has fields RegisterTaskDefinition does not accept: revision."),
        (None, {"DeploymentGroupName": "nope"},
         "The deployment group nope does not exist with the user or AWS account."),
    ]
    for n, (files, extra, message) in enumerate(cases):  # one pipeline each
        files = _files(seeded) if files is None else files
        execution = pipeline.create(_codedeploy_action(**extra), _buildspec(files),
                                    name=f"refused-{n}")
        clock.advance(4 + 3)  # an action that cannot start fails at the end of its stage

        action = pipeline.deploy_action(execution)
        assert action["status"] == "Failed", message
        assert message in action["output"]["executionResult"]["externalExecutionSummary"]


# --- the ECS action on a blue/green service --------------------------------------------------


def _service_deployment(pipeline: Pipeline) -> dict:
    arn = pipeline.service(BLUEGREEN)["currentServiceDeployment"]
    return pipeline.ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
        "serviceDeployments"][0]


def test_the_ecs_action_waits_through_the_pause_and_the_bake(pipeline, clock):
    execution = pipeline.create(_ecs_action(), _buildspec({}))
    clock.advance(4 + 4)

    paused = _service_deployment(pipeline)
    [hook] = paused["lifecycleHookDetails"]
    assert hook["status"] == "AWAITING_ACTION"
    assert pipeline.deploy_action(execution)["status"] == "InProgress"
    pipeline.ecs.continue_service_deployment(
        serviceDeploymentArn=paused["serviceDeploymentArn"], hookId=hook["hookId"])
    clock.advance(1 + 60)
    assert pipeline.deploy_action(execution)["status"] == "InProgress"  # cleaning up
    clock.advance(1)

    assert pipeline.status(execution) == "Succeeded"
    assert _service_deployment(pipeline)["status"] == "SUCCESSFUL"


def test_a_pause_longer_than_the_deployment_timeout_fails_the_action_not_the_deployment(
        pipeline, clock):
    execution = pipeline.create(_ecs_action(DeploymentTimeout="5"), _buildspec({}))
    clock.advance(4 + 5 * 60)

    action = pipeline.deploy_action(execution)
    summary = action["output"]["executionResult"]["externalExecutionSummary"]
    assert action["status"] == "Failed"
    assert "did not finish within the DeploymentTimeout of 5 minutes" in summary
    assert "waiting at PAUSE hook ecs-pause-" in summary
    assert _service_deployment(pipeline)["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"


def test_a_rolled_back_blue_green_deployment_fails_the_action(pipeline, clock):
    execution = pipeline.create(_ecs_action(), _buildspec({}))
    clock.advance(8)
    paused = _service_deployment(pipeline)
    pipeline.ecs.continue_service_deployment(
        serviceDeploymentArn=paused["serviceDeploymentArn"],
        hookId=paused["lifecycleHookDetails"][0]["hookId"], action="ROLLBACK")
    clock.advance(1)

    action = pipeline.deploy_action(execution)
    assert action["status"] == "Failed"
    assert "ended ROLLBACK_SUCCESSFUL: The lifecycle hook" in action["output"][
        "executionResult"]["externalExecutionSummary"]


def test_a_deployment_timeout_over_60_minutes_is_a_configuration_error(pipeline, clock):
    execution = pipeline.create(_ecs_action(DeploymentTimeout="90"), _buildspec({}))
    clock.advance(8)

    action = pipeline.deploy_action(execution)
    assert action["status"] == "Failed"
    assert "DeploymentTimeout '90' is not valid" in action["output"]["executionResult"][
        "externalExecutionSummary"]


def test_the_ecs_action_on_a_code_deploy_service_fails_as_update_service_refuses(pipeline,
                                                                                 clock):
    execution = pipeline.create({"provider": "ECS", "configuration": {
        "ClusterName": CODEDEPLOY, "ServiceName": CODEDEPLOY}}, _buildspec({}))
    clock.advance(8)

    action = pipeline.deploy_action(execution)
    assert action["status"] == "Failed"
    assert action["output"]["executionResult"]["externalExecutionSummary"].startswith(
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller")
    assert len(pipeline.service(CODEDEPLOY)["taskSets"]) == 1


# --- what a build writes --------------------------------------------------------------------


def test_the_files_ecspipes_own_buildspec_writes_are_evaluated_exactly():
    from ecspipe.documents.buildspec import check_image_uri, imagedefinitions_command

    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
    commands = ['SRC_DIR="$PWD"', 'COMMIT="${CODEBUILD_RESOLVED_SOURCE_VERSION:?none}"',
                'IMAGE_TAG="$(date -u +%Y%m%d_%H%M%S)-${COMMIT:0:7}"',
                'IMAGE_URI="$IMAGE_REPO_URI:$IMAGE_TAG"', check_image_uri("IMAGE_URI", uri),
                imagedefinitions_command("imagedefinitions.json", "web", "IMAGE_URI")]
    env = {"IMAGE_REPO_URI": uri, "CODEBUILD_RESOLVED_SOURCE_VERSION": "0123456789abcdef",
           "PWD": buildfiles.SRC_DIR, "IMAGE_TAG": "20260101_000000-0123456"}

    written = buildfiles.evaluate(commands, env)

    assert written == {f"{buildfiles.SRC_DIR}/imagedefinitions.json": json.dumps(
        [{"name": "web", "imageUri": f"{uri}:20260101_000000-0123456"}],
        separators=(",", ":"))}


def test_heredocs_echo_and_appends_are_evaluated_and_substitutions_are_not():
    commands = ["cat > taskdef.json <<'EOF'\n{\"image\": \"<IMAGE1_NAME>\", \"x\": \"$X\"}\nEOF",
                "cat <<EOF > notes.txt\nX is $X\nEOF",
                'echo -n "a ${X:0:2}" > out/a.txt && echo b >> out/a.txt',
                "printf '%s\\n' one two > list.txt",
                "echo \"$(whoami)\" > who.txt"]

    written = buildfiles.evaluate(commands, {"X": "xyz"})
    names = {path.rsplit("/src/", 1)[1]: text for path, text in written.items()}

    assert names == {"taskdef.json": '{"image": "<IMAGE1_NAME>", "x": "$X"}\n',
                     "notes.txt": "X is xyz\n", "out/a.txt": "a xyb\n",
                     "list.txt": "one\ntwo\n"}


def test_only_the_files_the_artifacts_list_are_in_the_artifact():
    src = buildfiles.SRC_DIR
    written = {f"{src}/imageDetail.json": "{}", f"{src}/deploy/taskdef.json": "{}",
               f"{src}/scratch.txt": "x"}

    assert buildfiles.listed({"files": ["image*.json", "deploy/*"]}, written) == {
        "imageDetail.json": "{}", "deploy/taskdef.json": "{}"}
    assert buildfiles.listed({"files": ["**/*"], "discard-paths": "yes"}, written) == {
        "imageDetail.json": "{}", "taskdef.json": "{}", "scratch.txt": "x"}


def test_a_command_the_sandbox_cannot_evaluate_writes_nothing_and_breaks_nothing():
    commands = ["printf '%s' 'unbalanced > broken.json", 'echo "also unbalanced > b.txt',
                "printf '%s' \"${IMAGE_URI%%:*}\" > base.txt", "echo ok > ok.txt"]

    written = buildfiles.evaluate(commands, {"IMAGE_URI": "repo:tag"})

    assert {path.rsplit("/", 1)[1]: text for path, text in written.items()} == {"ok.txt": "ok\n"}
