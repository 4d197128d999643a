"""Naming rules: every AWS name and value ecspipe fills from the config, checked offline.

The services check most of these only after earlier resources already exist
(see aws-facts.md section 1), so each is enforced here, before any AWS call.
A rule is a function `value -> value` that raises `_err(...)`: a pydantic error
whose message is shown to the user as is.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import PydanticCustomError

DEFAULT_FILENAME = "ecspipe.yaml"
EXAMPLE_FILENAME = "config.example.yaml"
SUPPORTED_VERSION = 1
MAX_USER_TAGS = 45  # AWS allows 50 tags per resource; ecspipe sets its own
RESERVED_TAG_KEYS = ("managed-by",)
RESERVED_TAG_PREFIXES = ("aws:", "ecspipe:")

_GOT_LIMIT = 60


def _err(message: str, **ctx: Any) -> PydanticCustomError:
    """A validation error whose message is shown as is (no 'Value error,' prefix).

    ctx keys understood by the formatter: `at` (a dotted sub-path appended to the
    error's location), `got` (the value to show instead of the input),
    `hide_input` (never print the value, e.g. a plaintext secret).
    """
    return PydanticCustomError("ecspipe", message, ctx or None)


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


_REGION_SHAPE_RE = re.compile(r"[a-z]{2,}(?:-[a-z]+)+-[0-9]{1,2}")


def _check_region(value: str) -> str:
    """A region botocore's partition data lists (regions.py), with a did-you-mean."""
    from ecspipe import regions

    if regions.is_known(value):
        return value
    if regions.is_known(value.lower()) or regions.is_known(value.strip().lower()):
        raise _err(f"must be a region code in lowercase, without spaces: "
                   f"{value.strip().lower()!r}")
    if re.fullmatch(r"[a-z0-9-]+[a-z]", value) and regions.is_known(value[:-1]):
        raise _err(f"is an availability zone; the region is {value[:-1]!r}")
    guesses = regions.suggest(value)
    if guesses:
        raise _err(f"is not an AWS region (did you mean {' or '.join(map(repr, guesses))}?)")
    if _REGION_SHAPE_RE.fullmatch(value) and regions.partition(value) is not None:
        raise _err("is not a region this botocore knows (a region newer than it? upgrade "
                   "botocore), e.g. 'us-east-1' or 'eu-central-1'")
    raise _err("is not an AWS region code such as 'us-east-1' or 'eu-central-1'")


def arn_partition_problem(partition: str, region: str) -> str | None:
    """Why an ARN in `partition` cannot belong to a pipeline in `region`, or None.

    Partitions are separate AWS clouds (aws, aws-cn, aws-us-gov, aws-iso, ...):
    nothing in one can use a resource of another. Offline, from botocore's data.
    Shared with every ARN check (cluster, service, connection, secrets).
    """
    from ecspipe import regions

    expected = regions.partition_of(region)
    if partition == expected:
        return None
    if partition not in regions.partition_ids():
        return (f"has an unknown partition {partition!r} (one of "
                f"{', '.join(regions.partition_ids())})")
    return f"is in partition {partition!r}, but region {region} is in partition {expected!r}"


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
# CodePipeline reads trigger branch patterns as globs ("Working with glob patterns
# in syntax", CodePipeline User Guide; the rules are Java NIO's glob): `\` escapes,
# `*` `?` `[...]` `{a,b}` are special, and `!` negates inside brackets. Escaping
# these (and a leading `!`, harmless) makes the pattern match exactly one branch.
_GLOB_SPECIAL = set("\\*?[]{},")
BRANCH_PATTERN_MAX = 255  # GitBranchNamePattern in the CodePipeline API model


def branch_pattern(branch: str) -> str:
    """The trigger `includes` pattern that matches exactly `branch`."""
    escaped = "".join("\\" + c if c in _GLOB_SPECIAL else c for c in branch)
    return "\\" + escaped if escaped.startswith("!") else escaped


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
    if "#{" in value:
        # BranchName is an action configuration value: CodePipeline resolves
        # #{namespace.variable} there ("Variables reference", CodePipeline User Guide).
        raise _err("must not contain '#{' (CodePipeline reads #{...} as a variable reference)")
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
    pattern = branch_pattern(value)
    if len(pattern) > BRANCH_PATTERN_MAX:
        raise _err(
            f"is {len(pattern)} characters as a trigger pattern (its glob characters "
            f"{{ }} , ] ! escaped with '\\'); CodePipeline allows {BRANCH_PATTERN_MAX}"
        )
    return value


_CONNECTION_ARN_RE = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):(?:codestar-connections|codeconnections):(?P<region>[a-z0-9-]+):"
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
_ECS_ARN_PREFIX = r"arn:(?P<partition>aws(?:-[a-z]+)*):ecs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
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


