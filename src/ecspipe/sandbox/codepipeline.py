"""CodePipeline executions that really run Source -> Build -> Deploy in the sandbox.

moto stores pipelines and executions but runs nothing: an execution is
"Succeeded" the moment it starts, has no source revision, and GetPipelineState,
ListActionExecutions and StopPipelineExecution do not exist. This module adds
them and makes executions progress through the stages of the pipeline's
declaration, with side effects in the other emulated services, so a CLI can be
tested end to end against "what AWS would show":

  Source  (CodeStarSourceConnection) fails if the connection is not AVAILABLE,
          else resolves a commit (pinned with StartPipelineExecution's
          `sourceRevisions`, or a deterministic fake SHA and message).
  Build   (CodeBuild) creates a real build record in moto's CodeBuild backend,
          writes its log to CloudWatch Logs, pushes an image tagged
          `YYYYmmdd_HHMMSS-<sha7>` to ECR and hands `imagedefinitions.json` on.
  Deploy  (ECS) registers a task definition revision with that image and
          starts an ECS deployment (see ecs.py), which completes or rolls back.

Actions are recognised by category and provider, never by stage name. Other
providers simply succeed. Knobs are in `settings.SETTINGS`: `stage_seconds`
(keyed by action category, then stage name), `fail_stage` (category or stage
name whose action fails with a realistic error) and `rollback`.

The simulation is lazy. Nothing runs in the background: every read of the
pipeline (GetPipelineState, GetPipelineExecution, ListPipelineExecutions,
ListActionExecutions) and of what it changes (CodeBuild BatchGetBuilds, ECS
DescribeServices, ECR DescribeImages, Logs GetLogEvents/FilterLogEvents) first
advances every running execution of that account and region to
`SETTINGS.clock.now()`. Stages end at precomputed times and are processed in
time order across executions, so the outcome does not depend on how often
anyone polls; each stage's start and end effects run exactly once, stamped
with the time they were due.

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

Simplifications: the Source check of the connection happens when the stage is
entered, reading the connection's status at the time of the evaluation (for a
new execution, that is the StartPipelineExecution call itself); artifacts are
Python dicts on the execution, not S3 objects.

How it is attached to moto without forking (aws-facts.md section 6): new
operations are methods on `CodePipelineResponse`; reads are wrapped on the
backends; executions are `SimulatedExecution`s, a subclass of moto's
`PipelineExecution` stored in moto's own `CodePipeline.executions`, so moto's
reset wipes them with everything else.

Other modules can call `advance_region()`, `find_pipeline()`,
`start_execution()`, `stop_execution()`, `pipeline_state()` and
`action_execution_details()`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from moto.codepipeline.exceptions import (
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.codepipeline.models import PipelineExecution, codepipeline_backends
from moto.core.exceptions import JsonRESTError

from ecspipe.sandbox import ecs as ecs_sim
from ecspipe.sandbox.settings import SETTINGS

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
STOPPING, STOPPED, SUPERSEDED, ABANDONED = "Stopping", "Stopped", "Superseded", "Abandoned"
RUNNING = (IN_PROGRESS, STOPPING)

_MARK = "__ecspipe_codepipeline__"
_lock = threading.RLock()
_local = threading.local()


# --- errors moto does not define -------------------------------------------------


class _Error(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__(type(self).__name__, message)


class PipelineExecutionNotStoppableException(_Error):
    pass


class PipelineNameInUseException(_Error):
    pass


class DuplicatedStopRequestException(_Error):
    pass


class ValidationException(_Error):
    pass


class InvalidNextTokenException(_Error):
    pass


# --- the model ---------------------------------------------------------------------


def _job_failed(message: str) -> dict[str, str]:
    # CodePipeline reports job failures of AWS-owned actions with code JobFailed.
    return {"code": "JobFailed", "message": message}


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


@dataclass
class SourceRevision:
    action_name: str
    artifact_name: str | None
    revision_id: str
    message: str
    url: str | None
    created: float
    provider_type: str = "GitHub"

    @property
    def summary(self) -> str:
        # AWS returns the summary of a connection source as a compact JSON string.
        return json.dumps(
            {"ProviderType": self.provider_type, "CommitMessage": self.message},
            separators=(",", ":"),
        )


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


def fake_sha(pipeline_name: str, number: int) -> str:
    """The deterministic commit a sandbox source "finds" for execution `number`."""
    return hashlib.sha1(f"{pipeline_name}#{number}".encode()).hexdigest()


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


# --- action simulators ---------------------------------------------------------------


class ActionSimulator:
    """Default behaviour: succeed at the end of the stage (or fail if injected)."""

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        pass

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        if run.data.get("inject_failure"):
            return _job_failed(f"Action {run.name} failed (ecspipe sandbox: fail_stage).")
        return None

    def abandon(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        pass


def _connection_status(account_id: str, region: str, arn: str) -> str | None:
    """The connection's status; None (treated as AVAILABLE) if unknown to the sandbox."""
    try:
        from ecspipe.sandbox import connections
    except ImportError:
        return None
    get_status = getattr(connections, "get_status", None)
    return get_status(account_id, region, arn) if get_status else None


