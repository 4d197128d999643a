"""ECS service deployments in the sandbox: every strategy, its stages, pauses and rollbacks.

Mock mode with a manual clock (the `sandbox` fixture: every extension). A rolling
update and SCALE_UP take SETTINGS.stage_seconds["Deploy"] (3 s); each traffic
shift, the clean-up and a managed rollback SHIFT_SECONDS (1 s). The last test
runs a blue/green deployment with a pause against an in-process server.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ecspipe.sandbox import ecs_deployments as sd

CLUSTER, FAMILY = "c", "web"
PAUSE = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
         "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"}}


@pytest.fixture
def ecs(sandbox, aws):
    client = aws("ecs")
    client.create_cluster(clusterName=CLUSTER)
    register(client, "v1")
    return client


def register(ecs, tag: str) -> str:
    return ecs.register_task_definition(
        family=FAMILY, containerDefinitions=[{
            "name": "web", "image": f"repo/app:{tag}", "memory": 512,
            "portMappings": [{"containerPort": 8080}]}],
    )["taskDefinition"]["taskDefinitionArn"]


def create(ecs, name: str = "s", **configuration) -> dict:
    return ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=FAMILY,
                              desiredCount=2, deploymentConfiguration=configuration)["service"]


def service(ecs, name: str = "s") -> dict:
    return ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]


def current(ecs, name: str = "s") -> dict:
    arn = service(ecs, name)["currentServiceDeployment"]
    return ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def release(ecs, tag: str, name: str = "s") -> str:
    """UpdateService to a new revision; returns the new service deployment's ARN."""
    td = register(ecs, tag)
    ecs.update_service(cluster=CLUSTER, service=name, taskDefinition=td)
    return service(ecs, name)["currentServiceDeployment"]


def code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# --- every deployment is a service deployment -------------------------------------------


def test_a_created_service_has_one_successful_service_deployment_and_its_revision(ecs):
    created = create(ecs)

    [brief] = ecs.list_service_deployments(cluster=CLUSTER, service="s")["serviceDeployments"]
    assert brief["status"] == "SUCCESSFUL"
    assert brief["serviceDeploymentArn"] == created["currentServiceDeployment"]
    assert brief["serviceDeploymentArn"].startswith(
        "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/s/")
    [revision] = ecs.describe_service_revisions(
        serviceRevisionArns=[brief["targetServiceRevisionArn"]])["serviceRevisions"]
    assert revision["taskDefinition"] == created["taskDefinition"]
    assert revision["containerImages"] == [{"containerName": "web", "image": "repo/app:v1"}]
    assert created["currentServiceRevisions"] == [{
        "arn": revision["serviceRevisionArn"], "requestedTaskCount": 2,
        "runningTaskCount": 2, "pendingTaskCount": 0}]


def test_a_rolling_update_is_a_service_deployment_that_succeeds_with_the_rollout(ecs, clock):
    create(ecs)
    arn = release(ecs, "v2")

    rolling = current(ecs)
    assert (rolling["serviceDeploymentArn"], rolling["status"]) == (arn, "IN_PROGRESS")
    assert "lifecycleStage" not in rolling  # only the managed strategies have stages
    [source] = rolling["sourceServiceRevisions"]
    assert (source["runningTaskCount"], rolling["targetServiceRevision"]["pendingTaskCount"]) \
        == (2, 2)
    clock.advance(3)
    done = current(ecs)
    assert done["status"] == "SUCCESSFUL"
    assert (done["finishedAt"] - done["startedAt"]).total_seconds() == 3
    assert done["targetServiceRevision"]["runningTaskCount"] == 2
    assert done["sourceServiceRevisions"][0]["runningTaskCount"] == 0
    assert [d["rolloutState"] for d in service(ecs)["deployments"]] == ["COMPLETED"]


