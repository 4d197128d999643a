"""The ecspipe configuration file (`ecspipe.yaml`): its models, loading and error reporting.

The file is YAML, validated by the pydantic v2 models below (every model forbids
unknown keys, and strings are strict: `branch: 123` or `name: true` is an error,
never silently coerced). Every AWS naming rule ecspipe depends on is checked
here, offline, before any AWS call, because the services check most of them
only after earlier resources already exist (see aws-facts.md section 1).

`load_config(path)` / `parse_config(text)` raise exactly one exception type,
`ecspipe.errors.ConfigError`, and never let a pydantic or YAML exception escape:

* whole-file problems (missing file, a directory, empty file, malformed YAML, a
  document that is not a mapping, several documents) are one one-line message
  with an empty `problems` list;
* everything else is collected at once: `message` is `FILE: N problems in the
  configuration` and `problems` holds one line per problem, sorted by line,
  formatted `FILE:LINE field.path: what is wrong (got VALUE)`.

Line numbers come from composing the YAML (libyaml's CSafeLoader when present,
else SafeLoader) and walking its nodes along each error's field path. Duplicate
keys in a mapping, which PyYAML silently resolves to the last value, are
reported as problems too. A value under a secret-looking env name is never
echoed back in a message.

Decisions other code relies on: after validation `config.image.repository` is
always a str (it defaults to `config.name`); `service.cluster_name` /
`service.service_name` are short names even when ARNs were given; an empty
section (`env:` with every entry commented out, `tags:`, `build:`, `image:`)
means its default; YAML timestamps are read as plain strings
(`branch: 2024-01-01` is the branch named "2024-01-01").
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml

# pydantic looks for third-party plugins by scanning every installed package's
# entry points when the first model is built (~50-80 ms); ecspipe's models use
# none. A user who sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import (  # noqa: E402 - after the plugin switch above
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ecspipe.errors import ConfigError

__all__ = [
    "Build",
    "Config",
    "EnvValue",
    "Image",
    "ParameterStoreRef",
    "SecretsManagerRef",
    "Service",
    "Source",
    "config_json_schema",
    "load_config",
    "parse_config",
]

DEFAULT_FILENAME = "ecspipe.yaml"
EXAMPLE_FILENAME = "config.example.yaml"
SUPPORTED_VERSION = 1
MAX_USER_TAGS = 45  # AWS allows 50 tags per resource; ecspipe sets its own
RESERVED_TAG_KEYS = ("managed-by",)
RESERVED_TAG_PREFIXES = ("aws:", "ecspipe:")
SECRET_NAME_MARKERS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY")

_GOT_LIMIT = 60


def _err(message: str, **ctx: Any) -> PydanticCustomError:
    """A validation error whose message is shown as is (no 'Value error,' prefix).

    ctx keys understood by the formatter: `at` (a dotted sub-path appended to the
    error's location), `got` (the value to show instead of the input),
    `hide_input` (never print the value, e.g. a plaintext secret).
    """
    return PydanticCustomError("ecspipe", message, ctx or None)


# --------------------------------------------------------------------------- rules

_NAME_RE = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*[a-z0-9]")
_NAME_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def _check_name(value: str) -> str:
    if not 2 <= len(value) <= 24:
        raise _err(
            f"must be 2-24 characters, not {len(value)} (it prefixes the artifact bucket, "
            "role and connection names, which have length limits)"
        )
    for prefix in _NAME_RESERVED_PREFIXES:
        if value.startswith(prefix):
            raise _err(f"must not start with '{prefix}' (reserved in S3 bucket names)")
    if value != value.lower() and _NAME_RE.fullmatch(value.lower()):
        raise _err(f"must be lowercase: {value.lower()!r}")
    if "--" in value:
        raise _err("must not contain '--' (use single hyphens)")
    if not value[0].isascii() or not value[0].isalpha() or not value[0].islower():
        raise _err("must start with a lowercase letter")
    if value.endswith("-"):
        raise _err("must end with a letter or digit")
    if not _NAME_RE.fullmatch(value):
        raise _err("may contain only lowercase letters, digits and single hyphens")
    return value


_REGION_RE = re.compile(
    r"(?:us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|us-iso|us-isob|us-isof|eu-isoe|eusc)"
    r"-[a-z]+-[0-9]{1,2}"
)


def _check_region(value: str) -> str:
    if _REGION_RE.fullmatch(value):
        return value
    if _REGION_RE.fullmatch(value.lower()):
        raise _err(f"must be lowercase: {value.lower()!r}")
    if re.fullmatch(r"[a-z-]+-[0-9]{1,2}[a-z]", value) and _REGION_RE.fullmatch(value[:-1]):
        raise _err(f"is an availability zone; the region is {value[:-1]!r}")
    raise _err("is not an AWS region code such as 'us-east-1' or 'eu-central-1'")


def _check_account_id(value: str) -> str:
    if not re.fullmatch(r"[0-9]{12}", value):
        raise _err('must be exactly 12 digits, quoted (e.g. "123456789012")')
    return value


_OWNER_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*")
_REPO_RE = re.compile(r"[A-Za-z0-9._-]+")
_REPO_URL_RE = re.compile(
    r"(?:[a-z][a-z0-9+.-]*://)?(?:[^@/\s]+@)?(?:www\.)?[A-Za-z0-9.-]+\.[A-Za-z]+(?::\d+)?[:/]"
    r"(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+?)(?:\.git)?/?"
)


def _check_repository(value: str) -> str:
    example = "e.g. 'acme/demo-app'"
    if (
        "://" in value
        or value.startswith("git@")
        or re.match(r"(?:www\.)?[\w-]+\.(?:com|org)[/:]", value)
    ):
        m = _REPO_URL_RE.fullmatch(value)
        fix = f": {m['owner'] + '/' + m['repo']!r}" if m else f", {example}"
        raise _err(f"must be owner/repo, not a URL{fix}")
    if value.endswith(".git"):
        raise _err(f"must not end with '.git': {value[:-4]!r}")
    if value.count("/") != 1:
        raise _err(f"must be owner/repo, {example}")
    owner, repo = value.split("/")
    if not owner or len(owner) > 39:
        raise _err(f"owner must be 1-39 characters, not {len(owner)}")
    if not _OWNER_RE.fullmatch(owner):
        raise _err("owner may contain only letters, digits and single inner hyphens")
    if not repo or len(repo) > 100:
        raise _err(f"repository name must be 1-100 characters, not {len(repo)}")
    if repo in (".", ".."):
        raise _err(f"repository name must not be {repo!r}")
    if not _REPO_RE.fullmatch(repo):
        raise _err("repository name may contain only letters, digits, '.', '_' and '-'")
    return value


_BRANCH_BAD_CHARS = set(" ~^:?*[\\")


def _check_branch(value: str) -> str:
    if not value:
        raise _err("must not be empty")
    if len(value) > 255:
        raise _err(f"must be at most 255 characters, not {len(value)}")
    if value.startswith("refs/heads/") and len(value) > len("refs/heads/"):
        raise _err(f"drop the 'refs/heads/' prefix: {value[len('refs/heads/') :]!r}")
    if value.startswith("-"):
        raise _err("must not start with '-'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _err("must not contain control characters")
    bad = sorted({c for c in value if c in _BRANCH_BAD_CHARS})
    if bad:
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        raise _err(f"must not contain {shown} (git branch name rules)")
    if ".." in value:
        raise _err("must not contain '..'")
    if "@{" in value:
        raise _err("must not contain '@{'")
    if value == "@":
        raise _err("must not be '@'")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise _err("must not start or end with '/' or contain '//'")
    if value.endswith("."):
        raise _err("must not end with '.'")
    for part in value.split("/"):
        if part.startswith("."):
            raise _err("no '/'-separated part may start with '.'")
        if part.endswith(".lock"):
            raise _err("no '/'-separated part may end with '.lock'")
    return value


_CONNECTION_ARN_RE = re.compile(
    r"arn:aws(?:-[a-z]+)*:(?:codestar-connections|codeconnections):(?P<region>[a-z0-9-]+):"
    r"(?P<account>\d{12}):connection/[\w-]+",
    re.ASCII,
)


def _check_connection_arn(value: str) -> str:
    if len(value) > 256:
        raise _err(f"must be at most 256 characters, not {len(value)}")
    if _CONNECTION_ARN_RE.fullmatch(value):
        return value
    parts = value.split(":")
    form = "arn:aws:codeconnections:REGION:ACCOUNT:connection/ID"
    if (
        len(parts) >= 3
        and parts[0] == "arn"
        and parts[2] not in ("codeconnections", "codestar-connections")
    ):
        raise _err(f"must be a CodeConnections connection ARN ({form}), not a {parts[2]!r} ARN")
    if len(parts) >= 5 and parts[0] == "arn" and not re.fullmatch(r"[0-9]{12}", parts[4]):
        raise _err(f"has an invalid account id {parts[4]!r} (12 digits expected)")
    raise _err(f"must be a connection ARN: {form}")


_ECS_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ECS_ARN_PREFIX = r"arn:aws(?:-[a-z]+)*:ecs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
_CLUSTER_ARN_RE = re.compile(_ECS_ARN_PREFIX + r"cluster/(?P<name>[A-Za-z0-9_-]{1,255})")
_SERVICE_ARN_RE = re.compile(
    _ECS_ARN_PREFIX
    + r"service/(?:(?P<cluster>[A-Za-z0-9_-]{1,255})/)?(?P<name>[A-Za-z0-9_-]{1,255})"
)
_ECS_NAME_RULE = "1-255 letters, digits, '_' and '-'"


def _check_cluster(value: str) -> str:
    if _ECS_NAME_RE.fullmatch(value) or _CLUSTER_ARN_RE.fullmatch(value):
        return value
    if value.startswith("arn:"):
        raise _err(
            "must be a cluster name or a cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)"
        )
    raise _err(f"must be a cluster name ({_ECS_NAME_RULE}) or a cluster ARN")


def _check_service(value: str) -> str:
    if _ECS_NAME_RE.fullmatch(value) or _SERVICE_ARN_RE.fullmatch(value):
        return value
    if value.startswith("arn:"):
        raise _err(
            "must be a service name or a service ARN (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME)"
        )
    raise _err(f"must be a service name ({_ECS_NAME_RULE}) or a service ARN")


def _check_container(value: str) -> str:
    if not _ECS_NAME_RE.fullmatch(value):
        raise _err(f"must be a container name: {_ECS_NAME_RULE}")
    return value


def _arn_parts(value: str) -> re.Match[str] | None:
    return _CLUSTER_ARN_RE.fullmatch(value) or _SERVICE_ARN_RE.fullmatch(value)


_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9._\-/+@]+")


def _check_rel_path(value: str) -> str:
    if not value:
        raise _err("must not be empty (use '.' for the repository root)")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _err("must not contain newlines or other control characters")
    if value.startswith("/") or re.match(r"[A-Za-z]:[\\/]", value):
        raise _err("must be relative to the repository root, not absolute")
    bad = sorted({c for c in value if not _PATH_CHARS_RE.fullmatch(c)})
    if bad:
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        raise _err(
            f"must not contain {shown}: it is used in a shell command; allowed are "
            "letters, digits and . _ - / + @"
        )
    if ".." in value.split("/"):
        raise _err("must stay inside the repository ('..' is not allowed)")
    if value.startswith("-"):
        raise _err("must not start with '-' (it would be read as an option)")
    return value


def _check_rel_file(value: str) -> str:
    _check_rel_path(value)
    if value.endswith("/") or value.split("/")[-1] in ("", "."):
        raise _err("must name a file, not a directory")
    return value


def _check_build_image(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}", value):
        raise _err("must be an image reference such as 'aws/codebuild/standard:7.0'")
    return value


def _check_test_command(value: str) -> str:
    if not value.strip():
        raise _err("must not be empty")
    if "\n" in value or "\r" in value or "\x00" in value:
        raise _err("must be one line: write several commands as several list items")
    return value


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise _err(
            "is not a valid variable name: letters, digits and '_', not starting with a digit"
        )
    if value.upper().startswith("CODEBUILD_"):
        raise _err("names starting with CODEBUILD_ are reserved by CodeBuild")
    return value


def _looks_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_NAME_MARKERS)


def _check_reference(value: str) -> str:
    if not value.strip():
        raise _err("must not be empty")
    if any(c.isspace() for c in value):
        raise _err("must not contain whitespace")
    return value


_ECR_PART = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_ECR_RE = re.compile(rf"{_ECR_PART}(?:/{_ECR_PART})*")


def _check_ecr_repository(value: str) -> str:
    if not 2 <= len(value) <= 256:
        raise _err(f"must be 2-256 characters, not {len(value)}")
    if value != value.lower() and _ECR_RE.fullmatch(value.lower()):
        raise _err(f"must be lowercase: {value.lower()!r}")
    if not _ECR_RE.fullmatch(value):
        raise _err(
            "must be lowercase letters and digits separated by '.', '_', '__', '-' or '/' "
            "(no separator at the start or end, none doubled except '__' and '-')"
        )
    return value


_TAG_CHARS_RE = re.compile(r"(?:[\w.:/=+\-@]|[^\S\t\n\r\f\v])*")


def _check_tag_key(value: str) -> str:
    if not 1 <= len(value) <= 127:
        raise _err(f"tag keys must be 1-127 characters, not {len(value)}")
    if not _TAG_CHARS_RE.fullmatch(value):
        raise _err("tag keys may contain only letters, digits, spaces and _ . : / = + - @")
    lowered = value.lower()
    if lowered.startswith("aws:"):
        raise _err("tag keys starting with 'aws:' are reserved by AWS")
    if lowered in RESERVED_TAG_KEYS or lowered.startswith(RESERVED_TAG_PREFIXES):
        raise _err("this tag key is reserved: ecspipe sets it on every resource it creates")
    return value


def _check_tag_value(value: str) -> str:
    if len(value) > 255:
        raise _err(f"tag values must be at most 255 characters, not {len(value)}")
    if not _TAG_CHARS_RE.fullmatch(value):
        raise _err("tag values may contain only letters, digits, spaces and _ . : / = + - @")
    return value


def _none_as(default: Any) -> BeforeValidator:
    """An empty YAML section (`env:` with every entry commented out) means the default."""
    return BeforeValidator(lambda v: default() if v is None else v)


ProjectName = Annotated[
    str,
    AfterValidator(_check_name),
    Field(
        description="Prefix of every resource ecspipe creates: lowercase letters, digits and "
        "single hyphens, starting with a letter, 2-24 characters.",
        json_schema_extra={"pattern": _NAME_RE.pattern, "minLength": 2, "maxLength": 24},
    ),
]
Region = Annotated[str, AfterValidator(_check_region), Field(description="AWS region code.")]
AccountId = Annotated[
    str,
    AfterValidator(_check_account_id),
    Field(
        description="Refuse to run against any other AWS account (12 digits, quoted).",
        json_schema_extra={"pattern": "^[0-9]{12}$"},
    ),
]
RelPath = Annotated[str, AfterValidator(_check_rel_path)]
RelFile = Annotated[str, AfterValidator(_check_rel_file)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
TagKey = Annotated[str, AfterValidator(_check_tag_key)]
TagValue = Annotated[str, AfterValidator(_check_tag_value)]
TestCommand = Annotated[str, AfterValidator(_check_test_command)]
ComputeType = Literal[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
]
Provider = Literal["GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab"]


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Source(_Model):
    """Where the code comes from; pushes to `branch` start the pipeline."""

    repository: Annotated[
        str,
        AfterValidator(_check_repository),
        Field(description="Repository as owner/repo (no URL, no .git)."),
    ]
    branch: Annotated[
        str,
        AfterValidator(_check_branch),
        Field(description="Branch whose pushes start the pipeline."),
    ]
    provider: Provider = "GitHub"
    connection_arn: (
        Annotated[
            str,
            AfterValidator(_check_connection_arn),
            Field(description="Reuse this CodeConnections connection instead of creating one."),
        ]
        | None
    ) = None

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def repo(self) -> str:
        return self.repository.split("/", 1)[1]


class Service(_Model):
    """The existing ECS service the pipeline deploys to."""

    cluster: Annotated[
        str,
        AfterValidator(_check_cluster),
        Field(description="ECS cluster name or ARN.", max_length=2048),
    ]
    name: Annotated[
        str,
        AfterValidator(_check_service),
        Field(description="ECS service name or ARN.", max_length=2048),
    ]
    container: (
        Annotated[
            str,
            AfterValidator(_check_container),
            Field(description="Container of the task definition that gets the new image."),
        ]
        | None
    ) = None

    @field_validator("name")
    @classmethod
    def _service_arn_matches_cluster(cls, value: str, info: ValidationInfo) -> str:
        m = _SERVICE_ARN_RE.fullmatch(value)
        cluster = info.data.get("cluster")
        if m and m["cluster"] and cluster and m["cluster"] != _short_ecs_name(cluster):
            raise _err(
                f"the service ARN is in cluster {m['cluster']!r}, "
                f"but service.cluster is {_short_ecs_name(cluster)!r}"
            )
        return value

    @property
    def cluster_name(self) -> str:
        return _short_ecs_name(self.cluster)

    @property
    def service_name(self) -> str:
        return _short_ecs_name(self.name)


def _short_ecs_name(value: str) -> str:
    m = _arn_parts(value)
    return m["name"] if m else value


class ParameterStoreRef(_Model):
    """An environment variable read from SSM Parameter Store at build time."""

    parameter_store: Annotated[
        str,
        AfterValidator(_check_reference),
        Field(description="SSM Parameter Store parameter name or ARN."),
    ]


class SecretsManagerRef(_Model):
    """An environment variable read from Secrets Manager at build time."""

    secrets_manager: Annotated[
        str,
        AfterValidator(_check_reference),
        Field(description="Secrets Manager secret name or ARN (optionally :json-key:...)."),
    ]


# Union member tags; they appear in pydantic error locations and are stripped there.
_TAG_PLAIN = "<plain>"
_TAG_PARAMETER = "<parameter_store>"
_TAG_SECRET = "<secrets_manager>"
_REF_KEYS = {"parameter_store": _TAG_PARAMETER, "secrets_manager": _TAG_SECRET}
_TAG_MODELS: dict[str, type[BaseModel]] = {
    _TAG_PARAMETER: ParameterStoreRef,
    _TAG_SECRET: SecretsManagerRef,
}
_ENV_SHAPE = "a string, or a mapping with one key, parameter_store: NAME or secrets_manager: NAME"


@dataclass(frozen=True, slots=True)
class _Named:
    """An env value paired with its variable name, so the value's check can see the name."""

    name: object
    value: object


def _guess_ref_tag(mapping: dict[Any, Any]) -> str | None:
    for key in mapping:
        if isinstance(key, str):
            close = difflib.get_close_matches(key, list(_REF_KEYS), n=1, cutoff=0.6)
            if close:
                return _REF_KEYS[close[0]]
    return None


def _env_tag(value: Any) -> str | None:
    if isinstance(value, ParameterStoreRef):
        return _TAG_PARAMETER
    if isinstance(value, SecretsManagerRef):
        return _TAG_SECRET
    if isinstance(value, dict):
        for key, tag in _REF_KEYS.items():
            if key in value:
                return tag
        return _guess_ref_tag(value)
    return _TAG_PLAIN


def _check_env_value(value: Any) -> Any:
    name: object = None
    if isinstance(value, _Named):
        name, value = value.name, value.value
    if isinstance(value, str | int | float) and isinstance(name, str) and _looks_secret(name):
        # bool is an int too; the value itself is never echoed back
        raise _err(
            "looks like a secret: CodeBuild shows plain values to anyone who can read "
            "the project; use `parameter_store: NAME` or `secrets_manager: NAME`",
            hide_input=True,
        )
    if isinstance(value, str):
        return value
    if isinstance(value, ParameterStoreRef | SecretsManagerRef):
        return value
    if isinstance(value, bool):
        raise _err(f'a boolean is not a string; quote it: "{str(value).lower()}"', got=value)
    if isinstance(value, int | float):
        raise _err(f'a number is not a string; quote it: "{value}"', got=value)
    if value is None:
        raise _err(f"has no value; it must be {_ENV_SHAPE}")
    if isinstance(value, dict):
        if all(key in value for key in _REF_KEYS):
            raise _err("use parameter_store: or secrets_manager:, not both", got=value)
        if _env_tag(value) is None:
            raise _err(f"must be {_ENV_SHAPE}", got=value)
        return value
    raise _err(f"must be {_ENV_SHAPE}, not {_type_word(value)}", got=value)


EnvValue = Annotated[
    Annotated[
        Union[  # noqa: UP007 -- Tag/Discriminator need the explicit Union form
            Annotated[str, Tag(_TAG_PLAIN)],
            Annotated[ParameterStoreRef, Tag(_TAG_PARAMETER)],
            Annotated[SecretsManagerRef, Tag(_TAG_SECRET)],
        ],
        Discriminator(_env_tag),
    ],
    BeforeValidator(_check_env_value),
]
"""A build environment value: plain text, or a Parameter Store / Secrets Manager reference."""


class Build(_Model):
    """The CodeBuild project: docker build, optional tests, push."""

    context: Annotated[
        RelPath, Field(description="Directory passed to docker build, relative to the repository.")
    ] = "."
    dockerfile: (
        Annotated[RelFile, Field(description="Dockerfile path, relative to the repository.")] | None
    ) = None
    compute_type: ComputeType = "BUILD_GENERAL1_SMALL"
    image: (
        Annotated[
            str,
            AfterValidator(_check_build_image),
            Field(
                description="CodeBuild image; by default one matching the task's CPU architecture."
            ),
        ]
        | None
    ) = None
    buildspec: (
        Annotated[RelFile, Field(description="Use this buildspec from the repository.")] | None
    ) = None
    timeout_minutes: Annotated[
        int, Field(ge=5, le=2160, description="Build timeout in minutes.")
    ] = 30
    env: Annotated[
        dict[EnvName, EnvValue],
        _none_as(dict),
        Field(description="Build environment variables; secrets only as references."),
    ] = Field(default_factory=dict)
    test_commands: Annotated[
        list[TestCommand],
        _none_as(list),
        Field(description="Shell commands run after docker build and before the push."),
    ] = Field(default_factory=list)

    @field_validator("env", mode="before")
    @classmethod
    def _pair_values_with_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _Named(key, item) for key, item in value.items()}
        return value