class SourceSimulator(ActionSimulator):
    """A connection source (GitHub) or any other source provider."""

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        cfg = run.configuration
        arn = cfg.get("ConnectionArn")
        status = _connection_status(ex.account_id, ex.region, arn) if arn else None
        if status not in (None, "AVAILABLE"):
            run.data["error"] = _job_failed(
                f"Connection {arn} is not available. Make sure the connection is set up "
                "(complete the handshake with the provider in the Developer Tools console) "
                f"and try again. The connection is in the {status} state."
            )
        elif run.data["inject_failure"]:
            repo, branch = cfg.get("FullRepositoryId", "?"), cfg.get("BranchName", "?")
            run.data["error"] = _job_failed(
                f"[GitHub] No Branch [{branch}] found for FullRepositoryName [{repo}]"
            )

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        cfg = run.configuration
        repo = cfg.get("FullRepositoryId") or cfg.get("RepositoryName") or ex.pipeline_name
        branch = cfg.get("BranchName", "main")
        pinned = ex.source_overrides.get(run.name)
        sha = pinned or fake_sha(ex.pipeline_name, ex.number)
        short = repo.split("/")[-1]
        message = f"Update {short} ({sha[:7]})" if pinned else f"Update {short} (#{ex.number})"
        github = "ConnectionArn" in cfg
        url = f"https://github.com/{repo}/commit/{sha}" if github else None
        provider = "GitHub" if github else run.type_id["provider"]
        outputs = run.outputs
        ex.revisions.append(
            SourceRevision(
                run.name, outputs[0] if outputs else None, sha, message, url, now, provider
            )
        )
        for artifact in outputs:
            ex.artifacts[artifact] = {
                "commit": sha,
                "repository": repo,
                "branch": branch,
                "message": message,
            }
        run.summary, run.external_id, run.external_url = message, sha, url
        run.revision = {"revisionId": sha, "revisionChangeId": sha, "created": now}
        run.output_variables = {
            "AuthorDate": _iso(now),
            "BranchName": branch,
            "CommitId": sha,
            "CommitMessage": message,
            "FullRepositoryName": repo,
        }
        if github:
            run.output_variables["ConnectionArn"] = cfg["ConnectionArn"]
        return None


# CodeBuild phases, in order; COMPLETED is the terminal marker.
_PHASES = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)
_BUILD_COMMAND = "docker build -t $IMAGE_REPO_URI:$IMAGE_TAG ."
_PUSH_COMMAND = "docker push $IMAGE_REPO_URI:$IMAGE_TAG"


