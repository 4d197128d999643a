"""`rollback`'s refusals that need no pipeline to happen: each of AWS's RollbackStage errors
becomes exit 2 with its reason in plain words and the alternative, and the refusals known
before the call (environment, stage, execution mode, a busy stage)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from ecspipe import rollback
from ecspipe.config import load_config, parse_config
from ecspipe.errors import UserError
from ecspipe.names import Names

ROOT = Path(__file__).resolve().parents[2]
TARGET = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
COMMIT = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


class Refusing:
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message

    def rollback_stage(self, **_kwargs):
        raise ClientError({"Error": {"Code": self.code, "Message": self.message}},
                          "RollbackStage")


def _plan(client) -> tuple:
    config = load_config(ROOT / "config.example.yaml")
    ctx = SimpleNamespace(config=config, names=Names.from_config(config, "123456789012"),
                          aws=SimpleNamespace(client=lambda _service: client))
    plan = rollback.RollbackPlan(config.targets[0], "Deploy", {"image": None},
                                 {"id": TARGET, "commit": COMMIT}, {})
    return ctx, plan


@pytest.mark.parametrize(("code", "expected"), [
    ("PipelineExecutionOutdatedException", "is from an older pipeline version"),
    ("ConflictException", "the pipeline is busy with another execution in stage Deploy"),
    ("UnableToRollbackStageException", "AWS cannot roll back stage Deploy to execution"),
    ("StageNotFoundException", "the pipeline has no stage 'Deploy'"),
    ("PipelineExecutionNotFoundException", "AWS refused the rollback"),
    ("ValidationException", "AWS refused the rollback"),
])
def test_each_rollback_stage_error_is_a_user_error_with_the_reason_and_the_alternative(
        code: str, expected: str) -> None:
    ctx, plan = _plan(Refusing(code, "AWS [bold]says[/bold] why"))
    with pytest.raises(UserError) as refused:
        rollback.start(ctx, plan)
    error = refused.value
    assert error.exit_code == 2
    assert expected in error.message
    assert "AWS [bold]says[/bold] why" in error.message  # AWS's own words, literally
    assert (f"ecspipe release --commit {COMMIT}" in (error.hint or "")
            or "ecspipe up" in (error.hint or ""))


def test_another_error_is_not_hidden_as_a_user_error() -> None:
    ctx, plan = _plan(Refusing("InternalFailure", "boom"))
    with pytest.raises(ClientError):
        rollback.start(ctx, plan)


def _ctx(text: str):
    config = parse_config(text)
    return SimpleNamespace(config=config)


ENVIRONMENTS = (ROOT / "config.environments.example.yaml").read_text()


def test_several_environments_need_env_and_names_must_exist() -> None:
    ctx = _ctx(ENVIRONMENTS)
    with pytest.raises(UserError, match="--env staging or --env production"):
        rollback.environment(ctx, None)
    with pytest.raises(UserError, match="no such environment"):
        rollback.environment(ctx, "qa")
    assert rollback.environment(ctx, "production").name == "production"
    single = _ctx((ROOT / "config.example.yaml").read_text())
    assert rollback.environment(single, None).name is None
    with pytest.raises(UserError, match="has one deploy stage"):
        rollback.environment(single, "production")


def _stage(name: str, category: str) -> dict:
    return {"name": name, "actions": [{"name": name, "actionTypeId": {"category": category}}]}


@pytest.mark.parametrize(("pipeline", "state", "expected"), [
    ({"stages": [_stage("Source", "Source")]}, {}, "the pipeline has no stage 'Deploy'"),
    ({"stages": [_stage("Deploy", "Build")]}, {}, "is not a deploy stage"),
    ({"stages": [_stage("Deploy", "Deploy")], "executionMode": "PARALLEL"}, {},
     "PARALLEL execution mode, which has no stage rollback"),
    ({"stages": [_stage("Deploy", "Deploy")]},
     {"stageStates": [{"stageName": "Deploy", "latestExecution": {
         "pipelineExecutionId": TARGET, "status": "InProgress"}}]},
     f"execution {TARGET} is in progress in stage Deploy"),
])
def test_refusals_known_before_rollback_stage(pipeline: dict, state: dict, expected: str) -> None:
    with pytest.raises(UserError) as refused:
        rollback._check_stage(pipeline, state, "Deploy", "service")
    assert expected in refused.value.message


def test_the_stage_may_be_rolled_back_when_nothing_runs_in_it() -> None:
    rollback._check_stage({"stages": [_stage("Deploy", "Deploy")]},
                          {"stageStates": [{"stageName": "Deploy", "latestExecution": {
                              "pipelineExecutionId": TARGET, "status": "Succeeded"}}]},
                          "Deploy", "service")


def _summary(ident: str, commit: str, kind: str = "STANDARD", of: str | None = None) -> dict:
    summary = {"pipelineExecutionId": ident, "status": "Succeeded", "executionType": kind,
               "sourceRevisions": [{"revisionId": commit}]}
    if of:
        summary["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": of}
    return summary


def test_the_default_target_is_older_than_what_runs_and_a_rollback_counts_as_its_origin() -> None:
    a, b, c = (f"{n}" * 8 + "-0000-4000-8000-000000000000" for n in "abc")
    history = [_summary("d" * 8 + "-0000-4000-8000-000000000000", "2" * 40, "ROLLBACK", b),
               _summary(c, "3" * 40), _summary(b, "2" * 40), _summary(a, "1" * 40)]
    image = "repo:20260101_000000-2222222"
    # What runs came from b (by the rollback execution d): the target is a, not c.
    assert rollback._pick(history, image, None, "Deploy", "service")["pipelineExecutionId"] == a
    assert rollback._pick(history, image, "3333", "Deploy", "service")[
        "pipelineExecutionId"] == c
    with pytest.raises(UserError) as ambiguous:
        rollback._pick([*history, _summary("e" * 8 + "-0000-4000-8000-000000000000",
                                           "1" * 7 + "f" * 33)], image, "1111111", "Deploy",
                       "service")
    assert len(ambiguous.value.problems) == 2
