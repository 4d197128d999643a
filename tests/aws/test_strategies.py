"""Services that do not roll: ECS blue/green with a pause hook, and CodeDeploy blue/green.

Against the sandbox's seed services demo-web-bluegreen (BLUE_GREEN, bake 1 minute,
a PAUSE hook after the test traffic shift) and demo-web-codedeploy (CODE_DEPLOY,
its application and deployment group of the same name). `release --wait` runs
in-process with an injected sleep; the person answering the pause in another
terminal is played by that sleep, running `ecspipe approve` itself.
"""

from __future__ import annotations

import boto3
import pytest

BLUEGREEN = "demo-web-bluegreen"
CODEDEPLOY = "demo-web-codedeploy"


def _config(write_config, name: str) -> str:
    return write_config(("cluster: demo-cluster", f"cluster: {name}"),
                        ("name: demo-web-service", f"name: {name}"))


@pytest.fixture
def bluegreen(seeded, write_config, ecspipe):
    path = _config(write_config, BLUEGREEN)
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


@pytest.fixture
def codedeploy(seeded, write_config, ecspipe):
    path = _config(write_config, CODEDEPLOY)
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


def _running_image(name: str) -> str:
    """The image the service's PRIMARY task set (CODE_DEPLOY) or PRIMARY deployment runs."""
    ecs = boto3.client("ecs")
    service = ecs.describe_services(cluster=name, services=[name])["services"][0]
    primary = [t for t in service.get("taskSets", []) if t["status"] == "PRIMARY"] or \
        [d for d in service["deployments"] if d["status"] == "PRIMARY"]
    definition = ecs.describe_task_definition(taskDefinition=primary[0]["taskDefinition"])
    return definition["taskDefinition"]["containerDefinitions"][0]["image"]


def person(ecspipe_run, clock, sleeps, config: str, *flags: str):
    """A sleep that, once a service deployment has waited at a pause hook for a refresh of
    `release --wait`, answers it with `ecspipe approve` (and `flags`), as a person in
    another terminal would."""
    answers: list = []
    seen: set[str] = set()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        ecs = boto3.client("ecs")
        service = ecs.describe_services(cluster=BLUEGREEN, services=[BLUEGREEN])["services"][0]
        arn = service.get("currentServiceDeployment")
        if not arn:
            return
        deployment = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"][0]
        waiting = [h["hookId"] for h in deployment.get("lifecycleHookDetails") or []
                   if h["status"] == "AWAITING_ACTION"]
        if waiting and waiting[0] in seen:
            answers.append(ecspipe_run("approve", "-c", config, "--yes", "-o", "json", *flags))
        seen.update(waiting)

    sleep.answers = answers  # type: ignore[attr-defined]
    return sleep


def _invoke_cli():
    """`ecspipe ...` in-process without the fixture's output capture (it is nested)."""
    from ecspipe.cli import run

    return lambda *args: run(list(args))


def test_plan_shows_each_strategy_its_deploy_action_timeout_and_why(seeded, write_config,
                                                                   ecspipe):
    for name, provider, strategy in ((BLUEGREEN, "ECS", "BLUE_GREEN"),
                                     (CODEDEPLOY, "CodeDeployToECS", "CODE_DEPLOY")):
        result = ecspipe("plan", "-c", _config(write_config, name), "-o", "json")
        assert result.code == 0, result
        (deploy,) = result.json()["deploy"]
        assert deploy["provider"] == provider and deploy["strategy"] == strategy
        if name == BLUEGREEN:
            assert deploy["timeout_minutes"] == 60 and deploy["timeout_set"] is True
            assert deploy["outlasts_action"] is True, "a pause hook can wait 24 hours"
            assert "POST_TEST_TRAFFIC_SHIFT" in deploy["pauses"][0]
        else:
            assert deploy["timeout_minutes"] == 7200 and deploy["timeout_set"] is False
            assert f"{CODEDEPLOY}/{CODEDEPLOY}" in deploy["why"]
        text = ecspipe("plan", "-c", _config(write_config, name))
        assert f"{provider} action, strategy {strategy}" in text.out
        assert "why:" in text.out


