"""Pipeline executions in the sandbox: the model and the engine that plays them forward.

moto stores pipelines and executions but runs nothing: an execution is
"Succeeded" the moment it starts. Here an execution is a `SimulatedExecution`
(a subclass of moto's `PipelineExecution`, stored in moto's own
`CodePipeline.executions`, so moto's reset wipes it with everything else) that
moves through the stages of the pipeline's declaration. What each action does
when it runs is actions.py's and builds.py's business; this module only decides
when a stage is entered, when it ends, and what the execution's status is.

Each execution is a small state machine:

    InProgress --(last stage succeeds)--> Succeeded
        |--(an action fails)-----------> Failed
        |--(Stop, abandon)-------------> Stopped (in-progress actions Abandoned)
        |--(Stop, wait)----> Stopping --(current stage ends)--> Stopped
        '--(waiting before a stage, a newer execution arrives)--> Superseded

Concurrency follows the pipeline's executionMode: SUPERSEDED (the V2
default: one execution per stage, the newest waiter wins), QUEUED (waiters
enter in order) or PARALLEL (no locking). Actions of a stage run in parallel
regardless of runOrder (ecspipe's stages have one action each).

The simulation is lazy. Nothing runs in the background: every read of the
pipeline and of what it changes first calls `advance_region()`, which brings
every running execution of that account and region to `SETTINGS.clock.now()`.
Stages end at precomputed times and are processed in time order across
executions, so the outcome does not depend on how often anyone polls; each
stage's start and end effects run exactly once, stamped with the time they
were due. Knobs are in `settings.SETTINGS`: `stage_seconds` (keyed by action
category, then stage name) and `fail_stage` (category or stage name whose
action fails with a realistic error).

Other modules call `advance_region()`, `find_pipeline()`, `start_execution()`
and `stop_execution()`.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.codepipeline.exceptions import (
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.codepipeline.models import PipelineExecution, codepipeline_backends
from moto.core.exceptions import JsonRESTError

from ecspipe.sandbox import ecs as ecs_sim
from ecspipe.sandbox.actions import (
    ActionSimulator,
    EcsDeploySimulator,
    SourceRevision,
    SourceSimulator,
    _job_failed,
)
from ecspipe.sandbox.builds import BuildSimulator
from ecspipe.sandbox.settings import SETTINGS

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
STOPPING, STOPPED, SUPERSEDED, ABANDONED = "Stopping", "Stopped", "Superseded", "Abandoned"
RUNNING = (IN_PROGRESS, STOPPING)

_lock = threading.RLock()
_local = threading.local()

# --- errors moto does not define -------------------------------------------------


# --- errors moto does not define -------------------------------------------------


class _Error(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__(type(self).__name__, message)


class PipelineExecutionNotStoppableException(_Error):
    pass


class DuplicatedStopRequestException(_Error):
    pass


class ValidationException(_Error):
    pass


# --- the model ---------------------------------------------------------------------


@dataclass
class ActionRun:
    """One execution of one action (ListActionExecutions' ActionExecutionDetail)."""

    stage_name: str
    declaration: dict[str, Any]
    start_time: float
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = IN_PROGRESS
    last_update_time: float = 0.0
    summary: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    error: dict[str, str] | None = None
    output_variables: dict[str, str] = field(default_factory=dict)
    revision: dict[str, Any] | None = None  # currentRevision, for source actions
    data: dict[str, Any] = field(default_factory=dict)  # private to its simulator

    @property
    def name(self) -> str:
        return self.declaration["name"]

    @property
    def type_id(self) -> dict[str, str]:
        return self.declaration["actionTypeId"]

    @property
    def configuration(self) -> dict[str, str]:
        return self.declaration.get("configuration") or {}

    @property
    def inputs(self) -> list[str]:
        return [a["name"] for a in self.declaration.get("inputArtifacts") or []]

    @property
    def outputs(self) -> list[str]:
        return [a["name"] for a in self.declaration.get("outputArtifacts") or []]


@dataclass
class StageRun:
    """One execution's pass through one stage (None status: not entered)."""

    name: str
    actions: list[dict[str, Any]]
    status: str | None = None
    entered_at: float | None = None
    ends_at: float | None = None
    runs: list[ActionRun] = field(default_factory=list)


class SimulatedExecution(PipelineExecution):
    """moto's PipelineExecution, with a real lifecycle (see the module docstring)."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        pipeline: dict[str, Any],
        number: int,
        trigger_type: str,
        variables: list[dict[str, str]] | None,
        source_overrides: dict[str, str],
        now: float,
    ) -> None:
        defaults = {v["name"]: v.get("defaultValue", "") for v in pipeline.get("variables") or []}
        given = {v["name"]: v["value"] for v in variables or []}
        merged = [{"name": k, "value": v} for k, v in {**defaults, **given}.items()]
        super().__init__(pipeline["name"], pipeline["version"], merged)
        self.account_id = account_id
        self.region = region
        self.number = number
        self.status = IN_PROGRESS
        self.status_summary = None
        # moto's start_time/last_update_time are real-time datetimes; ours are
        # epoch seconds of SETTINGS.clock (moto's are set too, for consistency).
        self.started = self.updated = now
        self.start_time = self.last_update_time = _naive(now)
        self.trigger = {
            "triggerType": trigger_type,
            "triggerDetail": f"arn:aws:sts::{account_id}:user/moto",
        }
        self.execution_mode = pipeline.get("executionMode") or "SUPERSEDED"
        self.role_arn = pipeline.get("roleArn")
        self.artifact_bucket = _artifact_bucket(pipeline, region)
        self.stages = [
            StageRun(stage["name"], copy.deepcopy(stage["actions"])) for stage in pipeline["stages"]
        ]
        self.position = 0
        self.waiting = False
        self.source_overrides = source_overrides
        self.revisions: list[SourceRevision] = []
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.stop_reason: str | None = None

    @property
    def id(self) -> str:
        return self.pipeline_execution_id

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def stage(self) -> StageRun:
        return self.stages[self.position]

    def finish(self, status: str, at: float, summary: str | None = None) -> None:
        self.status = status
        self.status_summary = summary
        self.touch(at)
        self.waiting = False

    def touch(self, at: float) -> None:
        self.updated = at
        self.last_update_time = _naive(at)

    def artifact_key(self, artifact: str) -> str:
        digest = hashlib.sha1(f"{self.id}/{artifact}".encode()).hexdigest()[:7]
        return f"{self.pipeline_name[:20]}/{artifact[:10]}/{digest}"

    # moto's responses call these two.
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pipelineName": self.pipeline_name,
            "pipelineVersion": self.pipeline_version,
            "pipelineExecutionId": self.id,
            "status": self.status,
            "artifactRevisions": [
                {
                    "name": r.artifact_name or r.action_name,
                    "revisionId": r.revision_id,
                    "revisionSummary": r.summary,
                    "created": r.created,
                    "revisionUrl": r.url,
                }
                for r in self.revisions
            ],
            "variables": [{"name": v["name"], "resolvedValue": v["value"]} for v in self.variables],
            "trigger": self.trigger,
            "executionMode": self.execution_mode,
            "executionType": "STANDARD",
        }
        if self.status_summary:
            out["statusSummary"] = self.status_summary
        return out

    def to_summary_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pipelineExecutionId": self.id,
            "status": self.status,
            "startTime": self.started,
            "lastUpdateTime": self.updated,
            "sourceRevisions": [
                {
                    "actionName": r.action_name,
                    "revisionId": r.revision_id,
                    "revisionSummary": r.summary,
                    "revisionUrl": r.url,
                }
                for r in self.revisions
            ],
            "trigger": self.trigger,
            "executionMode": self.execution_mode,
            "executionType": "STANDARD",
        }
        if self.status_summary:
            out["statusSummary"] = self.status_summary
        if self.stop_reason is not None:
            out["stopTrigger"] = {"reason": self.stop_reason}
        return out


def _artifact_bucket(pipeline: dict[str, Any], region: str) -> str:
    store = pipeline.get("artifactStore") or (pipeline.get("artifactStores") or {}).get(region)
    return (store or {}).get("location", "codepipeline-artifacts")


def _executions(pipeline: Any) -> list[SimulatedExecution]:
    """A pipeline's simulated executions, oldest first."""
    return [e for e in pipeline.executions.values() if isinstance(e, SimulatedExecution)]


def _naive(ts: float) -> datetime:
    # moto keeps pipeline timestamps as naive UTC datetimes.
    return datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None)


