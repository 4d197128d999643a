"""The promotion flow in mock mode: release --wait through staging, an approval, production.

`release --wait` runs in-process with an injected sleep; the person answering the
approval in another terminal is played by that sleep (through boto3, as the
console would) once the approval waits. `ecspipe approve` itself is run once the
clock brought an execution to the approval.

AWS starts an execution when it creates a pipeline; with an approval stage it
stops there and holds the stage (CodePipeline runs one execution per stage and
does not supersede a waiting approval). The `promoted` fixture rejects that one
first, as a user would once they see it waiting.
"""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.environments.example.yaml"
MOTO_USER = "arn:aws:sts::123456789012:user/moto"


def _image(cluster: str, service: str) -> str:
    ecs = boto3.client("ecs")
    found = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    primary = next(d for d in found["deployments"] if d["status"] == "PRIMARY")
    definition = ecs.describe_task_definition(taskDefinition=primary["taskDefinition"])
    return definition["taskDefinition"]["containerDefinitions"][0]["image"]


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def pending(execution_id: str | None = None) -> tuple[str, str] | None:
    """(execution id, token) of the approval waiting before production, if any."""
    state = boto3.client("codepipeline").get_pipeline_state(name="demo-app")
    stage = next(s for s in state["stageStates"] if s["stageName"] == "Approve-production")
    latest = stage["actionStates"][0].get("latestExecution") or {}
    holder = (stage.get("latestExecution") or {}).get("pipelineExecutionId")
    if latest.get("status") != "InProgress" or not latest.get("token"):
        return None
    if execution_id is not None and holder != execution_id:
        return None
    return str(holder), str(latest["token"])


def answer(status: str, summary: str, execution_id: str | None = None) -> str:
    found = pending(execution_id)
    assert found, "no approval is waiting"
    boto3.client("codepipeline").put_approval_result(
        pipelineName="demo-app", stageName="Approve-production", actionName="Approve",
        token=found[1], result={"status": status, "summary": summary})
    return found[0]


def advance_until(clock, predicate, limit: float = 300.0) -> None:
    waited = 0.0
    while not predicate():
        assert waited < limit, "it never happened"
        clock.advance(1.0)
        waited += 1.0


@pytest.fixture
def config(seeded, tmp_path, ecspipe) -> str:
    text = EXAMPLE.read_text()
    head, rest = text.split("\nnotify:", 1)
    path = tmp_path / "environments.yaml"
    path.write_text(head + "\nimage:" + rest.split("\nimage:", 1)[1])
    result = ecspipe("up", "-c", str(path), "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return str(path)


@pytest.fixture
def promoted(config, clock) -> str:
    """The config, with the execution CreatePipeline started rejected at the approval."""
    first = boto3.client("codepipeline").list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]
    advance_until(clock, lambda: pending(first) is not None)
    answer("Rejected", "the release below is newer", first)
    return config


def person(clock, sleeps, status: str, summary: str, after: int = 0):
    """A sleep that, once an approval waits (and `after` more sleeps), answers it."""
    state = {"seen": 0}

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        if pending() is not None:
            state["seen"] += 1
            if state["seen"] > after:
                answer(status, summary)

    return sleep


def test_release_wait_stops_at_the_approval_and_finishes_once_it_is_approved(
        promoted, ecspipe, clock, sleeps, seeded):
    before = _image("demo-cluster", "demo-web-service")
    result = ecspipe("release", "-c", promoted, "--wait", "--timeout", "900",
                     obj={"sleep": person(clock, sleeps, "Approved", "ship it", after=2)})
    assert result.code == 0, result
    command = f"ecspipe approve --env production -c {promoted}"
    assert result.out.count(f"waiting for approval to deploy to production: {command}") == 1
    assert "Deploy-staging/Deploy: Succeeded" in result.out
    assert "Approve-production/Approve: Succeeded" in result.out
    assert "Deploy-production/Deploy: Succeeded" in result.out
    execution = re.search(r"started execution ([0-9a-f-]{36})", result.out)
    assert execution
    commit = boto3.client("codepipeline").get_pipeline_execution(
        pipelineName="demo-app", pipelineExecutionId=execution.group(1))[
        "pipelineExecution"]["artifactRevisions"][0]["revisionId"]
    staging = _image("demo-staging", "demo-web-staging")
    production = _image("demo-cluster", "demo-web-service")
    assert production != before
    assert _tag(staging) == _tag(production) and _tag(production).endswith("-" + commit[:7])
    assert re.search(r"^  staging\s+runs .*" + re.escape(_tag(staging)), result.out, re.M)
    # The poll interval backs off while the approval waits, within 3-15 s.
    assert all(2.4 <= s <= 15 for s in sleeps) and max(sleeps) > 3.0, sleeps

    status = ecspipe("status", "-c", promoted, "-o", "json")
    assert status.code == 0, status
    data = status.json()
    envs = {e["name"]: e for e in data["environments"]}
    assert list(envs) == ["staging", "production"]
    for env, container in (("staging", "app"), ("production", "web")):
        assert envs[env]["container"] == container
        assert envs[env]["commit"] == commit and envs[env]["behind"] == []
        assert envs[env]["approval"] is None and envs[env]["rollout_state"] == "COMPLETED"
    assert envs["staging"]["cluster"] == "demo-staging"
    assert data["service"]["name"] == "demo-web-service", "service: the last environment"
    text = ecspipe("status", "-c", promoted)
    assert "environments" in text.out and "runs the newest successful build" in text.out