def _phases(
    start: float,
    end: float | None,
    outcome: str = "SUCCEEDED",
    failed_phase: str | None = None,
    context: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Phase records: everything before BUILD at `start`, BUILD until `end`, the rest at `end`.

    `end=None`: the build is still in BUILD. `outcome="STOPPED"` stops it in BUILD.
    """
    done = start if end is None else end
    phases: list[dict[str, Any]] = []
    for name in _PHASES:
        if name == "BUILD" and end is None:
            phases.append({"phaseType": name, "startTime": start})
            return phases
        if name == "COMPLETED":
            phases.append({"phaseType": name, "startTime": done})
            return phases
        before_build = _PHASES.index(name) < _PHASES.index("BUILD")
        began = start if before_build or name == "BUILD" else done
        finished = start if before_build else done
        status = "FAILED" if name == failed_phase else "SUCCEEDED"
        if name == "BUILD" and outcome == "STOPPED":
            status = "STOPPED"
        phase: dict[str, Any] = {
            "phaseType": name,
            "phaseStatus": status,
            "startTime": began,
            "endTime": finished,
            "durationInSeconds": int(finished - began),
        }
        if status == "FAILED" and context:
            phase["contexts"] = [context]
        phases.append(phase)
        if status == "STOPPED":
            phases.append({"phaseType": "COMPLETED", "startTime": done})
            return phases
    return phases


def _container_line(ts: float, text: str) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1e6) % 10**6:06d}"
    return f"[Container] {stamp} {text}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_log(account_id: str, region: str, group: str, stream: str, at: float, lines: list[str]):
    """Append lines to a CloudWatch Logs stream (creating group and stream).

    Goes through moto's LogGroup, not LogsBackend.put_log_events, which drops
    events more than 14 days older than the real time: the sandbox's clock
    (a ManualClock in tests) may be anywhere.
    """
    from moto.logs.models import logs_backends

    backend = logs_backends[account_id][region]
    if group not in backend.groups:
        backend.create_log_group(group, {})
    log_group = backend.groups[group]
    if stream not in log_group.streams:
        log_group.create_log_stream(stream)
    start_ms = int(at * 1000)
    existing = log_group.streams[stream].events
    if existing:  # keep the stream in order even if two writes share a millisecond
        start_ms = max(start_ms, max(e.timestamp for e in existing) + 1)
    events = [{"timestamp": start_ms + i, "message": line} for i, line in enumerate(lines)]
    log_group.put_log_events(stream, events)


def _repo_from_uri(uri: str) -> tuple[str, str, str]:
    """`ACCOUNT.dkr.ecr.REGION.amazonaws.com/name[:tag]` -> (account, region, name)."""
    host, _, path = uri.partition("/")
    if "@" in path:
        path = path.split("@", 1)[0]
    if ":" in path:
        path = path.rsplit(":", 1)[0]
    labels = host.split(".")
    account = labels[0] if labels and labels[0].isdigit() else ""
    region = labels[3] if len(labels) > 4 and labels[1:3] == ["dkr", "ecr"] else ""
    return account, region, path


def _deploy_target(ex: SimulatedExecution) -> tuple[str, str] | None:
    """Fallback (repo URI, container) from the service the pipeline deploys to."""
    for stage in ex.stages:
        for action in stage.actions:
            if action["actionTypeId"]["provider"] != "ECS":
                continue
            cfg = action.get("configuration") or {}
            try:
                service = ecs_sim.find_service(
                    ex.account_id, ex.region, cfg.get("ClusterName", "default"), cfg["ServiceName"]
                )
                backend = ecs_sim._ecs_backend(ex.account_id, ex.region)
                task_definition = backend.describe_task_definition(service.task_definition)
                first = task_definition.container_definitions[0]
            except Exception:
                continue
            image = first.get("image", "")
            name = _repo_from_uri(image)[2]
            return f"{image.partition('/')[0]}/{name}", first["name"]
    return None


class BuildSimulator(ActionSimulator):
    """A CodeBuild action: a build record, a log, an image in ECR."""

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        from moto.codebuild.models import codebuild_backends

        name = run.configuration.get("ProjectName", "")
        backend = codebuild_backends[ex.account_id][ex.region]
        project = backend.codebuild_projects.get(name)
        if project is None:
            run.data["error"] = _job_failed(
                "Error calling startBuild: Project cannot be found: "
                f"arn:aws:codebuild:{ex.region}:{ex.account_id}:project/{name}"
            )
            return
        meta = project.project_metadata
        env = {
            v["name"]: v.get("value", "")
            for v in (meta.get("environment") or {}).get("environmentVariables") or []
        }
        fallback = _deploy_target(ex)
        repo_uri = env.get("IMAGE_REPO_URI") or (fallback[0] if fallback else "")
        container = env.get("CONTAINER_NAME") or (fallback[1] if fallback else "")
        source = ex.artifacts.get(run.inputs[0], {}) if run.inputs else {}
        sha = source.get("commit") or fake_sha(ex.pipeline_name, ex.number)
        tag = time.strftime("%Y%m%d_%H%M%S", time.gmtime(now)) + f"-{sha[:7]}"

        build = backend.start_build(name)  # moto's record: id, arn, build history
        build_uuid = build["id"].split(":", 1)[1]
        logs_cfg = ((meta.get("logsConfig") or {}).get("cloudWatchLogs")) or {}
        group = logs_cfg.get("groupName") or f"/aws/codebuild/{name}"
        stream = (
            f"{logs_cfg['streamName']}/{build_uuid}" if logs_cfg.get("streamName") else build_uuid
        )
        build.update(
            buildNumber=len(backend.build_history.get(name, [])),
            startTime=now,
            currentPhase="BUILD",
            buildStatus="IN_PROGRESS",
            buildComplete=False,
            sourceVersion=f"arn:aws:s3:::{ex.artifact_bucket}/{ex.artifact_key(run.inputs[0] if run.inputs else 'source')}",
            resolvedSourceVersion=sha,
            source={"type": "CODEPIPELINE", "insecureSsl": False, **_buildspec(meta)},
            artifacts={
                "location": f"arn:aws:s3:::{ex.artifact_bucket}/"
                + ex.artifact_key(run.outputs[0] if run.outputs else "output")
            },
            environment=copy.deepcopy(meta.get("environment") or build.get("environment")),
            serviceRole=meta.get("serviceRole"),
            timeoutInMinutes=meta.get("timeoutInMinutes") or 60,
            queuedTimeoutInMinutes=meta.get("queuedTimeoutInMinutes") or 480,
            initiator=f"codepipeline/{ex.pipeline_name}",
            phases=_phases(now, None),
            logs={
                "groupName": group,
                "streamName": stream,
                "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={ex.region}"
                f"#logsV2:log-groups/log-group/{quote(group, safe='')}/log-events/{stream}",
                "cloudWatchLogsArn": f"arn:aws:logs:{ex.region}:{ex.account_id}:log-group:{group}"
                f":log-stream:{stream}",
                "cloudWatchLogs": {"status": "ENABLED"},
                "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
            },
        )
        build.pop("endTime", None)
        _simulated_builds(backend)[build["id"]] = build
        run.data.update(
            build_id=build["id"],
            group=group,
            stream=stream,
            sha=sha,
            tag=tag,
            repo_uri=repo_uri,
            container=container,
        )
        run.external_id = build["id"]
        run.external_url = (
            f"https://console.aws.amazon.com/codesuite/codebuild/projects/{name}"
            f"/build/{quote(build['id'], safe='')}/log?region={ex.region}"
        )
        self._log(ex, run, now, _start_lines(now, repo_uri, tag, sha, ex.region))

    def _log(self, ex: SimulatedExecution, run: ActionRun, at: float, lines: list[str]) -> None:
        _write_log(ex.account_id, ex.region, run.data["group"], run.data["stream"], at, lines)

    def _build(self, ex: SimulatedExecution, run: ActionRun) -> dict[str, Any]:
        from moto.codebuild.models import codebuild_backends

        backend = codebuild_backends[ex.account_id][ex.region]
        return _simulated_builds(backend)[run.data["build_id"]]

    def _fail(self, ex, run, now, phase, command, lines, exit_status=1) -> dict[str, str]:
        reason = f"Error while executing command: {command}. Reason: exit status {exit_status}"
        context = {"statusCode": "COMMAND_EXECUTION_ERROR", "message": reason}
        lines = lines + [
            _container_line(
                now, f"Command did not exit successfully {command} exit status {exit_status}"
            ),
            _container_line(now, f"Phase complete: {phase} State: FAILED"),
            _container_line(
                now, f"Phase context status code: COMMAND_EXECUTION_ERROR Message: {reason}"
            ),
        ]
        self._log(ex, run, now, lines)
        build = self._build(ex, run)
        build.update(
            buildStatus="FAILED",
            currentPhase="COMPLETED",
            buildComplete=True,
            endTime=now,
            phases=_phases(build["startTime"], now, "FAILED", phase, context),
        )
        return _job_failed(
            f"Build terminated with state: FAILED. Phase: {phase}, "
            f"Code: COMMAND_EXECUTION_ERROR, Message: {reason}"
        )

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        d = run.data
        if d["inject_failure"]:
            return self._fail(ex, run, now, "BUILD", _BUILD_COMMAND, _test_failure_lines())
        if not d["repo_uri"] or not d["container"]:
            missing = "IMAGE_REPO_URI" if not d["repo_uri"] else "CONTAINER_NAME"
            lines = [f"ERROR: environment variable {missing} is not set (ecspipe sandbox)"]
            return self._fail(ex, run, now, "BUILD", _BUILD_COMMAND, lines, exit_status=125)
        image_uri = f"{d['repo_uri']}:{d['tag']}"
        built = _build_success_lines(image_uri)
        try:
            digest = _push_image(ex, d["repo_uri"], d["tag"], d["sha"], now)
        except Exception as exc:
            lines = built + [
                _container_line(now, "Phase complete: BUILD State: SUCCEEDED"),
                _container_line(now, "Entering phase POST_BUILD"),
                _container_line(now, f"Running command {_PUSH_COMMAND}"),
                f"The push refers to repository [{d['repo_uri']}]",
                _push_error(exc, d["repo_uri"], d["tag"]),
            ]
            return self._fail(ex, run, now, "POST_BUILD", _PUSH_COMMAND, lines)
        definitions = [{"name": d["container"], "imageUri": image_uri}]
        self._log(ex, run, now, built + _push_lines(now, d["repo_uri"], d["tag"], digest))
        build = self._build(ex, run)
        build.update(
            buildStatus="SUCCEEDED",
            currentPhase="COMPLETED",
            buildComplete=True,
            endTime=now,
            phases=_phases(build["startTime"], now),
        )
        for artifact in run.outputs:
            ex.artifacts[artifact] = {"imagedefinitions.json": definitions}
        return None

    def abandon(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        if "build_id" not in run.data:
            return
        self._log(ex, run, now, [_container_line(now, "Phase complete: BUILD State: STOPPED")])
        build = self._build(ex, run)
        build.update(
            buildStatus="STOPPED",
            currentPhase="COMPLETED",
            buildComplete=True,
            endTime=now,
            phases=_phases(build["startTime"], now, "STOPPED"),
        )


def _buildspec(project_metadata: dict[str, Any]) -> dict[str, str]:
    spec = (project_metadata.get("source") or {}).get("buildspec")
    return {"buildspec": spec} if spec else {}


def _simulated_builds(backend: Any) -> dict[str, dict[str, Any]]:
    """Build records this module owns, by id (kept on moto's backend: reset wipes them)."""
    if not hasattr(backend, "ecspipe_builds"):
        backend.ecspipe_builds = {}
    return backend.ecspipe_builds


def _start_lines(now: float, repo_uri: str, tag: str, sha: str, region: str) -> list[str]:
    src = "/codebuild/output/src1234567890/src"
    c = functools.partial(_container_line, now)
    return [
        c("Running on CodeBuild On-demand"),
        c("Waiting for agent ping"),
        c("Waiting for DOWNLOAD_SOURCE"),
        c("Phase is DOWNLOAD_SOURCE"),
        c(f"CODEBUILD_SRC_DIR={src}"),
        c(f"YAML location is {src}/buildspec.yml"),
        c("Processing environment variables"),
        c(f"Moving to directory {src}"),
        c("Phase complete: DOWNLOAD_SOURCE State: SUCCEEDED"),
        c("Phase context status code:  Message: "),
        c("Entering phase INSTALL"),
        c("Phase complete: INSTALL State: SUCCEEDED"),
        c("Entering phase PRE_BUILD"),
        c(
            "Running command aws ecr get-login-password --region $AWS_DEFAULT_REGION"
            " | docker login --username AWS --password-stdin ${IMAGE_REPO_URI%%/*}"
        ),
        "Login Succeeded",
        c(
            'Running command IMAGE_TAG="$(date -u +%Y%m%d_%H%M%S)-'
            '$(echo $CODEBUILD_RESOLVED_SOURCE_VERSION | cut -c 1-7)"'
        ),
        c('Running command echo "Image tag: $IMAGE_TAG"'),
        f"Image tag: {tag}",
        c("Phase complete: PRE_BUILD State: SUCCEEDED"),
        c("Entering phase BUILD"),
        c(f"Running command {_BUILD_COMMAND}"),
        '#0 building with "default" instance using docker driver',
        "#1 [internal] load build definition from Dockerfile",
        "#1 DONE 0.0s",
        "#2 [internal] load metadata for public.ecr.aws/docker/library/node:20-alpine",
        "#2 DONE 0.9s",
        "#3 [1/4] FROM public.ecr.aws/docker/library/node:20-alpine",
        "#4 [2/4] COPY package*.json ./",
        "#5 [3/4] RUN npm ci && npm test",
    ]


def _test_failure_lines() -> list[str]:
    return [
        "#5 6.512 > demo-app@1.0.0 test",
        "#5 6.512 > node --test",
        "#5 7.104 not ok 3 - GET /health returns 200",
        "#5 7.230 npm ERR! Test failed.  See above for more details.",
        '#5 ERROR: process "/bin/sh -c npm ci && npm test" did not complete successfully: exit code: 1',
    ]


def _build_success_lines(image_uri: str) -> list[str]:
    return [
        "#5 7.230 # pass 12",
        "#5 DONE 8.1s",
        "#6 [4/4] COPY . .",
        "#6 DONE 0.1s",
        "#7 exporting to image",
        "#7 writing image sha256:3f1c0b7e done",
        f"#7 naming to {image_uri} done",
        "#7 DONE 0.4s",
    ]


def _push_lines(now: float, repo_uri: str, tag: str, digest: str) -> list[str]:
    c = functools.partial(_container_line, now)
    return [
        c("Phase complete: BUILD State: SUCCEEDED"),
        c("Phase context status code:  Message: "),
        c("Entering phase POST_BUILD"),
        c(f"Running command {_PUSH_COMMAND}"),
        f"The push refers to repository [{repo_uri}]",
        "5f70bf18a086: Pushed",
        f"{tag}: digest: {digest} size: 1570",
        c(
            'Running command printf \'[{"name":"%s","imageUri":"%s"}]\' '
            '"$CONTAINER_NAME" "$IMAGE_REPO_URI:$IMAGE_TAG" > imagedefinitions.json'
        ),
        c("Phase complete: POST_BUILD State: SUCCEEDED"),
        c("Phase context status code:  Message: "),
        c("Expanding base directory path: ."),
        c("Assembling file list"),
        c("Found 1 file(s)"),
        c("Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED"),
    ]


def _push_error(exc: Exception, repo_uri: str, tag: str) -> str:
    account, _, name = _repo_from_uri(repo_uri)
    text = getattr(exc, "message", None) or str(exc)
    if "is not a repository" in text:  # moto's wording for a missing repository
        return (
            f"name unknown: The repository with name '{name}' does not exist in the "
            f"registry with id '{account}'"
        )
    return f"tag invalid: {text}" if "immutable" in text.lower() else text


def _push_image(ex: SimulatedExecution, repo_uri: str, tag: str, sha: str, now: float) -> str:
    """Put the built image into ECR; returns its digest. Raises if the push fails."""
    from moto.ecr.models import ecr_backends

    account, region, name = _repo_from_uri(repo_uri)
    backend = ecr_backends[account or ex.account_id][region or ex.region]
    seed = hashlib.sha256(f"{repo_uri}:{tag}:{sha}".encode()).hexdigest()
    # A manifest unique to this build: moto re-tags an existing image with an
    # identical manifest instead of adding one.
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1470,
            "digest": f"sha256:{seed}",
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 3_401_613,
                "digest": "sha256:" + hashlib.sha256(seed.encode()).hexdigest(),
            }
        ],
    }
    image = backend.put_image(name, json.dumps(manifest), tag)
    image.image_pushed_at = int(now)  # moto stamps the real time
    return image.get_image_digest()


