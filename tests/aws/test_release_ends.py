"""How `release --wait` ends when the execution does not succeed: stopped or superseded.

Issue 4: "Exit 0 if it succeeded; 1 if it failed, was stopped or superseded, or
timed out" (failed, rolled back and timed out are in test_release.py).
`release --wait` always starts a new execution, so what happens to it is
arranged from botocore hooks on the CLI's own StartPipelineExecution call,
through a separate boto3 client (not hooked, not in `calls`).

Superseding needs an execution *waiting* before a busy stage: right after
`up --wait-connection` the pipeline's own first execution (CreatePipeline) is
still in Source, so the CLI's execution waits behind it and a newer one started
from the hook supersedes it. On an idle pipeline (`idle`) the CLI's execution
enters Source at once and is never superseded.
"""

from __future__ import annotations

import boto3
import pytest

PIPELINE = "demo-app"


@pytest.fixture
def config(seeded, write_config, ecspipe):
    path = write_config()
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


@pytest.fixture
def codepipeline(seeded):
    return boto3.client("codepipeline")


@pytest.fixture
def idle(config, codepipeline, clock, sleeps):
    """The pipeline with nothing running: its first execution has ended."""
    clock.advance(600)
    assert _running(codepipeline) == []
    sleeps.clear()
    return config


def _running(cp) -> list[dict]:
    summaries = cp.list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"]
    return [e for e in summaries if e["status"] in ("InProgress", "Stopping")]


def _status(cp, execution_id: str) -> str:
    return cp.get_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)[
        "pipelineExecution"
    ]["status"]


def _after_start(action):
    """An after-call hook running `action(execution_id)` once the CLI's start returns."""
    started: list[str] = []

    def hook(model, parsed, **_kwargs):
        if model.name == "StartPipelineExecution":
            started.append(parsed["pipelineExecutionId"])
            action(parsed["pipelineExecutionId"])

    return hook, started


def test_release_without_wait_prints_an_execution_id_that_can_be_stopped(
    config, ecspipe, codepipeline
):
    result = ecspipe("release", "-c", config, "-o", "json")
    assert result.code == 0, result
    execution_id = result.json()["execution_id"]
    assert _status(codepipeline, execution_id) == "InProgress"
    codepipeline.stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=True, reason="test"
    )
    assert _status(codepipeline, execution_id) == "Stopped"


def test_release_wait_is_exit_1_when_the_execution_is_stopped(idle, ecspipe, codepipeline, sleeps):
    def stop(execution_id: str) -> None:
        assert _status(codepipeline, execution_id) == "InProgress"
        codepipeline.stop_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=True, reason="test"
        )

    hook, started = _after_start(stop)
    result = ecspipe(
        "release", "-c", idle, "--wait", obj={"client_hooks": [("after-call.*.*", hook)]}
    )
    assert result.code == 1, result
    assert len(started) == 1
    assert "the execution was stopped" in result.out
    assert f"release failed: execution {started[0]} (pipeline: Stopped)" in result.out
    assert "Traceback" not in result.err
    assert _status(codepipeline, started[0]) == "Stopped"
    assert sleeps == [], "a stopped execution is terminal at the first look"
    source = codepipeline.list_action_executions(
        pipelineName=PIPELINE, filter={"pipelineExecutionId": started[0]}
    )["actionExecutionDetails"]
    assert [(a["actionName"], a["status"]) for a in source] == [("Source", "Abandoned")]


def test_release_wait_follows_a_stop_that_lets_the_stage_finish_to_stopped(
    idle, ecspipe, codepipeline, sleeps
):
    def stop_after_the_stage(execution_id: str) -> None:
        codepipeline.stop_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=False, reason="test"
        )
        assert _status(codepipeline, execution_id) == "Stopping"

    hook, started = _after_start(stop_after_the_stage)
    result = ecspipe(
        "release",
        "-c",
        idle,
        "--wait",
        "-o",
        "json",
        obj={"client_hooks": [("after-call.*.*", hook)]},
    )
    assert result.code == 1, result
    data = result.json()
    assert data["execution_id"] == started[0]
    assert data["status"] == "Stopped" and data["succeeded"] is False
    assert data["reason"] == "the execution was stopped"
    assert sleeps, "Stopping is not an end: release waited for the stage to finish"
    assert "Traceback" not in result.err


def test_release_wait_is_exit_1_when_a_newer_execution_supersedes_it(
    config, ecspipe, codepipeline, sleeps
):
    # SUPERSEDED mode only replaces an execution *waiting* before a busy stage. The
    # pipeline's first execution (started by CreatePipeline) is still in Source, so the
    # CLI's execution waits there, and a newer one arriving meanwhile supersedes it.
    first = _running(codepipeline)
    assert [e["trigger"]["triggerType"] for e in first] == ["CreatePipeline"]
    newer: list[str] = []

    def start_a_newer_one(_execution_id: str) -> None:
        newer.append(codepipeline.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"])

    hook, started = _after_start(start_a_newer_one)
    result = ecspipe(
        "release", "-c", config, "--wait", obj={"client_hooks": [("after-call.*.*", hook)]}
    )
    assert result.code == 1, result
    assert "a newer execution superseded this one" in result.out
    assert f"release failed: execution {started[0]} (pipeline: Superseded)" in result.out
    assert "Traceback" not in result.err
    assert _status(codepipeline, started[0]) == "Superseded"
    assert _status(codepipeline, newer[0]) == "InProgress", "the newer one runs on"
    assert _status(codepipeline, first[0]["pipelineExecutionId"]) == "InProgress"


def test_a_newer_execution_never_supersedes_one_ahead_of_it_and_the_release_succeeds(
    idle, ecspipe, codepipeline, sleeps
):
    """With nothing ahead, the CLI's execution enters Source at once: it is never waiting,
    so the newer execution only follows it, and deploys after it."""
    newer: list[str] = []

    def start_a_newer_one(_execution_id: str) -> None:
        newer.append(codepipeline.start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"])

    hook, started = _after_start(start_a_newer_one)
    result = ecspipe(
        "release",
        "-c",
        idle,
        "--wait",
        "-o",
        "json",
        obj={"client_hooks": [("after-call.*.*", hook)]},
    )
    assert _status(codepipeline, started[0]) == "Succeeded"
    assert result.json()["status"] == "Succeeded"
    assert "Superseded" not in {_status(codepipeline, started[0]), _status(codepipeline, newer[0])}
    assert result.code == 0, result
    assert result.json()["succeeded"] is True
    assert newer[0] in result.json()["reason"], "it says a newer execution replaced it"
