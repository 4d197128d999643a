"""`rollback`: return an environment to an earlier execution with RollbackStage, and verify it.

What the environment runs now is its service's image; the commit comes from the
tag's `-<commit7>` suffix (the buildspec writes it), and the execution that
deployed it is the newest execution that succeeded in the environment's deploy
stage with that commit (for a rollback execution: the execution it returned to).
The default target is the newest execution older than that one which succeeded in
the stage, is not itself a rollback, and deployed another commit. `--to` picks one
by execution id or commit (a unique prefix of at least 4 characters).

What AWS documents, and ecspipe relies on:

- "RollbackStage" (CodePipeline API Reference): pipelineName, stageName,
  targetPipelineExecutionId (a lowercase UUID) -> pipelineExecutionId, a new
  execution of type ROLLBACK. Errors: ConflictException ("the pipeline is busy"),
  PipelineExecutionNotFoundException, PipelineExecutionOutdatedException ("outdated
  and cannot be used as a target pipeline execution for rollback"),
  StageNotFoundException, UnableToRollbackStageException ("the pipeline version has
  changed since the target pipeline execution was deployed, the stage is currently
  running, or an incorrect target pipeline execution ID was provided"),
  ValidationException.
- "Configuring stage rollback" (CodePipeline User Guide): no rollback of a source
  stage; only to an execution "started in the current pipeline structure version";
  not to "a target execution ID that is a rollback execution type"; the target is a
  previous execution that succeeded in that stage, listed by
  ListPipelineExecutions with filter.succeededInStage (which answers "all executions
  in the current pipeline version"); not in PARALLEL execution mode; the rollback
  "will use the variables and artifacts from the execution to which it is rolling
  back".

Every refusal is a UserError (exit 2) that says AWS's reason in plain words and the
alternative: `ecspipe release --commit SHA` builds that commit again and deploys it
through every stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ecspipe.aws import is_error
from ecspipe.config import Target
from ecspipe.errors import UserError
from ecspipe.resources.base import Context
from ecspipe.rounds import together
from ecspipe.status import (
    MAX_PAGE,
    execution_summaries,
    execution_view,
    get_pipeline,
    get_state,
    image_matches,
    image_tag_commit,
    service_states,
    short_sha,
)

MIN_PREFIX = 4


def _alternative(commit: str | None) -> str:
    sha = commit or "SHA"
    return (f"`ecspipe release --commit {sha}` builds that commit again and deploys it "
            "through every stage")


@dataclass
class RollbackPlan:
    """What a rollback of one environment does: from what it runs to an earlier execution."""

    target: Target
    stage: str
    running: dict  # image, commit, execution_id, message, deployed_at
    to: dict  # execution_view of the target, plus "image" (from ECR, or None)
    pipeline: dict

    @property
    def env(self) -> str | None:
        return self.target.name

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.target.name, "stage": self.stage,
                "running": self.running, "target": self.to}


def environment(ctx: Context, env: str | None) -> Target:
    """The environment to roll back: --env, the only one, or exit 2."""
    targets = ctx.config.targets
    named = [t for t in targets if t.name]
    if env is not None:
        if not named:
            raise UserError(f"--env {env}: the config has `service:`, not `environments:`; "
                            "it has one deploy stage", hint="leave out --env")
        found = next((t for t in named if t.name == env), None)
        if found is None:
            raise UserError(f"--env {env}: no such environment (environments: "
                            f"{', '.join(t.name or '' for t in named)})",
                            hint="pass one of the config's environments[].name")
        return found
    if len(targets) > 1:
        raise UserError(f"say which environment to roll back: --env "
                        f"{' or --env '.join(t.name or '' for t in named)}",
                        hint="ecspipe rollback --env NAME")
    return targets[0]


def _kind(summary: dict) -> str:
    return str(summary.get("executionType") or "STANDARD")


def _rollback_of(summary: dict) -> str | None:
    return (summary.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId")


def _check_stage(pipeline: dict, state: dict, stage: str, where: str) -> None:
    """Refusals known before RollbackStage: no such stage, not a deploy stage, PARALLEL
    mode, and another execution running in the stage."""
    declared = next((s for s in pipeline.get("stages", []) if s.get("name") == stage), None)
    if declared is None:
        raise UserError(f"{where}: the pipeline has no stage {stage!r} (the config changed "
                        "since the last `ecspipe up`?)", hint="run `ecspipe up`, then roll back")
    if not any(a.get("actionTypeId", {}).get("category") == "Deploy"
               for a in declared.get("actions", [])):
        raise UserError(f"{where}: stage {stage!r} is not a deploy stage; AWS rolls back only "
                        "stages without a source action, and ecspipe only deploy stages",
                        hint="run `ecspipe up` to restore the pipeline ecspipe declares")
    if (pipeline.get("executionMode") or "SUPERSEDED") == "PARALLEL":
        raise UserError("the pipeline runs in PARALLEL execution mode, which has no stage "
                        "rollback (AWS: \"For pipelines in PARALLEL mode, stage rollback is "
                        "not available\")",
                        hint="run `ecspipe up` (it sets SUPERSEDED), or " + _alternative(None))
    for s in state.get("stageStates", []):
        latest = s.get("latestExecution") or {}
        if s.get("stageName") == stage and latest.get("status") == "InProgress":
            raise UserError(f"{where}: execution {latest.get('pipelineExecutionId')} is in "
                            f"progress in stage {stage}; AWS rolls back a stage only when "
                            "nothing runs in it",
                            hint="wait for it to end (`ecspipe status`), then roll back")


def _current(candidates: list[dict], image: str | None) -> int | None:
    """The index of the execution that deployed what runs now (following a rollback
    execution to the execution it returned to), or None when none of them did."""
    index = next((i for i, s in enumerate(candidates)
                  if image_matches(image, execution_view(s)["commit"])), None)
    if index is None:
        return None
    origin = _rollback_of(candidates[index]) if _kind(candidates[index]) == "ROLLBACK" else None
    if origin:
        return next((i for i, s in enumerate(candidates)
                     if s["pipelineExecutionId"] == origin), index)
    return index


def _pick(candidates: list[dict], image: str | None, to: str | None, stage: str,
          where: str) -> dict | None:
    """The target execution summary; None when `to` names nothing listed."""
    if to is None:
        current = _current(candidates, image)
        older = candidates if current is None else candidates[current + 1:]
        for summary in older:
            if _kind(summary) != "ROLLBACK" and \
                    not image_matches(image, execution_view(summary)["commit"]):
                return summary
        raise UserError(
            f"{where}: nothing to roll back to: no older execution of the current pipeline "
            f"version succeeded in stage {stage} with another image than the one running",
            hint="a rollback returns only to executions since the last pipeline update; "
            + _alternative(None))
    value = to.strip().lower()
    if len(value) < MIN_PREFIX or not all(c in "0123456789abcdef-" for c in value):
        raise UserError(f"--to {to}: give an execution id or a commit SHA (at least "
                        f"{MIN_PREFIX} hexadecimal characters)",
                        hint="`ecspipe status` lists the executions and their commits")
    by_id = [s for s in candidates if s["pipelineExecutionId"].startswith(value)]
    if len(by_id) == 1:
        return by_id[0]
    if len(by_id) > 1:
        _ambiguous(to, [f"execution {s['pipelineExecutionId']}" for s in by_id])
    commits: dict[str, dict] = {}
    for summary in candidates:
        commit = execution_view(summary)["commit"] or ""
        if commit.lower().startswith(value) and _kind(summary) != "ROLLBACK":
            commits.setdefault(commit, summary)  # newest first: the newest of that commit
    if len(commits) > 1:
        _ambiguous(to, [f"commit {c} (execution {s['pipelineExecutionId']})"
                        for c, s in commits.items()])
    return next(iter(commits.values()), None)


def _ambiguous(to: str, matches: list[str]) -> None:
    error = UserError(f"--to {to} matches {len(matches)} executions that succeeded in the "
                      "stage", hint="give more characters of the id or the commit")
    error.problems = matches
    raise error


def _refuse_unlisted(ctx: Context, to: str, stage: str, where: str, version: int) -> None:
    """`--to` names no execution that succeeded in the stage of this version: say why."""
    cp = ctx.aws.client("codepipeline")
    try:
        found = cp.get_pipeline_execution(pipelineName=ctx.names.pipeline,
                                          pipelineExecutionId=to.strip().lower())
    except Exception as exc:
        if not is_error(exc, "PipelineExecutionNotFoundException", "ValidationException"):
            raise
        raise UserError(f"--to {to}: no execution that succeeded in stage {stage} of the "
                        "current pipeline version has that id or commit",
                        hint="`ecspipe status` lists the executions; for an older commit, "
                        + _alternative(to if len(to) >= 7 else None)) from None
    execution = found["pipelineExecution"]
    commit = next((r.get("revisionId") for r in execution.get("artifactRevisions", [])
                   if r.get("revisionId")), None)
    _refuse_execution(execution, stage, where, version, commit)
    raise UserError(f"{where}: execution {execution['pipelineExecutionId']} did not succeed "
                    f"in stage {stage} (it is {execution.get('status')}); AWS rolls back only "
                    "to an execution that succeeded in that stage", hint=_alternative(commit))


def _refuse_execution(execution: dict, stage: str, where: str, version: int,
                      commit: str | None) -> None:
    """A rollback execution, or one of an older pipeline version, is no target."""
    ident = execution["pipelineExecutionId"]
    if _kind(execution) == "ROLLBACK":
        origin = _rollback_of(execution)
        raise UserError(f"{where}: execution {ident} was itself a rollback"
                        + (f" (to {origin})" if origin else "")
                        + "; AWS cannot roll back to a rollback execution",
                        hint=(f"roll back to {origin} instead (--to {origin}), or "
                              if origin else "") + _alternative(commit))
    ran_on = execution.get("pipelineVersion")
    if isinstance(ran_on, int) and ran_on != version:
        raise UserError(f"{where}: execution {ident} ran on pipeline version {ran_on}, but the "
                        f"pipeline is at version {version}; AWS rolls back only to executions "
                        "of the current version (every pipeline update starts a new one)",
                        hint=_alternative(commit))


def _image_of(ctx: Context, commit: str | None, finished: Any) -> str | None:
    """The ECR image the target's build pushed: tagged `<time>-<commit7>`, the newest pushed
    before the execution ended. One DescribeImages page (the lifecycle policy keeps few)."""
    if not commit:
        return None
    try:
        pages = ctx.aws.client("ecr").get_paginator("describe_images").paginate(
            repositoryName=ctx.names.ecr_repository, PaginationConfig={"PageSize": 1000})
        images = [d for page in pages for d in page.get("imageDetails", [])]
    except Exception as exc:
        if is_error(exc, "RepositoryNotFoundException"):
            return None
        raise
    suffix = "-" + short_sha(commit)
    found = [(d.get("imagePushedAt"), tag, d.get("registryId")) for d in images
             for tag in d.get("imageTags", []) if tag.endswith(suffix)]
    if finished is not None:
        found = [f for f in found if f[0] is None or f[0] <= finished] or found
    if not found:
        return None
    _, tag, registry = max(found, key=lambda f: (f[0] is not None, f[0] or 0, f[1]))
    names = replace(ctx.names, account_id=registry) if registry else ctx.names
    return f"{names.ecr_repository_uri}:{tag}"


def prepare(ctx: Context, env: str | None, to: str | None,
            check_account: Callable[[], object] | None = None) -> RollbackPlan:
    """Everything `rollback` shows before it asks, in two rounds of reads; every refusal
    that can be known before RollbackStage is a UserError here."""
    target = environment(ctx, env)
    stage = ctx.names.deploy_stage(target.name)
    where = target.name or "service"
    _, pipeline, state, candidates, (service,) = together(
        check_account or (lambda: None),
        lambda: get_pipeline(ctx),
        lambda: get_state(ctx),
        # One page: the newest executions that succeeded in the stage (of this version).
        lambda: execution_summaries(ctx, MAX_PAGE, succeeded_in=stage),
        lambda: service_states(ctx, [target]),
    )
    _check_stage(pipeline, state, stage, where)
    version = int(pipeline.get("version") or 1)
    image = service.image
    chosen = _pick(candidates, image, to, stage, where)
    if chosen is None:
        assert to is not None
        _refuse_unlisted(ctx, to, stage, where, version)
        raise AssertionError("unreachable")  # _refuse_unlisted always raises
    view = execution_view(chosen)
    current = _current(candidates, image)
    running_view = execution_view(candidates[current]) if current is not None else None
    described, target_image = together(
        lambda: ctx.aws.client("codepipeline").get_pipeline_execution(
            pipelineName=ctx.names.pipeline,
            pipelineExecutionId=chosen["pipelineExecutionId"])["pipelineExecution"],
        lambda: _image_of(ctx, view["commit"], chosen.get("lastUpdateTime")),
    )
    _refuse_execution({**chosen, **described}, stage, where, version, view["commit"])
    if image_matches(image, view["commit"]):
        raise UserError(f"{where}: the service already runs commit {short_sha(view['commit'])} "
                        f"({image})", hint="nothing to roll back; `ecspipe status` shows it")
    running = {
        "image": image,
        "commit": (running_view or {}).get("commit") or image_tag_commit(image),
        "execution_id": (running_view or {}).get("id"),
        "message": (running_view or {}).get("message"),
        "deployed_at": (running_view or {}).get("finished_at"),
    }
    return RollbackPlan(target, stage, running, {**view, "image": target_image}, pipeline)


def start(ctx: Context, plan: RollbackPlan) -> str:
    """RollbackStage; AWS's refusals become UserErrors with the alternative."""
    where, commit = plan.target.name or "service", plan.to.get("commit")
    try:
        answer = ctx.aws.client("codepipeline").rollback_stage(
            pipelineName=ctx.names.pipeline, stageName=plan.stage,
            targetPipelineExecutionId=plan.to["id"])
    except Exception as exc:
        message = _message(exc)
        if is_error(exc, "PipelineExecutionOutdatedException"):
            raise UserError(f"{where}: execution {plan.to['id']} is from an older pipeline "
                            "version; AWS rolls back only to executions of the current one "
                            f"(AWS: {message})", hint=_alternative(commit)) from None
        if is_error(exc, "ConflictException"):
            raise UserError(f"{where}: the pipeline is busy with another execution in stage "
                            f"{plan.stage} (AWS: {message})",
                            hint="wait for it to end (`ecspipe status`), then roll back, or "
                            + _alternative(commit)) from None
        if is_error(exc, "UnableToRollbackStageException"):
            raise UserError(f"{where}: AWS cannot roll back stage {plan.stage} to execution "
                            f"{plan.to['id']}: {message}", hint=_alternative(commit)) from None
        if is_error(exc, "StageNotFoundException"):
            raise UserError(f"{where}: the pipeline has no stage {plan.stage!r} (AWS: "
                            f"{message})", hint="run `ecspipe up`, then roll back") from None
        if is_error(exc, "PipelineExecutionNotFoundException", "ValidationException"):
            raise UserError(f"{where}: AWS refused the rollback: {message}",
                            hint=_alternative(commit)) from None
        raise
    return str(answer["pipelineExecutionId"])


def _message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Message") or exc)


def follow(ctx: Context, plan: RollbackPlan, execution_id: str, timeout: float,
           sleep: Callable[[float], None], clock: Callable[[], float],
           on_update: Callable[[Any], None] | None = None) -> Any:
    """Follow the rollback execution like `release --wait` (release.follow: it runs only
    the rolled-back stage, with the target's artifacts), then verify the service runs the
    target's commit, rolled out; the Outcome succeeds only then."""
    from ecspipe.release import follow as follow_execution

    until = plan.target if plan.target.name else None
    outcome = follow_execution(ctx, execution_id, plan.pipeline, timeout, sleep, clock,
                               on_update=on_update, until=until)
    if outcome.succeeded:
        outcome.reason = None  # not release's "deployed and verified; the execution goes on"
    if outcome.succeeded:
        (service,) = service_states(ctx, [plan.target])
        if not image_matches(service.image, plan.to.get("commit")) or \
                service.rollout_state != "COMPLETED":
            outcome.succeeded = False
            outcome.reason = (f"the service runs {service.image} (rollout "
                              f"{service.rollout_state}), not commit "
                              f"{short_sha(plan.to.get('commit'))}")
        outcome.service = service.to_json()
    return outcome
