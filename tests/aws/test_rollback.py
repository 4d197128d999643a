"""`ecspipe rollback` against the simulated pipeline (mock mode, manual clock).

One story per fixture (an `up` and releases cost most of a test's time): two
releases, the refusals that can be shown on them, then the rollback itself,
followed and verified, and what status says about it.
"""

from __future__ import annotations

import boto3
import pytest


@pytest.fixture
def released(seeded, write_config, ecspipe):
    """Two successful releases of different commits; (config, first, second) as JSON."""
    path = write_config()
    assert ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60").code == 0
    runs = []
    for sha in ("1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"):
        result = ecspipe("release", "-c", path, "--wait", "--commit", sha, "-o", "json")
        assert result.code == 0, result
        runs.append(result.json())
    return path, runs[0], runs[1]


def settle(clock) -> None:
    """Advance the clock until no execution runs (an automatic rollback, say)."""
    cp = boto3.client("codepipeline")
    for _ in range(600):
        summaries = cp.list_pipeline_executions(pipelineName="demo-app")[
            "pipelineExecutionSummaries"]
        if all(s["status"] != "InProgress" for s in summaries):
            return
        clock.advance(1)
    raise AssertionError("an execution is still running")


def service_image() -> str:
    ecs = boto3.client("ecs")
    arn = ecs.describe_services(cluster="demo-cluster",
                                services=["demo-web-service"])["services"][0]["taskDefinition"]
    return ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"][
        "containerDefinitions"][0]["image"]


def test_rollback_yes_wait_returns_to_the_first_release_and_status_shows_it(
        released, ecspipe, calls, monkeypatch):
    path, first, second = released
    assert service_image().endswith("-2222222")

    # No terminal and no --yes: nothing is rolled back.
    calls.clear()
    refused = ecspipe("rollback", "-c", path)
    assert refused.code == 2, refused
    assert "refusing to roll back without confirmation (no terminal)" in refused.err
    assert "returns to   commit 1111111" in refused.out and "runs now     commit 2222222" in \
        refused.out
    assert "RollbackStage" not in calls.ops

    # On a terminal, "no" rolls back nothing either.
    with monkeypatch.context() as patched:
        patched.setattr("sys.stdin.isatty", lambda: True)
        patched.setattr("click.confirm", lambda *a, **k: False)
        assert "nothing rolled back" in ecspipe("rollback", "-c", path).err
    assert "RollbackStage" not in calls.ops

    result = ecspipe("rollback", "-c", path, "--yes", "--wait")
    assert result.code == 0, result
    assert "rolled back: the service runs" in result.out
    assert service_image().endswith("-1111111")
    assert calls.ops.count("RollbackStage") == 1

    data = ecspipe("status", "-c", path, "-o", "json").json()
    newest = data["executions"][0]
    assert newest["execution_type"] == "ROLLBACK"
    assert newest["rollback_of"] == first["execution_id"]
    assert newest["commit"] == first["commit"]
    assert data["executions"][1]["execution_type"] == "STANDARD"
    assert data["executions"][1]["rollback_of"] is None
    text = ecspipe("status", "-c", path).out
    assert f"rollback of {first['execution_id'][:8]}" in text

    # The rollback execution is no target, and the service runs the default target now.
    again = ecspipe("rollback", "-c", path, "--yes", "--to", newest["id"])
    assert again.code == 2, again
    assert "was itself a rollback" in again.err and f"--to {first['execution_id']}" in again.err
    assert "ecspipe release --commit" in again.err
    same = ecspipe("rollback", "-c", path, "--yes", "--to", "1111111")
    assert same.code == 2 and "already runs commit 1111111" in same.err, same
    # What runs now came from the first release (by the rollback): the default target is
    # older than that release (the execution CreatePipeline started), not the second.
    older = ecspipe("rollback", "-c", path)
    assert older.code == 2, older
    assert "returns to   commit 1111111" not in older.out
    assert "returns to   commit 2222222" not in older.out
    # Forward to the second release by its commit works (it succeeded in the stage).
    forward = ecspipe("rollback", "-c", path, "--yes", "--wait", "--to", "2222222", "-o", "json")
    assert forward.code == 0, forward
    assert forward.json()["target"]["id"] == second["execution_id"]
    assert service_image().endswith("-2222222")


def test_rollback_refuses_what_aws_would_refuse_with_the_reason_and_the_alternative(
        released, ecspipe, calls, write_config, sandbox, clock):
    path, first, second = released
    calls.clear()
    for args, expected in [
        (("--to", "12"), "at least 4 hexadecimal characters"),
        (("--to", "nothex!"), "give an execution id or a commit SHA"),
        (("--to", "9999999"), "no execution that succeeded in stage Deploy"),
        (("--to", "00000000-0000-4000-8000-000000000000"),
         "no execution that succeeded in stage Deploy"),
        (("--env", "production"), "the config has `service:`, not `environments:`"),
    ]:
        result = ecspipe("rollback", "-c", path, "--yes", *args)
        assert result.code == 2, (args, result)
        assert expected in result.err, (args, result.err)
        assert "Traceback" not in result.err
    assert "RollbackStage" not in calls.ops

    # A failed execution did not succeed in the stage: no target.
    sandbox.fail_stage = "Deploy"
    failed = ecspipe("release", "-c", path, "--wait", "--commit", "3" * 40, "-o", "json")
    assert failed.code == 1
    sandbox.fail_stage = None
    settle(clock)  # on_failure: rollback (the default) rolled the stage back meanwhile
    assert service_image().endswith("-2222222")
    result = ecspipe("rollback", "-c", path, "--yes", "--to", failed.json()["execution_id"])
    assert result.code == 2, result
    assert "did not succeed in stage Deploy" in result.err
    assert "ecspipe release --commit 3333333333" in result.err

    # A pipeline update starts a new version: the earlier executions are outdated.
    fail = write_config(("  container: web              #",
                         "  on_failure: fail\n  container: web              #"))
    assert ecspipe("up", "-c", fail).code == 0
    outdated = ecspipe("rollback", "-c", fail, "--yes", "--to", first["execution_id"])
    assert outdated.code == 2, outdated
    assert "ran on pipeline version 1, but the pipeline is at version 2" in outdated.err
    assert f"ecspipe release --commit {first['commit']}" in outdated.err
    nothing = ecspipe("rollback", "-c", fail, "--yes")
    assert nothing.code == 2 and "nothing to roll back to" in nothing.err, nothing
    assert "RollbackStage" not in calls.ops


def test_a_busy_stage_is_refused_before_rollback_stage(released, ecspipe, calls, clock):
    path, first, _ = released
    started = ecspipe("release", "-c", path, "--commit", "4" * 40, "-o", "json")
    assert started.code == 0
    # Source and Build take a few simulated seconds; then Deploy runs.
    cp = boto3.client("codepipeline")

    def deploying() -> bool:
        stages = cp.get_pipeline_state(name="demo-app")["stageStates"]
        return (stages[2].get("latestExecution") or {}).get("status") == "InProgress"

    for _ in range(300):
        if deploying():
            break
        clock.advance(1)
    assert deploying()
    calls.clear()
    result = ecspipe("rollback", "-c", path, "--yes", "--to", first["execution_id"])
    assert result.code == 2, result
    assert "is in progress in stage Deploy" in result.err
    assert "RollbackStage" not in calls.ops
