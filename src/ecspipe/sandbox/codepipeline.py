"""The CodePipeline API the sandbox adds to moto, and its read views.

moto stores pipelines but lacks GetPipelineState, ListActionExecutions and
StopPipelineExecution, and its StartPipelineExecution records an execution that
"succeeded" at once. This module adds those operations and routes executions to
the simulator (executions.py, which runs the actions of actions.py and
builds.py), so a CLI can be tested end to end against "what AWS would show".

How it is attached to moto without forking (aws-facts.md section 6): new
operations are methods on `CodePipelineResponse`; reads are wrapped on the
backends (they first advance the simulation, see executions.py): CodePipeline's
GetPipelineExecution and ListPipelineExecutions, CodeBuild's BatchGetBuilds, ECS
DescribeServices, ECR DescribeImages, Logs GetLogEvents/FilterLogEvents.
ListPipelineExecutions and ListActionExecutions page as AWS does ("CodePipeline
API Reference": maxResults 1-100, default 100, nextToken; ListPipelineExecutions'
filter.succeededInStage keeps the executions that succeeded in that stage of the
current pipeline version), with cursor tokens (paging.py).

Other modules can call `pipeline_state()` and `action_execution_details()`.
"""

from __future__ import annotations

import functools
import importlib
import json
from datetime import UTC, datetime
from typing import Any

from ecspipe.sandbox import conditions, paging
from ecspipe.sandbox.builds import _simulated_builds
from ecspipe.sandbox.errors import AwsJsonError
from ecspipe.sandbox.executions import (
    IN_PROGRESS,
    SUCCEEDED,
    ActionRun,
    SimulatedExecution,
    ValidationException,
    _executions,
    _find_execution,
    _naive,
    advance_region,
    alarm_changed,
    find_pipeline,
    start_execution,
    stop_execution,
)
from ecspipe.sandbox.executions import (
    put_approval_result as answer_approval,
)
from ecspipe.sandbox.executions import (
    rollback_stage as roll_back_stage,
)
from ecspipe.sandbox.settings import SETTINGS

_MARK = "__ecspipe_codepipeline__"

class PipelineNameInUseException(AwsJsonError):
    pass


class InvalidNextTokenException(AwsJsonError):
    pass


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
            # A waiting manual approval's token: what PutApprovalResult needs.
            "token": run.data.get("token") if run.status == IN_PROGRESS else None,
            "lastUpdatedBy": run.updated_by,
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
                {"pipelineExecutionId": ex.id, "status": IN_PROGRESS, "type": ex.execution_type}
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
                "type": ex.execution_type,
            }
            for kind, condition in stage_run.conditions.items():
                state[f"{kind}ConditionState"] = conditions.state_view(condition)
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
        **({"updatedBy": run.updated_by} if run.updated_by else {}),
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


def _max_results(value: Any, top: int = 100) -> int:
    """maxResults of a CodePipeline list (1-100, default 100), checked as AWS does."""
    if value is None:
        return top
    if not 1 <= int(value) <= top:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
            f"constraint: Member must have value {'less' if int(value) > top else 'greater'} "
            f"than or equal to {top if int(value) > top else 1}"
        )
    return int(value)


def _invalid_token() -> Exception:
    return InvalidNextTokenException("The next token is not valid.")


def _list_action_executions(_missing):
    def list_action_executions(self):
        advance_region(self.current_account, self.region)
        pipeline = find_pipeline(self.current_account, self.region, self._get_param("pipelineName"))
        execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
        details = action_execution_details(
            pipeline, self.region, execution_id, self.current_account
        )
        found, token = paging.page(
            details,
            _max_results(self._get_param("maxResults")),
            self._get_param("nextToken"),
            key=lambda d: d["actionExecutionId"],
            invalid=_invalid_token,
        )
        out: dict[str, Any] = {"actionExecutionDetails": found}
        if token:
            out["nextToken"] = token
        return json.dumps(out)

    return list_action_executions


def _succeeded_in(pipeline: Any, ex: SimulatedExecution, stage_name: str) -> bool:
    # "executions where the stage was successful in the current pipeline version"
    return ex.pipeline_version == pipeline.pipeline["version"] and ex.succeeded_in(stage_name)