class Image(_Model):
    """The ECR repository the build pushes to."""

    repository: (
        Annotated[
            str,
            AfterValidator(_check_ecr_repository),
            Field(description="ECR repository name; defaults to `name`."),
        ]
        | None
    ) = None
    keep: Annotated[
        int, Field(ge=1, le=1000, description="Lifecycle policy: keep the newest N images.")
    ] = 20


class Config(_Model):
    """The whole ecspipe.yaml."""

    version: Literal[1] = Field(description="Schema version of this file; only 1 exists.")
    name: ProjectName
    region: Region
    account_id: AccountId | None = None
    source: Source
    service: Service
    build: Annotated[Build, _none_as(Build)] = Field(default_factory=Build)
    image: Annotated[Image, _none_as(Image)] = Field(default_factory=Image)
    tags: Annotated[
        dict[TagKey, TagValue],
        _none_as(dict),
        Field(
            max_length=MAX_USER_TAGS, description="Extra tags on every resource ecspipe creates."
        ),
    ] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _connection_in_our_account_and_region(cls, source: Source, info: ValidationInfo) -> Source:
        arn = source.connection_arn
        m = _CONNECTION_ARN_RE.fullmatch(arn) if arn else None
        if m is None:
            return source
        wrong = _placement_problems(m, info)
        if wrong:
            raise _err(
                "the connection " + " and ".join(wrong) + " (CodePipeline uses only connections "
                "of its own account and region)",
                at="connection_arn",
                got=arn,
            )
        return source

    @field_validator("service")
    @classmethod
    def _service_in_our_account_and_region(cls, service: Service, info: ValidationInfo) -> Service:
        for field in ("cluster", "name"):
            value = getattr(service, field)
            m = _arn_parts(value)
            wrong = _placement_problems(m, info) if m else []
            if wrong:
                raise _err(
                    f"the {'cluster' if field == 'cluster' else 'service'} " + " and ".join(wrong),
                    at=field,
                    got=value,
                )
        return service

    @model_validator(mode="after")
    def _default_image_repository(self) -> Config:
        if self.image.repository is None:
            self.image = self.image.model_copy(update={"repository": self.name})
        return self