class EcsDeploySimulator(ActionSimulator):
    """An ECS (rolling update) deploy action driven by imagedefinitions.json."""

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        cfg = run.configuration
        cluster, name = cfg.get("ClusterName", "default"), cfg.get("ServiceName", "")
        file_name = cfg.get("FileName") or "imagedefinitions.json"
        files = ex.artifacts.get(run.inputs[0], {}) if run.inputs else {}
        if file_name not in files:
            key = ex.artifact_key(run.inputs[0] if run.inputs else "input")
            run.data["error"] = _job_failed(
                f"Did not find the image definition file {file_name} in the input artifacts "
                "ZIP file. Verify the file is stored in your pipeline's Amazon S3 artifact "
                f"bucket: {ex.artifact_bucket} key: {key}"
            )
            return
        backend = ecs_sim._ecs_backend(ex.account_id, ex.region)
        try:
            service = ecs_sim.find_service(ex.account_id, ex.region, cluster, name)
            current = backend.describe_task_definition(service.task_definition)
        except Exception:
            run.data["error"] = _job_failed(
                f"The Amazon ECS service {name} does not exist in cluster {cluster}."
            )
            return
        containers = copy.deepcopy(current.container_definitions)
        by_name = {c["name"]: c for c in containers}
        for entry in files[file_name]:
            if entry["name"] not in by_name:
                run.data["error"] = _job_failed(
                    f"The AWS ECS container {entry['name']} does not exist"
                )
                return
            by_name[entry["name"]]["image"] = entry["imageUri"]
        revision = _register_copy(backend, current, containers)
        fail = run.data["inject_failure"]
        deployment = ecs_sim.deploy(
            ex.account_id,
            ex.region,
            cluster,
            name,
            revision.arn,
            now,
            rollback=SETTINGS.rollback or fail,
        )
        run.data.update(cluster=cluster, service=name, deployment_id=deployment["id"], fail=fail)
        # The action waits for the rollout (or for the circuit breaker to trip).
        run.data["ends_at"] = now + ecs_sim.rollout_seconds()
        run.external_id = deployment["id"]
        run.external_url = (
            f"https://console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{name}"
            f"/deployments?region={ex.region}"
        )

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        service = ecs_sim.find_service(
            ex.account_id, ex.region, run.data["cluster"], run.data["service"]
        )
        ecs_sim.advance_service(service, now)
        if run.data["fail"]:
            return _job_failed(
                f"Deployment {run.data['deployment_id']} failed: {ecs_sim.CIRCUIT_BREAKER_REASON}"
            )
        # With SETTINGS.rollback the deployment FAILED and ECS rolled back, yet
        # the action succeeds: the well-known gap between CodePipeline and the
        # circuit breaker, reproduced on purpose.
        return None


