"""CodeBuild fixes for the sandbox: UpdateProject, and CreateProject as AWS validates it.

moto 5.2.5's CodeBuild lacks UpdateProject and gets a few things wrong that
ecspipe runs into. `install()` patches moto's `CodeBuildResponse` in place (no
fork): moto looks a handler up by the operation's snake_case name on every
request, and `create_project` looks its validators up as module globals of
`moto.codebuild.responses` at call time, so replacing those globals is enough.

What changes:
- UpdateProject: partial update as in AWS. Each top-level field given replaces
  the stored one whole (an `environment` sent replaces the whole environment);
  fields not given stay. Returns the project; ResourceNotFoundException for an
  unknown project; `lastModified` moves to now.
- CreateProject no longer requires a `location` for CODEPIPELINE and NO_SOURCE
  sources or for CODEPIPELINE artifacts (AWS does not; CodePipeline supplies
  them). Project names may start with a digit, as in AWS.
- BatchGetProjects returns `created`/`lastModified` (moto stores the latter as
  `lastModifiedDate`, which the botocore model does not know, so its serializer
  dropped it) from the sandbox clock, and `projectsNotFound` (only when some
  are: the list has min 1); BatchGetBuilds likewise `buildsNotFound`.
- ListBuildsForProject: newest first unless sortOrder is ASCENDING, 100 ids a
  page with a nextToken (moto answers every id, oldest first).
- CreateProject keeps the request fields moto ignored (encryptionKey,
  secondary sources/artifacts, concurrentBuildLimit, badgeEnabled, ...) and the
  AWS defaults for the timeouts (60 and 480 minutes) instead of 0.

moto already keeps `tags`, `environment` (with environmentVariables and
privilegedMode), `source.buildspec`, `logsConfig`, `timeoutInMinutes` and
`serviceRole` as sent; the sandbox self-tests check that.
"""

from __future__ import annotations

import re
from typing import Any

from ecspipe.sandbox.settings import SETTINGS

_SOURCE_TYPES = {
    "BITBUCKET",
    "CODECOMMIT",
    "CODEPIPELINE",
    "GITHUB",
    "GITHUB_ENTERPRISE",
    "GITLAB",
    "GITLAB_SELF_MANAGED",
    "NO_SOURCE",
    "S3",
}
# Source types whose location comes from elsewhere (CodePipeline's input
# artifact, or nothing at all).
_SOURCE_TYPES_WITHOUT_LOCATION = {"CODEPIPELINE", "NO_SOURCE"}
_ARTIFACT_TYPES = {"CODEPIPELINE", "S3", "NO_ARTIFACTS"}
_PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_]{1,149}$")

# Request fields of CreateProject/UpdateProject that moto's model does not keep,
# copied into the stored project as sent (all are Project members of the same name).
_KEPT_AS_SENT = (
    "secondarySources",
    "secondarySourceVersions",
    "secondaryArtifacts",
    "encryptionKey",
    "fileSystemLocations",
    "buildBatchConfig",
    "concurrentBuildLimit",
    "autoRetryLimit",
)
# UpdateProject fields that replace the stored value of the same name.
_UPDATABLE = (
    "description",
    "source",
    "sourceVersion",
    "artifacts",
    "cache",
    "environment",
    "serviceRole",
    "timeoutInMinutes",
    "queuedTimeoutInMinutes",
    "tags",
    "vpcConfig",
    "logsConfig",
    *_KEPT_AS_SENT,
)


def _invalid(message: str) -> Exception:
    from moto.codebuild.exceptions import InvalidInputException

    return InvalidInputException(message)


def validate_source(source: dict[str, Any]) -> None:
    """AWS's rule: a location is required unless CodePipeline supplies the source."""
    if not isinstance(source, dict) or source.get("type") not in _SOURCE_TYPES:
        raise _invalid("Invalid type provided: Project source type")
    if source["type"] not in _SOURCE_TYPES_WITHOUT_LOCATION and not source.get("location"):
        raise _invalid("Project source location is required")