def _placement_problems(m: re.Match[str], info: ValidationInfo) -> list[str]:
    wrong = []
    account = info.data.get("account_id")
    region = info.data.get("region")
    if account and m["account"] != account:
        wrong.append(f"is in account {m['account']}, but account_id is {account}")
    if region and m["region"] != region:
        wrong.append(f"is in region {m['region']}, but region is {region}")
    return wrong


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ecspipe.yaml, e.g. for editor completion."""
    schema = Config.model_json_schema()
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ecspipe configuration",
        **schema,
    }


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; raise ConfigError for anything wrong."""
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{filename}: no such file",
            hint=f"create it from {EXAMPLE_FILENAME} (cp {EXAMPLE_FILENAME} {DEFAULT_FILENAME}) "
            "or pass another file with -c PATH",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{filename}: is a directory, not a configuration file",
            hint=f"pass the YAML file itself, e.g. -c {os.path.join(filename, DEFAULT_FILENAME)}",
        ) from None
    except PermissionError:
        raise ConfigError(f"{filename}: cannot read the file: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{filename}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{filename}: is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    return parse_config(text, filename)


def parse_config(text: str, filename: str = DEFAULT_FILENAME) -> Config:
    """Validate config text; `filename` is only used in messages."""
    try:
        root = _compose(text, filename)
        problems = [_format(filename, *p) for p in _duplicate_keys(root)]
        data = _construct(root, filename, text)
        try:
            config = Config.model_validate(data)
        except ValidationError as exc:
            problems += [_format(filename, *p) for p in _validation_problems(exc, root)]
            config = None
    except RecursionError:
        raise ConfigError(f"{filename}: the YAML is nested too deeply") from None
    if problems:
        lines = [line for _, line in sorted(problems, key=lambda p: p[0])]
        count = len(problems)
        raise ConfigError(
            f"{filename}: {count} problem{'s' if count != 1 else ''} in the configuration",
            problems=lines,
            hint=f"every setting is described in {EXAMPLE_FILENAME}",
        )
    assert config is not None
    return config


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings they were written as."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)

# Composing (parsing) is where the time goes: libyaml is ~20x faster than pure Python
# and caps nesting depth. Constructing Python values always uses _Loader.
_Composer: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", _Loader)  # type: ignore[assignment]

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _compose(text: str, filename: str) -> yaml.MappingNode:
    start_hint = f"start from {EXAMPLE_FILENAME}"
    try:
        documents = list(yaml.compose_all(text, Loader=_Composer))
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, filename, text) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(
            f"{filename}:{line}: invalid YAML: character {char} is not allowed ({exc.reason})"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}: invalid YAML: {_one_line(str(exc))}") from None
    if not documents:
        if text.strip():
            raise ConfigError(f"{filename}: has only comments, no settings", hint=start_hint)
        raise ConfigError(f"{filename}: the file is empty", hint=start_hint)
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise ConfigError(
            f"{filename}: contains {len(documents)} YAML documents (the second starts at line "
            f"{line}); put every setting in one document",
            hint="remove the extra '---' separator",
        )
    root = documents[0]
    if isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG:
        raise ConfigError(f"{filename}: has no settings", hint=start_hint)
    if not isinstance(root, yaml.MappingNode):
        kind = (
            "a list"
            if isinstance(root, yaml.SequenceNode)
            else f"a single value {_short(root.value)}"
        )
        raise ConfigError(
            f"{filename}: the top level must be a mapping of settings (version: 1, name: ...), "
            f"got {kind}",
            hint=start_hint,
        )
    return root