def test_a_rejection_is_exit_1_with_who_and_the_comment_and_production_keeps_its_image(
        promoted, ecspipe, clock, sleeps):
    before = _image("demo-cluster", "demo-web-service")
    result = ecspipe("release", "-c", promoted, "--wait",
                     obj={"sleep": person(clock, sleeps, "Rejected", "not on a Friday")})
    assert result.code == 1, result
    assert f"the approval for production was rejected by {MOTO_USER}: not on a Friday" in \
        result.out
    assert "not on a Friday" in result.err
    assert _image("demo-cluster", "demo-web-service") == before


def test_until_staging_ends_once_staging_is_verified_while_the_approval_waits(
        promoted, ecspipe, clock):
    result = ecspipe("release", "-c", promoted, "--wait", "--until", "staging", "-o", "json")
    assert result.code == 0, result
    data = result.json()
    assert data["succeeded"] is True and data["status"] == "InProgress"
    envs = {e["name"]: e for e in data["environments"]}
    assert envs["staging"]["verified"] and not envs["production"]["verified"]
    assert "staging is deployed and verified" in data["reason"]
    bad = ecspipe("release", "-c", promoted, "--wait", "--until", "qa")
    assert bad.code == 2 and "--until qa: no such environment" in bad.err, bad


def test_release_says_when_an_older_execution_holds_the_approval_stage(config, ecspipe, clock,
                                                                        sleeps):
    # The execution CreatePipeline started goes to the approval; the release waits behind it.
    first = boto3.client("codepipeline").list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        state = boto3.client("codepipeline").get_pipeline_state(name="demo-app")
        stage = next(s for s in state["stageStates"] if s["stageName"] == "Approve-production")
        holder = pending()
        if holder and holder[0] == first:
            # Once release has seen its execution wait behind it: the next time.
            if seen_waiting:
                answer("Rejected", "superseded by the release")
            seen_waiting.extend(stage.get("inboundExecutions") or [])
        elif holder:
            answer("Approved", "ship it")

    seen_waiting: list = []
    result = ecspipe("release", "-c", config, "--wait", obj={"sleep": sleep})
    assert result.code == 0, result
    assert re.search(r"waiting to enter Approve-production: older execution [0-9a-f]{8} is in "
                     r"it, waiting for approval to deploy to production", result.out), result
    assert result.out.count("waiting for approval to deploy to production: ecspipe approve") == 1


def test_approve_shows_what_it_promotes_and_approves_with_yes(promoted, ecspipe, clock):
    started = ecspipe("release", "-c", promoted)
    execution = re.search(r"started execution ([0-9a-f-]{36})", started.out).group(1)
    advance_until(clock, lambda: pending(execution) is not None)

    refused = ecspipe("approve", "-c", promoted, "--env", "production")
    assert refused.code == 2 and "--yes" in refused.err, refused
    assert pending(execution) is not None

    result = ecspipe("approve", "-c", promoted, "--env", "production", "--yes",
                     "--comment", "looks good")
    assert result.code == 0, result
    assert f"promotes       execution {execution[:8]}" in result.out
    assert "production runs" in result.out and "not built by this pipeline" in result.out
    assert "in between" in result.out  # the rejected first execution
    assert f"approved: execution {execution[:8]}" in result.out
    assert pending() is None
    state = boto3.client("codepipeline").get_pipeline_state(name="demo-app")
    stage = next(s for s in state["stageStates"] if s["stageName"] == "Approve-production")
    assert stage["actionStates"][0]["latestExecution"]["summary"] == "looks good"


def test_approve_of_a_single_service_pipeline_says_there_are_no_approvals(
        seeded, ecspipe, write_config):
    config = write_config()
    assert ecspipe("up", "-c", config).code == 0
    result = ecspipe("approve", "-c", config, "--yes")
    assert result.code == 2 and "this pipeline has no approvals" in result.err, result