def validate_artifacts(artifacts: dict[str, Any]) -> None:
    if not isinstance(artifacts, dict) or artifacts.get("type") not in _ARTIFACT_TYPES:
        raise _invalid("Invalid type provided: Artifact type")
    if artifacts["type"] == "NO_ARTIFACTS" and "location" in artifacts:
        raise _invalid("Invalid artifacts: artifact type NO_ARTIFACTS should have null location")
    if artifacts["type"] == "S3" and not artifacts.get("location"):
        raise _invalid("Project artifacts location is required")


def validate_project_name(name: str) -> None:
    if not isinstance(name, str) or not _PROJECT_NAME_RE.match(name):
        raise _invalid("Only alphanumeric characters, dash, and underscore are supported")


def _now() -> float:
    return SETTINGS.clock.now()


def _after_create(response: Any) -> None:
    """Complete the project moto just stored from the CreateProject request."""
    backend = response.codebuild_backend
    project = backend.codebuild_projects.get(response._get_param("name"))
    if project is None:  # moto refused it; nothing stored
        return
    meta = project.project_metadata
    now = _now()
    meta["created"] = now
    meta["lastModified"] = now
    meta.pop("lastModifiedDate", None)
    # moto stores `timeout or 0`; AWS defaults to 60 and 480 minutes.
    meta["timeoutInMinutes"] = response._get_param("timeoutInMinutes") or 60
    meta["queuedTimeoutInMinutes"] = response._get_param("queuedTimeoutInMinutes") or 480
    for key in _KEPT_AS_SENT:
        value = response._get_param(key)
        if value is not None:
            meta[key] = value
    badge = response._get_param("badgeEnabled")
    if badge is not None:
        meta["badge"] = {"badgeEnabled": bool(badge)}


def update_project(self: Any) -> Any:
    """CodeBuildResponse.update_project: AWS's partial update."""
    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.codebuild.responses import _validate_required_params_environment
    from moto.core.responses import ActionResult
    from moto.utilities.utils import get_partition

    name = self._get_param("name")
    backend = self.codebuild_backend
    project = backend.codebuild_projects.get(name)
    if project is None and isinstance(name, str) and name.startswith("arn:"):
        project = next((p for p in backend.codebuild_projects.values() if p.arn == name), None)
    if project is None:
        raise ResourceNotFoundException(
            f"Project cannot be found: arn:{get_partition(self.region)}:codebuild:"
            f"{self.region}:{self.current_account}:project/{name}"
        )

    # Validate everything before changing anything.
    updates = {key: self._get_param(key) for key in _UPDATABLE}
    updates = {key: value for key, value in updates.items() if value is not None}
    if "source" in updates:
        validate_source(updates["source"])
    if "artifacts" in updates:
        validate_artifacts(updates["artifacts"])
    if "environment" in updates:
        _validate_required_params_environment(updates["environment"])
    if "serviceRole" in updates:
        role = updates["serviceRole"]
        prefix = f"arn:{get_partition(self.region)}:iam::{self.current_account}:role/"
        if not role.startswith(prefix):
            raise _invalid(
                "Invalid service role: Service role account ID does not match caller's account"
            )

    meta = project.project_metadata
    for key, value in updates.items():
        meta[key] = value
    # The model object keeps two of them outside the metadata too.
    if "serviceRole" in updates:
        project.service_role = updates["serviceRole"]
    if "tags" in updates:
        project.tags = updates["tags"]
    badge = self._get_param("badgeEnabled")
    if badge is not None:
        meta["badge"] = {"badgeEnabled": bool(badge)}
    meta["lastModified"] = max(_now(), meta.get("lastModified") or 0)
    meta.pop("lastModifiedDate", None)
    return ActionResult({"project": meta})