def _construct(root: yaml.Node, filename: str, text: str) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, filename, text) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{filename}: invalid YAML value: {_one_line(str(exc))}") from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError, filename: str, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
    what = exc.problem or exc.context or "cannot parse"
    if exc.context and exc.problem and exc.context_mark and exc.context_mark is not mark:
        what += f" ({exc.context} at line {exc.context_mark.line + 1})"
    hint = None
    lines = text.splitlines()
    if mark and 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        hint = "indent with spaces: YAML does not allow tabs for indentation"
    elif "mapping values are not allowed" in what:
        hint = "check the indentation, and quote values that contain ': '"
    return ConfigError(f"{where}: invalid YAML: {_one_line(what)}", hint=hint)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- reporting

Loc = tuple[str | int, ...]


def _format(filename: str, line: int, path: str, message: str) -> tuple[int, str]:
    return line, f"{filename}:{line} {path}: {message}"


def _duplicate_keys(root: yaml.Node) -> Iterator[tuple[int, str, str]]:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    stack.append((value, loc))
                    continue
                if not isinstance(key, yaml.ScalarNode):
                    stack.append((value, loc))
                    continue
                line = key.start_mark.line + 1
                ident = (key.tag, key.value)
                if ident in first:
                    yield (
                        line,
                        _dotted((*loc, key.value)),
                        f"duplicate key {key.value!r} (first at line {first[ident]}); YAML would "
                        "silently keep only the last one",
                    )
                else:
                    first[ident] = line
                stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))