def test_with_two_approvals_waiting_approve_lists_them_and_wants_env(
        seeded, ecspipe, tmp_path, clock):
    ecs = boto3.client("ecs")
    definition = ecs.describe_services(cluster="demo-cluster", services=["demo-web-service"])[
        "services"][0]["taskDefinition"]
    ecs.create_service(cluster="demo-cluster", serviceName="demo-web-eu",
                       taskDefinition=definition, desiredCount=1)
    text = EXAMPLE.read_text().split("\nnotify:", 1)[0] + """
  - name: eu
    service: {cluster: demo-cluster, name: demo-web-eu, container: web}
    approval: true
"""
    path = tmp_path / "three.yaml"
    path.write_text(text)
    assert ecspipe("up", "-c", str(path), "--wait-connection", "--timeout", "60").code == 0
    cp = boto3.client("codepipeline")

    def token(stage: str) -> str | None:
        state = cp.get_pipeline_state(name="demo-app")
        s = next(s for s in state["stageStates"] if s["stageName"] == stage)
        latest = s["actionStates"][0].get("latestExecution") or {}
        return latest.get("token") if latest.get("status") == "InProgress" else None

    advance_until(clock, lambda: token("Approve-production") is not None)
    cp.put_approval_result(pipelineName="demo-app", stageName="Approve-production",
                           actionName="Approve", token=token("Approve-production") or "",
                           result={"status": "Approved", "summary": "ok"})
    cp.start_pipeline_execution(name="demo-app")
    advance_until(clock, lambda: token("Approve-eu") is not None
                  and token("Approve-production") is not None)
    result = ecspipe("approve", "-c", str(path), "--yes")
    assert result.code == 2, result
    assert "2 approvals are waiting: say which one with --env" in result.err
    assert "--env production: execution" in result.err and "--env eu: execution" in result.err
    eu = ecspipe("approve", "-c", str(path), "--env", "eu", "--yes")
    assert eu.code == 0 and "approved: execution" in eu.out, eu


def test_status_shows_production_behind_and_the_approval_waiting_for_it(promoted, ecspipe,
                                                                       clock):
    started = ecspipe("release", "-c", promoted)
    execution = re.search(r"started execution ([0-9a-f-]{36})", started.out).group(1)
    advance_until(clock, lambda: pending(execution) is not None)
    data = ecspipe("status", "-c", promoted, "-o", "json").json()
    envs = {e["name"]: e for e in data["environments"]}
    commit = data["executions"][0]["commit"]
    assert envs["staging"]["behind"] == [] and envs["staging"]["commit"] == commit
    assert envs["staging"]["approval"] is None
    # Every build production does not run yet, newest first: this one, and the first
    # execution (its approval was rejected).
    behind = envs["production"]["behind"]
    assert [b["execution_id"] for b in behind][:1] == [execution] and len(behind) == 2
    assert behind[0]["commit"] == commit
    assert envs["production"]["commit"] == "0a1b2c3"  # the seed's image: not built here
    approval = envs["production"]["approval"]
    assert approval["status"] == "InProgress" and approval["execution_id"] == execution
    assert approval["requested_at"]

    text = ecspipe("status", "-c", promoted)
    assert text.code == 0, text
    assert re.search(r"^  production\s+demo-cluster/demo-web-service: 2/2 running", text.out,
                     re.M), text
    assert f"2 executions behind: {commit[:7]} 'Update demo-app" in text.out
    assert "approval waiting since " in text.out
    assert f"ecspipe approve --env production -c {promoted}" in text.out


def test_approve_refuses_what_it_cannot_answer_then_answers_the_only_one_waiting(
        promoted, ecspipe, clock, calls):
    # Refused before any AWS call: an unknown environment, one without an approval,
    # a comment longer than AWS allows.
    for args, needle in (
            (("--env", "qa"), "--env qa: no such environment (environments: staging, "
             "production)"),
            (("--env", "staging"), "--env staging: the staging environment has no approval"),
            (("--comment", "x" * 513), "--comment: at most 512 characters")):
        calls.clear()
        result = ecspipe("approve", "-c", promoted, "--yes", *args)
        assert result.code == 2 and needle in result.err, result
        assert "PutApprovalResult" not in calls.ops

    # Nothing waits: exit 2, saying what the pipeline does.
    ecspipe("release", "-c", promoted)
    clock.advance(2)  # in Build
    result = ecspipe("approve", "-c", promoted, "--yes")
    assert result.code == 2, result
    assert re.search(r"no approval is waiting in this pipeline: the latest execution [0-9a-f]{8}"
                     r" \(commit [0-9a-f]{7}\) is InProgress in stage Build", result.err), result

    # Someone answers between the look and the answer: a clear user error.
    advance_until(clock, lambda: pending() is not None)
    from ecspipe import approve as core

    real = core.answer

    def answered_first(ctx, found, approve, comment):
        answer("Approved", "someone else")
        return real(ctx, found, approve, comment)

    core.answer = answered_first
    try:
        raced = ecspipe("approve", "-c", promoted, "--yes")
    finally:
        core.answer = real
    assert raced.code == 2, raced
    # PutApprovalResult: ApprovalAlreadyCompleted (or InvalidApprovalToken once expired).
    assert "the approval for production was already approved or rejected" in raced.err

    # Without --env: the only one waiting; JSON says what was answered.
    ecspipe("release", "-c", promoted)
    advance_until(clock, lambda: pending() is not None)
    result = ecspipe("approve", "-c", promoted, "--reject", "--yes", "-o", "json")
    assert result.code == 0, result
    data = result.json()
    assert (data["environment"], data["status"], data["comment"]) == (
        "production", "Rejected", "Rejected with ecspipe approve")
    assert data["pending"]["execution"]["id"] == data["execution_id"]
