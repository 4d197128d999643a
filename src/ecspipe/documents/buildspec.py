"""The generated buildspec: log in to ECR, build, test, push a unique tag, write the image definitions.

Choices the guide learned the hard way:
- The tag is `YYYYmmdd_HHMMSS-<commit7>` (UTC), unique per build: ECR repositories
  are IMMUTABLE, so a mutable tag such as `latest` is never pushed.
- One image definitions file per environment (`imagedefinitions.json` for the
  single `service:` form, `imagedefinitions-<env>.json` for each environment),
  every one naming the same pushed image: built once, deployed everywhere.
- Build, tests, push and the image definitions all live in the `build` phase:
  CodeBuild runs `post_build` even when `build` failed, so a push there would
  publish an image whose tests failed.
- `imagedefinitions.json` names the *container* in the task definition (the
  guide calls it the service name; a mismatch fails the Deploy stage), checked
  in preflight against ECS's character set.
- A CODE_DEPLOY environment gets no image definitions: CodeDeployToECS reads
  imageDetail.json, its taskdef and its appspec (documents/codedeploy.py), all
  written in the `build` phase after the push.
- Variables persist across commands and phases in buildspec version 0.2; bash is
  requested explicitly for `${VAR:0:7}`.

No value can change what these commands do. The repository URI and the
container name are known when `up` renders the buildspec: the JSON text is made
by json.dumps and embedded single-quoted, so the shell never parses it. The
one value made at run time, the image URI, is checked before the push and before
it is written: it must be an image of *this* repository with a plain tag (a test
command, or a StartBuild override of IMAGE_REPO_URI, cannot send the image or
the deploy elsewhere), and the writer itself accepts only characters that need
no escaping in JSON. config/rules.py reserves every variable named here.
"""

from __future__ import annotations

import json
import re
import shlex
import string
from collections.abc import Sequence
from typing import Any

import yaml

from ecspipe.config import Config
from ecspipe.documents.codedeploy import IMAGE_DETAIL
from ecspipe.names import IMAGEDEFINITIONS

# (file name, container name): one image definitions file per environment, all
# naming the one image the build pushed (environments' container names may differ).
Definitions = Sequence[tuple[str, str]]
# (file name, text): CodeDeployToECS's taskdef and appspec files, known at `up`; with
# any of them the build writes imageDetail.json too.
Files = Sequence[tuple[str, str]]
# Listed out, not as ranges: bracket ranges in bash follow the locale's collation.
_ALNUM = string.ascii_letters + string.digits
# An image reference: registry host, repository path, ':' tag or '@' digest.
_IMAGE_CHARS = _ALNUM + "._/:@-"
# An ECR image tag: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'.
_TAG_RE = f"^[{_ALNUM}_][{_ALNUM}_.-]{{0,127}}$"


def _quote(text: str) -> str:
    """Always single-quoted (shlex.quote leaves safe text bare: a glob after `==`)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _fail(message: str) -> str:
    return f"{{ echo {_quote('ecspipe: ' + message)} >&2; exit 1; }}"


def check_repository_uri(repository_uri: str) -> str:
    """The project's IMAGE_REPO_URI must be this repository: the ECR login token goes there."""
    return (f'[ "$IMAGE_REPO_URI" = {_quote(repository_uri)} ] || '
            + _fail(f"IMAGE_REPO_URI is not {repository_uri}; refusing to log in elsewhere"))


def check_image_uri(image_var: str, repository_uri: str) -> str:
    """`$image_var` must be `<repository_uri>:<tag>`, whatever ran before."""
    var = _var(image_var)
    return (f'[[ "${{{var}%:*}}" == {_quote(repository_uri)} && "${{{var}##*:}}" =~ '
            f'{_TAG_RE} ]] || '
            + _fail(f"${var} is not an image of {repository_uri}; refusing to push or deploy it"))