def _register_copy(backend: Any, current: Any, containers: list[dict[str, Any]]) -> Any:
    """A new revision of `current`'s family, identical but for the containers."""
    return backend.register_task_definition(
        family=current.family,
        container_definitions=containers,
        volumes=copy.deepcopy(current.volumes),
        network_mode=current.network_mode,
        tags=copy.deepcopy(current.tags),
        placement_constraints=copy.deepcopy(current.placement_constraints),
        requires_compatibilities=current.requires_compatibilities,
        cpu=current.cpu,
        memory=current.memory,
        task_role_arn=getattr(current, "task_role_arn", None),
        execution_role_arn=getattr(current, "execution_role_arn", None),
        proxy_configuration=current.proxy_configuration,
        inference_accelerators=current.inference_accelerators,
        runtime_platform=current.runtime_platform,
        ipc_mode=current.ipc_mode,
        pid_mode=current.pid_mode,
        ephemeral_storage=current.ephemeral_storage,
    )


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


# --- read views -------------------------------------------------------------------


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _latest_execution(run: ActionRun) -> dict[str, Any]:
    return _drop_none(
        {
            "actionExecutionId": run.action_execution_id,
            "status": run.status,
            "summary": run.summary,
            "lastStatusChange": run.last_update_time,
            "externalExecutionId": run.external_id,
            "externalExecutionUrl": run.external_url,
            "errorDetails": run.error,
        }
    )