def _validation_problems(exc: ValidationError, root: yaml.Node) -> Iterator[tuple[int, str, str]]:
    errors = exc.errors(include_url=False)
    # A misspelt key yields "unknown key" plus "required field is missing" for the
    # real one; the did-you-mean line says it all, so drop the missing one.
    suggested = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            guess = _did_you_mean(err["loc"])
            if guess:
                suggested.add((*_clean(err["loc"][:-1]), guess))
    for err in errors:
        raw_loc = err["loc"]
        loc = _clean(raw_loc)
        ctx = err.get("ctx") or {}
        if err["type"] == "missing" and loc in suggested:
            continue
        if isinstance(ctx.get("at"), str):
            loc = (*loc, *ctx["at"].split("."))
        message = _message(err, raw_loc, loc)
        if err["type"] not in ("missing", "extra_forbidden") and not ctx.get("hide_input"):
            message += f" (got {_short(ctx['got'] if 'got' in ctx else err.get('input'))})"
        yield _line_of(root, loc), _dotted(loc) or "config", message


def _clean(raw_loc: tuple[str | int, ...]) -> Loc:
    return tuple(
        c for c in raw_loc if c != "[key]" and not (isinstance(c, str) and c in _TAG_NAMES)
    )


_TAG_NAMES = {_TAG_PLAIN, _TAG_PARAMETER, _TAG_SECRET}