# --- knobs ---------------------------------------------------------------------------


def _category(action: dict[str, Any]) -> str:
    return action["actionTypeId"]["category"]


def _action_seconds(action: dict[str, Any], stage_name: str) -> float:
    table = SETTINGS.stage_seconds
    return float(table.get(_category(action), table.get(stage_name, 1.0)))


def _injected_failure(action: dict[str, Any], stage_name: str) -> bool:
    return SETTINGS.fail_stage is not None and SETTINGS.fail_stage in (
        _category(action),
        stage_name,
    )


# --- the engine ----------------------------------------------------------------------


def _occupied(pipeline: Any, stage_name: str, by_other_than: SimulatedExecution) -> bool:
    return any(
        e is not by_other_than and e.running and not e.waiting and e.stage.name == stage_name
        for e in _executions(pipeline)
    )


def _enter_stage(ex: SimulatedExecution, at: float) -> None:
    stage = ex.stage
    stage.status, stage.entered_at, stage.runs = IN_PROGRESS, at, []
    ends_at = at + max((_action_seconds(a, stage.name) for a in stage.actions), default=0.0)
    for action in stage.actions:
        run = ActionRun(stage.name, action, start_time=at, last_update_time=at)
        run.data["inject_failure"] = _injected_failure(action, stage.name)
        stage.runs.append(run)
        try:
            simulator_for(action).start(ex, run, at)
        except Exception as exc:  # a simulator bug must not break unrelated reads
            run.data["error"] = _job_failed(f"ecspipe sandbox: simulator error: {exc!r}")
        # A simulator may need longer than the stage's nominal time (an ECS rollout).
        ends_at = max(ends_at, run.data.get("ends_at", ends_at))
    stage.ends_at = ends_at
    ex.touch(at)