def _entity_url(action: dict[str, Any], region: str) -> str | None:
    cfg, provider = action.get("configuration") or {}, action["actionTypeId"]["provider"]
    if provider == "CodeStarSourceConnection" and cfg.get("FullRepositoryId"):
        return f"https://github.com/{cfg['FullRepositoryId']}/tree/{cfg.get('BranchName', 'main')}"
    if provider == "CodeBuild" and cfg.get("ProjectName"):
        return (
            f"https://console.aws.amazon.com/codebuild/home?region={region}"
            f"#/projects/{cfg['ProjectName']}/view"
        )
    if provider == "ECS" and cfg.get("ServiceName"):
        return (
            f"https://console.aws.amazon.com/ecs/home?region={region}#/clusters/"
            f"{cfg.get('ClusterName', 'default')}/services/{cfg['ServiceName']}/details"
        )
    return None


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def pipeline_state(pipeline: Any, region: str) -> dict[str, Any]:
    """GetPipelineState's response for moto's CodePipeline object."""
    declaration = pipeline.pipeline
    executions = _executions(pipeline)
    stage_states = []
    for index, stage in enumerate(declaration["stages"]):
        name = stage["name"]
        entered = [
            (ex, run)
            for ex in executions
            for run in ex.stages
            if run.name == name and run.status is not None
        ]
        latest = max(entered, key=lambda pair: pair[0].number) if entered else None
        state: dict[str, Any] = {"stageName": name}
        if index > 0:
            state["inboundTransitionState"] = {"enabled": True}
        waiting = [ex for ex in executions if ex.running and ex.waiting and ex.stage.name == name]
        if waiting:
            inbound = [
                {"pipelineExecutionId": ex.id, "status": IN_PROGRESS, "type": "STANDARD"}
                for ex in waiting
            ]
            state["inboundExecution"], state["inboundExecutions"] = inbound[-1], inbound
        actions = []
        for action in stage["actions"]:
            action_state = _drop_none(
                {"actionName": action["name"], "entityUrl": _entity_url(action, region)}
            )
            run = None
            if latest is not None:
                run = next((r for r in latest[1].runs if r.name == action["name"]), None)
            if run is not None:
                action_state["latestExecution"] = _latest_execution(run)
            revised = [
                r
                for ex, stage_run in entered
                for r in stage_run.runs
                if r.name == action["name"] and r.revision
            ]
            if revised:
                action_state["currentRevision"] = revised[-1].revision
                if revised[-1].external_url:
                    action_state["revisionUrl"] = revised[-1].external_url
            actions.append(action_state)
        state["actionStates"] = actions
        if latest is not None:
            ex, stage_run = latest
            state["latestExecution"] = {
                "pipelineExecutionId": ex.id,
                "status": stage_run.status,
                "type": "STANDARD",
            }
        stage_states.append(state)
    return {
        "pipelineName": declaration["name"],
        "pipelineVersion": declaration["version"],
        "stageStates": stage_states,
        "created": _epoch(pipeline._created),
        "updated": _epoch(pipeline._updated),
    }