# ---- build.env: names that would change what the build does ------------------------------
#
# CodeBuild exports every build.env entry into the shell that runs the generated
# buildspec, *before* ecspipe's own commands (ECR login, docker build, push,
# imagedefinitions.json). A name below would change what those commands do, so
# it is refused at `validate`; the README's "What build.env refuses and why"
# is this table in prose. Bash names are case-sensitive: exact names and the
# prefixes of ENV_RESERVED_PREFIXES match case-sensitively; AWS_ and CODEBUILD_
# match in any case (as CodeBuild itself treats CODEBUILD_).
#
# Allowed on purpose: HTTP(S)_PROXY/NO_PROXY/ALL_PROXY (corporate builds need a
# proxy; the ECR token still travels inside TLS that the AWS CLI verifies against
# its own bundle), SSL_CERT_FILE/SSL_CERT_DIR/REQUESTS_CA_BUNDLE (a corporate CA
# for the test commands; botocore does not read them), LANG/LC_*/TZ/TMPDIR,
# DOCKER_BUILDKIT (selects BuildKit, sends nothing elsewhere), and the option
# variables of runtimes ecspipe's own commands never start (NODE_OPTIONS,
# JAVA_TOOL_OPTIONS, RUBYOPT, GIT_*): they only reach the config's own test commands.

# The variables ecspipe's generated buildspec sets or reads (documents/buildspec.py;
# a test checks that every variable it assigns is listed here). IMAGE_REPO_URI and
# CONTAINER_NAME are set on the project by ecspipe: a build.env entry of the same
# name would replace them.
ECSPIPE_BUILD_VARIABLES = (
    "IMAGE_REPO_URI", "CONTAINER_NAME", "ECR_REGISTRY", "SRC_DIR", "COMMIT", "IMAGE_TAG",
    "IMAGE_URI",
)
_CONTRACT = "ecspipe's own build variable"
_SHELL = "changes the build's shell"
_COMMANDS = "changes which programs the build runs"
_LOADER = "loads other code into every program of the build"
_CREDENTIALS = "changes where the build's docker and aws commands find credentials"
_DOCKER = "changes where docker builds and pushes the image"

