"""The generated buildspec: log in to ECR, build, test, push a unique tag, write imagedefinitions.json.

Choices the guide learned the hard way:
- The tag is `YYYYmmdd_HHMMSS-<commit7>` (UTC), unique per build: ECR repositories
  are IMMUTABLE, so a mutable tag such as `latest` is never pushed.
- Build, tests, push and imagedefinitions.json all live in the `build` phase:
  CodeBuild runs `post_build` even when `build` failed, so a push there would
  publish an image whose tests failed.
- `imagedefinitions.json` names the *container* in the task definition (the
  guide calls it the service name; a mismatch fails the Deploy stage). It comes
  from the project's CONTAINER_NAME variable, checked in preflight.
- Variables persist across commands and phases in buildspec version 0.2; bash is
  requested explicitly for `${VAR:0:7}`.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from ecspipe.config import Config


def build_commands(config: Config) -> dict[str, list[str]]:
    """The commands of each phase, as the buildspec will run them."""
    context = config.build.context or "."
    docker_build = ["docker", "build", "--tag", "$IMAGE_URI"]
    if config.build.dockerfile:
        docker_build += ["--file", shlex.quote(config.build.dockerfile)]
    docker_build.append(shlex.quote(context))
    return {
        "pre_build": [
            'ECR_REGISTRY="${IMAGE_REPO_URI%%/*}"',
            'echo "Logging in to Amazon ECR $ECR_REGISTRY"',
            'aws ecr get-login-password --region "$AWS_DEFAULT_REGION" '
            '| docker login --username AWS --password-stdin "$ECR_REGISTRY"',
            # Variables and the working directory persist across commands in 0.2:
            # remember the source root, where the artifact must be written.
            'SRC_DIR="$PWD"',
            'COMMIT="${CODEBUILD_RESOLVED_SOURCE_VERSION:?CodeBuild did not resolve a commit}"',
            'IMAGE_TAG="$(date -u +%Y%m%d_%H%M%S)-${COMMIT:0:7}"',
            'IMAGE_URI="$IMAGE_REPO_URI:$IMAGE_TAG"',
            'echo "Image: $IMAGE_URI"',
        ],
        "build": [
            " ".join(docker_build).replace("$IMAGE_URI", '"$IMAGE_URI"'),
            *config.build.test_commands,
            'docker push "$IMAGE_URI"',
            "printf '[{\"name\":\"%s\",\"imageUri\":\"%s\"}]' \"$CONTAINER_NAME\" \"$IMAGE_URI\" "
            '> "$SRC_DIR/imagedefinitions.json"',
            'cat "$SRC_DIR/imagedefinitions.json"',
        ],
    }


def buildspec_document(config: Config) -> dict[str, Any]:
    phases = build_commands(config)
    return {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {name: {"commands": commands} for name, commands in phases.items()},
        "artifacts": {"files": ["imagedefinitions.json"], "discard-paths": "yes"},
    }


def render_buildspec(config: Config) -> str:
    return yaml.safe_dump(buildspec_document(config), sort_keys=False, width=1000)