def _request_stage(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    """`ex` wants to enter its current stage at `at`: enter, or wait (and supersede)."""
    name = ex.stage.name
    if ex.execution_mode == "PARALLEL" or not _occupied(pipeline, name, ex):
        ex.waiting = False
        _enter_stage(ex, at)
        return
    ex.waiting = True
    ex.touch(at)
    if ex.execution_mode == "SUPERSEDED":
        waiters = [
            e for e in _executions(pipeline) if e.running and e.waiting and e.stage.name == name
        ]
        newest = max(waiters, key=lambda e: e.number)
        for older in waiters:
            if older is not newest:
                older.finish(SUPERSEDED, at)


def _admit_waiters(pipeline: Any, at: float) -> None:
    for ex in sorted(_executions(pipeline), key=lambda e: e.number):
        if ex.running and ex.waiting and not _occupied(pipeline, ex.stage.name, ex):
            ex.waiting = False
            _enter_stage(ex, at)


def _finish_stage(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    stage = ex.stage
    first_error = None
    for run in stage.runs:
        if run.status != IN_PROGRESS:
            continue
        try:
            error = simulator_for(run.declaration).finish(ex, run, at)
        except Exception as exc:
            error = _job_failed(f"ecspipe sandbox: simulator error: {exc!r}")
        run.status, run.error, run.last_update_time = (FAILED if error else SUCCEEDED), error, at
        first_error = first_error or error
    ex.touch(at)
    if first_error:
        stage.status = FAILED
        ex.finish(FAILED, at, first_error["message"])
    elif ex.status == STOPPING:
        stage.status = STOPPED
        ex.finish(STOPPED, at)
    elif ex.position == len(ex.stages) - 1:
        stage.status = SUCCEEDED
        ex.finish(SUCCEEDED, at)
    else:
        stage.status = SUCCEEDED
        ex.position += 1
        _request_stage(pipeline, ex, at)


def advance_pipeline(pipeline: Any, now: float) -> None:
    """Process every stage end due by `now`, in time order across executions."""
    with _lock:
        while True:
            due = [
                (ends_at, e.number, e)
                for e in _executions(pipeline)
                if e.running and not e.waiting
                for ends_at in [e.stage.ends_at]
                if ends_at is not None and ends_at <= now
            ]
            if not due:
                return
            at, _, ex = min(due, key=lambda item: (item[0], item[1]))
            _finish_stage(pipeline, ex, at)
            _admit_waiters(pipeline, at)


def advance_region(account_id: str, region: str, now: float | None = None) -> None:
    """Advance every execution of every pipeline of one account and region."""
    if getattr(_local, "busy", False):
        return  # a read made by the simulation itself
    now = SETTINGS.clock.now() if now is None else now
    try:
        backend = codepipeline_backends[account_id][region]
    except KeyError:
        return
    _local.busy = True
    try:
        with _lock:
            for pipeline in list(backend.pipelines.values()):
                advance_pipeline(pipeline, now)
            ecs_sim.advance(account_id, region, now)
    finally:
        _local.busy = False


def find_pipeline(account_id: str, region: str, name: str) -> Any:
    """moto's CodePipeline object, or raise PipelineNotFoundException like moto."""
    pipeline = codepipeline_backends[account_id][region].pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(
            f"Account '{account_id}' does not have a pipeline with name '{name}'"
        )
    return pipeline


def _find_execution(account_id: str, pipeline: Any, execution_id: str) -> SimulatedExecution:
    ex = pipeline.executions.get(execution_id)
    if not isinstance(ex, SimulatedExecution):
        raise PipelineExecutionNotFoundException(
            f"Account '{account_id}' does not have an execution with id "
            f"'{execution_id}' for pipeline '{pipeline.pipeline['name']}'"
        )
    return ex


def _source_overrides(pipeline: dict[str, Any], overrides: list[dict[str, str]] | None):
    sources = {
        a["name"]
        for stage in pipeline["stages"]
        for a in stage["actions"]
        if _category(a) == "Source"
    }
    result = {}
    for override in overrides or []:
        name = override.get("actionName")
        if name not in sources:
            raise ValidationException(
                f"The source revision override for action {name} is not valid: "
                "the pipeline has no source action with that name."
            )
        if override.get("revisionType") != "COMMIT_ID":
            raise ValidationException(
                f"The source revision type {override.get('revisionType')} is not valid "
                f"for action {name}; a GitHub connection source takes COMMIT_ID."
            )
        result[name] = override["revisionValue"]
    return result


def start_execution(
    account_id: str,
    region: str,
    pipeline_name: str,
    trigger_type: str = "StartPipelineExecution",
    variables: list[dict[str, str]] | None = None,
    source_revisions: list[dict[str, str]] | None = None,
    now: float | None = None,
) -> SimulatedExecution:
    """Start an execution of the pipeline's current declaration at `now`."""
    now = SETTINGS.clock.now() if now is None else now
    pipeline = find_pipeline(account_id, region, pipeline_name)
    overrides = _source_overrides(pipeline.pipeline, source_revisions)
    with _lock:
        advance_pipeline(pipeline, now)
        ex = SimulatedExecution(
            account_id=account_id,
            region=region,
            pipeline=pipeline.pipeline,
            number=len(pipeline.executions) + 1,
            trigger_type=trigger_type,
            variables=variables,
            source_overrides=overrides,
            now=now,
        )
        pipeline.executions[ex.id] = ex
        _request_stage(pipeline, ex, now)
        advance_pipeline(pipeline, now)  # stages of zero seconds end at once
        return ex


def stop_execution(
    account_id: str,
    region: str,
    pipeline_name: str,
    execution_id: str,
    abandon: bool = False,
    reason: str | None = None,
    now: float | None = None,
) -> SimulatedExecution:
    """StopPipelineExecution: abandon now, or let the current stage finish first."""
    now = SETTINGS.clock.now() if now is None else now
    pipeline = find_pipeline(account_id, region, pipeline_name)
    with _lock:
        advance_pipeline(pipeline, now)
        ex = _find_execution(account_id, pipeline, execution_id)
        if not ex.running:
            raise PipelineExecutionNotStoppableException(
                f"Unable to stop pipeline execution {execution_id}: "
                f"it is already in the {ex.status} state."
            )
        if ex.status == STOPPING and not abandon:
            raise DuplicatedStopRequestException(
                f"A stop request for pipeline execution {execution_id} has already been made."
            )
        ex.stop_reason = reason or ""
        if ex.waiting:
            ex.finish(STOPPED, now)
        elif abandon:
            for run in ex.stage.runs:
                if run.status == IN_PROGRESS:
                    simulator_for(run.declaration).abandon(ex, run, now)
                    run.status, run.last_update_time = ABANDONED, now
            ex.stage.status = STOPPED
            ex.finish(STOPPED, now)
            _admit_waiters(pipeline, now)
        else:
            ex.status = ex.stage.status = STOPPING
            ex.touch(now)
        return ex


_DEFAULT_SIMULATOR = ActionSimulator()
_SOURCE = SourceSimulator()
SIMULATORS: dict[str, ActionSimulator] = {
    "CodeBuild": BuildSimulator(),
    "ECS": EcsDeploySimulator(),
}


def simulator_for(action: dict[str, Any]) -> ActionSimulator:
    type_id = action["actionTypeId"]
    if type_id["provider"] in SIMULATORS:
        return SIMULATORS[type_id["provider"]]
    return _SOURCE if type_id["category"] == "Source" else _DEFAULT_SIMULATOR