ENV_RESERVED_NAMES: dict[str, tuple[str, str]] = {
    **{name: (_CONTRACT, "ecspipe sets it; another value would send the ECR login token and "
              "the image elsewhere or break the deploy") for name in ECSPIPE_BUILD_VARIABLES},
    # Startup files and options of the shell every buildspec command runs in.
    "BASH_ENV": (_SHELL, "BASH_ENV runs code before every command"),
    "ENV": (_SHELL, "ENV runs code when a shell starts in POSIX mode"),
    "SHELLOPTS": (_SHELL, "SHELLOPTS turns on shell options such as xtrace or noexec"),
    "BASHOPTS": (_SHELL, "BASHOPTS turns on shell options"),
    "POSIXLY_CORRECT": (_SHELL, "POSIXLY_CORRECT changes how bash and the GNU tools behave"),
    "SHELL": (_SHELL, "SHELL is the shell programs start for commands"),
    "BASH": (_SHELL, "bash's own variable"),
    # How the shell splits words, globs, changes directory and expands prompts.
    "IFS": (_SHELL, "IFS changes how every unquoted expansion is split into words"),
    "CDPATH": (_SHELL, "CDPATH makes `cd DIR` go to another directory"),
    "GLOBIGNORE": (_SHELL, "GLOBIGNORE changes what globs match"),
    "GLOBSORT": (_SHELL, "GLOBSORT changes the order globs expand in"),
    "PS0": (_SHELL, "prompt strings are expanded, with command substitution"),
    "PS1": (_SHELL, "prompt strings are expanded, with command substitution"),
    "PS2": (_SHELL, "prompt strings are expanded, with command substitution"),
    "PS3": (_SHELL, "prompt strings are expanded, with command substitution"),
    "PS4": (_SHELL, "PS4 is expanded, with command substitution, before every traced command"),
    "PROMPT_COMMAND": (_SHELL, "PROMPT_COMMAND runs code before a prompt"),
    "PWD": (_SHELL, "the buildspec writes imagedefinitions.json where $PWD is"),
    "OLDPWD": (_SHELL, "`cd -` goes to $OLDPWD"),
    # Which programs run: a PATH entry first would replace docker and aws.
    "PATH": (_COMMANDS, "PATH decides which docker and aws commands run"),
    "EXECIGNORE": (_COMMANDS, "EXECIGNORE hides programs from the PATH search"),
    "GCONV_PATH": (_LOADER, "glibc loads character-set modules from GCONV_PATH"),
    # docker reads ~/.docker/config.json (credential helpers are programs it runs),
    # the AWS CLI ~/.aws/config (credential_process runs a program).
    "HOME": (_CREDENTIALS, "docker and the AWS CLI read their config and credential "
             "helpers from $HOME"),
}
# (prefix, group, detail, case-insensitive)
ENV_RESERVED_PREFIXES: tuple[tuple[str, str, str, bool], ...] = (
    ("AWS_", "configures the AWS CLI that fetches the ECR login token", "AWS_* sets its "
     "credentials, endpoints and config files", True),
    ("CODEBUILD_", "CodeBuild's own variable", "CodeBuild sets CODEBUILD_* itself, e.g. the "
     "commit the image is tagged with", True),
    # BASH_ENV, BASH_FUNC_name%% (exported functions that replace commands),
    # BASH_XTRACEFD, BASH_LOADABLES_PATH, BASH_COMPAT: bash owns the whole namespace.
    ("BASH_", _SHELL, "BASH_* variables belong to bash (BASH_FUNC_* defines functions "
     "that replace commands)", False),
    ("LD_", _LOADER, "LD_PRELOAD, LD_LIBRARY_PATH and the other LD_* variables tell the "
     "dynamic linker what to load", False),
    # The AWS CLI is a Python program on images with AWS CLI v1 or a pip install.
    ("PYTHON", _LOADER, "the AWS CLI that fetches the ECR token is Python on some images, "
     "and PYTHONPATH, PYTHONHOME, PYTHONSTARTUP... change what it runs; set it inside a test "
     "command instead", False),
    ("OPENSSL_", _LOADER, "OPENSSL_CONF and OPENSSL_MODULES load engines into every "
     "program that uses TLS", False),
    ("DOCKER_", _DOCKER, "DOCKER_HOST/DOCKER_CONTEXT send the build and the push to another "
     "daemon, DOCKER_CONFIG moves the ECR login, DOCKER_DEFAULT_PLATFORM builds for "
     "another CPU than the task's", False),
    ("BUILDX_", _DOCKER, "BUILDX_BUILDER and BUILDX_CONFIG choose another builder", False),
)
ENV_ALLOWED_DESPITE_PREFIX = frozenset({"DOCKER_BUILDKIT"})