def action_execution_details(
    pipeline: Any, region: str, execution_id: str | None = None, account_id: str = ""
) -> list[dict[str, Any]]:
    """ListActionExecutions' actionExecutionDetails, newest first."""
    if execution_id:
        executions = [_find_execution(account_id, pipeline, execution_id)]
    else:
        executions = _executions(pipeline)
    details = []
    for ex in executions:
        for stage in ex.stages:
            for run in stage.runs:
                details.append(_action_detail(ex, run, region))
    details.sort(key=lambda d: d["startTime"], reverse=True)  # stable: ties keep order
    return details


def _action_detail(ex: SimulatedExecution, run: ActionRun, region: str) -> dict[str, Any]:
    def artifacts(names: list[str]) -> list[dict[str, Any]]:
        return [
            {"name": n, "s3location": {"bucket": ex.artifact_bucket, "key": ex.artifact_key(n)}}
            for n in names
        ]

    configuration = dict(run.configuration)
    output: dict[str, Any] = {
        "outputArtifacts": artifacts(run.outputs) if run.status == SUCCEEDED else [],
        "executionResult": _drop_none(
            {
                "externalExecutionId": run.external_id,
                "externalExecutionSummary": run.summary or (run.error or {}).get("message"),
                "externalExecutionUrl": run.external_url,
                "errorDetails": run.error,
            }
        ),
        "outputVariables": dict(run.output_variables),
    }
    return {
        "pipelineExecutionId": ex.id,
        "actionExecutionId": run.action_execution_id,
        "pipelineVersion": ex.pipeline_version,
        "stageName": run.stage_name,
        "actionName": run.name,
        "startTime": run.start_time,
        "lastUpdateTime": run.last_update_time,
        "status": run.status,
        "input": _drop_none(
            {
                "actionTypeId": run.type_id,
                "configuration": configuration,
                "resolvedConfiguration": configuration,
                "roleArn": run.declaration.get("roleArn") or ex.role_arn,
                "region": run.declaration.get("region") or region,
                "inputArtifacts": artifacts(run.inputs),
                "namespace": run.declaration.get("namespace"),
            }
        ),
        "output": output,
    }


# --- moto wiring -------------------------------------------------------------------


def _wrap(cls: type, name: str, make: Any) -> None:
    """Replace cls.name by make(original), once (install() is idempotent)."""
    original = getattr(cls, name, None)
    if original is not None and getattr(original, _MARK, False):
        return
    wrapper = make(original)
    if original is not None:
        wrapper = functools.wraps(original)(wrapper)
    wrapper.__name__ = name  # moto dispatches by the method's name
    setattr(wrapper, _MARK, True)
    setattr(cls, name, wrapper)


def _naive(ts: float) -> datetime:
    # moto keeps pipeline timestamps as naive UTC datetimes.
    return datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None)


def _advancing(original):
    """A backend method that first brings the simulation of its region up to now."""

    def method(self, *args, **kwargs):
        advance_region(self.account_id, self.region_name)
        return original(self, *args, **kwargs)

    return method


def _create_pipeline(original):
    def create_pipeline(self, pipeline, tags):
        # moto says InvalidStructureException for a taken name; AWS says this.
        if pipeline["name"] in self.pipelines:
            raise PipelineNameInUseException(
                f"Pipeline name '{pipeline['name']}' is already in use in account "
                f"'{self.account_id}'"
            )
        result = original(self, pipeline, tags)
        now = SETTINGS.clock.now()
        created = self.pipelines[pipeline["name"]]
        created._created = created._updated = _naive(now)
        # AWS starts an execution as soon as a pipeline is created.
        start_execution(
            self.account_id, self.region_name, pipeline["name"], "CreatePipeline", now=now
        )
        return result

    return create_pipeline