def test_a_rolling_rollback_is_rollback_in_progress_then_rollback_successful(ecs, clock, sandbox):
    from ecspipe.sandbox import ecs as ecs_sim

    create(ecs, deploymentCircuitBreaker={"enable": True, "rollback": True})
    before = current(ecs)["targetServiceRevision"]["arn"]
    td = register(ecs, "v2")
    ecs_sim.deploy("123456789012", "us-east-1", CLUSTER, "s", td, clock.now(), rollback=True)

    clock.advance(3)
    rolling_back = current(ecs)
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert rolling_back["rollback"]["reason"] == ecs_sim.CIRCUIT_BREAKER_REASON
    assert rolling_back["rollback"]["serviceRevisionArn"] == before
    assert rolling_back["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    clock.advance(3)
    assert current(ecs)["status"] == "ROLLBACK_SUCCESSFUL"
    assert service(ecs)["taskDefinition"].endswith(":1")


# --- blue/green ---------------------------------------------------------------------------


def test_blue_green_goes_through_its_stages_with_traffic_bake_and_clean_up(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", bakeTimeInMinutes=5)
    release(ecs, "v2")

    def snapshot():
        d = current(ecs)
        target, [source] = d["targetServiceRevision"], d["sourceServiceRevisions"]
        return (d["status"], d["lifecycleStage"], target["runningTaskCount"],
                target["requestedTestTrafficWeight"], target["requestedProductionTrafficWeight"],
                source["requestedProductionTrafficWeight"], source["runningTaskCount"])

    seen = [snapshot()]
    for step in (3, 1, 1, 300, 1):  # the bake runs from 5 s to 305 s
        clock.advance(step)
        seen.append(snapshot())

    assert seen == [
        ("IN_PROGRESS", "SCALE_UP", 0, 0.0, 0.0, 100.0, 2),
        ("IN_PROGRESS", "TEST_TRAFFIC_SHIFT", 2, 0.0, 0.0, 100.0, 2),
        ("IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT", 2, 100.0, 0.0, 100.0, 2),
        ("IN_PROGRESS", "BAKE_TIME", 2, 100.0, 100.0, 0.0, 2),
        ("IN_PROGRESS", "CLEAN_UP", 2, 100.0, 100.0, 0.0, 2),
        ("SUCCESSFUL", "CLEAN_UP", 2, 100.0, 100.0, 0.0, 0),
    ]
    described = service(ecs)
    assert described["taskDefinition"].endswith(":2")
    assert [(d["status"], d["rolloutState"]) for d in described["deployments"]] == [
        ("PRIMARY", "COMPLETED")]


def test_during_blue_green_both_revisions_run_as_primary_and_active_deployments(ecs, clock):
    create(ecs, strategy="BLUE_GREEN")
    release(ecs, "v2")
    clock.advance(3)

    described = service(ecs)
    assert [(d["status"], d["taskDefinition"][-1], d["runningCount"])
            for d in described["deployments"]] == [("PRIMARY", "2", 2), ("ACTIVE", "1", 2)]
    assert described["runningCount"] == 4 and described["taskDefinition"].endswith(":2")
    assert len(described["currentServiceRevisions"]) == 2


def test_a_pause_hook_waits_with_a_hook_id_until_continued(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[PAUSE])
    arn = release(ecs, "v2")
    clock.advance(4)

    paused = current(ecs)
    [hook] = paused["lifecycleHookDetails"]
    assert (paused["lifecycleStage"], hook["targetType"], hook["status"]) == (
        "POST_TEST_TRAFFIC_SHIFT", "PAUSE", "AWAITING_ACTION")
    assert hook["hookId"].startswith("ecs-pause-") and hook["timeoutAction"] == "ROLLBACK"
    assert (hook["expiresAt"] - paused["startedAt"]).total_seconds() == 4 + 30 * 60
    clock.advance(600)
    assert current(ecs)["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"  # still waiting

    assert ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])[
        "serviceDeploymentArn"] == arn
    going = current(ecs)
    assert going["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"
    assert going["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    clock.advance(2)
    assert current(ecs)["status"] == "SUCCESSFUL"


def test_a_pause_answered_with_rollback_returns_the_service_to_blue(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[PAUSE])
    arn = release(ecs, "v2")
    clock.advance(4)
    hook = current(ecs)["lifecycleHookDetails"][0]["hookId"]

    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook, action="ROLLBACK")

    rolling_back = current(ecs)
    assert rolling_back["status"] == "ROLLBACK_IN_PROGRESS"
    assert rolling_back["rollback"]["reason"] == (
        f"The lifecycle hook {hook} was answered with ROLLBACK.")
    assert rolling_back["targetServiceRevision"]["requestedTestTrafficWeight"] == 0.0
    assert service(ecs)["taskDefinition"].endswith(":1")
    clock.advance(1)
    assert current(ecs)["status"] == "ROLLBACK_SUCCESSFUL"
    assert [(d["status"], d["rolloutState"], d["taskDefinition"][-1])
            for d in service(ecs)["deployments"]] == [
        ("PRIMARY", "COMPLETED", "1"), ("INACTIVE", "FAILED", "2")]


@pytest.mark.parametrize(("action", "outcome"), [("ROLLBACK", "ROLLBACK_SUCCESSFUL"),
                                                 ("CONTINUE", "SUCCESSFUL")])
def test_an_unanswered_pause_times_out_and_takes_its_timeout_action(ecs, clock, action, outcome):
    hook = {**PAUSE, "timeoutConfiguration": {"timeoutInMinutes": 10, "action": action}}
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[hook])
    release(ecs, "v2")

    clock.advance(4 + 600 + 10)

    ended = current(ecs)
    assert ended["lifecycleHookDetails"][0]["status"] == "TIMED_OUT"
    assert ended["status"] == outcome


def test_lambda_hooks_succeed_at_each_of_their_stages(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[{
        "targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:us-east-1:123456789012:"
        "function:check", "roleArn": "arn:aws:iam::123456789012:role/hooks",
        "lifecycleStages": ["PRE_SCALE_UP", "POST_PRODUCTION_TRAFFIC_SHIFT"]}])
    release(ecs, "v2")
    clock.advance(10)

    done = current(ecs)
    assert done["status"] == "SUCCESSFUL"
    assert [(h["status"], h["targetArn"][-5:]) for h in done["lifecycleHookDetails"]] == [
        ("SUCCEEDED", "check"), ("SUCCEEDED", "check")]


# --- linear and canary ----------------------------------------------------------------------


@pytest.mark.parametrize(("step", "weights"), [
    (10.0, [10.0 * n for n in range(1, 11)]),
    (30.0, [30.0, 60.0, 90.0, 100.0]),
    (33.3, [33.3, 66.6, 99.9, 100.0]),
])
def test_linear_shifts_step_percent_at_a_time_and_bakes_between_but_not_after_100(step, weights):
    steps = sd.production_steps({"strategy": "LINEAR", "linearConfiguration": {
        "stepPercent": step, "stepBakeTimeInMinutes": 2}})

    assert [w for w, _ in steps] == pytest.approx(weights)
    # "AWS::ECS::Service LinearConfiguration": (100 / step) - 1 bakes, or floor(100 / step).
    bakes = 100 / step - 1 if (100 / step).is_integer() else 100 // step
    assert [b for _, b in steps] == [2.0] * int(bakes) + [0.0]


def test_canary_shifts_its_percent_bakes_then_shifts_the_rest():
    assert sd.production_steps({"strategy": "CANARY"}) == [(5.0, 10.0), (100.0, 0.0)]
    assert sd.production_steps({"strategy": "CANARY", "canaryConfiguration": {
        "canaryPercent": 20.0, "canaryBakeTimeInMinutes": 3}}) == [(20.0, 3.0), (100.0, 0.0)]


def test_a_linear_deployment_moves_production_traffic_step_by_step(ecs, clock):
    create(ecs, strategy="LINEAR", bakeTimeInMinutes=1,
           linearConfiguration={"stepPercent": 50.0, "stepBakeTimeInMinutes": 2})
    release(ecs, "v2")
    clock.advance(5)  # scale up (3), test shift (1), first production step (1)

    assert current(ecs)["targetServiceRevision"]["requestedProductionTrafficWeight"] == 50.0
    clock.advance(120)  # the step bake
    assert current(ecs)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    clock.advance(1)
    at_100 = current(ecs)
    assert (at_100["lifecycleStage"],
            at_100["targetServiceRevision"]["requestedProductionTrafficWeight"]) == (
        "BAKE_TIME", 100.0)
    clock.advance(61)
    assert current(ecs)["status"] == "SUCCESSFUL"
    assert sd.minimum_seconds(current(ecs)["deploymentConfiguration"]) == 3 + 1 + 1 + 120 + 1 \
        + 60 + 1


# --- rollback and stop -------------------------------------------------------------------------


def test_stop_service_deployment_rolls_a_blue_green_deployment_back(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", bakeTimeInMinutes=10)
    arn = release(ecs, "v2")
    clock.advance(10)  # baking

    assert ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")[
        "serviceDeploymentArn"] == arn
    clock.advance(1)
    stopped = current(ecs)
    assert stopped["status"] == "ROLLBACK_SUCCESSFUL"
    assert "StopServiceDeployment" in stopped["rollback"]["reason"]
    assert stopped["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 100.0

    with pytest.raises(ClientError) as done:
        ecs.stop_service_deployment(serviceDeploymentArn=arn)
    assert code(done) == "ConflictException"


def test_stop_service_deployment_rolls_a_rolling_update_back(ecs, clock):
    create(ecs)
    arn = release(ecs, "v2")

    ecs.stop_service_deployment(serviceDeploymentArn=arn)

    assert current(ecs)["status"] == "ROLLBACK_IN_PROGRESS"
    assert service(ecs)["taskDefinition"].endswith(":1")
    clock.advance(3)
    assert current(ecs)["status"] == "ROLLBACK_SUCCESSFUL"


def test_the_circuit_breaker_trips_a_blue_green_deployment_at_the_end_of_scale_up(ecs, clock):
    from ecspipe.sandbox import ecs as ecs_sim

    create(ecs, strategy="BLUE_GREEN", deploymentCircuitBreaker={"enable": True,
                                                                  "rollback": True})
    ecs_sim.deploy("123456789012", "us-east-1", CLUSTER, "s", register(ecs, "v2"),
                   clock.now(), rollback=True)
    clock.advance(3)

    tripped = current(ecs)
    assert (tripped["status"], tripped["lifecycleStage"]) == ("ROLLBACK_IN_PROGRESS", "SCALE_UP")
    assert tripped["deploymentCircuitBreaker"] == {"status": "TRIGGERED", "failureCount": 2,
                                                   "threshold": 3}
    clock.advance(1)
    assert current(ecs)["status"] == "ROLLBACK_SUCCESSFUL"


@pytest.mark.parametrize(("rollback", "outcome"), [(True, "ROLLBACK_IN_PROGRESS"),
                                                   (False, "STOPPED")])
def test_a_deployment_alarm_in_alarm_rolls_back_or_stops(ecs, clock, aws, rollback, outcome):
    cloudwatch = aws("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
        ComparisonOperator="GreaterThanThreshold")
    create(ecs, strategy="BLUE_GREEN", bakeTimeInMinutes=10,
           alarms={"alarmNames": ["5xx"], "enable": True, "rollback": rollback})
    release(ecs, "v2")
    clock.advance(30)
    assert current(ecs)["alarms"] == {"status": "MONITORING", "alarmNames": ["5xx"]}

    cloudwatch.set_alarm_state(AlarmName="5xx", StateValue="ALARM", StateReason="errors")

    tripped = current(ecs)
    assert tripped["status"] == outcome
    assert tripped["alarms"]["triggeredAlarmNames"] == ["5xx"]
    assert tripped["alarms"]["status"] == "TRIGGERED"
    assert "CloudWatch alarm(s) 5xx in ALARM state." in (
        tripped.get("statusReason") or tripped["rollback"]["reason"])


def test_a_new_deployment_stops_the_one_in_progress_and_reconciles_first(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[PAUSE])
    first = release(ecs, "v2")
    clock.advance(4)  # paused, both revisions running
    second = release(ecs, "v3")

    older = ecs.describe_service_deployments(serviceDeploymentArns=[first])[
        "serviceDeployments"][0]
    assert (older["status"], older["statusReason"]) == ("STOPPED", sd.SUPERSEDED_REASON)
    newer = current(ecs)
    assert newer["serviceDeploymentArn"] == second
    assert len(newer["sourceServiceRevisions"]) == 2
    listed = ecs.list_service_deployments(cluster=CLUSTER, service="s")["serviceDeployments"]
    assert [d["serviceDeploymentArn"] for d in listed][:2] == [second, first]


# --- what the API refuses, and how it lists -------------------------------------------------


def test_continue_service_deployment_refuses_what_aws_refuses(ecs, clock):
    create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[PAUSE])
    arn = release(ecs, "v2")

    with pytest.raises(ClientError) as unknown:
        ecs.continue_service_deployment(serviceDeploymentArn=arn + "x", hookId="h")
    with pytest.raises(ClientError) as no_hook:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId="ecs-pause-nope")
    clock.advance(4)
    hook = current(ecs)["lifecycleHookDetails"][0]["hookId"]
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook)
    with pytest.raises(ClientError) as answered:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook)
    clock.advance(10)
    with pytest.raises(ClientError) as finished:
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook)

    assert code(unknown) == "ServiceDeploymentNotFoundException"
    assert code(no_hook) == code(answered) == code(finished) == "InvalidParameterException"
    assert "AWAITING_ACTION" in answered.value.response["Error"]["Message"]
    assert "IN_PROGRESS" in finished.value.response["Error"]["Message"]


