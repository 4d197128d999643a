"""CodeDeploy blue/green deployments of ECS services in the sandbox.

Mock mode with a manual clock, on the seed's CODE_DEPLOY service (`seeded`:
cluster, service, application and deployment group `demo-web-codedeploy`,
ECSAllAtOnce, a test listener, a one-minute termination wait, automatic
rollback). Install takes SETTINGS.stage_seconds["Deploy"] (3 s), each traffic
shift SHIFT_SECONDS (1 s). The last test runs one deployment against an
in-process server.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ecspipe.sandbox import codedeploy_ecs as cde

NAME = "demo-web-codedeploy"


@pytest.fixture
def cd(seeded, aws):
    return aws("codedeploy")


@pytest.fixture
def ecs(seeded, aws):
    return aws("ecs")


def register(ecs, tag: str = "v2", container: str = "web", port: int = 8080) -> str:
    return ecs.register_task_definition(
        family=NAME, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=[{
            "name": container, "image": f"repo/app:{tag}",
            "portMappings": [{"containerPort": port}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def appspec(task_definition: str, container: str = "web", port: int = 8080) -> str:
    return (f"version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n"
            f"      Properties:\n        TaskDefinition: {task_definition}\n"
            f"        LoadBalancerInfo:\n          ContainerName: \"{container}\"\n"
            f"          ContainerPort: {port}\n")


def deploy(cd, content: str, group: str = NAME) -> str:
    return cd.create_deployment(applicationName=NAME, deploymentGroupName=group, revision={
        "revisionType": "AppSpecContent", "appSpecContent": {"content": content}})["deploymentId"]


def deployment(cd, ident: str) -> dict:
    return cd.get_deployment(deploymentId=ident)["deploymentInfo"]


def target(cd, ident: str) -> dict:
    ids = cd.list_deployment_targets(deploymentId=ident)["targetIds"]
    return cd.batch_get_deployment_targets(deploymentId=ident, targetIds=ids)[
        "deploymentTargets"][0]["ecsTarget"]


def service(ecs) -> dict:
    return ecs.describe_services(cluster=NAME, services=[NAME])["services"][0]


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_the_seeded_deployment_group_reads_as_created(cd, seeded):
    group = cd.get_deployment_group(applicationName=NAME, deploymentGroupName=NAME)[
        "deploymentGroupInfo"]
    batch = cd.batch_get_deployment_groups(applicationName=NAME,
                                           deploymentGroupNames=[NAME, "nope"])

    assert group["ecsServices"] == [{"serviceName": NAME, "clusterName": NAME}]
    assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN",
                                        "deploymentOption": "WITH_TRAFFIC_CONTROL"}
    [pair] = group["loadBalancerInfo"]["targetGroupPairInfoList"]
    assert [g["name"] for g in pair["targetGroups"]] == [f"{NAME}-blue", f"{NAME}-green"]
    assert pair["prodTrafficRoute"]["listenerArns"] == [seeded["codedeploy"][
        "production_listener_arn"]]
    assert group["blueGreenDeploymentConfiguration"]["terminateBlueInstancesOnDeploymentSuccess"] \
        == {"action": "TERMINATE", "terminationWaitTimeInMinutes": 1}
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    assert [g["deploymentGroupName"] for g in batch["deploymentGroupsInfo"]] == [NAME]
    assert "nope" in batch["errorMessage"]
    assert cd.list_deployment_groups(applicationName=NAME)["deploymentGroups"] == [NAME]
    with pytest.raises(ClientError) as missing:
        cd.list_deployment_groups(applicationName="nope")
    assert code(missing) == "ApplicationDoesNotExistException"


def test_a_code_deploy_service_starts_with_one_primary_task_set(ecs, seeded):
    described = service(ecs)

    [task_set] = described["taskSets"]
    assert (task_set["status"], task_set["taskDefinition"]) == (
        "PRIMARY", seeded["codedeploy"]["task_definition_arn"])
    assert task_set["loadBalancers"][0]["targetGroupArn"] == seeded["codedeploy"][
        "blue_target_group_arn"]
    assert described["deployments"] == [] and described["runningCount"] == 2


def test_a_deployment_installs_green_shifts_traffic_waits_then_deletes_blue(cd, ecs, clock):
    new = register(ecs)
    ident = deploy(cd, appspec(new))
    assert ident.startswith("d-") and len(ident) == 11

    def snapshot():
        info, ecs_target = deployment(cd, ident), target(cd, ident)
        events = {e["lifecycleEventName"]: e["status"] for e in ecs_target["lifecycleEvents"]}
        sets = [(s["taskSetLabel"], s["status"], s["trafficWeight"], s["runningCount"])
                for s in ecs_target["taskSetsInfo"]]
        return info["status"], info["instanceTerminationWaitTimeStarted"], \
            [n for n, status in events.items() if status == "InProgress"], sets

    seen = [snapshot()]
    for step in (3, 1, 1):
        clock.advance(step)
        seen.append(snapshot())

    assert seen == [
        ("InProgress", False, ["Install"], [("Blue", "PRIMARY", 100.0, 2),
                                            ("Green", "ACTIVE", 0.0, 0)]),
        ("InProgress", False, ["AllowTestTraffic"], [("Blue", "PRIMARY", 100.0, 2),
                                                     ("Green", "ACTIVE", 0.0, 2)]),
        ("InProgress", False, ["AllowTraffic"], [("Blue", "PRIMARY", 100.0, 2),
                                                 ("Green", "ACTIVE", 0.0, 2)]),
        ("InProgress", True, [], [("Blue", "ACTIVE", 0.0, 2), ("Green", "PRIMARY", 100.0, 2)]),
    ]
    assert service(ecs)["taskDefinition"] == new  # the service runs green from AllowTraffic on
    clock.advance(60)  # the termination wait
    done = deployment(cd, ident)
    assert (done["status"], done["deploymentOverview"]["Succeeded"]) == ("Succeeded", 1)
    assert all(e["status"] == "Succeeded" for e in target(cd, ident)["lifecycleEvents"])
    [task_set] = service(ecs)["taskSets"]
    assert (task_set["status"], task_set["taskDefinition"]) == ("PRIMARY", new)
    assert task_set["loadBalancers"][0]["targetGroupArn"].split("/")[1] == f"{NAME}-green"


def test_continue_deployment_ends_the_termination_wait_early(cd, ecs, clock):
    ident = deploy(cd, appspec(register(ecs)))
    clock.advance(5)

    with pytest.raises(ClientError) as not_ready:
        cd.continue_deployment(deploymentId=ident, deploymentWaitType="READY_WAIT")
    cd.continue_deployment(deploymentId=ident, deploymentWaitType="TERMINATION_WAIT")

    assert code(not_ready) == "DeploymentIsNotInReadyStateException"
    assert deployment(cd, ident)["status"] == "Succeeded"
    with pytest.raises(ClientError) as completed:
        cd.continue_deployment(deploymentId=ident, deploymentWaitType="TERMINATION_WAIT")
    assert code(completed) == "DeploymentAlreadyCompletedException"


def test_the_next_deployment_uses_the_other_target_group_of_the_pair(cd, ecs, clock):
    deploy(cd, appspec(register(ecs, "v2")))
    clock.advance(65)
    ident = deploy(cd, appspec(register(ecs, "v3")))

    labels = {s["taskSetLabel"]: s["targetGroup"]["name"]
              for s in target(cd, ident)["taskSetsInfo"]}
    assert labels == {"Blue": f"{NAME}-green", "Green": f"{NAME}-blue"}


def test_a_second_deployment_while_one_is_active_is_refused(cd, ecs):
    first = deploy(cd, appspec(register(ecs)))

    with pytest.raises(ClientError) as refused:
        deploy(cd, appspec(register(ecs, "v3")))

    assert code(refused) == "DeploymentLimitExceededException"
    assert first in refused.value.response["Error"]["Message"]


def test_stop_deployment_returns_traffic_to_blue_and_records_a_rollback(cd, ecs, clock, seeded):
    ident = deploy(cd, appspec(register(ecs)))
    clock.advance(5)  # production traffic is on green

    answer = cd.stop_deployment(deploymentId=ident, autoRollbackEnabled=True)

    stopped = deployment(cd, ident)
    assert answer["status"] == "Succeeded"
    assert stopped["status"] == "Stopped"
    assert stopped["errorInformation"]["code"] == "MANUAL_STOP"
    rollback_id = stopped["rollbackInfo"]["rollbackDeploymentId"]
    [task_set] = service(ecs)["taskSets"]
    assert task_set["taskDefinition"] == seeded["codedeploy"]["task_definition_arn"]
    assert service(ecs)["taskDefinition"] == seeded["codedeploy"]["task_definition_arn"]
    rollback = deployment(cd, rollback_id)
    assert rollback["creator"] == "codeDeployRollback"
    assert rollback["rollbackInfo"]["rollbackTriggeringDeploymentId"] == ident
    clock.advance(1)
    assert deployment(cd, rollback_id)["status"] == "Succeeded"
    with pytest.raises(ClientError) as completed:
        cd.stop_deployment(deploymentId=ident)
    assert code(completed) == "DeploymentAlreadyCompletedException"


def test_stop_without_rollback_records_none(cd, ecs, clock):
    ident = deploy(cd, appspec(register(ecs)))
    clock.advance(1)

    cd.stop_deployment(deploymentId=ident, autoRollbackEnabled=False)

    stopped = deployment(cd, ident)
    assert (stopped["status"], stopped["rollbackInfo"]) == ("Stopped", {})
    assert [e["status"] for e in target(cd, ident)["lifecycleEvents"]][:3] == [
        "Succeeded", "Failed", "Skipped"]


def test_replacement_tasks_that_fail_to_start_fail_the_deployment_and_roll_back(seeded, aws,
                                                                                 clock):
    from ecspipe.sandbox import codedeploy

    cd, ecs = aws("codedeploy"), aws("ecs")
    content = appspec(register(ecs))
    ident = codedeploy.create("123456789012", "us-east-1", NAME, NAME, {
        "revisionType": "AppSpecContent", "appSpecContent": {"content": content}}, fail=True)
    clock.advance(3)

    failed = deployment(cd, ident)
    assert failed["status"] == "Failed"
    assert failed["errorInformation"]["code"] == "ECS_UPDATE_ERROR"
    assert failed["rollbackInfo"]["rollbackDeploymentId"]
    install = next(e for e in target(cd, ident)["lifecycleEvents"]
                   if e["lifecycleEventName"] == "Install")
    assert install["status"] == "Failed" and install["diagnostics"]["message"]
    assert [s["status"] for s in service(ecs)["taskSets"]] == ["PRIMARY"]


def test_an_appspec_that_cannot_deploy_fails_the_deployment_with_its_reason(cd, ecs):
    cases = [("{not yaml: [", "INVALID_REVISION"),
             ("version: 0.0\nResources: []\n", "INVALID_REVISION"),
             (appspec("arn:aws:ecs:us-east-1:123456789012:task-definition/nope:9"),
              "INVALID_REVISION"),
             (appspec(register(ecs), container="sidecar"), "ECS_UPDATE_ERROR"),
             (appspec(register(ecs), port=9999), "ECS_UPDATE_ERROR")]

    for content, error in cases:  # each fails at once, so the next may start
        failed = deployment(cd, deploy(cd, content))
        assert (failed["status"], failed["errorInformation"]["code"]) == ("Failed", error)
        assert failed["errorInformation"]["message"]


def test_ready_wait_with_stop_deployment_waits_for_continue_or_stops(seeded, aws, clock):
    cd, ecs = aws("codedeploy"), aws("ecs")
    group = cd.get_deployment_group(applicationName=NAME, deploymentGroupName=NAME)[
        "deploymentGroupInfo"]
    cd.create_deployment_group(
        applicationName=NAME, deploymentGroupName="manual", serviceRoleArn=group["serviceRoleArn"],
        ecsServices=group["ecsServices"], deploymentStyle=group["deploymentStyle"],
        loadBalancerInfo=group["loadBalancerInfo"],
        blueGreenDeploymentConfiguration={
            "deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT",
                                      "waitTimeInMinutes": 10},
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE"}})
    first = deploy(cd, appspec(register(ecs)), group="manual")
    clock.advance(5)
    assert deployment(cd, first)["status"] == "Ready"
    assert target(cd, first)["status"] == "Ready"
    cd.continue_deployment(deploymentId=first, deploymentWaitType="READY_WAIT")
    clock.advance(1)
    assert deployment(cd, first)["status"] == "Succeeded"

    second = deploy(cd, appspec(register(ecs, "v3")), group="manual")
    clock.advance(5 + 600)
    timed_out = deployment(cd, second)
    assert (timed_out["status"], timed_out["errorInformation"]["code"]) == ("Stopped", "TIMEOUT")


@pytest.mark.parametrize(("name", "shifts"), [
    ("CodeDeployDefault.ECSAllAtOnce", [(100.0, 0.0)]),
    ("CodeDeployDefault.ECSCanary10Percent5Minutes", [(10.0, 5.0), (100.0, 0.0)]),
    ("CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
     [(10.0 * n, 3.0 if n < 10 else 0.0) for n in range(1, 11)]),
])
def test_the_predefined_configurations_shift_traffic_as_documented(sandbox, aws, name, shifts):
    cd = aws("codedeploy")
    config = cd.get_deployment_config(deploymentConfigName=name)["deploymentConfigInfo"]

    assert cde.traffic_shifts(name) == shifts
    assert (config["computePlatform"], config["trafficRoutingConfig"]) == (
        "ECS", cde.ECS_CONFIGS[name])
    with pytest.raises(ClientError) as missing:
        cd.get_deployment_config(deploymentConfigName="Custom")
    assert code(missing) == "DeploymentConfigDoesNotExistException"


def test_update_service_with_a_task_definition_is_refused_for_code_deploy(ecs):
    with pytest.raises(ClientError) as refused:
        ecs.update_service(cluster=NAME, service=NAME, taskDefinition=register(ecs))

    assert code(refused) == "InvalidParameterException"
    assert "CODE_DEPLOY deployment controller" in refused.value.response["Error"]["Message"]


def test_a_deployment_runs_the_same_against_a_server(aws):
    from test_server import _serve_in_a_thread

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.settings import ManualClock

    with _serve_in_a_thread(seed=True) as url:
        clock = ManualClock()
        settings.SETTINGS.clock = clock
        cd, ecs = aws("codedeploy", endpoint_url=url), aws("ecs", endpoint_url=url)
        new = register(ecs)
        ident = deploy(cd, appspec(new))
        clock.advance(5)
        assert deployment(cd, ident)["instanceTerminationWaitTimeStarted"] is True
        cd.continue_deployment(deploymentId=ident, deploymentWaitType="TERMINATION_WAIT")
        assert deployment(cd, ident)["status"] == "Succeeded"
        assert [s["taskDefinition"] for s in service(ecs)["taskSets"]] == [new]
        with pytest.raises(ClientError) as completed:
            cd.stop_deployment(deploymentId=ident)
        assert code(completed) == "DeploymentAlreadyCompletedException"