def _dotted(loc: Loc) -> str:
    """`build.env.NAME`; a key that is empty or has dots, quotes or whitespace is quoted,
    with whitespace escaped, so the path never contains a space (`tags."a\\x20b"`)."""
    parts = []
    for c in loc:
        text = str(c)
        if not text or any(ch.isspace() or ch in '."' or not ch.isprintable() for ch in text):
            text = '"' + "".join(_escape(ch) for ch in text) + '"'
        parts.append(text)
    return ".".join(parts)


def _escape(ch: str) -> str:
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable() and not ch.isspace():
        return ch
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def _message(err: Any, raw_loc: tuple[str | int, ...], loc: Loc) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "ecspipe":
        return str(err["msg"])
    if kind == "missing":
        if loc == ("version",):
            return f"required field is missing (add 'version: {SUPPORTED_VERSION}')"
        return "required field is missing"
    if kind == "extra_forbidden":
        key = raw_loc[-1]
        guess = _did_you_mean(raw_loc)
        if guess:
            return f"unknown key {key!r} (did you mean {guess!r}?)"
        allowed = _allowed_keys(raw_loc[:-1])
        return (
            f"unknown key {key!r} (allowed: {', '.join(allowed)})"
            if allowed
            else f"unknown key {key!r}"
        )
    if kind == "invalid_key":
        return f"unknown key {value!r}: keys are names such as 'name' or 'tags'"
    if kind == "string_type":
        quote = "; quote it if you mean the text" if isinstance(value, bool | int | float) else ""
        return _expected("a string", value) + quote
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return _expected("a whole number", value)
    if kind in ("model_type", "model_attributes_type", "dict_type", "dataclass_type"):
        return _expected("a mapping (key: value)", value)
    if kind in ("list_type", "tuple_type", "iterable_type"):
        return _expected("a list", value)
    if kind == "literal_error":
        if loc == ("version",):
            return f"unsupported version; this ecspipe reads only version: {SUPPORTED_VERSION}"
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = "must be one of " + ", ".join(choices) if choices else str(err["msg"])
        close = difflib.get_close_matches(str(value), choices, n=1) if choices else []
        return message + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(raw_loc)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return str(err["msg"]).replace("Input should be", "must be")
    if kind == "too_long" and isinstance(value, dict):
        return f"at most {ctx.get('max_length')} entries allowed, not {ctx.get('actual_length')}"
    return _one_line(str(err["msg"]).removeprefix("Value error, "))


