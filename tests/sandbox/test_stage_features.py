"""The sandbox's manual approvals, stage rollback and stage conditions (mock mode, manual clock).

Built on test_pipeline_sim's World (an existing ECS service, a CodeBuild
project) with the stages reshaped per test: an approval before Deploy, an
onFailure ROLLBACK, an alarm-watched bake (onSuccess CloudWatchAlarm), a
deployment window (beforeEntry DeploymentWindow). The shapes of these answers are
checked by test_conformance.py, which drives the same operations.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from test_pipeline_sim import PIPELINE, SEED_IMAGE, World, client, sim  # noqa: F401

ALARM = "demo-web-5xx"


@pytest.fixture
def world(sim, clock) -> World:  # noqa: F811 - the fixture from test_pipeline_sim
    return World(clock)


def approval_stage(name: str = "Approve", minutes: int | None = None) -> dict:
    action = {
        "name": name,
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                         "version": "1"},
        "configuration": {"CustomData": "Promote to production?"},
        "inputArtifacts": [],
        "outputArtifacts": [],
        "runOrder": 1,
    }
    if minutes:
        action["timeoutInMinutes"] = minutes
    return {"name": name, "actions": [action]}


def with_approval(stages: list[dict], minutes: int | None = None) -> list[dict]:
    return [*stages[:2], approval_stage(minutes=minutes), stages[2]]


def deploy_with(**conditions) -> callable:
    def shape(stages: list[dict]) -> list[dict]:
        stages = copy.deepcopy(stages)
        stages[2].update(conditions)
        return stages

    return shape


def rule(name: str, provider: str, **configuration: str) -> dict:
    return {"name": name, "ruleTypeId": {"category": "Rule", "owner": "AWS",
                                         "provider": provider, "version": "1"},
            "configuration": configuration}


def alarm_bake(minutes: int, result: str = "ROLLBACK") -> dict:
    return {"conditions": [{"result": result, "rules": [
        rule("Bake", "CloudWatchAlarm", AlarmName=ALARM, AlarmStates="ALARM",
             WaitTime=str(minutes))]}]}


def put_alarm() -> None:
    client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5,
        ComparisonOperator="GreaterThanThreshold")


def set_alarm(state: str) -> None:
    client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue=state,
                                         StateReason="test")


def state_of(world: World, stage: str) -> dict:
    state = world.cp.get_pipeline_state(name=PIPELINE)
    return next(s for s in state["stageStates"] if s["stageName"] == stage)


def image(world: World) -> str:
    task_definition = world.service()["taskDefinition"]
    td = world.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    return td["containerDefinitions"][0]["image"]


def advance_until(world: World, predicate, limit: int = 600) -> None:
    for _ in range(limit):
        if predicate():
            return
        world.clock.advance(1)
    raise AssertionError("condition not reached")


# --- manual approvals -----------------------------------------------------------------


def test_an_approval_waits_with_a_token_until_approved_then_the_deploy_runs(world):
    first = world.create_pipeline(shape=with_approval)
    advance_until(world, lambda: "token" in state_of(world, "Approve")["actionStates"][0].get(
        "latestExecution", {}))
    world.clock.advance(3600)  # an hour later it still waits
    approve = state_of(world, "Approve")
    waiting = approve["actionStates"][0]["latestExecution"]
    assert waiting["status"] == "InProgress" and approve["latestExecution"]["status"] == \
        "InProgress"
    assert world.status(first) == "InProgress"
    assert state_of(world, "Deploy").get("latestExecution") is None

    answer = world.cp.put_approval_result(
        pipelineName=PIPELINE, stageName="Approve", actionName="Approve",
        result={"summary": "looks good", "status": "Approved"}, token=waiting["token"])
    assert isinstance(answer["approvedAt"], datetime)
    assert world.run_until_done(first) == "Succeeded"
    done = state_of(world, "Approve")["actionStates"][0]["latestExecution"]
    assert done["status"] == "Succeeded" and done["summary"] == "looks good"
    assert done["lastUpdatedBy"].startswith("arn:aws:sts::") and "token" not in done
    detail = world.action(first, "Approve")
    assert detail["updatedBy"] == done["lastUpdatedBy"]
    assert image(world) != SEED_IMAGE


def test_a_rejected_approval_fails_the_execution_and_nothing_is_deployed(world):
    first = world.create_pipeline(shape=with_approval)
    advance_until(world, lambda: "token" in state_of(world, "Approve")["actionStates"][0].get(
        "latestExecution", {}))
    token = state_of(world, "Approve")["actionStates"][0]["latestExecution"]["token"]
    world.cp.put_approval_result(
        pipelineName=PIPELINE, stageName="Approve", actionName="Approve",
        result={"summary": "not during the sale", "status": "Rejected"}, token=token)
    assert world.run_until_done(first) == "Failed"
    rejected = state_of(world, "Approve")["actionStates"][0]["latestExecution"]
    assert rejected["status"] == "Failed" and rejected["summary"] == "not during the sale"
    assert image(world) == SEED_IMAGE
    with pytest.raises(ClientError) as again:
        world.cp.put_approval_result(
            pipelineName=PIPELINE, stageName="Approve", actionName="Approve",
            result={"summary": "", "status": "Approved"}, token=token)
    assert again.value.response["Error"]["Code"] == "ApprovalAlreadyCompletedException"


def test_approval_answers_are_refused_for_a_wrong_token_stage_or_action(world):
    world.create_pipeline(shape=with_approval)
    advance_until(world, lambda: "token" in state_of(world, "Approve")["actionStates"][0].get(
        "latestExecution", {}))
    cases = {
        ("Approve", "Approve", "00000000-0000-0000-0000-000000000000"):
            "InvalidApprovalTokenException",
        ("Nope", "Approve", "00000000-0000-0000-0000-000000000000"): "StageNotFoundException",
        ("Build", "Build", "00000000-0000-0000-0000-000000000000"): "ActionNotFoundException",
    }
    for (stage, action, token), code in cases.items():
        with pytest.raises(ClientError) as refused:
            world.cp.put_approval_result(
                pipelineName=PIPELINE, stageName=stage, actionName=action,
                result={"summary": "", "status": "Approved"}, token=token)
        assert refused.value.response["Error"]["Code"] == code, (stage, action)


def test_an_unanswered_approval_expires_after_its_timeout(world):
    first = world.create_pipeline(shape=lambda stages: with_approval(stages, minutes=30))
    world.clock.advance(29 * 60)
    assert world.status(first) == "InProgress"
    world.clock.advance(2 * 60)
    assert world.status(first) == "Failed"
    expired = state_of(world, "Approve")["actionStates"][0]["latestExecution"]
    assert "expired" in expired["summary"] and "token" not in expired


def test_an_execution_waiting_for_approval_holds_the_stage_and_a_newer_one_supersedes_waiters(
        world):
    first = world.create_pipeline(shape=with_approval)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    third = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    world.clock.advance(120)
    assert world.status(first) == "InProgress"  # at the approval
    assert world.status(second) == "Superseded"
    assert world.status(third) == "InProgress"  # waiting for the approval stage


# --- rollback -------------------------------------------------------------------------


def fail_deploys(sim) -> None:  # noqa: F811
    sim.fail_stage = "Deploy"


def test_a_failed_deploy_with_on_failure_rollback_redeploys_the_last_success(sim, world):  # noqa: F811
    first = world.create_pipeline(shape=deploy_with(onFailure={"result": "ROLLBACK"}))
    assert world.run_until_done(first) == "Succeeded"
    good = image(world)
    fail_deploys(sim)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(second) == "Failed"
    sim.fail_stage = None
    newest = world.summaries()[0]
    assert newest["pipelineExecutionId"] not in (first, second)
    assert newest["executionType"] == "ROLLBACK"
    assert newest["rollbackMetadata"] == {"rollbackTargetPipelineExecutionId": first}
    assert newest["trigger"]["triggerType"] == "AutomatedRollback"
    assert world.run_until_done(newest["pipelineExecutionId"]) == "Succeeded"
    advance_until(world, lambda: world.service()["deployments"][0]["rolloutState"] ==
                  "COMPLETED")
    assert image(world) == good
    assert "rolled back to execution " + first in world.execution(second)["statusSummary"]
    deploy = state_of(world, "Deploy")
    assert deploy["latestExecution"]["type"] == "ROLLBACK"
    got = world.cp.get_pipeline_execution(pipelineName=PIPELINE,
                                          pipelineExecutionId=newest["pipelineExecutionId"])
    # The rollback ran only the rolled-back stage, with the target's commit.
    assert {a["stageName"] for a in world.actions(newest["pipelineExecutionId"])} == {"Deploy"}
    assert got["pipelineExecution"]["artifactRevisions"][0]["revisionId"] == \
        world.execution(first)["artifactRevisions"][0]["revisionId"]


def test_without_an_earlier_success_a_failed_stage_has_nothing_to_roll_back_to(sim, world):  # noqa: F811
    fail_deploys(sim)
    first = world.create_pipeline(shape=deploy_with(onFailure={"result": "ROLLBACK"}))
    assert world.run_until_done(first) == "Failed"
    assert [s["pipelineExecutionId"] for s in world.summaries()] == [first]


def test_without_on_failure_rollback_a_failed_deploy_stays_failed(sim, world):  # noqa: F811
    first = world.create_pipeline()
    assert world.run_until_done(first) == "Succeeded"
    fail_deploys(sim)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(second) == "Failed"
    assert len(world.summaries()) == 2


def two_releases(world: World, shape=None, bake: int = 0) -> tuple[str, str, str]:
    first = world.create_pipeline(shape=shape)
    world.clock.advance(bake)
    assert world.run_until_done(first) == "Succeeded"
    advance_until(world, lambda: world.service()["deployments"][0]["rolloutState"] ==
                  "COMPLETED")
    good = image(world)
    second = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    world.clock.advance(bake)
    assert world.run_until_done(second) == "Succeeded"
    return first, second, good


def test_rollback_stage_redeploys_the_target_executions_image(world):
    first, second, good = two_releases(world)
    assert image(world) != good
    started = world.cp.rollback_stage(pipelineName=PIPELINE, stageName="Deploy",
                                      targetPipelineExecutionId=first)
    rollback = started["pipelineExecutionId"]
    assert rollback not in (first, second)
    summary = world.summary(rollback)
    assert summary["executionType"] == "ROLLBACK"
    assert summary["trigger"]["triggerType"] == "ManualRollback"
    assert world.run_until_done(rollback) == "Succeeded"
    advance_until(world, lambda: world.service()["deployments"][0]["rolloutState"] ==
                  "COMPLETED")
    assert image(world) == good


def rollback_error(world: World, stage: str, target: str) -> str:
    with pytest.raises(ClientError) as refused:
        world.cp.rollback_stage(pipelineName=PIPELINE, stageName=stage,
                                targetPipelineExecutionId=target)
    return refused.value.response["Error"]["Code"]


def test_rollback_stage_refuses_what_aws_refuses(sim, world):  # noqa: F811
    first, second, _ = two_releases(world)
    assert rollback_error(world, "Source", first) == "UnableToRollbackStageException"
    assert rollback_error(world, "Nope", first) == "StageNotFoundException"
    assert rollback_error(world, "Deploy", "00000000-0000-0000-0000-000000000000") == \
        "PipelineExecutionNotFoundException"
    rollback = world.cp.rollback_stage(pipelineName=PIPELINE, stageName="Deploy",
                                       targetPipelineExecutionId=first)["pipelineExecutionId"]
    # The stage is busy with the rollback now.
    assert rollback_error(world, "Deploy", second) == "ConflictException"
    assert world.run_until_done(rollback) == "Succeeded"
    assert rollback_error(world, "Deploy", rollback) == "UnableToRollbackStageException"
    # An execution that failed in the stage is no target.
    sim.fail_stage = "Deploy"
    failed = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    assert world.run_until_done(failed) == "Failed"
    sim.fail_stage = None
    assert rollback_error(world, "Deploy", failed) == "UnableToRollbackStageException"
    # A changed pipeline makes every earlier execution outdated.
    declaration = world.cp.get_pipeline(name=PIPELINE)["pipeline"]
    world.cp.update_pipeline(pipeline=declaration)
    assert rollback_error(world, "Deploy", first) == "PipelineExecutionOutdatedException"


def test_rollback_stage_is_refused_in_parallel_mode(world):
    first = world.create_pipeline(mode="PARALLEL")
    assert world.run_until_done(first) == "Succeeded"
    assert rollback_error(world, "Deploy", first) == "ValidationException"


# --- stage conditions -----------------------------------------------------------------


def test_an_alarm_during_the_bake_rolls_the_stage_back(world):
    put_alarm()
    first, second, good = two_releases(world, shape=deploy_with(onSuccess=alarm_bake(10)),
                                      bake=600)
    # The first two releases baked 10 minutes each without an alarm.
    third = world.cp.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    def baking_third() -> bool:
        deploy = state_of(world, "Deploy")
        return (deploy.get("latestExecution", {}).get("pipelineExecutionId") == third
                and deploy.get("onSuccessConditionState", {}).get("latestExecution", {})
                .get("status") == "InProgress")

    advance_until(world, baking_third)
    baking = state_of(world, "Deploy")
    rules = baking["onSuccessConditionState"]["conditionStates"][0]["ruleStates"]
    assert rules[0]["ruleName"] == "Bake" and rules[0]["latestExecution"]["status"] == \
        "InProgress"
    world.clock.advance(120)
    set_alarm("ALARM")
    assert world.status(third) == "Failed"
    assert ALARM in world.execution(third)["statusSummary"]
    rollback = world.summaries()[0]
    assert rollback["executionType"] == "ROLLBACK"
    assert rollback["rollbackMetadata"]["rollbackTargetPipelineExecutionId"] == second
    assert world.run_until_done(rollback["pipelineExecutionId"]) == "Succeeded"


def test_a_bake_without_alarm_succeeds_after_its_wait_time(world):
    put_alarm()
    first = world.create_pipeline(shape=deploy_with(onSuccess=alarm_bake(10)))
    world.clock.advance(20)  # Source, Build, Deploy done: baking
    assert world.status(first) == "InProgress"
    world.clock.advance(9 * 60)
    assert world.status(first) == "InProgress"
    world.clock.advance(60)
    assert world.status(first) == "Succeeded"
    bake = state_of(world, "Deploy")["onSuccessConditionState"]
    assert bake["latestExecution"]["status"] == "Succeeded"


def window(cron: str, zone: str = "UTC") -> dict:
    return {"conditions": [{"result": "FAIL", "rules": [
        rule("Window", "DeploymentWindow", Cron=cron, TimeZone=zone)]}]}


def test_outside_the_deploy_window_the_stage_waits_until_it_opens(world, clock):
    # The manual clock starts on Monday 2026-09-21 14:13:20 UTC: open 16:00-16:59 UTC.
    assert datetime.fromtimestamp(clock.now(), tz=UTC).hour == 14
    first = world.create_pipeline(shape=deploy_with(beforeEntry=window("0 * 16 ? * MON-FRI *")))
    world.clock.advance(60)
    entry = state_of(world, "Deploy")["beforeEntryConditionState"]
    assert entry["latestExecution"]["status"] == "InProgress"
    assert "2026-09-21T16:00:00+00:00" in entry["conditionStates"][0]["ruleStates"][0][
        "latestExecution"]["summary"]
    assert image(world) == SEED_IMAGE
    opens = datetime(2026, 9, 21, 16, 0, tzinfo=UTC).timestamp()
    world.clock.advance(opens - clock.now() - 1)
    assert world.status(first) == "InProgress" and image(world) == SEED_IMAGE
    world.clock.advance(30)
    assert world.run_until_done(first) == "Succeeded"
    assert image(world) != SEED_IMAGE


def test_inside_the_deploy_window_the_stage_enters_at_once(world):
    first = world.create_pipeline(shape=deploy_with(beforeEntry=window("0 * * ? * * *")))
    assert world.run_until_done(first) == "Succeeded"
    entry = state_of(world, "Deploy")["beforeEntryConditionState"]
    assert entry["latestExecution"]["status"] == "Succeeded"


# --- server mode ----------------------------------------------------------------------


def test_approvals_and_rollback_stage_answer_the_same_against_a_server(aws):
    """PutApprovalResult and RollbackStage through moto's HTTP server (in-process, so the
    test drives its clock), answers and errors in the JSON protocol botocore parses."""
    import json

    from test_server import _serve_in_a_thread

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.settings import ManualClock

    with _serve_in_a_thread(seed=False) as url:
        clock = ManualClock()
        settings.SETTINGS.clock = clock
        cp = aws("codepipeline", endpoint_url=url)
        connection = aws("codeconnections", endpoint_url=url).create_connection(
            ProviderType="GitHub", ConnectionName="demo")["ConnectionArn"]
        clock.advance(10)  # the simulated handshake completes
        role = aws("iam", endpoint_url=url).create_role(
            RoleName="pipeline", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        source = {"name": "Source", "actionTypeId": {
            "category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection",
            "version": "1"}, "configuration": {
            "ConnectionArn": connection, "FullRepositoryId": "acme/demo-app",
            "BranchName": "main"}, "outputArtifacts": [{"name": "SourceOutput"}]}
        cp.create_pipeline(pipeline={
            "name": "approvals", "roleArn": role, "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [{"name": "Source", "actions": [source]}, approval_stage()]})
        clock.advance(5)
        state = cp.get_pipeline_state(name="approvals")
        waiting = state["stageStates"][1]["actionStates"][0]["latestExecution"]
        answered = cp.put_approval_result(
            pipelineName="approvals", stageName="Approve", actionName="Approve",
            result={"summary": "ok", "status": "Approved"}, token=waiting["token"])
        assert set(answered) - {"ResponseMetadata"} == {"approvedAt"}
        first = cp.list_pipeline_executions(pipelineName="approvals")[
            "pipelineExecutionSummaries"][0]
        assert first["status"] == "Succeeded"
        rollback = cp.rollback_stage(pipelineName="approvals", stageName="Approve",
                                     targetPipelineExecutionId=first["pipelineExecutionId"])
        listed = cp.list_pipeline_executions(pipelineName="approvals")
        newest = listed["pipelineExecutionSummaries"][0]
        assert newest["pipelineExecutionId"] == rollback["pipelineExecutionId"]
        assert newest["executionType"] == "ROLLBACK"
        with pytest.raises(ClientError) as refused:
            cp.rollback_stage(pipelineName="approvals", stageName="Source",
                              targetPipelineExecutionId=first["pipelineExecutionId"])
        assert refused.value.response["Error"]["Code"] == "UnableToRollbackStageException"
        with pytest.raises(ClientError) as bad_token:
            cp.put_approval_result(
                pipelineName="approvals", stageName="Approve", actionName="Approve",
                result={"summary": "", "status": "Approved"},
                token="00000000-0000-0000-0000-000000000000")
        assert bad_token.value.response["Error"]["Code"] == "InvalidApprovalTokenException"
