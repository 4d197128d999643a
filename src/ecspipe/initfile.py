"""The file `ecspipe init` writes: the config's rules for single values, the rendered
text, its validation, and writing it (with its JSON Schema) without overwriting.

Rendered line by line in the style of config.example.yaml: every value through
yaml.safe_dump (a branch or a repository may contain anything YAML treats
specially), every comment stripped of control characters (a value in a comment
must not end the comment). The text is parsed with the config's own rules
before it is written; a failure there is ecspipe's bug (exit 1), because every
value from a flag, git or AWS was checked first with `problem_with`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecspipe.errors import EcspipeError, UserError

if TYPE_CHECKING:
    from ecspipe.config import Config

SCHEMA_FILENAME = "ecspipe.schema.json"
PROVIDERS = ("GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab")
COMMENT_COLUMN = 30
# Deterministic name: a prefix when the service name does not start with a letter
# or starts with a prefix S3 reserves (the name prefixes the artifact bucket).
NAME_PREFIX = "ecs-"
NAME_MAX = 24
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


@dataclass
class Found:
    """Every value of the config to write, and a word on where each came from."""

    name: str
    name_note: str
    region: str
    account_id: str
    repository: str
    provider: str
    branch: str
    cluster: str
    service: str
    container: str
    task_definition: str  # family:revision
    cpu_architecture: str
    source_note: str = ""
    branch_note: str = ""
    connection_arn: str | None = None
    connection_note: str = ""
    context: str = "."
    dockerfile: str | None = None
    dockerfile_note: str = ""
    ecr_repository: str | None = None


# --- checking single values with the config's own rules ------------------------------

_SKELETON: dict[str, Any] = {
    "version": 1, "name": "ecspipe", "region": "us-east-1",
    "source": {"repository": "owner/repo", "branch": "main"},
    "service": {"cluster": "cluster", "name": "service"},
}


def problem_with(path: tuple[str, ...], value: Any) -> str | None:
    """What the config's rules say about `value` at `path` (e.g. ("source", "branch")),
    or None when it is valid there."""
    from pydantic import ValidationError

    from ecspipe.config import Config

    data = copy.deepcopy(_SKELETON)
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if tuple(error["loc"][: len(path)]) == path:
                return str(error["msg"]).removeprefix("Value error, ")
    return None


def derive_name(service: str) -> str:
    """A valid `name` from an ECS service name, deterministically: lowercase, every run of
    other characters one hyphen, `ecs-` in front when it would not start with a letter
    (or would start with a prefix S3 reserves), at most 24 characters."""
    text = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")
    if not text[:1].isalpha() or text.startswith(_RESERVED_PREFIXES) or len(text) < 2:
        text = (NAME_PREFIX + text).rstrip("-")
    return text[:NAME_MAX].rstrip("-")


# --- rendering, validating, writing -----------------------------------------------------


def _scalar(value: Any) -> str:
    """One YAML scalar on one line, quoted where YAML would read it otherwise."""
    import yaml

    text: str = yaml.safe_dump({"k": value}, width=10**9, allow_unicode=False)
    if text.count("\n") == 1:
        return text[len("k: "):].rstrip("\n")
    # A line break in the value: double quotes, where it is an escape (the key is quoted too).
    text = yaml.safe_dump({"k": value}, width=10**9, allow_unicode=False, default_style='"')
    return text[len('"k": '):].rstrip("\n")


def _comment(text: str) -> str:
    """A comment that stays a comment: no newline or other control character."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _line(indent: int, key: str, value: Any, comment: str = "", commented: bool = False) -> str:
    """`  key: value   # comment`; with `commented`, `  # key: value   # comment`."""
    text = "  " * indent + ("# " if commented else "") + f"{key}: {_scalar(value)}"
    return _aligned(text, comment)


def _aligned(text: str, comment: str) -> str:
    if not comment:
        return text
    gap = " " * max(2, COMMENT_COLUMN - len(text))
    return f"{text}{gap}# {_comment(comment)}"