def test_bluegreen_release_waits_at_the_pause_until_approve_continues_it(
        bluegreen, ecspipe, clock, sleeps):
    sleep = person(_invoke_cli(), clock, sleeps, bluegreen)
    result = ecspipe("release", "-c", bluegreen, "--wait", obj={"sleep": sleep})
    assert result.code == 0, result
    # AWS's own first execution (CreatePipeline) paused first: answered, then ours.
    assert len(sleep.answers) == 2 and all(code == 0 for code in sleep.answers)
    assert "waits at a PAUSE hook in POST_TEST_TRAFFIC_SHIFT" in result.out
    assert "`ecspipe approve -c " in result.out and "--reject` rolls it back" in result.out
    assert "service deployment" in result.out and "BAKE_TIME" in result.out
    assert "released: execution" in result.out
    commit = boto3.client("codepipeline").list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["sourceRevisions"][0]["revisionId"]
    assert _running_image(BLUEGREEN).endswith("-" + commit[:7])

    status = ecspipe("status", "-c", bluegreen, "-o", "json").json()
    assert status["service"]["deploy"]["strategy"] == "BLUE_GREEN"
    assert status["service"]["deploy"]["timeout_minutes"] == 60
    assert status["service"]["deploy"]["pause_hooks"][0]["stages"] == ["POST_TEST_TRAFFIC_SHIFT"]


def test_bluegreen_rejected_at_the_pause_is_rolled_back_and_exit_1(bluegreen, ecspipe, clock,
                                                                    sleeps):
    before = _running_image(BLUEGREEN)
    sleep = person(_invoke_cli(), clock, sleeps, bluegreen, "--reject")
    result = ecspipe("release", "-c", bluegreen, "--wait", obj={"sleep": sleep})
    assert result.code == 1, result
    assert "ROLLBACK_SUCCESSFUL" in result.out, result
    assert _running_image(BLUEGREEN) == before


def test_bluegreen_forced_rollback_is_exit_1_with_the_reason(bluegreen, ecspipe, sandbox):
    sandbox.rollback = True
    result = ecspipe("release", "-c", bluegreen, "--wait", "-o", "json")
    assert result.code == 1, result
    reason = result.json()["reason"]
    assert "ended ROLLBACK_SUCCESSFUL" in reason and "circuit breaker" in reason.lower(), reason


def test_codedeploy_release_deploys_the_built_image_through_a_new_primary_task_set(
        codedeploy, ecspipe):
    before = boto3.client("ecs").describe_task_definition(taskDefinition=CODEDEPLOY)[
        "taskDefinition"]
    result = ecspipe("release", "-c", codedeploy, "--wait")
    assert result.code == 0, result
    assert "CodeDeploy deployment d-" in result.out and "Succeeded" in result.out
    commit = boto3.client("codepipeline").list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["sourceRevisions"][0]["revisionId"]
    image = _running_image(CODEDEPLOY)
    assert image.endswith("-" + commit[:7])
    # The registered task definition keeps everything of the service's but the image.
    after = boto3.client("ecs").describe_task_definition(taskDefinition=CODEDEPLOY)[
        "taskDefinition"]
    for key in ("cpu", "memory", "taskRoleArn", "executionRoleArn", "networkMode",
                "requiresCompatibilities", "runtimePlatform"):
        assert after[key] == before[key], key
    (container,) = after["containerDefinitions"]
    assert container["image"] == image
    assert container["logConfiguration"] == before["containerDefinitions"][0]["logConfiguration"]
    assert container["portMappings"] == before["containerDefinitions"][0]["portMappings"]

    status = ecspipe("status", "-c", codedeploy, "-o", "json").json()
    assert status["service"]["deploy"]["provider"] == "CodeDeployToECS"
    assert status["service"]["deploy"]["deployment_group"] == CODEDEPLOY
    assert status["service"]["image"] == image, "status reads the PRIMARY task set"
    text = ecspipe("status", "-c", codedeploy).out
    assert (f"deploy   CodeDeployToECS (CODE_DEPLOY), timeout 7200 min (CodeDeployToECS: "
            f"CodePipeline's fixed 5 days), CodeDeploy {CODEDEPLOY}/{CODEDEPLOY}") in text