def _with_not_found(
    result: dict[str, Any], key: str, asked: list[str] | None, known: set[str]
) -> dict[str, Any]:
    """`result` plus `key`: the names asked for and not found, only if there are any
    (the model's list has min 1: AWS leaves an empty one out)."""
    missing = [name for name in asked or [] if name not in known]
    return {**result, key: missing} if missing else result


def _invalid_token() -> Exception:
    return _invalid("Invalid next token")


def list_builds_for_project(self: Any) -> Any:
    """CodeBuildResponse.list_builds_for_project, ordered and paged as AWS documents.

    "CodeBuild API Reference, ListBuildsForProject": sorted by build number,
    DESCENDING (newest first) unless sortOrder says ASCENDING; at most 100 ids
    per call, then a nextToken. moto's answers every id, oldest first.
    """
    from moto.codebuild.exceptions import ResourceNotFoundException
    from moto.core.responses import ActionResult
    from moto.utilities.utils import get_partition

    from ecspipe.sandbox import paging

    name = self._get_param("projectName")
    backend = self.codebuild_backend
    if name not in backend.codebuild_projects:
        raise ResourceNotFoundException(
            f"The provided project arn:{get_partition(self.region)}:codebuild:{self.region}:"
            f"{self.current_account}:project/{name} does not exist"
        )
    order = self._get_param("sortOrder") or "DESCENDING"
    if order not in ("ASCENDING", "DESCENDING"):
        raise _invalid(f"Invalid sort order: {order}")
    ids = list(backend.build_history.get(name, []))  # in start order: by build number
    if order == "DESCENDING":
        ids.reverse()
    found, token = paging.page(
        ids, 100, self._get_param("nextToken"), key=str, invalid=_invalid_token
    )
    result: dict[str, Any] = {"ids": found} if found else {}  # ids has min 1
    if token:
        result["nextToken"] = token
    return ActionResult(result)


_installed = False


def install() -> None:
    """Patch moto's CodeBuild in place. Idempotent."""
    global _installed
    if _installed:
        return
    import moto.codebuild.responses as responses
    from moto.core.responses import ActionResult

    cls = responses.CodeBuildResponse
    # create_project calls these through the module's globals.
    responses._validate_required_params_source = validate_source
    responses._validate_required_params_artifacts = validate_artifacts
    responses._validate_required_params_project_name = validate_project_name

    original_create = cls.create_project
    original_batch_get = cls.batch_get_projects

    def create_project(self: Any) -> Any:
        result = original_create(self)
        # The ActionResult holds the stored metadata dict itself and is
        # serialized later, so completing the stored project fixes both.
        _after_create(self)
        return result

    original_batch_get_builds = cls.batch_get_builds

    def batch_get_projects(self: Any) -> Any:
        result = original_batch_get(self)
        names = self._get_param("names") or []
        found = result.result["projects"]  # type: ignore[index]
        known = {p["name"] for p in found} | {p["arn"] for p in found}
        return ActionResult(
            _with_not_found({"projects": found}, "projectsNotFound", names, known)
        )

    def batch_get_builds(self: Any) -> Any:
        result = original_batch_get_builds(self)
        found = result.result["builds"]  # type: ignore[index]
        known = {b["id"] for b in found} | {b.get("arn") for b in found}
        return ActionResult(
            _with_not_found({"builds": found}, "buildsNotFound", self._get_param("ids"), known)
        )

    # setattr: patching a class's methods at run time, which mypy rightly dislikes.
    setattr(cls, "create_project", create_project)  # noqa: B010
    setattr(cls, "batch_get_projects", batch_get_projects)  # noqa: B010
    setattr(cls, "batch_get_builds", batch_get_builds)  # noqa: B010
    setattr(cls, "update_project", update_project)  # noqa: B010
    setattr(cls, "list_builds_for_project", list_builds_for_project)  # noqa: B010
    _installed = True