def render_config(f: Found, for_stdout: bool = False) -> str:
    """The config file's text, in the style of config.example.yaml."""
    from ecspipe.documents.project import IMAGES

    lines = [f"# yaml-language-server: $schema=./{SCHEMA_FILENAME}"]
    if for_stdout:
        lines.append(f"#   (the schema: ecspipe schema > {SCHEMA_FILENAME})")
    lines += [
        "# ecspipe configuration, written by `ecspipe init`; `ecspipe validate` checks it offline.",
        _comment(f"# From ECS service {f.cluster}/{f.service} in {f.region} and the git checkout."),
        "# config.example.yaml documents every key; commented lines are optional settings.",
        "version: 1",
        "",
        "# Prefix of every resource ecspipe creates (pipeline, build project, roles, bucket,",
        "# connection). Lowercase letters, digits and single hyphens, 2-24 characters.",
        _line(0, "name", f.name, f.name_note),
        _line(0, "region", f.region, "region of the ECS service and of everything ecspipe "
              "creates"),
        _line(0, "account_id", f.account_id, "refuse to run with credentials for another "
              "account"),
        "",
        "source:",
        _line(1, "repository", f.repository, f.source_note),
        _line(1, "branch", f.branch, (f"{f.branch_note}; pushes to it" if f.branch_note else
                                       "pushes to this branch") + " (only) start the pipeline"),
        _line(1, "provider", f.provider, " | ".join(PROVIDERS)),
    ]
    if f.connection_arn:
        lines.append(_line(1, "connection_arn", f.connection_arn,
                           f"existing connection ({f.connection_note}), never modified"))
    else:
        lines += [_line(1, "connection_arn",
                        f"arn:aws:codeconnections:{f.region}:{f.account_id}:connection/ID",
                        commented=True),
                  _aligned("  #", "reuse an existing connection instead of creating one")]
    lines += [
        "",
        "service:",
        _line(1, "cluster", f.cluster, "the existing ECS cluster"),
        _line(1, "name", f.service, "and service"),
        _line(1, "container", f.container, f"gets the new image (task definition "
              f"{f.task_definition}, {f.cpu_architecture})"),
        "",
        "build:",
        _line(1, "context", f.context, f.dockerfile_note or "`docker build` context, relative "
              "to the repository root"),
    ]
    if f.dockerfile:
        lines.append(_line(1, "dockerfile", f.dockerfile, "relative to the repository root"))
    else:
        lines.append(_line(1, "dockerfile", "Dockerfile", "relative to the repository root",
                           commented=True))
    image = IMAGES.get(f.cpu_architecture, IMAGES["X86_64"])[1]
    lines += [
        _line(1, "compute_type", "BUILD_GENERAL1_SMALL", "CodeBuild compute type",
              commented=True),
        _line(1, "image", image, f"by default one matching {f.cpu_architecture}",
              commented=True),
        _line(1, "buildspec", "buildspec.yml", "use the repository's buildspec instead of "
              "the generated one", commented=True),
        _line(1, "timeout_minutes", 30, "build timeout", commented=True),
        _aligned("  # env:", "build variables; secrets only as references:"),
        "  #   APP_ENV: production",
        "  #   DB_PASSWORD:",
        "  #     parameter_store: " + _scalar(f"/{f.name}/db-password"),
        _aligned("  # test_commands:", "after `docker build`, before the push; a failing"),
        _aligned('  #   - docker run --rm "$IMAGE_URI" make test', "command stops the build"),
        "",
        "image:",
    ]
    if f.ecr_repository:
        lines.append(_line(1, "repository", f.ecr_repository, "the ECR repository the service's "
                           "image comes from"))
    else:
        lines.append(_line(1, "repository", f.name, "ECR repository; defaults to name",
                           commented=True))
    lines += [
        _line(1, "keep", 20, "lifecycle policy: keep the newest N images", commented=True),
        "",
        _aligned("# tags:", "extra tags on every resource ecspipe creates"),
        "#   team: platform",
    ]
    return "\n".join(lines) + "\n"


def validate_rendered(text: str, filename: str) -> Config:
    """Parse the rendered text with the config's rules; a failure here is ecspipe's bug."""
    from ecspipe.config import parse_config
    from ecspipe.errors import ConfigError

    try:
        return parse_config(text, filename)
    except ConfigError as exc:
        error = EcspipeError(f"the config init generated does not validate (a bug in ecspipe; "
                             f"please report it): {exc.message}")
        error.problems = exc.problems
        raise error from exc


def write_config(path: str, text: str, force: bool) -> None:
    """Write `text` to `path`; without `force`, never over an existing file."""
    if not force:
        try:
            # "x": never replaces a file, even one created since the check at the start.
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(text)
        except FileExistsError:
            raise UserError(f"{path} exists; ecspipe init never overwrites a file without "
                            "--force", hint="pass --force to replace it") from None
        return
    tmp = f"{path}.ecspipe-init.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_schema(config_path: str, force: bool) -> tuple[str | None, str]:
    """ecspipe.schema.json next to the config, for the yaml-language-server line."""
    from ecspipe.config import config_json_schema

    path = os.path.join(os.path.dirname(config_path), SCHEMA_FILENAME)
    text = json.dumps(config_json_schema(), indent=2) + "\n"  # as `ecspipe schema` prints it
    if os.path.lexists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                same = fh.read() == text
        except OSError:
            same = False
        if same:
            return path, "unchanged"
        if not force:
            return None, (f"{path} exists and differs: kept (--force replaces it, as does "
                          f"`ecspipe schema > {path}`)")
    write_config(path, text, force=True)
    return path, "written"