def _list_pipeline_executions(_original):
    # Replaces moto's, which ignores nextToken and the filter and always answers
    # `"nextToken": null`, so a client that pages never sees past the first page.
    def list_pipeline_executions(self):
        advance_region(self.current_account, self.region)
        pipeline = find_pipeline(self.current_account, self.region, self._get_param("pipelineName"))
        executions = sorted(_executions(pipeline), key=lambda ex: ex.number, reverse=True)
        stage = ((self._get_param("filter") or {}).get("succeededInStage") or {}).get("stageName")
        if stage:
            executions = [ex for ex in executions if _succeeded_in(pipeline, ex, stage)]
        found, token = paging.page(
            executions,
            _max_results(self._get_param("maxResults")),
            self._get_param("nextToken"),
            key=lambda ex: ex.id,
            invalid=_invalid_token,
        )
        out: dict[str, Any] = {"pipelineExecutionSummaries": [ex.to_summary_dict() for ex in found]}
        if token:
            out["nextToken"] = token
        return json.dumps(out)

    return list_pipeline_executions


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


def _put_approval_result(_missing):
    def put_approval_result(self):
        result = self._get_param("result") or {}
        approved_at = answer_approval(
            self.current_account,
            self.region,
            self._get_param("pipelineName"),
            self._get_param("stageName"),
            self._get_param("actionName"),
            self._get_param("token"),
            result.get("status"),
            result.get("summary", ""),
        )
        return json.dumps({"approvedAt": approved_at})

    return put_approval_result


def _rollback_stage(_missing):
    def rollback_stage(self):
        ex = roll_back_stage(
            self.current_account,
            self.region,
            self._get_param("pipelineName"),
            self._get_param("stageName"),
            self._get_param("targetPipelineExecutionId"),
        )
        return json.dumps({"pipelineExecutionId": ex.id})

    return rollback_stage


def _set_alarm_state(original):
    # Conditions that watch an alarm react the moment it changes (a bake rolls back
    # as soon as its alarm is in ALARM), whoever polls when.
    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
        advance_region(self.account_id, self.region_name)
        result = original(self, alarm_name, reason, reason_data, state_value)
        alarm_changed(self.account_id, self.region_name, alarm_name)
        return result

    return set_alarm_state


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
    (_CPR, "CodePipelineResponse", "list_pipeline_executions", _list_pipeline_executions),
    (_CPR, "CodePipelineResponse", "get_pipeline_state", _get_pipeline_state),
    (_CPR, "CodePipelineResponse", "list_action_executions", _list_action_executions),
    (_CPR, "CodePipelineResponse", "stop_pipeline_execution", _stop_pipeline_execution),
    (_CPR, "CodePipelineResponse", "put_approval_result", _put_approval_result),
    (_CPR, "CodePipelineResponse", "rollback_stage", _rollback_stage),
    ("moto.cloudwatch.models", "CloudWatchBackend", "set_alarm_state", _set_alarm_state),
    ("moto.codebuild.models", "CodeBuildBackend", "batch_get_builds", _batch_get_builds),
    ("moto.ecs.models", "EC2ContainerServiceBackend", "describe_services", _advancing),
    ("moto.ecr.models", "ECRBackend", "describe_images", _advancing),
    ("moto.logs.models", "LogsBackend", "get_log_events", _advancing),
    ("moto.logs.models", "LogsBackend", "filter_log_events", _advancing),
)
# Operations moto lacks: added, not wrapped. Everything else must exist in moto.
NEW_OPERATIONS = {"get_pipeline_state", "list_action_executions", "stop_pipeline_execution",
                  "put_approval_result", "rollback_stage"}


def install() -> None:
    """Attach the simulation to moto's classes. Idempotent."""
    for module, cls_name, method, make in HOOKS:
        cls = getattr(importlib.import_module(module), cls_name)
        if method not in NEW_OPERATIONS and not callable(getattr(cls, method, None)):
            raise RuntimeError(
                f"moto changed: {cls_name}.{method} is gone; ecspipe's sandbox needs it"
            )
        _wrap(cls, method, make)