def imagedefinitions_command(file_name: str, container: str, image_var: str) -> str:
    """One shell line writing `[{"name": container, "imageUri": $image_var}]` to `$SRC_DIR/file_name`.

    The JSON around the image URI is rendered here by json.dumps and quoted with
    single quotes; the URI itself is refused unless every character is one JSON
    needs no escape for, so the file is always this one JSON document.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.json", file_name):
        raise ValueError(f"not a plain JSON file name: {file_name!r}")
    var = _var(image_var)
    head = '[{"name":' + json.dumps(container) + ',"imageUri":"'
    tail = '"}]'
    guard = (f'[[ "${var}" =~ ^[{_IMAGE_CHARS}]+$ ]] || '
             + _fail(f"${var} is not an image reference; refusing to write {file_name}"))
    return (f"{guard}; printf '%s' {_quote(head)}\"${var}\"{_quote(tail)} "
            f'> "$SRC_DIR/{file_name}"')


def imagedetail_command(image_var: str) -> str:
    """One shell line writing `{"ImageURI": $image_var}` to `$SRC_DIR/imageDetail.json`
    (CodeDeployToECS's image file), guarded exactly as the image definitions are."""
    var = _var(image_var)
    head, tail = '{"ImageURI":"', '"}'
    guard = (f'[[ "${var}" =~ ^[{_IMAGE_CHARS}]+$ ]] || '
             + _fail(f"${var} is not an image reference; refusing to write {IMAGE_DETAIL}"))
    return (f"{guard}; printf '%s' {_quote(head)}\"${var}\"{_quote(tail)} "
            f'> "$SRC_DIR/{IMAGE_DETAIL}"')


def static_file_command(file_name: str, text: str) -> str:
    """One shell line writing `text` (known when `up` renders the buildspec) to
    `$SRC_DIR/file_name`: printf '%s\\n' with each line one single-quoted argument."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(json|yaml)", file_name):
        raise ValueError(f"not a plain file name: {file_name!r}")
    lines = (text[:-1] if text.endswith("\n") else text).split("\n")
    arguments = " ".join(_quote(line) for line in lines)
    return f"printf '%s\\n' {arguments} > \"$SRC_DIR/{file_name}\""


def _var(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a shell variable name: {name!r}")
    return name


def build_commands(config: Config, repository_uri: str, definitions: Definitions,
                   files: Files = ()) -> dict[str, list[str]]:
    """The commands of each phase, as the buildspec will run them."""
    context = config.build.context or "."
    docker_build = ["docker", "build", "--tag", '"$IMAGE_URI"']
    if config.build.dockerfile:
        docker_build += ["--file", shlex.quote(config.build.dockerfile)]
    docker_build.append(shlex.quote(context))
    return {
        "pre_build": [
            check_repository_uri(repository_uri),
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
            " ".join(docker_build),
            *config.build.test_commands,
            check_image_uri("IMAGE_URI", repository_uri),
            'docker push "$IMAGE_URI"',
            *[imagedefinitions_command(file, container, "IMAGE_URI")
              for file, container in definitions],
            *[f'cat "$SRC_DIR/{file}"' for file, _ in definitions],
            # CodeDeployToECS's files: the image, then each environment's static ones.
            *([imagedetail_command("IMAGE_URI"), f'cat "$SRC_DIR/{IMAGE_DETAIL}"']
              if files else []),
            *[static_file_command(name, text) for name, text in files],
        ],
    }


def buildspec_document(config: Config, repository_uri: str, definitions: Definitions,
                       files: Files = ()) -> dict[str, Any]:
    phases = build_commands(config, repository_uri, definitions, files)
    listed = [file for file, _ in definitions]
    if files:
        listed += [IMAGE_DETAIL, *[name for name, _ in files]]
    return {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {name: {"commands": commands} for name, commands in phases.items()},
        "artifacts": {"files": listed, "discard-paths": "yes"},
    }


def render_buildspec(config: Config, repository_uri: str, definitions: Definitions,
                     files: Files = ()) -> str:
    return yaml.safe_dump(buildspec_document(config, repository_uri, definitions, files),
                          sort_keys=False, width=1000)


def single(container: str) -> list[tuple[str, str]]:
    """The definitions of the single `service:` form: imagedefinitions.json only."""
    return [(IMAGEDEFINITIONS, container)]