def _expected(thing: str, value: Any) -> str:
    if value is None:
        return f"must be {thing}, but the value is empty"
    return f"must be {thing}, not {_type_word(value)}"


def _type_word(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = _bounded_repr(value, depth=3, seen=set())
    return text if len(text) <= _GOT_LIMIT else text[: _GOT_LIMIT - 3] + "..."


def _bounded_repr(value: Any, depth: int, seen: set[int]) -> str:
    """repr() that stays short for huge, deep or self-referencing YAML values."""
    if isinstance(value, _Named):
        value = value.value
    if isinstance(value, str):
        return repr(value[: _GOT_LIMIT + 1])
    if isinstance(value, dict | list | tuple):
        if depth == 0 or id(value) in seen:
            return "{...}" if isinstance(value, dict) else "[...]"
        seen = seen | {id(value)}
        if isinstance(value, dict):
            items = [
                f"{_bounded_repr(k, depth - 1, seen)}: {_bounded_repr(v, depth - 1, seen)}"
                for k, v in list(value.items())[:6]
            ]
            return "{" + ", ".join(items) + (", ..." if len(value) > 6 else "") + "}"
        items = [_bounded_repr(v, depth - 1, seen) for v in list(value)[:6]]
        return "[" + ", ".join(items) + (", ..." if len(value) > 6 else "") + "]"
    if isinstance(value, BaseModel):
        return type(value).__name__ + "(...)"
    return repr(value)[: _GOT_LIMIT + 1]


def _type_at(raw_loc: tuple[str | int, ...]) -> Any:
    """The annotation at a pydantic error location, walking from Config; None if unknown."""
    current: Any = Config
    for comp in raw_loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(comp))
            if field is None:
                return None
            current = field.annotation
        elif isinstance(comp, str) and comp in _TAG_MODELS:
            current = _TAG_MODELS[comp]
        elif get_origin(current) is dict:
            current = get_args(current)[0 if comp == "[key]" else 1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model = _type_at(parent)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _did_you_mean(raw_loc: tuple[str | int, ...]) -> str | None:
    key = raw_loc[-1]
    if not isinstance(key, str):
        return None
    allowed = _allowed_keys(raw_loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {a.lower().replace("-", "_"): a for a in allowed}
        hit = lowered.get(key.lower().replace("-", "_"))
        return hit
    return close[0]


def _bounds(raw_loc: tuple[str | int, ...]) -> tuple[Any, Any]:
    model = _type_at(raw_loc[:-1])
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None, None
    field = model.model_fields.get(str(raw_loc[-1]))
    low = high = None
    for item in field.metadata if field else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """1-based line of the deepest node found along loc (1 if not even the first key)."""
    node: yaml.Node = root
    line = 1
    for comp in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:  # the last one wins, as in PyYAML
                if isinstance(key, yaml.ScalarNode) and _same_key(key, comp):
                    found = (key, value)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(comp, int)
            and 0 <= comp < len(node.value)
        ):
            node = node.value[comp]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _same_key(node: yaml.ScalarNode, comp: str | int) -> bool:
    if node.value == str(comp):
        return True
    if node.tag == "tag:yaml.org,2002:str":
        return False
    try:  # `null:`, `yes:`, `0x1f:`: compare what YAML made of the key
        value = _Loader("").construct_object(node)
    except Exception:  # noqa: BLE001 -- best effort; only a line number is at stake
        return False
    return str(value) == str(comp)