def env_reserved(name: str) -> str | None:
    """Why a build.env name is refused ("reserved: GROUP (DETAIL)"), or None if it is allowed."""
    if name in ENV_RESERVED_NAMES:
        group, detail = ENV_RESERVED_NAMES[name]
        return f"reserved: {group} ({detail})"
    if name in ENV_ALLOWED_DESPITE_PREFIX:
        return None
    for prefix, group, detail, any_case in ENV_RESERVED_PREFIXES:
        hit = name.upper().startswith(prefix) if any_case else name.startswith(prefix)
        if hit:
            return f"reserved: {group} ({detail})"
    return None


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_env_name(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise _err(
            "is not a valid variable name: letters, digits and '_', not starting with a digit"
        )
    reason = env_reserved(value)
    if reason:
        raise _err(reason + "; choose another name")
    return value


# ---- secret-looking names ---------------------------------------------------------------
#
# A plain value under such a name is refused (CodeBuild shows plain values to
# anyone who can read the project), and never echoed. Two kinds of marker:
# - words found anywhere in the name, any case (what ecspipe always refused,
#   plus two unambiguous additions): DB_PASSWORD, MYSECRET, apiKey, GithubToken;
# - words that must be a whole part of the name, split on '_', case changes and
#   digits (so MONKEY, KEYBOARD, PATH, COMPASS are not secrets, but DB_PASS,
#   GITHUB_PAT, sshKey, S3KEY are). A name with PUBLIC/PUBLISHABLE in it, or whose
#   last part names where a secret is (…_ID, _NAME, _ARN, _URL, _URI, _PATH,
#   _FILE), is not flagged by these words alone (PUBLIC_KEY, KEY_ID, PASS_FILE).
SECRET_SUBSTRINGS = (
    "PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY", "API_KEY",
    "PRIVATE_KEY", "CREDENTIAL",
)
SECRET_PARTS = frozenset({
    "KEY", "KEYS", "PASS", "PWD", "PAT", "CRED", "CREDS", "AUTH", "SALT", "PASSCODE",
})
_NOT_SECRET_PARTS = frozenset({"PUBLIC", "PUBLISHABLE"})
_POINTER_LAST_PARTS = frozenset({"ID", "NAME", "ARN", "URL", "URI", "PATH", "FILE"})
_NAME_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def name_parts(name: str) -> list[str]:
    """`apiKey` -> [API, KEY]; `DBPassword2` -> [DB, PASSWORD, 2]; `GITHUB_PAT` -> [GITHUB, PAT]."""
    return [part.upper() for chunk in name.split("_") for part in _NAME_PART_RE.findall(chunk)]


def looks_secret(name: str) -> bool:
    upper = name.upper()
    if any(marker in upper for marker in SECRET_SUBSTRINGS):
        return True
    parts = name_parts(name)
    if not parts or _NOT_SECRET_PARTS & set(parts) or parts[-1] in _POINTER_LAST_PARTS:
        return False
    return bool(SECRET_PARTS & set(parts))





# ---- environments and notifications ------------------------------------------------------

# At most 10 environments: with approvals that is 22 stages (CodePipeline allows 2-50,
# "Quotas in AWS CodePipeline"), and the pipeline role's policy at 10 environments is
# 4,909 of IAM's 10,240 characters (tests/unit/test_environment_builders.py measures it),
# leaving room for issue 13's gates. Beyond that, a second pipeline reads better.
MAX_ENVIRONMENTS = 10
ENVIRONMENT_NAME_MAX = 20
_ENVIRONMENT_NAME_RE = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")


def _check_environment_name(value: str) -> str:
    """Short, lowercase, hyphen-separated: it goes into stage names (`Deploy-<name>`) and
    file names (`imagedefinitions-<name>.json`)."""
    if not 1 <= len(value) <= ENVIRONMENT_NAME_MAX:
        raise _err(f"must be 1-{ENVIRONMENT_NAME_MAX} characters, not {len(value)} (it goes "
                   "into stage and file names)")
    if value != value.lower() and _ENVIRONMENT_NAME_RE.fullmatch(value.lower()):
        raise _err(f"must be lowercase: {value.lower()!r}")
    if not value[0].isascii() or not value[0].isalpha():
        raise _err("must start with a lowercase letter")
    if "--" in value:
        raise _err("must not contain '--' (use single hyphens)")
    if value.endswith("-"):
        raise _err("must end with a letter or digit")
    if not _ENVIRONMENT_NAME_RE.fullmatch(value):
        raise _err("may contain only lowercase letters, digits and single hyphens")
    return value


# SNS email endpoints: a plain address. Lengths from RFC 5321 (local part 64, whole
# address 254); the character set is RFC 5322's dot-atom, which is what mail systems
# accept in practice (no quoted local parts, no IP-literal domains).
EMAIL_MAX = 254
MAX_EMAILS = 10
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DISPLAY_NAME_RE = re.compile(r".*<\s*([^<>\s]+@[^<>\s]+)\s*>\s*")


def _check_email(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _err("must be one address on one line (no newlines or control characters)")
    shown = _DISPLAY_NAME_RE.fullmatch(value)
    if shown:
        raise _err(f"give the address only, without a display name: {shown[1]!r}")
    if value != value.strip() or " " in value:
        raise _err("must not contain spaces")
    if len(value) > EMAIL_MAX:
        raise _err(f"must be at most {EMAIL_MAX} characters, not {len(value)}")
    if value.count("@") != 1:
        raise _err("must be one email address such as 'ops@example.com'")
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL_RE.fullmatch(local):
        raise _err("the part before '@' must be 1-64 letters, digits and . _ % + - (no "
                   "leading, trailing or doubled dots)")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_EMAIL_LABEL_RE.fullmatch(label) for label in labels) \
            or not labels[-1].isalpha():
        raise _err(f"the domain {domain!r} is not a domain name such as 'example.com'")
    return value


# "CreateTopic" (SNS API Reference): names are up to 256 letters, digits, '_' and '-'.
_TOPIC_ARN_RE = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):sns:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,256})"
)


def _check_topic_arn(value: str) -> str:
    if _TOPIC_ARN_RE.fullmatch(value):
        return value
    if value.endswith(".fifo"):
        # SNS requires a MessageGroupId on every Publish to a FIFO topic ("Publish", SNS
        # API Reference); AWS documents no such support for CodeStar Notifications.
        raise _err("must be a standard SNS topic, not a FIFO topic (FIFO topics need a "
                   "message group ID on every publish, which CodeStar Notifications does not "
                   "document sending)")
    parts = value.split(":")
    if len(parts) >= 3 and parts[0] == "arn" and parts[2] != "sns":
        raise _err(f"must be an SNS topic ARN, not a {parts[2]!r} ARN")
    raise _err("must be an SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME")


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


