"""Values that reach the build: reserved build.env names, secret-looking names, secret
references and KMS keys, and the trigger's branch glob (checked against a reference
implementation of CodePipeline's documented glob rules)."""

from __future__ import annotations

import re

import pytest
import yaml
from config_cases import VALID_BASE
from hypothesis import given, settings
from hypothesis import strategies as st

from ecspipe.config import ParameterStoreRef, SecretsManagerRef, parse_config
from ecspipe.config.rules import (
    ECSPIPE_BUILD_VARIABLES,
    ENV_RESERVED_NAMES,
    _check_branch,
    branch_pattern,
    env_reserved,
    looks_secret,
)
from ecspipe.documents.buildspec import build_commands, single
from ecspipe.errors import ConfigError

ACCOUNT = "123456789012"


def config_with_env(env: dict, **top: str):
    data = yaml.safe_load(VALID_BASE)
    data["build"]["env"] = env
    data.update(top)
    return parse_config(yaml.safe_dump(data, sort_keys=False))


def problems(env: dict, **top: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_with_env(env, **top)
    return caught.value.problems


# --------------------------------------------------------------------------- reserved names

RESERVED_BY_PREFIX = [
    "AWS_REGION", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL_ECR", "aws_profile", "Aws_Config_File",
    "CODEBUILD_SRC_DIR", "codebuild_build_id", "BASH_FUNC_docker", "BASH_XTRACEFD",
    "BASH_LOADABLES_PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH",
    "PYTHONSTARTUP", "PYTHONHOME", "OPENSSL_CONF", "DOCKER_HOST", "DOCKER_CONFIG",
    "DOCKER_CONTEXT", "DOCKER_DEFAULT_PLATFORM", "BUILDX_BUILDER",
]


@pytest.mark.parametrize("name", sorted(ENV_RESERVED_NAMES) + RESERVED_BY_PREFIX)
def test_a_reserved_build_env_name_is_refused_with_its_rule(name: str) -> None:
    (problem,) = problems({name: "x"})
    assert f"build.env.{name}: reserved: " in problem
    assert "choose another name" in problem


def test_the_error_names_the_rule_and_why() -> None:
    (problem,) = problems({"BASH_ENV": "/tmp/evil.sh"})
    assert "build.env.BASH_ENV: reserved: changes the build's shell (BASH_ENV runs code " \
        "before every command)" in problem
    (problem,) = problems({"IMAGE_REPO_URI": "evil.example.com/x"})
    assert "ecspipe's own build variable" in problem and "ECR login token" in problem


def test_a_reserved_name_is_refused_even_with_a_secret_reference() -> None:
    (problem,) = problems({"PATH": {"parameter_store": "/demo/path"}})
    assert "build.env.PATH: reserved" in problem


@pytest.mark.parametrize("name", [
    # bash names are case-sensitive: these are not the variables bash, ld.so or docker read
    "path", "Path", "home", "ifs", "ld_preload", "docker_host", "python_version", "bash_env",
    # allowed on purpose (see rules.py)
    "DOCKER_BUILDKIT", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_OPTIONS", "LANG", "LC_ALL", "TZ", "TMPDIR",
    "GIT_AUTHOR_NAME", "APP_PATH", "MY_HOME", "PATHS", "ENVIRONMENT", "AWSOME", "LDAP_HOST",
])
def test_names_outside_the_rules_are_allowed(name: str) -> None:
    assert env_reserved(name) is None
    assert config_with_env({name: "x"}).build.env[name] == "x"


def test_every_variable_the_generated_buildspec_sets_or_reads_is_reserved() -> None:
    config = config_with_env({})
    commands = [c for phase in build_commands(
        config, f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/demo-app", single("web")).values()
        for c in phase]
    used = set()
    for command in commands:
        used |= set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", command))
        used |= set(re.findall(r"(?:^|[;&|]\s*)([A-Za-z_][A-Za-z0-9_]*)=", command))
    assert used >= {"IMAGE_REPO_URI", "IMAGE_URI", "SRC_DIR", "COMMIT", "IMAGE_TAG",
                    "ECR_REGISTRY", "PWD", "AWS_DEFAULT_REGION",
                    "CODEBUILD_RESOLVED_SOURCE_VERSION"}
    unreserved = sorted(name for name in used if env_reserved(name) is None)
    assert unreserved == []
    assert set(ECSPIPE_BUILD_VARIABLES) >= {"IMAGE_REPO_URI", "CONTAINER_NAME"}


# --------------------------------------------------------------------------- secret-looking names

SECRET_LOOKING = [
    "DB_PASSWORD", "MYPASSWORD", "db_passwd", "DB_PASS", "dbPass", "DB_PWD", "GITHUB_PAT",
    "githubPat", "apiKey", "ApiToken", "API_KEY", "APIKEY", "STRIPE_SECRET", "clientSecret",
    "SECRET_NAME", "SSH_KEY", "sshKey", "S3KEY", "KEY", "key2", "GPG_KEYS", "PRIVATE_KEY",
    "NPM_AUTH", "BASIC_AUTH", "APP_CREDS", "GOOGLE_CREDENTIALS", "JWT_SALT", "PASSPHRASE",
    "SIGNING_KEY", "GITHUBTOKEN", "NPM_TOKEN", "TOKEN", "Cred", "VAULT_PASSCODE",
]
NOT_SECRET = [
    "MONKEY", "KEYBOARD", "TURKEY", "HOCKEY_TEAM", "PATTERN", "COMPASS", "PASSENGER_COUNT",
    "APP_ENV", "AUTHOR", "OAUTH_ISSUER", "PUBLIC_KEY", "STRIPE_PUBLISHABLE_KEY", "KEY_ID",
    "SSH_KEY_PATH", "DB_PASS_FILE", "AUTH_URL",
]


@pytest.mark.parametrize("name", SECRET_LOOKING)
def test_a_secret_looking_name_with_a_plain_value_is_refused_and_the_value_never_shown(
        name: str) -> None:
    assert looks_secret(name)
    (problem,) = problems({name: "hunter2-Value-7"})
    assert f"build.env.{name}: looks like a secret" in problem
    assert "hunter2" not in problem
    assert isinstance(config_with_env({name: {"parameter_store": "/demo/x"}}).build.env[name],
                      ParameterStoreRef)


@pytest.mark.parametrize("name", NOT_SECRET)
def test_a_name_that_only_contains_a_secret_word_inside_another_word_is_not_a_secret(
        name: str) -> None:
    assert not looks_secret(name), name
    assert config_with_env({name: "x"}).build.env[name] == "x"


@pytest.mark.parametrize("value", [8080, True, 1.5, None, ["a"], {"x": 1}])
def test_a_secret_looking_name_never_echoes_a_value_of_any_type(value) -> None:
    (problem,) = problems({"DB_PASSWORD": value})
    assert "got" not in problem and repr(value) not in problem.split(":", 2)[-1]


# --------------------------------------------------------------------------- references

VALID_REFERENCES = [
    {"parameter_store": "demo-flags"},
    {"parameter_store": "/demo/db/password"},
    {"parameter_store": "/" + "/".join(["l"] * 15)},
    {"parameter_store": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/shared/license"},
    {"parameter_store": "/demo/db", "kms_key": "1234abcd-12ab-34cd-56ef-1234567890ab"},
    {"parameter_store": "/demo/db", "kms_key": "mrk-1234abcd12ab34cd56ef1234567890ab"},
    {"parameter_store": "/demo/db", "kms_key": "alias/demo/params_key-1"},
    {"secrets_manager": "demo/api-token"},
    {"secrets_manager": "demo/db:password"},
    {"secrets_manager": "demo/db:password:AWSPREVIOUS"},
    {"secrets_manager": "demo/db:password::" + "0" * 32},
    {"secrets_manager": "a+b=c.d@e_f-g/h"},
    {"secrets_manager": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo/db-AbCdEf"},
    {"secrets_manager": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo/db-AbCdEf:pw"},
    {"secrets_manager": "demo/db", "kms_key":
     f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    {"secrets_manager": "demo/db", "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/demo"},
]


@pytest.mark.parametrize("reference", VALID_REFERENCES, ids=lambda r: str(sorted(r.items())))
def test_valid_references_are_accepted(reference: dict) -> None:
    value = config_with_env({"DB_SECRET": reference}).build.env["DB_SECRET"]
    assert isinstance(value, ParameterStoreRef | SecretsManagerRef)
    assert value.kms_key == reference.get("kms_key")


OTHER = "999999999999"
INVALID_REFERENCES = [
    # IAM wildcards: the build role may read exactly what is named
    ({"parameter_store": "/demo/*"}, "parameter_store", "IAM wildcard"),
    ({"parameter_store": "/demo/db?"}, "parameter_store", "IAM wildcard"),
    ({"secrets_manager": "demo/*"}, "secrets_manager", "IAM wildcard"),
    ({"secrets_manager": "demo/db:*"}, "secrets_manager", "IAM wildcard"),
    ({"secrets_manager": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*"},
     "secrets_manager", "IAM wildcard"),
    ({"parameter_store": "/demo/db", "kms_key": "alias/*"}, "kms_key", "IAM wildcard"),
    ({"parameter_store": "/demo/db", "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"},
     "kms_key", "IAM wildcard"),
    # other region, partition, malformed ARNs
    ({"parameter_store": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/x"}, "parameter_store",
     "is in region eu-west-1"),
    ({"parameter_store": f"arn:aws-cn:ssm:cn-north-1:{ACCOUNT}:parameter/x"}, "parameter_store",
     "is in partition 'aws-cn'"),
    ({"secrets_manager": f"arn:aws-us-gov:secretsmanager:us-gov-west-1:{ACCOUNT}:secret:x"},
     "secrets_manager", "is in partition 'aws-us-gov'"),
    ({"secrets_manager": "x", "kms_key": f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/k"},
     "kms_key", "is in region eu-west-1"),
    ({"parameter_store": "arn:aws:s3:::bucket/key"}, "parameter_store", "parameter name or ARN"),
    ({"parameter_store": f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/x"}, "parameter_store",
     "parameter name or ARN"),
    ({"secrets_manager": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/x"}, "secrets_manager",
     "secret name or ARN"),
    ({"secrets_manager": "arn:aws:secretsmanager:us-east-1:12345:secret:x"}, "secrets_manager",
     "secret name or ARN"),
    # Parameter Store names
    ({"parameter_store": "demo/db"}, "parameter_store", "fully qualified: '/demo/db'"),
    ({"parameter_store": "/demo//db"}, "parameter_store", "'//'"),
    ({"parameter_store": "/demo/db/"}, "parameter_store", "end with '/'"),
    ({"parameter_store": "/" + "/".join(["l"] * 16)}, "parameter_store", "fifteen levels"),
    ({"parameter_store": "/aws/service/x"}, "parameter_store", "AWS's"),
    ({"parameter_store": "SSM-param"}, "parameter_store", "AWS's"),
    ({"parameter_store": "/demo/$(id)"}, "parameter_store", "only letters, digits"),
    ({"parameter_store": "/demo/${aws:username}"}, "parameter_store", "only letters, digits"),
    ({"parameter_store": "/demo/db pass"}, "parameter_store", "whitespace"),
    ({"parameter_store": "/" + "a" * 1000}, "parameter_store", "allows 1011"),
    ({"parameter_store": ""}, "parameter_store", "must not be empty"),
    # Secrets Manager references
    ({"secrets_manager": "demo/db;rm"}, "secrets_manager", "only letters, digits"),
    ({"secrets_manager": "a" * 513}, "secrets_manager", "at most 512"),
    ({"secrets_manager": "demo/db:k:s:v:extra"}, "secrets_manager", "too many ':'"),
    ({"secrets_manager": "demo/db:k:AWSCURRENT:" + "0" * 32}, "secrets_manager", "not both"),
    ({"secrets_manager": "demo/db:k::short"}, "secrets_manager", "version id"),
    ({"secrets_manager": ":json-key"}, "secrets_manager", "only letters, digits"),
    # KMS keys
    ({"parameter_store": "/d", "kms_key": "alias/aws/ssm"}, "kms_key", "AWS managed key"),
    ({"secrets_manager": "d", "kms_key": "alias/aws/secretsmanager"}, "kms_key", "AWS managed"),
    ({"parameter_store": "/d", "kms_key": "my-key"}, "kms_key", "must be a key ID"),
    ({"parameter_store": "/d", "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/nope"},
     "kms_key", "key ID"),
    ({"parameter_store": "/d", "kms_key": "alias/" + "a" * 251}, "kms_key", "up to 250"),
    ({"parameter_store": "/d", "kms_key": "alias/a b"}, "kms_key", "whitespace"),
    ({"parameter_store": "/d", "kms_key": f"arn:aws:s3:::{ACCOUNT}"}, "kms_key", "key ID"),
    ({"parameter_store": "/d", "kms_key_id": "alias/x"}, "kms_key_id", "unknown key"),
]


@pytest.mark.parametrize(("reference", "field", "message"), INVALID_REFERENCES,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(INVALID_REFERENCES)])
def test_invalid_references_are_refused_naming_the_field(reference, field, message) -> None:
    (problem,) = problems({"DB_SECRET": reference})
    assert f"build.env.DB_SECRET.{field}: " in problem
    assert message in problem


def test_references_in_another_account_are_refused_offline_when_account_id_is_set() -> None:
    found = problems({
        "A_SECRET": {"parameter_store": f"arn:aws:ssm:us-east-1:{OTHER}:parameter/x"},
        "B_SECRET": {"secrets_manager": "x", "kms_key": f"arn:aws:kms:us-east-1:{OTHER}:alias/k"},
        "C_SECRET": {"secrets_manager":
                     f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:x-AbCdEf:k"},
    }, account_id=ACCOUNT)
    assert len(found) == 3  # all at once
    assert all(f"is in account {OTHER}, but account_id is {ACCOUNT}" in p for p in found)
    assert [p.split(" ", 1)[1].split(":")[0] for p in found] == [
        "build.env.A_SECRET.parameter_store", "build.env.B_SECRET.kms_key",
        "build.env.C_SECRET.secrets_manager"]
    # Without account_id the account is unknown offline (preflight checks it).
    config_with_env({"A_SECRET": {"parameter_store": f"arn:aws:ssm:us-east-1:{OTHER}:parameter/x"}})


def test_preflight_refuses_references_of_another_account_than_the_callers() -> None:
    from ecspipe.preflight import check_references

    config = config_with_env({
        "A_SECRET": {"parameter_store": f"arn:aws:ssm:us-east-1:{OTHER}:parameter/x"},
        "B_SECRET": {"secrets_manager": "mine", "kms_key": f"arn:aws:kms:us-east-1:{OTHER}:"
                     "key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        "C_SECRET": {"secrets_manager": "mine", "kms_key": "alias/mine"},
    })
    with pytest.raises(ConfigError) as caught:
        check_references(config, ACCOUNT)
    assert caught.value.exit_code == 2
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "build.env.A_SECRET.parameter_store", "build.env.B_SECRET.kms_key"]
    assert all(f"for account {ACCOUNT}" in p for p in caught.value.problems)
    check_references(config, OTHER)  # every ARN in that account... except none of ACCOUNT
    check_references(config_with_env({"X_SECRET": {"secrets_manager": "name"}}), ACCOUNT)


# --------------------------------------------------------------------------- the branch glob
#
# "Working with glob patterns in syntax" (CodePipeline User Guide), rule by rule:
#   *  zero or more characters of a name component, within directory boundaries
#   ** zero or more characters crossing directory boundaries
#   ?  one character of a name component
#   \  escapes characters that would otherwise be special
#   [ ] one character out of a set; inside, * ? \ match themselves; - matches itself
#       when first, or first after ! (negation)
#   { } a group of subpatterns separated by ','; matches if any matches; no nesting
# These are Java NIO's glob rules; the reference matcher follows them (and Java's
# sun.nio.fs.Globs where the page is silent: a trailing lone '\' is an error, '}'
# and ',' outside a group are literal).

_GLOB_META = set("\\*?[{")
_REGEX_META = set(".^$+{[]|()")


def reference_glob_regex(glob: str) -> str:
    out, i, in_group = [], 0, False
    while i < len(glob):
        c = glob[i]
        i += 1
        if c == "\\":
            if i == len(glob):
                raise ValueError("no character to escape")
            out.append(re.escape(glob[i]))
            i += 1
        elif c == "*":
            if glob[i:i + 1] == "*":
                out.append(".*")
                i += 1
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            negate = glob[i:i + 1] == "!"
            i += negate
            chars = []
            if glob[i:i + 1] == "-":
                chars.append(re.escape("-"))
                i += 1
            while i < len(glob) and glob[i] != "]":
                if glob[i] == "-" and chars and i + 1 < len(glob) and glob[i + 1] != "]":
                    chars.append("-" + re.escape(glob[i + 1]))
                    i += 2
                    continue
                chars.append(re.escape(glob[i]))
                i += 1
            if i == len(glob):
                raise ValueError("missing ']'")
            i += 1
            out.append("(?!/)[" + ("^" if negate else "") + "".join(chars) + "]")
        elif c == "{":
            if in_group:
                raise ValueError("groups cannot be nested")
            out.append("(?:")
            in_group = True
        elif c == "}" and in_group:
            out.append(")")
            in_group = False
        elif c == "," and in_group:
            out.append("|")
        else:
            out.append(re.escape(c))
    if in_group:
        raise ValueError("missing '}'")
    return "".join(out)


def glob_matches(glob: str, name: str) -> bool:
    return re.fullmatch(reference_glob_regex(glob), name, re.DOTALL) is not None


@pytest.mark.parametrize(("glob", "name", "expected"), [
    ("main*", "main-hotfix", True),      # the doc's own example
    ("main*", "release", False),
    ("feature/*", "feature/a", True),
    ("feature/*", "feature/a/b", False),  # * stops at directory boundaries
    ("feature/**", "feature/a/b", True),  # ** crosses them
    ("v?", "v1", True),
    ("v?", "v10", False),
    ("[ab]x", "bx", True),
    ("[!ab]x", "bx", False),
    ("[!ab]x", "cx", True),
    ("[-a]", "-", True),
    ("[*?]", "?", True),
    ("{main,release}", "release", True),
    ("{main,release}", "main,release", False),
    ("a,b", "a,b", True),                # ',' outside a group is literal
    ("a}", "a}", True),
    ("\\{a\\,b\\}", "{a,b}", True),
    ("\\{a\\,b\\}", "a", False),
    ("\\!x", "!x", True),
])
def test_the_reference_matcher_follows_the_documented_glob_rules(glob, name, expected) -> None:
    assert glob_matches(glob, name) is expected


def _valid_branch(text: str) -> bool:
    try:
        _check_branch(text)
    except Exception:  # noqa: BLE001 -- the config's own verdict
        return False
    return True


branches = st.text(alphabet="ab/-._{},!]@#+=%&", min_size=1, max_size=24).filter(_valid_branch)


@settings(max_examples=300, deadline=None)
@given(st.lists(branches, min_size=1, max_size=6, unique=True))
def test_the_trigger_pattern_matches_its_branch_and_no_other(names: list[str]) -> None:
    for branch in names:
        pattern = branch_pattern(branch)
        assert glob_matches(pattern, branch), (branch, pattern)
        assert [other for other in names if glob_matches(pattern, other)] == [branch]


@pytest.mark.parametrize(("branch", "pattern", "unescaped_also_matches"), [
    ("feat/{a,b}", "feat/\\{a\\,b\\}", "feat/a"),
    ("{x}", "\\{x\\}", "x"),
    ("!neg", "\\!neg", None),
    ("a]b", "a\\]b", None),
])
def test_glob_characters_in_a_branch_are_escaped(branch, pattern, unescaped_also_matches) -> None:
    assert branch_pattern(branch) == pattern
    assert glob_matches(pattern, branch)
    if unescaped_also_matches:
        assert glob_matches(branch, unescaped_also_matches), "the raw branch is a wider glob"
        assert not glob_matches(pattern, unescaped_also_matches)


def test_a_branch_whose_escaped_pattern_is_over_255_characters_is_refused() -> None:
    data = yaml.safe_load(VALID_BASE)
    data["source"]["branch"] = "{" * 128  # 128 characters, 256 as a pattern
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data))
    (problem,) = caught.value.problems
    assert "source.branch: is 256 characters as a trigger pattern" in problem
    data["source"]["branch"] = "{" * 127 + "x"
    assert len(branch_pattern(parse_config(yaml.safe_dump(data)).source.branch)) == 255
