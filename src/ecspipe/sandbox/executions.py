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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.codepipeline.exceptions import (
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.codepipeline.models import PipelineExecution, codepipeline_backends

from ecspipe.sandbox import conditions
from ecspipe.sandbox import ecs as ecs_sim
from ecspipe.sandbox.actions import (
    ActionSimulator,
    ApprovalSimulator,
    CodeDeployToEcsSimulator,
    EcsDeploySimulator,
    NotYet,
    SourceRevision,
    SourceSimulator,
    _job_failed,
)
from ecspipe.sandbox.builds import BuildSimulator
from ecspipe.sandbox.conditions import ConditionRun
from ecspipe.sandbox.errors import AwsJsonError
from ecspipe.sandbox.settings import SETTINGS

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
STOPPING, STOPPED, SUPERSEDED, ABANDONED = "Stopping", "Stopped", "Superseded", "Abandoned"
RUNNING = (IN_PROGRESS, STOPPING)

_lock = threading.RLock()
_local = threading.local()

# --- errors moto does not define -------------------------------------------------


class PipelineExecutionNotStoppableException(AwsJsonError):
    pass


class DuplicatedStopRequestException(AwsJsonError):
    pass


class ValidationException(AwsJsonError):
    pass


class StageNotFoundException(AwsJsonError):
    pass


class ActionNotFoundException(AwsJsonError):
    pass


class InvalidApprovalTokenException(AwsJsonError):
    pass


class ApprovalAlreadyCompletedException(AwsJsonError):
    pass


class UnableToRollbackStageException(AwsJsonError):
    pass


class PipelineExecutionOutdatedException(AwsJsonError):
    pass


class ConflictException(AwsJsonError):
    code = 409


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
    # When the action ends, if nothing else ends it first (a simulator may set it
    # later than the stage's nominal time: an ECS rollout, an approval's expiry).
    ends_at: float | None = None
    updated_by: str | None = None  # who approved or rejected (approval actions)
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
    """One execution's pass through one stage (None status: not entered).

    A stage entered goes through up to three phases: "entry" (its beforeEntry
    condition is evaluated; the actions wait), "actions" (its actions run), and
    "success" (its onSuccess condition is evaluated, e.g. an alarm-watched bake).
    """

    name: str
    declaration: dict[str, Any]
    status: str | None = None
    entered_at: float | None = None
    phase: str | None = None
    runs: list[ActionRun] = field(default_factory=list)
    conditions: dict[str, ConditionRun] = field(default_factory=dict)

    @property
    def actions(self) -> list[dict[str, Any]]:
        return self.declaration["actions"]

    def declared(self, kind: str) -> dict[str, Any] | None:
        """The stage's beforeEntry / onSuccess / onFailure declaration, if any."""
        return self.declaration.get(kind)


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
        only_stage: str | None = None,
        execution_type: str = "STANDARD",
        rollback_target: str | None = None,
        trigger_detail: str | None = None,
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
            "triggerDetail": trigger_detail or caller_arn(account_id),
        }
        # A rollback execution runs one stage again with an earlier execution's
        # artifacts (RollbackStage, or a stage condition's ROLLBACK result).
        self.execution_type = execution_type
        self.rollback_target = rollback_target
        self.execution_mode = pipeline.get("executionMode") or "SUPERSEDED"
        self.role_arn = pipeline.get("roleArn")
        self.artifact_bucket = _artifact_bucket(pipeline, region)
        self.stages = [
            StageRun(stage["name"], copy.deepcopy(stage))
            for stage in pipeline["stages"]
            if only_stage is None or stage["name"] == only_stage
        ]
        self.position = 0
        self.waiting = False
        self.source_overrides = source_overrides
        self.revisions: list[SourceRevision] = []
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.stop_reason: str | None = None

    @property
    def checks_conditions(self) -> bool:
        # A rollback execution returns to a known-good state: the stage's conditions
        # (entry windows, bake alarms, rollback on failure) are not evaluated again.
        return self.execution_type == "STANDARD"

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
        emit(self, "pipeline-execution", status, at)

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
            **self._type_members(),
        }
        if self.status_summary:
            out["statusSummary"] = self.status_summary
        return out

    def _type_members(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executionType": self.execution_type}
        if self.rollback_target:
            out["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": self.rollback_target}
        return out

    def stage_named(self, name: str) -> StageRun | None:
        return next((s for s in self.stages if s.name == name), None)

    def succeeded_in(self, stage_name: str) -> bool:
        stage = self.stage_named(stage_name)
        return stage is not None and stage.status == SUCCEEDED

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
            **self._type_members(),
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


# --- events ------------------------------------------------------------------------

# Called with (execution, event type id, detail) as an execution progresses, e.g.
# "codepipeline-pipeline-manual-approval-needed" (the CodeStar Notifications event
# type ids of "Notification concepts", Developer Tools console User Guide).
Listener = Callable[["SimulatedExecution", str, dict[str, Any]], None]
LISTENERS: list[Listener] = []
_EVENT_STATES = {IN_PROGRESS: "started", SUCCEEDED: "succeeded", FAILED: "failed",
                 STOPPED: "canceled", SUPERSEDED: "superseded"}


def emit(ex: SimulatedExecution, group: str, status: str, at: float, **detail: Any) -> None:
    """Tell the listeners (notification rules) that `group` (pipeline-execution,
    stage-execution, action-execution, manual-approval) reached `status`."""
    state = _EVENT_STATES.get(status)
    if state is None or (group == "manual-approval" and state not in (
            "started", "succeeded", "failed")):
        return
    if group == "manual-approval":
        state = {"started": "needed"}.get(state, state)
    event = f"codepipeline-pipeline-{group}-{state}"
    payload = {"pipeline": ex.pipeline_name, "execution-id": ex.id, "state": status.upper(),
               "version": ex.pipeline_version, "time": at, **detail}
    for listener in list(LISTENERS):
        try:
            listener(ex, event, payload)
        except Exception:  # noqa: BLE001 - a notification must never break an execution
            continue


def caller_arn(account_id: str) -> str:
    """Who the sandbox says made a request (moto's STS answers the same user)."""
    return f"arn:aws:sts::{account_id}:user/moto"


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


def _enter_stage(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    """Enter the current stage: its beforeEntry condition first, then its actions."""
    stage = ex.stage
    stage.status, stage.entered_at, stage.runs, stage.conditions = IN_PROGRESS, at, [], {}
    ex.touch(at)
    emit(ex, "stage-execution", IN_PROGRESS, at, stage=stage.name)
    entry = conditions.start("beforeEntry", stage.declaration, at) if ex.checks_conditions else None
    if entry is None:
        _start_actions(pipeline, ex, at)
        return
    stage.phase, stage.conditions["beforeEntry"] = "entry", entry
    _entry_progress(pipeline, ex, at)


def _entry_progress(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    entry = ex.stage.conditions["beforeEntry"]
    status = conditions.evaluate(entry, ex.account_id, ex.region, at)
    if status == SUCCEEDED:
        _start_actions(pipeline, ex, at)
    elif status == FAILED:
        _stage_failed(pipeline, ex, at, f"The entry condition of stage {ex.stage.name} "
                      f"failed: {entry.summary}", rollback=False)


def _start_actions(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    stage = ex.stage
    stage.phase = "actions"
    for action in stage.actions:
        run = ActionRun(stage.name, action, start_time=at, last_update_time=at)
        run.ends_at = at + _action_seconds(action, stage.name)
        # An injected failure breaks what is new; a rollback redeploys what worked.
        run.data["inject_failure"] = ex.checks_conditions and _injected_failure(action, stage.name)
        stage.runs.append(run)
        try:
            simulator_for(action).start(ex, run, at)
        except Exception as exc:  # a simulator bug must not break unrelated reads
            run.data["error"] = _job_failed(f"ecspipe sandbox: simulator error: {exc!r}")
        _action_event(ex, run, at)
    ex.touch(at)


def _finish_runs(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    """End the actions due at `at`; once every action has ended, the stage moves on."""
    stage = ex.stage
    for run in stage.runs:
        simulator = simulator_for(run.declaration)
        due = simulator.due_at(ex, run) if run.status == IN_PROGRESS else None
        if due is None or due > at:
            continue
        try:
            error = simulator.finish(ex, run, at)
        except NotYet:
            continue  # what the action waits for has not happened yet (asked again later)
        except Exception as exc:
            error = _job_failed(f"ecspipe sandbox: simulator error: {exc!r}")
        run.status, run.error, run.last_update_time = (FAILED if error else SUCCEEDED), error, at
        _action_event(ex, run, at)
    ex.touch(at)
    if any(run.status == IN_PROGRESS for run in stage.runs):
        return
    error = next((run.error for run in stage.runs if run.error), None)
    if error:
        _stage_failed(pipeline, ex, at, error["message"],
                      rollback=_declared_result(ex, "onFailure") == "ROLLBACK")
    elif ex.status == STOPPING:
        stage.status, stage.phase = STOPPED, None
        ex.finish(STOPPED, at)
    else:
        bake = conditions.start("onSuccess", stage.declaration, at) if ex.checks_conditions \
            else None
        if bake is None:
            _stage_succeeded(pipeline, ex, at)
            return
        stage.phase, stage.conditions["onSuccess"] = "success", bake
        _success_progress(pipeline, ex, at)


def _success_progress(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    bake = ex.stage.conditions["onSuccess"]
    status = conditions.evaluate(bake, ex.account_id, ex.region, at)
    if status == SUCCEEDED:
        _stage_succeeded(pipeline, ex, at)
    elif status == FAILED:
        _stage_failed(pipeline, ex, at, f"The success condition of stage {ex.stage.name} "
                      f"failed: {bake.summary}", rollback=bake.result == "ROLLBACK")


def _action_event(ex: SimulatedExecution, run: ActionRun, at: float) -> None:
    detail = {"stage": run.stage_name, "action": run.name, "type": run.type_id}
    emit(ex, "action-execution", run.status, at, **detail)
    if (run.type_id.get("category"), run.type_id.get("provider")) == ("Approval", "Manual"):
        emit(ex, "manual-approval", run.status, at, **detail)


def _declared_result(ex: SimulatedExecution, kind: str) -> str | None:
    if not ex.checks_conditions:
        return None
    declared = ex.stage.declared(kind) or {}
    return declared.get("result")


def _stage_succeeded(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    stage = ex.stage
    stage.status, stage.phase = SUCCEEDED, None
    emit(ex, "stage-execution", SUCCEEDED, at, stage=stage.name)
    if ex.position == len(ex.stages) - 1:
        ex.finish(SUCCEEDED, at)
    else:
        ex.position += 1
        _request_stage(pipeline, ex, at)


def _stage_failed(pipeline: Any, ex: SimulatedExecution, at: float, message: str,
                  rollback: bool) -> None:
    """The stage failed; with a ROLLBACK result, an earlier success is deployed again.

    "Configure a stage for automatic rollback" (CodePipeline User Guide): the stage
    rolls back only if an execution succeeded in it before, in the current pipeline
    structure version; otherwise it simply stays failed.
    """
    stage = ex.stage
    stage.status, stage.phase = FAILED, None
    emit(ex, "stage-execution", FAILED, at, stage=stage.name)
    target = _rollback_target(pipeline, stage.name, ex) if rollback else None
    if target is None:
        ex.finish(FAILED, at, message)
        return
    ex.finish(FAILED, at, f"{message} Stage {stage.name} is rolled back to execution "
              f"{target.id}.")
    _start_rollback(pipeline, stage.name, target, "AutomatedRollback", at,
                    detail=f"arn:aws:codepipeline:{ex.region}:{ex.account_id}:"
                    f"{ex.pipeline_name}")


def _rollback_target(pipeline: Any, stage_name: str,
                     failed: SimulatedExecution) -> SimulatedExecution | None:
    """The newest standard execution of this pipeline version that succeeded in the stage."""
    version = pipeline.pipeline["version"]
    candidates = [e for e in _executions(pipeline)
                  if e is not failed and e.execution_type == "STANDARD"
                  and e.pipeline_version == version and e.succeeded_in(stage_name)]
    return max(candidates, key=lambda e: e.number, default=None)


def _start_rollback(pipeline: Any, stage_name: str, target: SimulatedExecution,
                    trigger_type: str, at: float, detail: str | None = None
                    ) -> SimulatedExecution:
    """A new ROLLBACK execution that runs `stage_name` with the target's artifacts."""
    ex = SimulatedExecution(
        account_id=target.account_id,
        region=target.region,
        pipeline=pipeline.pipeline,
        number=len(pipeline.executions) + 1,
        trigger_type=trigger_type,
        variables=[{"name": v["name"], "value": v["value"]} for v in target.variables],
        source_overrides={},
        now=at,
        only_stage=stage_name,
        execution_type="ROLLBACK",
        rollback_target=target.id,
        trigger_detail=detail,
    )
    ex.artifacts = copy.deepcopy(target.artifacts)
    ex.revisions = list(target.revisions)
    pipeline.executions[ex.id] = ex
    emit(ex, "pipeline-execution", IN_PROGRESS, at)
    _request_stage(pipeline, ex, at)
    return ex


def _request_stage(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    """`ex` wants to enter its current stage at `at`: enter, or wait (and supersede)."""
    name = ex.stage.name
    if ex.execution_mode == "PARALLEL" or not _occupied(pipeline, name, ex):
        ex.waiting = False
        _enter_stage(pipeline, ex, at)
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
            _enter_stage(pipeline, ex, at)


def _due_at(ex: SimulatedExecution) -> float | None:
    """When something next happens to `ex` if nothing outside changes it."""
    if not ex.running or ex.waiting:
        return None
    stage = ex.stage
    if stage.phase == "entry":
        return stage.conditions["beforeEntry"].decides_at
    if stage.phase == "success":
        return stage.conditions["onSuccess"].decides_at
    ends = [due for r in stage.runs if r.status == IN_PROGRESS
            for due in [simulator_for(r.declaration).due_at(ex, r)] if due is not None]
    return min(ends) if ends else None


def _step(pipeline: Any, ex: SimulatedExecution, at: float) -> None:
    phase = ex.stage.phase
    if phase == "entry":
        _entry_progress(pipeline, ex, at)
    elif phase == "success":
        _success_progress(pipeline, ex, at)
    else:
        _finish_runs(pipeline, ex, at)


def advance_pipeline(pipeline: Any, now: float) -> None:
    """Process everything due by `now`, in time order across executions."""
    with _lock:
        while True:
            due = [
                (due_at, e.number, e)
                for e in _executions(pipeline)
                for due_at in [_due_at(e)]
                if due_at is not None and due_at <= now
            ]
            if not due:
                return
            at, _, ex = min(due, key=lambda item: (item[0], item[1]))
            _step(pipeline, ex, at)
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
        emit(ex, "pipeline-execution", IN_PROGRESS, now)
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
        elif abandon or ex.stage.phase in ("entry", "success"):
            # Nothing of the stage is left to finish once its actions are not running.
            for run in ex.stage.runs:
                if run.status == IN_PROGRESS:
                    simulator_for(run.declaration).abandon(ex, run, now)
                    run.status, run.last_update_time = ABANDONED, now
            for condition in ex.stage.conditions.values():
                condition.abandon(now)
            ex.stage.status, ex.stage.phase = STOPPED, None
            ex.finish(STOPPED, now)
            _admit_waiters(pipeline, now)
        else:
            ex.status = ex.stage.status = STOPPING
            ex.touch(now)
        return ex


def _declared_stage(pipeline: Any, stage_name: str) -> dict[str, Any]:
    stage = next((s for s in pipeline.pipeline["stages"] if s["name"] == stage_name), None)
    if stage is None:
        raise StageNotFoundException(
            f"Stage {stage_name} not found in pipeline {pipeline.pipeline['name']}")
    return stage


def put_approval_result(
    account_id: str,
    region: str,
    pipeline_name: str,
    stage_name: str,
    action_name: str,
    token: str,
    status: str,
    summary: str,
    now: float | None = None,
) -> float:
    """PutApprovalResult: answer the manual approval waiting in that stage; returns when.

    Errors as the API reference lists them: StageNotFoundException,
    ActionNotFoundException, InvalidApprovalTokenException ("already received a
    response or has expired"), ApprovalAlreadyCompletedException.
    """
    now = SETTINGS.clock.now() if now is None else now
    pipeline = find_pipeline(account_id, region, pipeline_name)
    with _lock:
        advance_pipeline(pipeline, now)
        stage = _declared_stage(pipeline, stage_name)
        action = next((a for a in stage["actions"] if a["name"] == action_name), None)
        if action is None or (action["actionTypeId"]["category"], action["actionTypeId"][
                "provider"]) != ("Approval", "Manual"):
            raise ActionNotFoundException(
                f"Action {action_name} not found in stage {stage_name} of pipeline "
                f"{pipeline_name}")
        runs = [r for e in _executions(pipeline) for st in e.stages if st.name == stage_name
                for r in st.runs if r.name == action_name]
        run = next((r for r in runs if r.data.get("token") == token), None)
        if run is None or (run.status != IN_PROGRESS and run.data.get("decision") is None):
            raise InvalidApprovalTokenException(
                "The approval request already received a response or has expired.")
        if run.data.get("decision") is not None or run.status != IN_PROGRESS:
            raise ApprovalAlreadyCompletedException(
                "The approval action has already been approved or rejected.")
        run.data["decision"] = status
        run.summary = summary
        run.updated_by = caller_arn(account_id)
        run.ends_at = now
        advance_pipeline(pipeline, now)
        return now


def rollback_stage(
    account_id: str,
    region: str,
    pipeline_name: str,
    stage_name: str,
    target_execution_id: str,
    now: float | None = None,
) -> SimulatedExecution:
    """RollbackStage: run one stage again with the artifacts of an earlier success.

    The refusals follow "Configuring stage rollback" (CodePipeline User Guide) and the
    API reference's errors: no Source stage, PARALLEL mode has no rollback, the
    target must have succeeded in that stage in the current pipeline structure
    version and must not itself be a rollback, and the stage must not be running.
    """
    now = SETTINGS.clock.now() if now is None else now
    pipeline = find_pipeline(account_id, region, pipeline_name)
    with _lock:
        advance_pipeline(pipeline, now)
        declaration = pipeline.pipeline
        stage = _declared_stage(pipeline, stage_name)
        if any(_category(a) == "Source" for a in stage["actions"]):
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name}: a stage that contains a source "
                "action cannot be rolled back.")
        if (declaration.get("executionMode") or "SUPERSEDED") == "PARALLEL":
            raise ValidationException(
                "Stage rollback is not available for pipelines in PARALLEL execution mode.")
        target = _find_execution(account_id, pipeline, target_execution_id)
        if target.execution_type == "ROLLBACK":
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name}: execution {target.id} is a rollback "
                "execution and cannot be a rollback target.")
        if target.pipeline_version != declaration["version"]:
            raise PipelineExecutionOutdatedException(
                f"Execution {target.id} ran on pipeline version {target.pipeline_version}, "
                f"but the pipeline is at version {declaration['version']}: it is outdated and "
                "cannot be used as a target pipeline execution for rollback.")
        if not target.succeeded_in(stage_name):
            raise UnableToRollbackStageException(
                f"Unable to roll back stage {stage_name}: execution {target.id} did not "
                "succeed in that stage.")
        busy = [e for e in _executions(pipeline) if e.running and not e.waiting
                and e.stage.name == stage_name]
        if busy:
            raise ConflictException(
                f"Stage {stage_name} is running execution {busy[0].id}; try again when it "
                "has finished.")
        ex = _start_rollback(pipeline, stage_name, target, "ManualRollback", now)
        advance_pipeline(pipeline, now)
        return ex


def alarm_changed(account_id: str, region: str, alarm_name: str,
                  now: float | None = None) -> None:
    """An alarm changed state: conditions that watch it are evaluated again, now."""
    now = SETTINGS.clock.now() if now is None else now
    try:
        backend = codepipeline_backends[account_id][region]
    except KeyError:
        return
    with _lock:
        for pipeline in list(backend.pipelines.values()):
            for ex in _executions(pipeline):
                stage = ex.stage if ex.running and not ex.waiting else None
                condition = stage.conditions.get(
                    {"entry": "beforeEntry", "success": "onSuccess"}.get(stage.phase or "", "")
                ) if stage else None
                if condition is not None and condition.watches_alarm(alarm_name):
                    _step(pipeline, ex, now)
            _admit_waiters(pipeline, now)


_DEFAULT_SIMULATOR = ActionSimulator()
_SOURCE = SourceSimulator()
SIMULATORS: dict[str, ActionSimulator] = {
    "CodeBuild": BuildSimulator(),
    "ECS": EcsDeploySimulator(),
    "CodeDeployToECS": CodeDeployToEcsSimulator(),
    "Manual": ApprovalSimulator(),
}


def simulator_for(action: dict[str, Any]) -> ActionSimulator:
    type_id = action["actionTypeId"]
    if type_id["provider"] in SIMULATORS:
        return SIMULATORS[type_id["provider"]]
    return _SOURCE if type_id["category"] == "Source" else _DEFAULT_SIMULATOR
