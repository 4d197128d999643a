"""The CodeBuild action in the sandbox: a build record, its log, an image pushed to ECR.

A build is a real record in moto's CodeBuild backend (BatchGetBuilds answers it
with phases that match its progress), its log goes to CloudWatch Logs as
CodeBuild would write it, and on success an image tagged
`YYYYmmdd_HHMMSS-<sha7>` is put into ECR and the image definitions files are
handed to the next stages: exactly the files the project's buildspec writes
(ecspipe's generated buildspec writes one per environment with
documents.buildspec.imagedefinitions_command, whose lines are read back here),
or `imagedefinitions.json` naming $CONTAINER_NAME for another buildspec. `fail_stage: Build` fails it in the tests, as a failing
`npm test` would.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ecspipe.sandbox import buildfiles, propagation
from ecspipe.sandbox import ecs as ecs_sim
from ecspipe.sandbox.actions import ActionSimulator, _job_failed, fake_sha
from ecspipe.sandbox.settings import SETTINGS

if TYPE_CHECKING:
    from ecspipe.sandbox.executions import ActionRun, SimulatedExecution

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


# The line documents.buildspec.imagedefinitions_command writes:
#   [[ ... ]] || {...}; printf '%s' '<head>'"$VAR"'<tail>' > "$SRC_DIR/<file>"
# with <head> and <tail> single-quoted ('\'' inside is written '"'"').
_QUOTED = r"'(?:[^']|'\"'\"')*'"
_DEFINITIONS_LINE = re.compile(
    rf"printf '%s' (?P<head>{_QUOTED})\"\$(?P<var>[A-Za-z_][A-Za-z0-9_]*)\"(?P<tail>{_QUOTED})"
    r' > "\$SRC_DIR/(?P<file>[A-Za-z0-9][A-Za-z0-9._-]*\.json)"'
)


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace("'\"'\"'", "'")


def written_definitions(buildspec: str | None) -> dict[str, tuple[str, str]]:
    """{file: (head, tail)} of every image definitions file a buildspec writes with
    ecspipe's writer; the file's JSON is head + image URI + tail. {} for another
    buildspec (or none, or one that is not YAML)."""
    import yaml

    try:
        spec = yaml.safe_load(buildspec or "")
    except yaml.YAMLError:
        return {}
    phases = spec.get("phases") if isinstance(spec, dict) else None
    found: dict[str, tuple[str, str]] = {}
    for phase in (phases or {}).values() if isinstance(phases, dict) else []:
        commands = phase.get("commands") if isinstance(phase, dict) else None
        for command in commands if isinstance(commands, list) else []:
            m = _DEFINITIONS_LINE.search(str(command))
            if m:
                found[m["file"]] = (_unquote(m["head"]), _unquote(m["tail"]))
    return found


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
        if propagation.too_new(ex.account_id, ex.region, meta.get("serviceRole")):
            run.data["error"] = _job_failed(propagation.start_build_failure(str(uuid.uuid4())))
            return
        env = {
            v["name"]: v.get("value", "")
            for v in (meta.get("environment") or {}).get("environmentVariables") or []
        }
        fallback = _deploy_target(ex)
        repo_uri = env.get("IMAGE_REPO_URI") or (fallback[0] if fallback else "")
        container = env.get("CONTAINER_NAME") or (fallback[1] if fallback else "")
        files = written_definitions((meta.get("source") or {}).get("buildspec"))
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
            files=files,
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
            message = (ex.artifacts.get(run.inputs[0], {}) if run.inputs else {}).get("message")
            return self._fail(ex, run, now, "BUILD", _BUILD_COMMAND, _test_failure_lines(message))
        if not d["repo_uri"] or not (d["container"] or d["files"]):
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
        if d["files"]:
            written = {file: json.loads(head + image_uri + tail)
                       for file, (head, tail) in d["files"].items()}
        else:
            written = {"imagedefinitions.json": [{"name": d["container"], "imageUri": image_uri}]}
        self._log(ex, run, now, built + _push_lines(now, d["repo_uri"], d["tag"], digest,
                                                    sorted(written)))
        build = self._build(ex, run)
        build.update(
            buildStatus="SUCCEEDED",
            currentPhase="COMPLETED",
            buildComplete=True,
            endTime=now,
            phases=_phases(build["startTime"], now),
        )
        # Whatever else the buildspec writes and lists (imageDetail.json, taskdef.json...).
        files = buildfiles.written_files(ex, run, image_uri)
        for artifact in run.outputs:
            # The image definitions files as parsed documents, over their text.
            ex.artifacts[artifact] = {**files, **copy.deepcopy(written)}
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


def _test_failure_lines(commit_message: str | None = None) -> list[str]:
    # With settings.commit_message, the failing test is named after the commit: a
    # test's output is the pusher's text, like the commit message.
    test = commit_message if SETTINGS.commit_message and commit_message else (
        "GET /health returns 200")
    return [
        "#5 6.512 > demo-app@1.0.0 test",
        "#5 6.512 > node --test",
        f"#5 7.104 not ok 3 - {test}",
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


def _push_lines(now: float, repo_uri: str, tag: str, digest: str,
                files: list[str]) -> list[str]:
    c = functools.partial(_container_line, now)
    return [
        c("Phase complete: BUILD State: SUCCEEDED"),
        c("Phase context status code:  Message: "),
        c("Entering phase POST_BUILD"),
        c(f"Running command {_PUSH_COMMAND}"),
        f"The push refers to repository [{repo_uri}]",
        "5f70bf18a086: Pushed",
        f"{tag}: digest: {digest} size: 1570",
        *[c(f'Running command printf \'%s\' ... > "$SRC_DIR/{file}"') for file in files],
        c("Phase complete: POST_BUILD State: SUCCEEDED"),
        c("Phase context status code:  Message: "),
        c("Expanding base directory path: ."),
        c("Assembling file list"),
        c(f"Found {len(files)} file(s)"),
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