def test_describe_lists_unknown_arns_as_missing_failures(ecs):
    create(ecs)
    arn = service(ecs)["currentServiceDeployment"]
    missing = arn.rsplit("/", 1)[0] + "/nope"

    answer = ecs.describe_service_deployments(serviceDeploymentArns=[arn, missing])

    assert [d["serviceDeploymentArn"] for d in answer["serviceDeployments"]] == [arn]
    assert answer["failures"] == [{"arn": missing, "reason": "MISSING"}]
    with pytest.raises(ClientError) as too_many:
        ecs.describe_service_deployments(serviceDeploymentArns=[arn] * 21)
    assert code(too_many) == "InvalidParameterException"


def test_list_service_deployments_pages_and_filters(ecs, clock):
    create(ecs)
    release(ecs, "v2")
    clock.advance(60)
    release(ecs, "v3")

    first = ecs.list_service_deployments(cluster=CLUSTER, service="s", maxResults=1)
    rest = ecs.list_service_deployments(cluster=CLUSTER, service="s", maxResults=2,
                                        nextToken=first["nextToken"])
    running = ecs.list_service_deployments(cluster=CLUSTER, service="s",
                                           status=["IN_PROGRESS"])["serviceDeployments"]
    recent = ecs.list_service_deployments(cluster=CLUSTER, service="s", createdAt={
        "after": clock.now() - 1})["serviceDeployments"]

    assert len(first["serviceDeployments"]) == 1 and "nextToken" not in rest
    assert [d["status"] for d in first["serviceDeployments"] + rest["serviceDeployments"]] == [
        "IN_PROGRESS", "SUCCESSFUL", "SUCCESSFUL"]
    assert running == first["serviceDeployments"] == recent
    with pytest.raises(ClientError) as missing:
        ecs.list_service_deployments(cluster=CLUSTER, service="nope")
    assert code(missing) == "ServiceNotFoundException"


