"""Secret references in build.env: their syntax, and the exact IAM resources they grant.

A `parameter_store:` / `secrets_manager:` reference becomes a grant in the
CodeBuild role's policy (documents/policies.py), so the build role may read
exactly the secrets named and nothing else: a reference containing an IAM
wildcard (`*`, `?`) is refused, and an ARN must be in the config's own
partition, region and account (models.py checks that offline; without
`account_id`, preflight.check_references does it against the caller's account
before anything is written). An optional `kms_key` names the customer managed
key the secret is encrypted with; it grants kms:Decrypt through that service only.

What the syntax rules rely on:
- "Understanding parameter name requirements and constraints" (Systems Manager
  User Guide): `a-zA-Z0-9_.-` plus `/` for hierarchies; a name in a hierarchy is
  fully qualified (starts with `/`); at most fifteen levels; no `aws`/`ssm`
  prefix (any case); at most 1011 characters *including* the ARN prefix
  (`arn:aws:ssm:us-east-2:111122223333:parameter/` counts).
- Secrets Manager CreateSecret: names of ASCII letters, digits and `/_+=.@-`,
  at most 512; the ARN ends in `-` and six random characters.
- CodeBuild "Build specification reference" (env/secrets-manager):
  `secret-id:json-key:version-stage:version-id`, secret-id a name or an ARN;
  at most one of version-stage and version-id (as CloudFormation and the CDK say).
- KMS "Key identifiers (KeyId)": a key ID (UUID, or `mrk-` + 32 hex for
  multi-Region keys), key ARN, alias name `alias/NAME` or alias ARN; alias names
  are letters, digits, `/_-`; `alias/aws/` names AWS managed keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecspipe.config.rules import _err

PARAMETER_ARN_MAX = 1011
SECRET_NAME_MAX = 512
_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_ARN_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):(?P<service>[a-z0-9-]+):(?P<region>{_REGION}):"
    r"(?P<account>[0-9]{12}):(?P<resource>.+)"
)
_PARAMETER_CHARS = re.compile(r"[a-zA-Z0-9_.\-/]+")
_SECRET_NAME_RE = re.compile(r"[A-Za-z0-9/_+=.@-]+")
_FULL_SECRET_NAME_RE = re.compile(r".+-[A-Za-z0-9]{6}")
_VERSION_ID_RE = re.compile(r"[A-Za-z0-9-]{32,64}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")
_ALIAS_RE = re.compile(r"alias/[a-zA-Z0-9/_-]{1,250}")
WILDCARDS = "*?"


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(value: str) -> Arn | None:
    m = _ARN_RE.fullmatch(value)
    return Arn(**m.groupdict()) if m else None


def _no_wildcard(value: str, what: str) -> None:
    found = sorted({c for c in value if c in WILDCARDS})
    if found:
        raise _err(
            f"must name exactly one {what}: {' and '.join(repr(c) for c in found)} "
            "would be an IAM wildcard and let the build read others"
        )


def _plain_text(value: str) -> None:
    if not value:
        raise _err("must not be empty")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise _err("must not contain whitespace or control characters")


# ---- Parameter Store ------------------------------------------------------------------------

def _check_parameter_name(name: str) -> None:
    if not _PARAMETER_CHARS.fullmatch(name):
        raise _err("a parameter name may contain only letters, digits and _ . - /")
    if "/" in name and not name.startswith("/"):
        raise _err(f"a parameter in a hierarchy must be fully qualified: {'/' + name!r}")
    if name.endswith("/") or "//" in name:
        raise _err("a parameter name must not end with '/' or contain '//'")
    if name.count("/") > 15:
        raise _err("a parameter hierarchy has at most fifteen levels")
    if name.lstrip("/").lower().startswith(("aws", "ssm")):
        raise _err(
            "parameter names starting with 'aws' or 'ssm' are AWS's (public parameters and "
            "/aws/reference/secretsmanager/ are not supported: use secrets_manager:)"
        )


def check_parameter_reference(value: str) -> str:
    """`parameter_store:` — a parameter name, or its ARN (a parameter shared with the account)."""
    _plain_text(value)
    _no_wildcard(value, "parameter")
    if value.startswith("arn:"):
        arn = parse_arn(value)
        if arn is None or arn.service != "ssm" or not arn.resource.startswith("parameter/"):
            raise _err("must be a parameter name or ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)")
        name = arn.resource[len("parameter/"):]
        _check_parameter_name("/" + name if "/" in name else name)
    else:
        _check_parameter_name(value)
    return value


def parameter_arn(reference: str, partition: str, region: str, account: str) -> str:
    if reference.startswith("arn:"):
        return reference
    return f"arn:{partition}:ssm:{region}:{account}:parameter/{reference.lstrip('/')}"


# ---- Secrets Manager ------------------------------------------------------------------------

def split_secret_reference(value: str) -> tuple[str, list[str]]:
    """(secret-id, [json-key, version-stage, version-id]) of a CodeBuild secrets reference."""
    parts = value.split(":")
    if value.startswith("arn:"):
        return ":".join(parts[:7]), parts[7:]
    return parts[0], parts[1:]


def check_secret_reference(value: str) -> str:
    """`secrets_manager:` — `secret-id[:json-key[:version-stage[:version-id]]]`."""
    _plain_text(value)
    _no_wildcard(value, "secret")
    secret_id, rest = split_secret_reference(value)
    if secret_id.startswith("arn:"):
        arn = parse_arn(secret_id)
        if arn is None or arn.service != "secretsmanager" or not arn.resource.startswith(
            "secret:"
        ):
            raise _err(
                "must be a secret name or ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
            )
        name = arn.resource[len("secret:"):]
    else:
        name = secret_id
    if not name or not _SECRET_NAME_RE.fullmatch(name):
        raise _err("a secret name may contain only letters, digits and / _ + = . @ -")
    if len(name) > SECRET_NAME_MAX:
        raise _err(f"a secret name is at most {SECRET_NAME_MAX} characters, not {len(name)}")
    if len(rest) > 3:
        raise _err("must be secret-id[:json-key[:version-stage[:version-id]]] (too many ':')")
    stage = rest[1] if len(rest) > 1 else ""
    version = rest[2] if len(rest) > 2 else ""
    if stage and version:
        raise _err("give a version stage or a version id, not both")
    if version and not _VERSION_ID_RE.fullmatch(version):
        raise _err("a version id is 32-64 letters, digits and '-'")
    if len(stage) > 256:
        raise _err("a version stage is at most 256 characters")
    return value


def secret_arn(reference: str, partition: str, region: str, account: str) -> str:
    """The IAM resource of a reference: the secret's ARN, with `-??????` for the random
    suffix Secrets Manager adds when the reference is a name or a partial ARN."""
    secret_id, _ = split_secret_reference(reference)
    if secret_id.startswith("arn:"):
        name = secret_id.split(":", 6)[6]
        if _FULL_SECRET_NAME_RE.fullmatch(name):
            return secret_id
        return f"{secret_id}-??????"
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_id}-??????"


# ---- KMS keys -------------------------------------------------------------------------------

def check_kms_key(value: str) -> str:
    """`kms_key:` — key ID, key ARN, `alias/NAME` or alias ARN of a customer managed key."""
    _plain_text(value)
    _no_wildcard(value, "KMS key")
    form = "a key ID, key ARN, alias/NAME or alias ARN"
    resource = value
    if value.startswith("arn:"):
        arn = parse_arn(value)
        if arn is None or arn.service != "kms":
            raise _err(f"must be {form} (arn:aws:kms:REGION:ACCOUNT:key/ID)")
        resource = arn.resource
        if resource.startswith("key/"):
            if not _KEY_ID_RE.fullmatch(resource[4:]):
                raise _err("the key ARN must end in key/ and a key ID (a UUID or mrk-...)")
            return value
    elif _KEY_ID_RE.fullmatch(value):
        return value
    if not resource.startswith("alias/"):
        raise _err(f"must be {form}")
    if not _ALIAS_RE.fullmatch(resource):
        raise _err("an alias is alias/ and up to 250 letters, digits, '/', '_' and '-'")
    if resource.startswith("alias/aws/"):
        raise _err(
            f"{resource} is an AWS managed key: the build can use it without a grant "
            "(remove kms_key)"
        )
    return value


@dataclass(frozen=True)
class KeyGrant:
    """How a kms_key is authorised: by its key ARN, or (named by alias) by kms:ResourceAliases."""

    key_arn: str | None = None
    alias: str | None = None  # alias name, `alias/NAME`


def kms_grant(kms_key: str, partition: str, region: str, account: str) -> KeyGrant:
    if kms_key.startswith("arn:"):
        resource = kms_key.split(":", 5)[5]
        return KeyGrant(key_arn=kms_key) if resource.startswith("key/") else KeyGrant(
            alias=resource)
    if kms_key.startswith("alias/"):
        return KeyGrant(alias=kms_key)
    return KeyGrant(key_arn=f"arn:{partition}:kms:{region}:{account}:key/{kms_key}")
