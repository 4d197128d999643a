"""IAM propagation in the sandbox: a role just created cannot be used for a while.

On AWS, a role is not usable by other services for some seconds after CreateRole
(or after its trust policy changed): IAM is eventually consistent. CodeBuild and
CodePipeline then refuse it, and ecspipe retries exactly those refusals
(retry.py). With `settings.SETTINGS.role_propagation` at N > 0 seconds, the
sandbox does the same: a role created, or whose trust policy changed, less than
N seconds ago on the sandbox clock is refused by

  CodeBuild    CreateProject, UpdateProject (the `serviceRole` sent) and
               StartBuild (`serviceRoleOverride`, else the project's role);
               a pipeline's Build action that starts a build then fails with
               "Error calling startBuild: ..." (see builds.py)
  CodePipeline CreatePipeline, UpdatePipeline (`pipeline.roleArn`)

with the errors AWS gives (AWS documents neither; the texts are what AWS
answers, research-codepipeline.md section 9):

- CodeBuild, InvalidInputException (HTTP 400): "CodeBuild is not authorized to
  perform: sts:AssumeRole on service role. Please verify that: 1) ...", as the
  AWS CLI prints it for CreateProject; and CodePipeline's Build action reports
  the same text after "Error calling startBuild: ". (Older answers said
  "... sts:AssumeRole on arn:aws:iam::...", terraform-provider-aws #4233; both
  contain the "ot authorized to perform" that retry.py matches.)
- CodePipeline, InvalidStructureException (HTTP 400): "CodePipeline is not
  authorized to perform AssumeRole on role <role ARN>", quoted by the Amazon
  SageMaker Developer Guide (project templates) for a missing pipeline role.

N is 0 (off) by default, in tests and in `ecspipe sandbox`; `ecspipe sandbox
--role-propagation N` and the bench set it. The time of the change is kept on
moto's Role object, so a reset forgets it with the role.
"""

from __future__ import annotations

import functools
from typing import Any

from ecspipe.sandbox.settings import SETTINGS

_MARK = "__ecspipe_propagation__"
_CHANGED = "_ecspipe_trust_changed"  # sandbox-clock time of CreateRole / UpdateAssumeRolePolicy

CODEBUILD_MESSAGE = (
    "CodeBuild is not authorized to perform: sts:AssumeRole on service role. Please verify "
    "that: 1) The provided service role exists, 2) The role name is case-sensitive and "
    "matches exactly, and 3) The role has the necessary trust policy configured."
)


def codepipeline_message(role_arn: str) -> str:
    return f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}"


def start_build_failure(request_id: str) -> str:
    """What a pipeline's CodeBuild action says when StartBuild refused the project's role."""
    return (f"Error calling startBuild: {CODEBUILD_MESSAGE} (Service: AWSCodeBuild; Status "
            f"Code: 400; Error Code: InvalidInputException; Request ID: {request_id}; "
            "Proxy: null)")


def _role(account_id: str, region: str, role: str) -> Any:
    """moto's Role for an ARN (or a bare name), or None when there is no such role."""
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account_id][get_partition(region)]
    for candidate in backend.get_roles():
        if role in (candidate.arn, candidate.name):
            return candidate
    return None


def too_new(account_id: str, region: str, role: str | None) -> bool:
    """True when `role` changed less than SETTINGS.role_propagation seconds ago."""
    delay = SETTINGS.role_propagation
    if not delay or not role:
        return False
    found = _role(account_id, region, role)
    changed = getattr(found, _CHANGED, None) if found is not None else None
    return changed is not None and SETTINGS.clock.now() - changed < delay


def _stamped(original: Any, role_of: Any) -> Any:
    """An IAMBackend method that records when it changed a role's trust."""

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        setattr(role_of(self, result, *args, **kwargs), _CHANGED, SETTINGS.clock.now())
        return result

    return method


def _checked(original: Any, role_of: Any, refusal: Any) -> Any:
    """A response method that refuses a role too new, before moto sees the request."""

    @functools.wraps(original)
    def method(self: Any) -> Any:
        role = role_of(self)
        if too_new(self.current_account, self.region, role):
            raise refusal(role)
        return original(self)

    return method


def _codebuild_refusal(_role_arn: str) -> Exception:
    from moto.codebuild.exceptions import InvalidInputException

    return InvalidInputException(CODEBUILD_MESSAGE)


def _codepipeline_refusal(role_arn: str) -> Exception:
    from moto.codepipeline.exceptions import InvalidStructureException

    return InvalidStructureException(codepipeline_message(role_arn))


def _start_build_role(response: Any) -> str | None:
    override = response._get_param("serviceRoleOverride")
    if override:
        return str(override)
    project = response.codebuild_backend.codebuild_projects.get(response._get_param("projectName"))
    return project.project_metadata.get("serviceRole") if project is not None else None


def _pipeline_role(response: Any) -> str | None:
    return (response._get_param("pipeline") or {}).get("roleArn")


def install() -> None:
    """Wrap moto's IAM, CodeBuild and CodePipeline in place. Idempotent; run it after
    codebuild.install(), whose CreateProject/UpdateProject it wraps."""
    from moto.codebuild.responses import CodeBuildResponse
    from moto.codepipeline.responses import CodePipelineResponse
    from moto.iam.models import IAMBackend

    wraps = (
        (IAMBackend, "create_role", lambda original: _stamped(
            original, lambda backend, role, *a, **k: role)),
        (IAMBackend, "update_assume_role_policy", lambda original: _stamped(
            original, lambda backend, _none, role_name, *a, **k: backend.get_role(role_name))),
        (CodeBuildResponse, "create_project", lambda original: _checked(
            original, lambda r: r._get_param("serviceRole"), _codebuild_refusal)),
        (CodeBuildResponse, "update_project", lambda original: _checked(
            original, lambda r: r._get_param("serviceRole"), _codebuild_refusal)),
        (CodeBuildResponse, "start_build", lambda original: _checked(
            original, _start_build_role, _codebuild_refusal)),
        (CodePipelineResponse, "create_pipeline", lambda original: _checked(
            original, _pipeline_role, _codepipeline_refusal)),
        (CodePipelineResponse, "update_pipeline", lambda original: _checked(
            original, _pipeline_role, _codepipeline_refusal)),
    )
    for cls, name, make in wraps:
        original = getattr(cls, name)
        if getattr(original, _MARK, False):
            continue
        wrapper = make(original)
        setattr(wrapper, _MARK, True)
        setattr(cls, name, wrapper)