def test_create_and_update_service_refuse_a_pause_where_aws_refuses_it(ecs):
    bad = {"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}
    with pytest.raises(ClientError) as created:
        create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[bad])
    create(ecs)
    with pytest.raises(ClientError) as updated:
        ecs.update_service(cluster=CLUSTER, service="s", deploymentConfiguration={
            "strategy": "ROLLING", "linearConfiguration": {"stepPercent": 10.0}})

    assert code(created) == code(updated) == "InvalidParameterException"
    assert "TEST_TRAFFIC_SHIFT" in created.value.response["Error"]["Message"]
    assert "LINEAR" in updated.value.response["Error"]["Message"]


# --- server mode ---------------------------------------------------------------------------------


def test_a_paused_blue_green_deployment_is_continued_against_a_server(aws):
    from test_server import _serve_in_a_thread

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.settings import ManualClock

    with _serve_in_a_thread(seed=False) as url:
        clock = ManualClock()
        settings.SETTINGS.clock = clock
        ecs = aws("ecs", endpoint_url=url)
        ecs.create_cluster(clusterName=CLUSTER)
        register(ecs, "v1")
        create(ecs, strategy="BLUE_GREEN", lifecycleHooks=[PAUSE])
        arn = release(ecs, "v2")
        clock.advance(4)
        [hook] = current(ecs)["lifecycleHookDetails"]
        assert hook["status"] == "AWAITING_ACTION"
        ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])
        clock.advance(2)
        assert current(ecs)["status"] == "SUCCESSFUL"
        revision = current(ecs)["targetServiceRevision"]["arn"]
        images = ecs.describe_service_revisions(serviceRevisionArns=[revision])[
            "serviceRevisions"][0]["containerImages"]
        assert images == [{"containerName": "web", "image": "repo/app:v2"}]
        with pytest.raises(ClientError) as refused:
            ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])
        assert code(refused) == "InvalidParameterException"
