"""The CodeBuild project request (CreateProject / UpdateProject share this shape)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ecspipe.config import Config, ParameterStoreRef, SecretsManagerRef
from ecspipe.documents.buildspec import render_buildspec
from ecspipe.documents.codedeploy import appspec_file, appspec_text, taskdef_file, taskdef_text
from ecspipe.facts import EnvironmentFacts, shared_architecture
from ecspipe.names import Names, tag_list

Environments = Sequence[EnvironmentFacts]

# The image must match the task's CPU architecture, or the image the build
# produces fails at container start with `exec format error`.
IMAGES = {
    "X86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    "ARM64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
}


def environment_type(environments: Environments) -> str:
    return IMAGES.get(shared_architecture(environments), IMAGES["X86_64"])[0]


def build_image(config: Config, environments: Environments) -> str:
    return config.build.image or IMAGES.get(shared_architecture(environments),
                                            IMAGES["X86_64"])[1]


def image_definitions(names: Names, environments: Environments) -> list[tuple[str, str]]:
    """(file, container) of every environment the ECS action deploys: the image definitions
    files the build writes, in order."""
    return [(names.imagedefinitions(e.name), e.service.container) for e in environments
            if e.service.codedeploy is None]


def codedeploy_files(environments: Environments) -> list[tuple[str, str]]:
    """(file, text) of each CODE_DEPLOY environment's taskdef and appspec, in order."""
    files = []
    for env in environments:
        cd, service = env.service.codedeploy, env.service
        if cd is None or service.task_definition is None:
            continue
        files.append((taskdef_file(env.name), taskdef_text(service.task_definition,
                                                          service.container) + "\n"))
        files.append((appspec_file(env.name), appspec_text(cd.container_name, cd.container_port)))
    return files


ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[^:@]+)"
)


def ecr_build_image(config: Config) -> re.Match[str] | None:
    """A `build.image` in ECR: CodeBuild must pull it with the project's role."""
    return ECR_IMAGE.match(config.build.image or "")


def environment_variables(config: Config, names: Names,
                          environments: Environments) -> list[dict[str, str]]:
    variables = [
        {"name": "IMAGE_REPO_URI", "value": names.ecr_repository_uri, "type": "PLAINTEXT"},
    ]
    if len(environments) == 1 and environments[0].name is None:
        # For a buildspec of the user's own (build.buildspec) that writes
        # imagedefinitions.json itself. With environments each file names its own
        # container (README: "Your own buildspec").
        variables.append({"name": "CONTAINER_NAME", "value": environments[0].service.container,
                          "type": "PLAINTEXT"})
    for key, value in sorted(config.build.env.items()):
        if isinstance(value, ParameterStoreRef):
            variables.append({"name": key, "value": value.parameter_store, "type": "PARAMETER_STORE"})
        elif isinstance(value, SecretsManagerRef):
            variables.append({"name": key, "value": value.secrets_manager, "type": "SECRETS_MANAGER"})
        else:
            variables.append({"name": key, "value": value, "type": "PLAINTEXT"})
    return variables


# CreateProject/UpdateProject `description`: at most 255 characters (ProjectDescription
# in the CodeBuild API model; botocore does not check it, CodeBuild refuses it).
DESCRIPTION_MAX = 255


def description(config: Config, environments: Environments) -> str:
    where = ", ".join(
        f"{e.service.cluster_name}/{e.service.service_name}" if e.name is None else
        f"{e.name} ({e.service.cluster_name}/{e.service.service_name})" for e in environments)
    text = f"ecspipe: builds {config.source.repository} for {where}"
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 3] + "..."


def project_request(config: Config, names: Names, environments: Environments) -> dict[str, Any]:
    buildspec = config.build.buildspec or render_buildspec(
        config, names.ecr_repository_uri, image_definitions(names, environments),
        codedeploy_files(environments))
    return {
        "name": names.build_project,
        "description": description(config, environments),
        "source": {"type": "CODEPIPELINE", "buildspec": buildspec},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {
            "type": environment_type(environments),
            "image": build_image(config, environments),
            "computeType": config.build.compute_type,
            # docker build needs the Docker daemon: privileged mode.
            "privilegedMode": True,
            # Curated and public images: CodeBuild's own credentials. An ECR image:
            # the service role's, which the CodeBuild policy lets pull that repository.
            "imagePullCredentialsType": "SERVICE_ROLE" if ecr_build_image(config) else "CODEBUILD",
            "environmentVariables": environment_variables(config, names, environments),
        },
        "serviceRole": names.codebuild_role_arn,
        "timeoutInMinutes": config.build.timeout_minutes,
        "logsConfig": {
            "cloudWatchLogs": {"status": "ENABLED", "groupName": names.log_group},
            "s3Logs": {"status": "DISABLED"},
        },
        "tags": tag_list(names.tags, "key", "value"),
    }