def _update_pipeline(original):
    def update_pipeline(self, pipeline):
        result = original(self, pipeline)
        self.pipelines[pipeline["name"]]._updated = _naive(SETTINGS.clock.now())
        return result

    return update_pipeline


def _start_pipeline_execution_backend(original):
    # Replaces moto's (which records an instantly "Succeeded" execution).
    def start_pipeline_execution(self, name, variables, source_revisions=None):
        ex = start_execution(
            self.account_id,
            self.region_name,
            name,
            variables=variables,
            source_revisions=source_revisions,
        )
        return ex.pipeline_execution_id

    return start_pipeline_execution


def _start_pipeline_execution_response(original):
    # moto's response drops `sourceRevisions`; pass it on.
    def start_pipeline_execution(self):
        execution_id = self.codepipeline_backend.start_pipeline_execution(
            self._get_param("name"),
            self._get_param("variables"),
            source_revisions=self._get_param("sourceRevisions"),
        )
        return json.dumps({"pipelineExecutionId": execution_id})

    return start_pipeline_execution


def _get_pipeline_state(_missing):
    def get_pipeline_state(self):
        advance_region(self.current_account, self.region)
        pipeline = find_pipeline(self.current_account, self.region, self._get_param("name"))
        return json.dumps(pipeline_state(pipeline, self.region))

    return get_pipeline_state


def _list_action_executions(_missing):
    def list_action_executions(self):
        advance_region(self.current_account, self.region)
        pipeline = find_pipeline(self.current_account, self.region, self._get_param("pipelineName"))
        execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
        details = action_execution_details(
            pipeline, self.region, execution_id, self.current_account
        )
        size = int(self._get_param("maxResults") or 100)
        token = self._get_param("nextToken")
        try:
            offset = int(token) if token else 0
        except ValueError:
            raise InvalidNextTokenException("The next token is not valid.") from None
        page = details[offset : offset + size]
        out: dict[str, Any] = {"actionExecutionDetails": page}
        if offset + size < len(details):
            out["nextToken"] = str(offset + size)
        return json.dumps(out)

    return list_action_executions


def _stop_pipeline_execution(_missing):
    def stop_pipeline_execution(self):
        ex = stop_execution(
            self.current_account,
            self.region,
            self._get_param("pipelineName"),
            self._get_param("pipelineExecutionId"),
            abandon=bool(self._get_param("abandon")),
            reason=self._get_param("reason"),
        )
        return json.dumps({"pipelineExecutionId": ex.id})

    return stop_pipeline_execution


def _batch_get_builds(original):
    # moto's batch_get_builds marks every build it returns SUCCEEDED (and appends
    # phases on each call); builds this module runs are answered from their records.
    def batch_get_builds(self, ids):
        advance_region(self.account_id, self.region_name)
        ours = _simulated_builds(self)
        theirs = {b["id"]: b for b in original(self, [i for i in ids if i not in ours])}
        return [ours.get(i) or theirs[i] for i in ids if i in ours or i in theirs]

    return batch_get_builds


_CP = "moto.codepipeline.models"
_CPR = "moto.codepipeline.responses"
HOOKS = (
    (_CP, "CodePipelineBackend", "create_pipeline", _create_pipeline),
    (_CP, "CodePipelineBackend", "update_pipeline", _update_pipeline),
    (_CP, "CodePipelineBackend", "start_pipeline_execution", _start_pipeline_execution_backend),
    (_CP, "CodePipelineBackend", "get_pipeline_execution", _advancing),
    (_CP, "CodePipelineBackend", "list_pipeline_executions", _advancing),
    (_CPR, "CodePipelineResponse", "start_pipeline_execution", _start_pipeline_execution_response),
    (_CPR, "CodePipelineResponse", "get_pipeline_state", _get_pipeline_state),
    (_CPR, "CodePipelineResponse", "list_action_executions", _list_action_executions),
    (_CPR, "CodePipelineResponse", "stop_pipeline_execution", _stop_pipeline_execution),
    ("moto.codebuild.models", "CodeBuildBackend", "batch_get_builds", _batch_get_builds),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "describe_services", _advancing),
    ("moto.ecr.models", "ECRBackend", "describe_images", _advancing),
    ("moto.logs.models", "LogsBackend", "get_log_events", _advancing),
    ("moto.logs.models", "LogsBackend", "filter_log_events", _advancing),
)
# Operations moto lacks: added, not wrapped. Everything else must exist in moto.
NEW_OPERATIONS = {"get_pipeline_state", "list_action_executions", "stop_pipeline_execution"}


def install() -> None:
    """Attach the simulation to moto's classes. Idempotent."""
    for module, cls_name, method, make in HOOKS:
        cls = getattr(importlib.import_module(module), cls_name)
        if method not in NEW_OPERATIONS and not callable(getattr(cls, method, None)):
            raise RuntimeError(
                f"moto changed: {cls_name}.{method} is gone; ecspipe's sandbox needs it"
            )
        _wrap(cls, method, make)
