"""What a pipeline action does when the sandbox runs it: Source, ECS and CodeDeployToECS.

Actions are recognised by category and provider, never by stage name; other
providers simply succeed. Each simulator has a start (when its stage is
entered), a finish (when the stage's time is up: None, or the error the action
fails with) and an abandon (a stop request):

  Source  (CodeStarSourceConnection) fails if the connection is not AVAILABLE,
          else resolves a commit (pinned with StartPipelineExecution's
          `sourceRevisions`, or a deterministic fake SHA and message).
  Build   (CodeBuild): builds.py.
  Deploy  (ECS) registers a task definition revision with the built image and
          starts an ECS deployment (see ecs.py), which completes or rolls back
          (`settings.SETTINGS.rollback`). A rolling update ends the action after
          its rollout; a blue/green, linear or canary one (ecs_deployments.py)
          when the service deployment ends, or fails it at DeploymentTimeout.
  Deploy  (CodeDeployToECS) registers the task definition of the build's
          taskdef.json with the image of imageDetail.json, and creates a
          CodeDeploy deployment from appspec.yaml (see codedeploy.py); it ends
          when the deployment does.

The Source check of the connection happens when the stage is entered, reading
the connection's status at that time (for a new execution, that is the
StartPipelineExecution call itself). Artifacts are Python dicts on the
execution, not S3 objects.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ecspipe.sandbox import ecs as ecs_sim
from ecspipe.sandbox import ecs_deployments
from ecspipe.sandbox.settings import SETTINGS

if TYPE_CHECKING:
    from ecspipe.sandbox.executions import ActionRun, SimulatedExecution

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


def _job_failed(message: str) -> dict[str, str]:
    # CodePipeline reports job failures of AWS-owned actions with code JobFailed.
    return {"code": "JobFailed", "message": message}


def fake_sha(pipeline_name: str, number: int) -> str:
    """The deterministic commit a sandbox source "finds" for execution `number`."""
    return hashlib.sha1(f"{pipeline_name}#{number}".encode()).hexdigest()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NotYet(Exception):
    """Raised by finish(): what the action waits for has not happened; ask again at due_at()."""


class ActionSimulator:
    """Default behaviour: succeed at the end of the stage (or fail if injected)."""

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        pass

    def due_at(self, ex: SimulatedExecution, run: ActionRun) -> float | None:
        """When finish() is next due (asked again whenever the simulation advances)."""
        return run.ends_at

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        if run.data.get("inject_failure"):
            return _job_failed(f"Action {run.name} failed (ecspipe sandbox: fail_stage).")
        return None

    def abandon(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        pass


# "Quotas in AWS CodePipeline": a manual approval times out after 7 days unless the
# action's timeoutInMinutes (5 to 86400) says otherwise.
APPROVAL_DEFAULT_MINUTES = 7 * 24 * 60


class ApprovalSimulator(ActionSimulator):
    """A manual approval: InProgress, with a token, until PutApprovalResult or expiry.

    The token appears in GetPipelineState's action state (`latestExecution.token`)
    while the approval waits; executions.put_approval_result() records the answer
    and ends the action at once.
    """

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        minutes = int(run.declaration.get("timeoutInMinutes") or APPROVAL_DEFAULT_MINUTES)
        run.ends_at = now + minutes * 60
        run.data["token"] = str(uuid.uuid4())
        run.data["minutes"] = minutes

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        decision = run.data.get("decision")
        if decision == "Approved":
            return None
        if decision == "Rejected":
            return {"code": "JobFailed", "message": "The approval was rejected."}
        run.summary = f"The approval expired: nobody answered within {run.data['minutes']} " \
            "minutes."
        return {"code": "JobFailed", "message": run.summary}


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
        message = SETTINGS.commit_message or (
            f"Update {short} ({sha[:7]})" if pinned else f"Update {short} (#{ex.number})")
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
        if (service.deployment_controller or {}).get("type") == "CODE_DEPLOY":
            # The action's UpdateService is refused; AWS's action fails with the refusal.
            run.data["error"] = _job_failed(ecs_sim.CODE_DEPLOY_REFUSAL)
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
        minutes = _deployment_timeout(cfg.get("DeploymentTimeout"))
        if minutes is None:
            run.data["error"] = {
                "code": "ConfigurationError",
                "message": f"DeploymentTimeout {cfg.get('DeploymentTimeout')!r} is not valid: "
                "give a whole number of minutes from 1 to 60."}
            return
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
        if ecs_deployments.is_managed(service):
            # Blue/green, linear, canary: the action waits for the service deployment
            # itself, at most DeploymentTimeout minutes.
            run.data.update(managed=True, minutes=minutes, deadline=now + minutes * 60.0,
                            service_deployment=service.current_service_deployment)
        # The action waits for the rollout (or for the circuit breaker to trip).
        run.ends_at = max(run.ends_at or now, now + ecs_sim.rollout_seconds())
        run.external_id = deployment["id"]
        run.external_url = (
            f"https://console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{name}"
            f"/deployments?region={ex.region}"
        )

    def due_at(self, ex: SimulatedExecution, run: ActionRun) -> float | None:
        if not run.data.get("managed"):
            return run.ends_at
        try:
            service = ecs_sim.find_service(
                ex.account_id, ex.region, run.data["cluster"], run.data["service"])
        except Exception:  # noqa: BLE001 - the service was deleted: end now
            return run.start_time
        change = ecs_deployments.next_change(service, run.data["service_deployment"])
        deadline = run.data["deadline"]
        return deadline if change is None else min(change, deadline)

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        service = ecs_sim.find_service(
            ex.account_id, ex.region, run.data["cluster"], run.data["service"]
        )
        ecs_sim.advance_service(service, now)
        if run.data.get("managed"):
            return self._managed_outcome(service, run, now)
        if run.data["fail"]:
            return _job_failed(
                f"Deployment {run.data['deployment_id']} failed: {ecs_sim.CIRCUIT_BREAKER_REASON}"
            )
        # With SETTINGS.rollback the deployment FAILED and ECS rolled back, yet
        # the action succeeds: the well-known gap between CodePipeline and the
        # circuit breaker, reproduced on purpose.
        return None


    def _managed_outcome(self, service: Any, run: ActionRun, now: float) -> dict | None:
        """The action ends with the service deployment, or fails at DeploymentTimeout.

        What AWS's ECS action says when its timeout passes is not documented; the
        message here names the deployment, its status, stage and any pause.
        """
        arn = run.data["service_deployment"]
        record = ecs_deployments.find_record(service, arn)
        if record is None:
            return _job_failed(f"The service deployment {arn} no longer exists.")
        if not record.running and (record.finished or now) <= now:
            if record.status == ecs_deployments.SUCCESSFUL:
                return None
            return _job_failed(f"The Amazon ECS service deployment {arn} ended "
                               f"{record.status}: {record.status_reason or 'no reason given'}")
        if now < run.data["deadline"]:
            raise NotYet
        hook = record.awaiting()
        waiting = f", waiting at PAUSE hook {hook.hook_id}" if hook else ""
        return _job_failed(
            f"The Amazon ECS deployment did not finish within the DeploymentTimeout of "
            f"{run.data['minutes']} minutes: service deployment {arn} is {record.status} at "
            f"lifecycle stage {record.stage}{waiting}.")


# "Amazon Elastic Container Service deploy action reference": DeploymentTimeout is in
# minutes, "configurable up to the maximum default timeout for this action", which
# "Quotas in AWS CodePipeline" gives as one hour.
DEPLOYMENT_TIMEOUT_MINUTES = 60


def _deployment_timeout(value: str | None) -> int | None:
    if value is None or value == "":
        return DEPLOYMENT_TIMEOUT_MINUTES
    try:
        minutes = int(str(value))
    except ValueError:
        return None
    return minutes if 1 <= minutes <= DEPLOYMENT_TIMEOUT_MINUTES else None


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


# "Quotas in AWS CodePipeline": the CodeDeploy ECS (blue/green) action times out after 5 days.
CODEDEPLOY_ACTION_SECONDS = 5 * 24 * 3600.0
_IMAGE_SLOTS = range(1, 5)  # "Image<Number>ArtifactName ... 1 through 4"


def _config_error(message: str) -> dict[str, str]:
    # The console's "Invalid action configuration": errorDetails code ConfigurationError.
    return {"code": "ConfigurationError", "message": message}


class CodeDeployToEcsSimulator(ActionSimulator):
    """The "Amazon ECS (Blue/Green)" action (provider CodeDeployToECS).

    After "Amazon Elastic Container Service and CodeDeploy blue-green deploy action
    reference" (CodePipeline User Guide): reads TaskDefinitionTemplatePath (default
    taskdef.json) from TaskDefinitionTemplateArtifact, AppSpecTemplatePath (default
    appspec.yaml) from AppSpecTemplateArtifact, and imageDetail.json from each
    Image<N>ArtifactName; puts each image's ImageURI where the task definition says
    `<Image<N>ContainerName>`; registers that task definition; puts its ARN where the
    AppSpec says `<TASK_DEFINITION>`; creates the deployment; ends when it does.

    The messages for a missing file are AWS's ("Troubleshooting CodePipeline" for the
    task definition; the console's, as users quote it, for the image file); the
    others are the sandbox's own.
    """

    def start(self, ex: SimulatedExecution, run: ActionRun, now: float) -> None:
        try:
            deployment_id = self._deploy(ex, run, now)
        except _ActionFailed as failed:
            run.data["error"] = failed.error
            return
        run.data.update(deployment_id=deployment_id, deadline=now + CODEDEPLOY_ACTION_SECONDS)
        run.external_id = deployment_id
        run.external_url = (f"https://console.aws.amazon.com/codesuite/codedeploy/deployments/"
                            f"{deployment_id}?region={ex.region}")

    def _deploy(self, ex: SimulatedExecution, run: ActionRun, now: float) -> str:
        from ecspipe.sandbox import codedeploy

        cfg = run.configuration
        taskdef_artifact = cfg.get("TaskDefinitionTemplateArtifact", "")
        taskdef_path = cfg.get("TaskDefinitionTemplatePath") or "taskdef.json"
        text = _artifact_file(ex, taskdef_artifact, taskdef_path)
        if text is None:
            raise _ActionFailed(_config_error(
                "Exception while trying to read the task definition artifact file from: "
                f"{taskdef_artifact}."))
        for n in _IMAGE_SLOTS:
            image_artifact = cfg.get(f"Image{n}ArtifactName")
            if not image_artifact:
                continue
            placeholder = cfg.get(f"Image{n}ContainerName")
            if not placeholder:
                raise _ActionFailed(_config_error(
                    f"Action configuration is missing 'Image{n}ContainerName' configuration."))
            uri = _image_uri(_artifact_file(ex, image_artifact, "imageDetail.json"))
            if uri is None:
                raise _ActionFailed(_config_error(
                    "Exception while trying to read the image artifact file from the "
                    f"artifact: {image_artifact}."))
            if f"<{placeholder}>" not in text:
                raise _ActionFailed(_config_error(
                    f"The task definition file {taskdef_path} has no placeholder "
                    f"<{placeholder}> (Image{n}ContainerName) to put the image {uri} in."))
            text = text.replace(f"<{placeholder}>", uri)
        task_definition = _register_template(ex, taskdef_path, text)
        appspec_artifact = cfg.get("AppSpecTemplateArtifact", "")
        appspec_path = cfg.get("AppSpecTemplatePath") or "appspec.yaml"
        appspec = _artifact_file(ex, appspec_artifact, appspec_path)
        if appspec is None:
            raise _ActionFailed(_config_error(
                "Exception while trying to read the AppSpec artifact file from: "
                f"{appspec_artifact}."))
        appspec = appspec.replace("<TASK_DEFINITION>", task_definition)
        revision = {"revisionType": "AppSpecContent", "appSpecContent": {
            "content": appspec, "sha256": hashlib.sha256(appspec.encode()).hexdigest()}}
        try:
            return codedeploy.create(
                ex.account_id, ex.region, cfg.get("ApplicationName", ""),
                cfg.get("DeploymentGroupName", ""), revision,
                description=f"Deployment by CodePipeline {ex.pipeline_name} ({ex.id})",
                fail=SETTINGS.rollback or bool(run.data["inject_failure"]), now=now)
        except Exception as exc:  # noqa: BLE001 - CodeDeploy's refusal is the action's failure
            raise _ActionFailed(_job_failed(getattr(exc, "message", None) or str(exc))) from None

    def due_at(self, ex: SimulatedExecution, run: ActionRun) -> float | None:
        if "deployment_id" not in run.data:
            return run.ends_at
        from ecspipe.sandbox import codedeploy_ecs

        change = codedeploy_ecs.next_change(ex.account_id, ex.region, run.data["deployment_id"])
        deadline = run.data["deadline"]
        return deadline if change is None else min(change, deadline)

    def finish(self, ex: SimulatedExecution, run: ActionRun, now: float) -> dict | None:
        if run.data.get("error"):
            return run.data["error"]
        from ecspipe.sandbox import codedeploy_ecs

        backend = codedeploy_ecs._codedeploy(ex.account_id, ex.region)
        info = backend.deployments.get(run.data["deployment_id"])
        dep = codedeploy_ecs.state_of(info) if info is not None else None
        if dep is None:
            return _job_failed(f"The deployment {run.data['deployment_id']} no longer exists.")
        codedeploy_ecs.advance_info(info, now)
        if not dep.running and (dep.completed or now) <= now:
            if dep.status == codedeploy_ecs.SUCCEEDED:
                run.summary = f"Deployment {dep.deployment_id} succeeded."
                return None
            reason = (dep.error or {}).get("message") or "no reason given"
            return _job_failed(f"Deployment {dep.deployment_id} {dep.status.lower()}: {reason}")
        if now < run.data["deadline"]:
            raise NotYet
        return _job_failed(f"The deployment {dep.deployment_id} did not finish within the "
                           "action's timeout of 5 days.")


class _ActionFailed(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(error["message"])
        self.error = error


def _artifact_file(ex: SimulatedExecution, artifact: str, path: str) -> str | None:
    """A file of an input artifact as text (the sandbox's artifacts are dicts of files)."""
    files = ex.artifacts.get(artifact) or {}
    content = files.get(path)
    if content is None:
        return None
    return content if isinstance(content, str) else json.dumps(content)


def _image_uri(text: str | None) -> str | None:
    """imageDetail.json's ImageURI ("Image definitions file reference")."""
    try:
        detail = json.loads(text or "")
    except ValueError:
        return None
    uri = detail.get("ImageURI") if isinstance(detail, dict) else None
    return uri if isinstance(uri, str) and uri else None


# RegisterTaskDefinition's members the sandbox's ECS (moto) keeps, by moto's parameter name.
_REGISTER_MEMBERS = {
    "containerDefinitions": "container_definitions", "volumes": "volumes",
    "networkMode": "network_mode", "tags": "tags",
    "placementConstraints": "placement_constraints",
    "requiresCompatibilities": "requires_compatibilities", "cpu": "cpu", "memory": "memory",
    "taskRoleArn": "task_role_arn", "executionRoleArn": "execution_role_arn",
    "proxyConfiguration": "proxy_configuration",
    "inferenceAccelerators": "inference_accelerators", "runtimePlatform": "runtime_platform",
    "ipcMode": "ipc_mode", "pidMode": "pid_mode", "ephemeralStorage": "ephemeral_storage",
}


@functools.cache
def _register_task_definition_members() -> frozenset[str]:
    from moto.core.utils import get_service_model

    return frozenset(get_service_model("ecs").operation_model(
        "RegisterTaskDefinition").input_shape.members)


def _register_template(ex: SimulatedExecution, path: str, text: str) -> str:
    """Register the task definition the template describes; returns its ARN."""
    try:
        template = json.loads(text)
    except ValueError as exc:
        raise _ActionFailed(_config_error(
            f"The task definition file {path} is not valid JSON: {exc}")) from None
    if not isinstance(template, dict):
        raise _ActionFailed(_config_error(f"The task definition file {path} is not an object."))
    unknown = sorted(set(template) - _register_task_definition_members())
    if unknown:
        raise _ActionFailed(_job_failed(
            f"The task definition file {path} has fields RegisterTaskDefinition does not "
            f"accept: {', '.join(unknown)}."))
    if not template.get("family") or not template.get("containerDefinitions"):
        raise _ActionFailed(_job_failed(
            f"The task definition file {path} needs family and containerDefinitions."))
    backend = ecs_sim._ecs_backend(ex.account_id, ex.region)
    kwargs = {moto: copy.deepcopy(template[api]) for api, moto in _REGISTER_MEMBERS.items()
              if api in template and api != "containerDefinitions"}
    try:
        registered = backend.register_task_definition(
            template["family"], copy.deepcopy(template["containerDefinitions"]), **kwargs)
    except Exception as exc:  # noqa: BLE001 - ECS's refusal (ClientException...)
        raise _ActionFailed(_job_failed(
            f"RegisterTaskDefinition failed: {getattr(exc, 'message', None) or exc}")) from None
    return str(registered.arn)
