"""Deploy providers and strategies: the CodeDeployToECS files, the timeout choice, the
strategy read from DescribeServices, and what release --wait makes of a deployment."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sample_facts import (
    codedeploy_environments,
    codedeploy_task_definition,
    environments,
    seed_environments,
    seed_facts,
)

from ecspipe.config import Service, Target
from ecspipe.deploy_facts import strategy_of
from ecspipe.deployments import Followed, apply_codedeploy, apply_ecs
from ecspipe.documents import codedeploy as cd
from ecspipe.documents.buildspec import imagedetail_command, static_file_command
from ecspipe.documents.deploy import bake_minutes, choose, linear_steps
from ecspipe.documents.pipeline import environment_stages
from ecspipe.facts import PauseHook, Strategy
from ecspipe.sandbox import buildfiles

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo-app:20261202_010000-abcdef1"


# --- taskdef.json, appspec.yaml, imageDetail.json -------------------------------------------


def test_taskdef_keeps_every_register_field_and_puts_the_placeholder_in_the_right_container():
    described = codedeploy_task_definition()
    doc = cd.taskdef_document(described, "web")
    members = cd.register_task_definition_members()
    dropped = set(described) - set(doc)
    # Exactly the fields DescribeTaskDefinition adds, never one RegisterTaskDefinition takes.
    assert dropped == {"taskDefinitionArn", "revision", "status", "compatibilities",
                       "requiresAttributes", "registeredAt", "registeredBy"}
    assert set(doc) <= members
    for key in set(doc) - {"containerDefinitions"}:
        assert doc[key] == described[key], key
    web, sidecar = doc["containerDefinitions"]
    assert web["image"] == "<IMAGE1_NAME>"
    assert {k: v for k, v in web.items() if k != "image"} == {
        k: v for k, v in described["containerDefinitions"][0].items() if k != "image"}
    assert sidecar == described["containerDefinitions"][1], "the sidecar keeps its image"
    assert described["containerDefinitions"][0]["image"].endswith(":old"), "input untouched"


def test_taskdef_follows_the_member_list_and_leaves_out_empty_tags():
    described = codedeploy_task_definition(tags=False)
    assert "tags" not in cd.taskdef_document(described, "web")
    narrow = cd.taskdef_document(described, "web", members={"family", "containerDefinitions",
                                                             "revision"})
    assert set(narrow) == {"family", "containerDefinitions"}, "read-only fields never pass"
    with pytest.raises(ValueError, match="'nope'"):
        cd.taskdef_document(described, "nope")


def test_appspec_names_the_load_balancers_container_and_port_and_keeps_the_placeholder():
    spec = yaml.safe_load(cd.appspec_text("web", 8080))
    assert spec == {"version": 0.0, "Resources": [{"TargetService": {
        "Type": "AWS::ECS::Service", "Properties": {
            "TaskDefinition": "<TASK_DEFINITION>",
            "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 8080}}}}]}
    assert cd.appspec_text("web", 8080).startswith("version: 0.0\n")


def test_the_build_writes_the_three_files_exactly_in_bash(tmp_path: Path):
    taskdef = cd.taskdef_text(codedeploy_task_definition(), "web") + "\n"
    appspec = cd.appspec_text("web", 8080)
    script = "\n".join([imagedetail_command("IMAGE_URI"),
                        static_file_command("taskdef.json", taskdef),
                        static_file_command("appspec.yaml", appspec)])
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={"SRC_DIR": str(tmp_path), "IMAGE_URI": IMAGE,
                                          "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "imageDetail.json").read_text()) == {"ImageURI": IMAGE}
    assert (tmp_path / "taskdef.json").read_text() == taskdef  # "it's $HOME" kept literally
    assert (tmp_path / "appspec.yaml").read_text() == appspec
    # The sandbox's build reads the same files off the same commands.
    base = buildfiles.SRC_DIR
    written = buildfiles.evaluate(script.split("\n"), {"IMAGE_URI": IMAGE, "SRC_DIR": base})
    assert written[f"{base}/taskdef.json"] == taskdef
    assert written[f"{base}/appspec.yaml"] == appspec
    assert json.loads(written[f"{base}/imageDetail.json"]) == {"ImageURI": IMAGE}


def test_image_detail_refuses_an_image_reference_that_needs_escaping(tmp_path: Path):
    done = subprocess.run(["bash", "-c", imagedetail_command("IMAGE_URI")], cwd=tmp_path,
                          capture_output=True, text=True, check=False,
                          env={"SRC_DIR": str(tmp_path), "IMAGE_URI": 'x"}, "y', "PATH": "/bin"})
    assert done.returncode == 1 and "refusing to write imageDetail.json" in done.stderr
    assert not (tmp_path / "imageDetail.json").exists()


# --- the deploy action and its timeout --------------------------------------------------------


def _managed(**kw) -> Strategy:
    return Strategy(**kw)


def test_linear_and_canary_bake_times_follow_the_documented_formulas():
    assert linear_steps(10.0) == 9 and linear_steps(3.0) == 33 and linear_steps(30.0) == 3
    assert linear_steps(100.0) == 0
    assert bake_minutes(_managed(name="LINEAR", bake_minutes=5, step_percent=25.0,
                                 step_bake_minutes=4)) == 5 + 4 * 3
    assert bake_minutes(_managed(name="CANARY", bake_minutes=5, canary_percent=5.0,
                                 canary_bake_minutes=10)) == 15
    assert bake_minutes(_managed(name="BLUE_GREEN", bake_minutes=7)) == 7


def test_rolling_keeps_the_declaration_of_before():
    choice = choose(seed_facts())
    assert (choice.provider, choice.strategy, choice.timeout_set) == ("ECS", "ROLLING", False)
    (stage,) = environment_stages(_names(), seed_environments())
    assert stage["actions"][0]["configuration"] == {
        "ClusterName": "demo-cluster", "ServiceName": "demo-web-service",
        "FileName": "imagedefinitions.json"}


def test_blue_green_gets_the_longest_deployment_timeout_and_says_when_it_cannot_wait():
    short = replace(seed_facts(), strategy=_managed(name="BLUE_GREEN", bake_minutes=5))
    choice = choose(short)
    assert choice.timeout_set and choice.timeout_minutes == 60
    assert choice.minimum_minutes == 15 and not choice.outlasts_action
    assert "bake time 5 min" in choice.why
    long = replace(seed_facts(), strategy=_managed(name="LINEAR", bake_minutes=30,
                                                   step_percent=10.0, step_bake_minutes=6))
    assert choose(long).outlasts_action and choose(long).minimum_minutes == 30 + 54 + 10
    paused = replace(seed_facts(), strategy=_managed(
        name="BLUE_GREEN", bake_minutes=1,
        pause_hooks=(PauseHook(("POST_TEST_TRAFFIC_SHIFT",), 120, "ROLLBACK"),)))
    choice = choose(paused)
    assert choice.outlasts_action and "POST_TEST_TRAFFIC_SHIFT" in choice.pauses[0]
    env = replace(seed_environments()[0], service=paused)
    (stage,) = environment_stages(_names(), (env,))
    assert stage["actions"][0]["configuration"]["DeploymentTimeout"] == "60"


def test_code_deploy_gets_codedeploy_to_ecs_with_its_group_and_files():
    (env,) = codedeploy_environments()
    choice = choose(env.service)
    assert (choice.provider, choice.timeout_minutes, choice.timeout_set) == (
        "CodeDeployToECS", 7200, False)
    assert "termination wait 5 min" in choice.why
    (stage,) = environment_stages(_names(), (env,))
    action = stage["actions"][0]
    assert action["actionTypeId"] == {"category": "Deploy", "owner": "AWS",
                                      "provider": "CodeDeployToECS", "version": "1"}
    assert action["configuration"] == {
        "ApplicationName": "demo-app-cd", "DeploymentGroupName": "demo-web-cd-dg",
        "TaskDefinitionTemplateArtifact": "BuildOutput",
        "TaskDefinitionTemplatePath": "taskdef.json",
        "AppSpecTemplateArtifact": "BuildOutput", "AppSpecTemplatePath": "appspec.yaml",
        "Image1ArtifactName": "BuildOutput", "Image1ContainerName": "IMAGE1_NAME"}
    assert action["inputArtifacts"] == [{"name": "BuildOutput"}]


def test_the_buildspec_of_a_code_deploy_environment_lists_its_files_and_no_image_definitions():
    from test_policies import example_config, names_for

    from ecspipe.documents.project import project_request

    config = example_config()
    envs = (*environments(1), *[replace(e, target=Target("prod", Service(
        cluster="cd-cluster", name="demo-web-cd", container="web")))
        for e in codedeploy_environments()])
    spec = yaml.safe_load(project_request(config, names_for(config), envs)["source"]["buildspec"])
    assert spec["artifacts"]["files"] == ["imagedefinitions-staging.json", "imageDetail.json",
                                          "taskdef-prod.json", "appspec-prod.yaml"]


def _names():
    from test_policies import example_config, names_for

    return names_for(example_config())


# --- the strategy, read ------------------------------------------------------------------------


def test_strategy_of_reads_hooks_bakes_and_balancers_with_the_documented_defaults():
    service = {
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": {
            "strategy": "LINEAR", "bakeTimeInMinutes": 3,
            "linearConfiguration": {"stepPercent": 20.0},
            "lifecycleHooks": [
                {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]},
                {"hookTargetArn": "arn:aws:lambda:us-east-1:1:function:f", "roleArn": "r",
                 "lifecycleStages": ["PRE_SCALE_UP"]}]},
        "loadBalancers": [{"targetGroupArn": "tg", "containerName": "web", "containerPort": 80,
                           "advancedConfiguration": {"alternateTargetGroupArn": "tg2"}}],
    }
    strategy = strategy_of(service)
    assert strategy.name == "LINEAR" and strategy.managed
    assert strategy.step_percent == 20.0 and strategy.step_bake_minutes == 6
    assert strategy.pause_hooks == (PauseHook(("POST_SCALE_UP",), 1440, "ROLLBACK"),)
    assert strategy.lambda_hooks == 1
    assert strategy.load_balancers == (("tg", "web", 80, "tg2"),)
    assert strategy_of({}).name == "ROLLING" and not strategy_of({}).managed
    assert strategy_of({"deploymentController": {"type": "CODE_DEPLOY"}}).name == "CODE_DEPLOY"


# --- release --wait: what a deployment says ------------------------------------------------------


def _followed(kind: str) -> Followed:
    return Followed(Target(None, Service(cluster="c", name="s", container="web")), kind,
                    id="arn:aws:ecs:us-east-1:1:service-deployment/c/s/abc")


def test_an_ecs_deployment_baking_shows_traffic_and_the_bake_left():
    f = _followed("ecs")
    apply_ecs(f, {"status": "IN_PROGRESS", "lifecycleStage": "BAKE_TIME", "updatedAt": 1000.0,
                  "deploymentConfiguration": {"bakeTimeInMinutes": 5},
                  "targetServiceRevision": {"requestedProductionTrafficWeight": 100.0,
                                            "requestedTestTrafficWeight": 100.0}}, now=1090.0)
    assert f.bake_left == 210.0 and not f.ended
    assert f.describe() == ("service deployment abc IN_PROGRESS, at BAKE_TIME, production "
                            "traffic 100% on the new revision (test 100%), baking, about "
                            "3m30s left")


def test_an_ecs_deployment_at_a_pause_and_its_rollback_reason():
    f = _followed("ecs")
    apply_ecs(f, {"status": "IN_PROGRESS", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
                  "lifecycleHookDetails": [{"hookId": "ecs-pause-1", "targetType": "PAUSE",
                                            "status": "AWAITING_ACTION", "expiresAt": 5.0,
                                            "timeoutAction": "ROLLBACK"}]}, now=0.0)
    assert f.pause == {"hook_id": "ecs-pause-1", "stage": "POST_TEST_TRAFFIC_SHIFT",
                       "expires_at": "5.0", "timeout_action": "ROLLBACK"}
    apply_ecs(f, {"status": "ROLLBACK_SUCCESSFUL", "statusReason": "Rolled back on request.",
                  "rollback": {"reason": "ContinueServiceDeployment ROLLBACK"}}, now=0.0)
    assert f.ended and not f.succeeded and f.pause is None
    assert f.reason == ("the service deployment abc ended ROLLBACK_SUCCESSFUL: Rolled back on "
                        "request (rollback: ContinueServiceDeployment ROLLBACK)")


def test_a_codedeploy_deployment_in_termination_wait_and_failed_with_its_rollback():
    f = _followed("codedeploy")
    f.id = "d-ABC"
    targets = [{"ecsTarget": {"lifecycleEvents": [
        {"lifecycleEventName": "AllowTraffic", "status": "Succeeded"},
        {"lifecycleEventName": "AfterAllowTraffic", "status": "Succeeded"}],
        "taskSetsInfo": [{"taskSetLabel": "Blue", "trafficWeight": 0.0},
                         {"taskSetLabel": "Green", "trafficWeight": 100.0}]}}]
    apply_codedeploy(f, {"status": "InProgress", "instanceTerminationWaitTimeStarted": True},
                     targets)
    assert f.stage == "AfterAllowTraffic" and f.production_weight == 100.0 and f.termination_wait
    apply_codedeploy(f, {"status": "Stopped", "errorInformation": {
        "code": "MANUAL_STOP", "message": "Stopped by a person."},
        "rollbackInfo": {"rollbackDeploymentId": "d-XYZ"}}, targets)
    assert f.ended and not f.succeeded and not f.termination_wait
    assert f.reason == ("the CodeDeploy deployment d-ABC stopped (MANUAL_STOP): Stopped by a "
                        "person; rolled back by deployment d-XYZ")