# AWS's tag character class, `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` in the IAM, CloudWatch
# Logs, ECS and CodeBuild models: Unicode letters, separators and numbers, and those
# symbols. Python's \s and \w are not that class (\s admits U+001C-U+001F and U+0085,
# \w admits marks and connector punctuation), so it is checked by category.
# Lengths: the strictest of the services ecspipe tags (IAM, S3, ECR, CodeBuild,
# CodePipeline, Logs, CodeConnections) is CodeBuild's KeyInput (1-127) and
# ValueInput (0-255); the others allow 128 and 256.
TAG_KEY_MAX = 127
TAG_VALUE_MAX = 255
_TAG_SYMBOLS = frozenset("_.:/=+-@")
_TAG_ASCII_RE = re.compile(r"[A-Za-z0-9 _.:/=+\-@]*")
_TAG_RULE = "Unicode letters, digits, spaces and _ . : / = + - @"


def _tag_bad_chars(value: str) -> list[str]:
    if value.isascii() and _TAG_ASCII_RE.fullmatch(value):
        return []
    import unicodedata

    return sorted({c for c in value
                   if c not in _TAG_SYMBOLS and unicodedata.category(c)[0] not in "LZN"})


def _shown_chars(chars: list[str]) -> str:
    return " ".join(map(ascii, chars[:5])) + (" ..." if len(chars) > 5 else "")


def _check_tag_key(value: str) -> str:
    if not 1 <= len(value) <= TAG_KEY_MAX:
        raise _err(f"tag keys must be 1-{TAG_KEY_MAX} characters, not {len(value)}")
    bad = _tag_bad_chars(value)
    if bad:
        raise _err(f"tag keys may contain only {_TAG_RULE}, not {_shown_chars(bad)}")
    lowered = value.lower()
    if lowered.startswith("aws:"):
        raise _err("tag keys starting with 'aws:' are reserved by AWS")
    if lowered in RESERVED_TAG_KEYS or lowered.startswith(RESERVED_TAG_PREFIXES):
        raise _err("this tag key is reserved: ecspipe sets it on every resource it creates")
    return value


def _check_tag_value(value: str) -> str:
    if len(value) > TAG_VALUE_MAX:
        raise _err(f"tag values must be at most {TAG_VALUE_MAX} characters, not {len(value)}")
    bad = _tag_bad_chars(value)
    if bad:
        raise _err(f"tag values may contain only {_TAG_RULE}, not {_shown_chars(bad)}")
    if value.lower().startswith("aws:"):
        # AWS's tag restrictions: "Don't use aws: ... as a prefix for either keys or values".
        raise _err("tag values starting with 'aws:' are reserved by AWS")
    return value


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


# ---- stage gates (issue 13) -------------------------------------------------------------

# A CloudWatch alarm name: 1-255 characters (AlarmName in the CloudWatch API model; the
# console refuses control characters). One CloudWatchAlarm rule per alarm, and a stage
# condition holds at most 5 rules (RuleDeclarationList in the CodePipeline API model).
ALARM_NAME_MAX = 255
MAX_ALARMS = 5
BAKE_MINUTES_MAX = 1440  # a day; the rule's WaitTime is in minutes
DEFAULT_BAKE_MINUTES = 10


def _check_alarm_name(value: str) -> str:
    if not 1 <= len(value) <= ALARM_NAME_MAX:
        raise _err(f"an alarm name is 1-{ALARM_NAME_MAX} characters, not {len(value)}")
    if any(not c.isprintable() for c in value):
        raise _err("an alarm name must not contain control characters", hide_input=True)
    if value != value.strip():
        raise _err("an alarm name must not start or end with spaces (CloudWatch would not "
                   "find it)")
    return value


def _check_window_cron(value: str) -> str:
    """AWS's DeploymentWindow cron (6 fields and an optional year, seconds first)."""
    from ecspipe.cron import CronError, parse

    try:
        parse(value)
    except CronError as error:
        raise _err(str(error)) from None
    return value


def _check_window_zone(value: str) -> str:
    """A DeploymentWindow TimeZone: Region/City (IANA) or UTC[+-HH:MM]."""
    from ecspipe.cron import CronError, zone

    try:
        zone(value)
    except CronError as error:
        raise _err(str(error)) from None
    return value
