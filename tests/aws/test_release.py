"""`release` and `status` against the simulated pipeline (mock mode, manual clock)."""

from __future__ import annotations

import boto3
import pytest


@pytest.fixture
def config(seeded, write_config, ecspipe):
    path = write_config()
    result = ecspipe("up", "-c", path, "--wait-connection", "--timeout", "60")
    assert result.code == 0, result
    return path


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def test_release_wait_succeeds_and_status_shows_the_deployed_commit(config, ecspipe):
    result = ecspipe("release", "-c", config, "--wait")
    assert result.code == 0, result
    assert "started execution" in result.out
    assert "Deploy/Deploy: Succeeded" in result.out
    assert "released: execution" in result.out

    status = ecspipe("status", "-c", config, "-o", "json")
    assert status.code == 0, status
    data = status.json()
    latest = data["executions"][0]
    assert latest["status"] == "Succeeded"
    assert len(latest["commit"]) == 40 and latest["message"]
    assert latest["started_at"] and latest["finished_at"]
    assert _tag(data["service"]["image"]).endswith("-" + latest["commit"][:7])
    assert data["service"]["matches_latest_success"] is True
    assert data["service"]["rollout_state"] == "COMPLETED"
    assert data["service"]["running"] == data["service"]["desired"] == 2
    assert data["pipeline"] == {
        "name": "demo-app", "type": "V2", "branch": "main", "trigger_branches": ["main"],
        "console_url": data["pipeline"]["console_url"],
    }
    assert "codepipeline/pipelines/demo-app" in data["pipeline"]["console_url"]
    assert data["connection"]["status"] == "AVAILABLE"
    assert [s["name"] for s in data["stages"]] == ["Source", "Build", "Deploy"]
    assert all(s["status"] == "Succeeded" for s in data["stages"])
    assert data["stages"][1]["actions"][0] == {
        "name": "Build", "status": "Succeeded", "error": None, "summary": None,
        "external_id": data["stages"][1]["actions"][0]["external_id"],
    }


def test_release_pins_a_commit(config, ecspipe):
    sha = "0123456789abcdef0123456789abcdef01234567"
    result = ecspipe("release", "-c", config, "--wait", "--commit", sha, "-o", "json")
    assert result.code == 0, result
    assert result.json()["commit"] == sha
    assert _tag(result.json()["service"]["image"]).endswith("-0123456")


def test_a_failed_build_is_exit_1_with_the_error_and_the_log_tail(config, ecspipe, sandbox):
    sandbox.fail_stage = "Build"
    before = boto3.client("ecs").describe_services(
        cluster="demo-cluster", services=["demo-web-service"])["services"][0]["taskDefinition"]
    result = ecspipe("release", "-c", config, "--wait")
    assert result.code == 1, result
    assert "failed action: Build/Build" in result.out
    assert "Build terminated with state: FAILED" in result.out
    assert "last lines of the build log:" in result.out
    tail = result.out.split("last lines of the build log:")[1]
    assert "Command did not exit successfully" in tail
    after = boto3.client("ecs").describe_services(
        cluster="demo-cluster", services=["demo-web-service"])["services"][0]["taskDefinition"]
    assert after == before, "a failed build deploys nothing"

    data = ecspipe("status", "-c", config, "-o", "json").json()
    assert data["executions"][0]["status"] == "Failed"
    build = [s for s in data["stages"] if s["name"] == "Build"][0]
    assert build["status"] == "Failed"
    assert "Build terminated" in build["actions"][0]["error"]
    text = ecspipe("status", "-c", config)
    assert "Build: Build terminated with state: FAILED" in text.out


def test_a_rolled_back_deployment_is_exit_1_never_success(config, ecspipe, sandbox):
    sandbox.rollback = True
    result = ecspipe("release", "-c", config, "--wait", "-o", "json")
    assert result.code == 1, result
    data = result.json()
    assert data["status"] == "Succeeded", "CodePipeline calls it a success ..."
    assert data["succeeded"] is False, "... ecspipe does not"
    assert "rolled back" in data["reason"]
    assert "rolled back" in result.err
    status = ecspipe("status", "-c", config, "-o", "json").json()
    assert status["service"]["matches_latest_success"] is False


def test_release_refuses_while_the_connection_is_pending(seeded, ecspipe, write_config, sandbox,
                                                        clock):
    sandbox.handshake_delay = None  # nobody completes the handshake
    path = write_config()
    assert ecspipe("up", "-c", path).code == 0
    result = ecspipe("release", "-c", path, "--wait")
    assert result.code == 2, result
    assert "PENDING" in result.err
    assert "settings/connections?region=us-east-1" in result.err
    status = ecspipe("status", "-c", path)
    assert "ACTION REQUIRED" in status.err
    clock.advance(5)  # the pipeline's first execution reaches its Source action
    first = ecspipe("status", "-c", path, "-o", "json").json()["executions"][0]
    assert first["status"] == "Failed" and "PENDING" in first["summary"]


def test_release_without_a_pipeline_says_to_run_up(seeded, ecspipe, write_config, calls):
    result = ecspipe("release", "-c", write_config())
    assert result.code == 2, result
    assert "does not exist" in result.err and "ecspipe up" in result.err
    assert "StartPipelineExecution" not in calls.ops


def test_release_wait_times_out_with_exit_1(config, ecspipe):
    result = ecspipe("release", "-c", config, "--wait", "--timeout", "2")
    assert result.code == 1, result
    assert "timed out" in result.out


def test_status_makes_a_fixed_number_of_calls_whatever_the_history(config, ecspipe, calls):
    for _ in range(3):
        assert ecspipe("release", "-c", config, "--wait").code == 0
    calls.clear()
    result = ecspipe("status", "-c", config, "--limit", "5", "-o", "json")
    assert result.code == 0, result
    assert len(result.json()["executions"]) == 4  # the pipeline's first run + 3 releases
    # The executions, and the executions whose Build succeeded (for "behind").
    assert sorted(calls.ops) == sorted([
        "GetCallerIdentity", "GetPipeline", "GetConnection", "ListPipelineExecutions",
        "ListPipelineExecutions", "GetPipelineState", "DescribeServices",
        "DescribeTaskDefinition",
    ])


def test_status_limit_bounds_the_executions(config, ecspipe):
    assert ecspipe("release", "-c", config, "--wait").code == 0
    data = ecspipe("status", "-c", config, "--limit", "1", "-o", "json").json()
    assert len(data["executions"]) == 1


def test_the_latest_success_is_found_beyond_the_executions_shown(config, ecspipe, sandbox):
    assert ecspipe("release", "-c", config, "--wait").code == 0
    sandbox.fail_stage = "Build"
    assert ecspipe("release", "-c", config, "--wait").code == 1
    data = ecspipe("status", "-c", config, "--limit", "1", "-o", "json").json()
    assert [e["status"] for e in data["executions"]] == ["Failed"]
    assert data["service"]["latest_success_commit"] is not None
    assert data["service"]["matches_latest_success"] is True
    text = ecspipe("status", "-c", config, "--limit", "1")
    assert "Deploy   Succeeded  (execution" in text.out, "a stage from an older execution says so"