def test_codedeploy_forced_rollback_is_exit_1_with_codedeploys_reason(codedeploy, ecspipe,
                                                                       sandbox, clock):
    # AWS's own first execution (CreatePipeline) deploys first; it is over in 10 minutes.
    clock.advance(600)
    before = _running_image(CODEDEPLOY)
    sandbox.rollback = True
    result = ecspipe("release", "-c", codedeploy, "--wait", "-o", "json")
    assert result.code == 1, result
    reason = result.json()["reason"]
    assert "the CodeDeploy deployment d-" in reason and "failed" in reason, reason
    assert "rolled back by deployment d-" in reason, reason
    assert _running_image(CODEDEPLOY) == before


def test_a_code_deploy_service_two_deployment_groups_deploy_is_exit_2(seeded, write_config,
                                                                      ecspipe, calls):
    codedeploy = boto3.client("codedeploy")
    group = codedeploy.get_deployment_group(applicationName=CODEDEPLOY,
                                            deploymentGroupName=CODEDEPLOY)["deploymentGroupInfo"]
    codedeploy.create_application(applicationName="other-app", computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName="other-app", deploymentGroupName="other-group",
        serviceRoleArn=group["serviceRoleArn"], ecsServices=group["ecsServices"],
        deploymentStyle=group["deploymentStyle"], loadBalancerInfo=group["loadBalancerInfo"],
        blueGreenDeploymentConfiguration=group["blueGreenDeploymentConfiguration"])
    calls.clear()
    result = ecspipe("plan", "-c", _config(write_config, CODEDEPLOY))
    assert result.code == 2, result
    assert "2 CodeDeploy deployment groups deploy 'demo-web-codedeploy'" in result.err
    assert "other-app/other-group" in result.err and "Traceback" not in result.err
    assert not calls.writes


def test_approve_shows_the_paused_deployment_wants_confirmation_and_continues_it(
        bluegreen, ecspipe, clock):
    # AWS's first execution (CreatePipeline) deploys and waits at the pause hook.
    ecs = boto3.client("ecs")
    for _ in range(60):
        clock.advance(5)
        arn = ecs.describe_services(cluster=BLUEGREEN, services=[BLUEGREEN])["services"][0][
            "currentServiceDeployment"]
        deployment = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
            "serviceDeployments"][0]
        if deployment.get("lifecycleHookDetails"):
            break
    refused = ecspipe("approve", "-c", bluegreen)
    assert refused.code == 2, refused
    assert "waits at a PAUSE hook in POST_TEST_TRAFFIC_SHIFT" in refused.out
    assert "refusing to continue the service deployment without confirmation" in refused.err
    unknown = ecspipe("approve", "-c", bluegreen, "--env", "prod", "--yes")
    assert unknown.code == 2 and "--env prod: no such environment" in unknown.err, unknown

    answered = ecspipe("approve", "-c", bluegreen, "--yes", "-o", "json")
    assert answered.code == 0, answered
    data = answered.json()
    assert data["action"] == "CONTINUE" and data["service_deployment"] == arn
    assert data["paused"]["stage"] == "POST_TEST_TRAFFIC_SHIFT"
    hook = ecs.describe_service_deployments(serviceDeploymentArns=[arn])[
        "serviceDeployments"][0]["lifecycleHookDetails"][0]
    assert hook["status"] == "SUCCEEDED"
    again = ecspipe("approve", "-c", bluegreen, "--yes")
    assert again.code == 2 and "this pipeline has no approvals" in again.err, again
