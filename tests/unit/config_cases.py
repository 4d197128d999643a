"""Configuration test data: a valid base config and invalid variants of it.

INVALID_CASES: (case_id, yaml_text, expected_field_path). Each text is VALID_BASE
with one change and yields exactly one problem, at that dotted field path.
FILE_CASES: (case_id, file_text, expected_message_substring) for whole-file
problems (and duplicate keys, which PyYAML would otherwise hide).
"""

from __future__ import annotations

# Line numbers matter: tests assert some of them.
VALID_BASE = """\
version: 1
name: demo-app
region: us-east-1
source:
  repository: acme/demo-app
  branch: main
  provider: GitHub
service:
  cluster: demo-cluster
  name: demo-web-service
  container: web
build:
  context: .
  compute_type: BUILD_GENERAL1_SMALL
  timeout_minutes: 30
  env:
    APP_ENV: production
  test_commands: []
image:
  repository: demo-app
  keep: 20
tags:
  team: platform
"""


def _replace(old: str, new: str) -> str:
    """VALID_BASE with the one whole line `old` replaced by `new` (may be several lines)."""
    lines = VALID_BASE.splitlines()
    assert lines.count(old) == 1, old
    return VALID_BASE.replace(old + "\n", new + "\n" if new else "", 1)


def _remove(*lines: str) -> str:
    text = VALID_BASE
    for line in lines:
        assert text.splitlines().count(line) == 1, line
        text = text.replace(line + "\n", "", 1)
    return text


def _after(anchor: str, added: str) -> str:
    """VALID_BASE with `added` inserted after the line `anchor`."""
    return _replace(anchor, anchor + "\n" + added)


_SERVICE_BLOCK = (
    "service:",
    "  cluster: demo-cluster",
    "  name: demo-web-service",
    "  container: web",
)
_SOURCE_BLOCK = (
    "source:",
    "  repository: acme/demo-app",
    "  branch: main",
    "  provider: GitHub",
)
_ARN = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-aaaa-bbbb-cccc"


def _connection(arn: str) -> str:
    return _after("  provider: GitHub", f"  connection_arn: {arn}")


def _env(line: str) -> str:
    return _replace("    APP_ENV: production", f"    APP_ENV: production\n    {line}")


INVALID_CASES: list[tuple[str, str, str]] = [
    # name
    ("name-too-long", _replace("name: demo-app", "name: this-name-is-much-too-long-x"), "name"),
    ("name-uppercase", _replace("name: demo-app", "name: Demo-App"), "name"),
    ("name-double-hyphen", _replace("name: demo-app", "name: demo--app"), "name"),
    ("name-xn-prefix", _replace("name: demo-app", "name: xn--demo"), "name"),
    ("name-sthree-prefix", _replace("name: demo-app", "name: sthree-demo"), "name"),
    ("name-trailing-hyphen", _replace("name: demo-app", "name: demo-app-"), "name"),
    ("name-leading-digit", _replace("name: demo-app", "name: 1demo"), "name"),
    ("name-underscore", _replace("name: demo-app", "name: demo_app"), "name"),
    ("name-as-int", _replace("name: demo-app", "name: 42"), "name"),
    ("name-as-bool", _replace("name: demo-app", "name: true"), "name"),
    # region and account
    ("region-garbage", _replace("region: us-east-1", "region: moon-base"), "region"),
    ("region-availability-zone", _replace("region: us-east-1", "region: us-east-1a"), "region"),
    ("region-uppercase", _replace("region: us-east-1", "region: US-EAST-1"), "region"),
    ("account-id-short", _after("region: us-east-1", 'account_id: "12345"'), "account_id"),
    ("account-id-letters", _after("region: us-east-1", 'account_id: "12345678901a"'), "account_id"),
    ("account-id-unquoted", _after("region: us-east-1", "account_id: 123456789012"), "account_id"),
    # source.repository
    (
        "repository-url",
        _replace("  repository: acme/demo-app", "  repository: https://github.com/acme/demo-app"),
        "source.repository",
    ),
    (
        "repository-ssh-url",
        _replace("  repository: acme/demo-app", "  repository: git@github.com:acme/demo-app.git"),
        "source.repository",
    ),
    (
        "repository-git-suffix",
        _replace("  repository: acme/demo-app", "  repository: acme/demo-app.git"),
        "source.repository",
    ),
    (
        "repository-no-slash",
        _replace("  repository: acme/demo-app", "  repository: demo-app"),
        "source.repository",
    ),
    (
        "repository-owner-too-long",
        _replace("  repository: acme/demo-app", f"  repository: {'a' * 40}/demo-app"),
        "source.repository",
    ),
    (
        "repository-owner-double-hyphen",
        _replace("  repository: acme/demo-app", "  repository: acme--corp/demo-app"),
        "source.repository",
    ),
    (
        "repository-dotdot",
        _replace("  repository: acme/demo-app", "  repository: acme/.."),
        "source.repository",
    ),
    # source.branch
    ("branch-space", _replace("  branch: main", '  branch: "my branch"'), "source.branch"),
    ("branch-dotdot", _replace("  branch: main", "  branch: feature..x"), "source.branch"),
    ("branch-at-brace", _replace("  branch: main", '  branch: "main@{1}"'), "source.branch"),
    ("branch-lock-suffix", _replace("  branch: main", "  branch: main.lock"), "source.branch"),
    ("branch-leading-dash", _replace("  branch: main", '  branch: "-main"'), "source.branch"),
    ("branch-refs-heads", _replace("  branch: main", "  branch: refs/heads/main"), "source.branch"),
    ("branch-colon", _replace("  branch: main", '  branch: "feat:x"'), "source.branch"),
    ("branch-empty", _replace("  branch: main", '  branch: ""'), "source.branch"),
    ("branch-as-int", _replace("  branch: main", "  branch: 123"), "source.branch"),
    (
        "provider-unknown",
        _replace("  provider: GitHub", "  provider: CodeCommit"),
        "source.provider",
    ),
    # source.connection_arn
    (
        "connection-arn-wrong-service",
        _connection("arn:aws:codecommit:us-east-1:123456789012:connection/abc"),
        "source.connection_arn",
    ),
    (
        "connection-arn-bad-account",
        _connection("arn:aws:codeconnections:us-east-1:1234:connection/abc"),
        "source.connection_arn",
    ),
    (
        "connection-arn-region-mismatch",
        _connection(_ARN.replace("us-east-1", "eu-west-1")),
        "source.connection_arn",
    ),
    (
        "connection-arn-account-mismatch",
        _after("region: us-east-1", 'account_id: "111111111111"').replace(
            "  provider: GitHub\n", f"  provider: GitHub\n  connection_arn: {_ARN}\n"
        ),
        "source.connection_arn",
    ),
    # service
    (
        "cluster-bad-chars",
        _replace("  cluster: demo-cluster", '  cluster: "demo cluster!"'),
        "service.cluster",
    ),
    (
        "cluster-arn-of-a-service",
        _replace(
            "  cluster: demo-cluster",
            "  cluster: arn:aws:ecs:us-east-1:123456789012:service/demo-cluster/web",
        ),
        "service.cluster",
    ),
    (
        "service-bad-chars",
        _replace("  name: demo-web-service", "  name: web/service"),
        "service.name",
    ),
    (
        "container-bad-chars",
        _replace("  container: web", "  container: web.app"),
        "service.container",
    ),
    ("service-missing", _remove(*_SERVICE_BLOCK), "service"),
    (
        "service-as-string",
        _remove(*_SERVICE_BLOCK[1:]).replace("\nservice:\n", "\nservice: demo\n"),
        "service",
    ),
    # image
    (
        "ecr-uppercase",
        _replace("  repository: demo-app", "  repository: Demo-App"),
        "image.repository",
    ),
    ("ecr-too-short", _replace("  repository: demo-app", "  repository: d"), "image.repository"),
    (
        "ecr-double-dot",
        _replace("  repository: demo-app", "  repository: demo..app"),
        "image.repository",
    ),
    (
        "ecr-trailing-slash",
        _replace("  repository: demo-app", "  repository: demo/"),
        "image.repository",
    ),
    ("image-keep-zero", _replace("  keep: 20", "  keep: 0"), "image.keep"),
    ("image-keep-too-many", _replace("  keep: 20", "  keep: 1001"), "image.keep"),
    # build
    ("context-absolute", _replace("  context: .", "  context: /src"), "build.context"),
    ("context-parent", _replace("  context: .", "  context: ../other"), "build.context"),
    ("context-empty", _replace("  context: .", '  context: ""'), "build.context"),
    (
        "dockerfile-semicolon",
        _after("  context: .", '  dockerfile: "Dockerfile; rm -rf /"'),
        "build.dockerfile",
    ),
    (
        "buildspec-command-substitution",
        _after("  context: .", '  buildspec: "$(id).yml"'),
        "build.buildspec",
    ),
    (
        "compute-type-unknown",
        _replace("  compute_type: BUILD_GENERAL1_SMALL", "  compute_type: BUILD_GENERAL1_HUGE"),
        "build.compute_type",
    ),
    (
        "timeout-too-small",
        _replace("  timeout_minutes: 30", "  timeout_minutes: 2"),
        "build.timeout_minutes",
    ),
    (
        "timeout-too-large",
        _replace("  timeout_minutes: 30", "  timeout_minutes: 5000"),
        "build.timeout_minutes",
    ),
    (
        "timeout-as-string",
        _replace("  timeout_minutes: 30", '  timeout_minutes: "30"'),
        "build.timeout_minutes",
    ),
    ("env-reserved-codebuild-name", _env("CODEBUILD_SRC_DIR: /x"), "build.env.CODEBUILD_SRC_DIR"),
    ("env-bad-name", _env("MY-VAR: x"), "build.env.MY-VAR"),
    ("env-secret-plaintext", _env("DB_PASSWORD: hunter2"), "build.env.DB_PASSWORD"),
    ("env-token-plaintext", _env("github_token: abc"), "build.env.github_token"),
    ("env-number-value", _env("PORT: 8080"), "build.env.PORT"),
    ("env-bool-value", _env("DEBUG: yes"), "build.env.DEBUG"),
    (
        "env-ref-unknown-key",
        _env("DB_PASSWORD: {parameter_store: /demo/db, region: us-east-1}"),
        "build.env.DB_PASSWORD.region",
    ),
    (
        "env-ref-misspelt-key",
        _env("DB_PASSWORD: {paramter_store: /demo/db}"),
        "build.env.DB_PASSWORD.paramter_store",
    ),
    (
        "env-ref-empty",
        _env('API_TOKEN: {secrets_manager: ""}'),
        "build.env.API_TOKEN.secrets_manager",
    ),
    (
        "env-ref-both-kinds",
        _env("API_TOKEN: {secrets_manager: a, parameter_store: b}"),
        "build.env.API_TOKEN",
    ),
    (
        "test-command-newline",
        _replace("  test_commands: []", '  test_commands: ["make test\\nrm -rf /"]'),
        "build.test_commands.0",
    ),
    (
        "test-command-empty",
        _replace("  test_commands: []", '  test_commands:\n    - make test\n    - ""'),
        "build.test_commands.1",
    ),
    (
        "test-commands-not-a-list",
        _replace("  test_commands: []", "  test_commands: make test"),
        "build.test_commands",
    ),
    # tags
    ("tag-aws-prefix", _after("  team: platform", '  "aws:team": x'), "tags.aws:team"),
    ("tag-key-too-long", _after("  team: platform", f"  {'k' * 128}: x"), "tags." + "k" * 128),
    ("tag-managed-by-reserved", _after("  team: platform", "  managed-by: me"), "tags.managed-by"),
    (
        "tag-ecspipe-prefix-reserved",
        _after("  team: platform", '  "ecspipe:name": x'),
        "tags.ecspipe:name",
    ),
    ("tag-value-number", _after("  team: platform", "  cost-center: 1234"), "tags.cost-center"),
    ("tag-value-bad-char", _replace("  team: platform", '  team: "plat#form"'), "tags.team"),
    (
        "tags-as-list",
        _remove("  team: platform").replace("\ntags:\n", "\ntags: [team, platform]\n"),
        "tags",
    ),
    (
        "too-many-tags",
        _replace("  team: platform", "\n".join(f"  tag{i}: v" for i in range(46))),
        "tags",
    ),
    # wrong shapes, unknown keys, missing keys, version
    (
        "source-as-list",
        _remove(*_SOURCE_BLOCK[1:]).replace("\nsource:\n", "\nsource: [acme/demo-app, main]\n"),
        "source",
    ),
    ("unknown-top-level-key", VALID_BASE + "regoin: us-east-1\n", "regoin"),
    ("unknown-nested-key-typo", _replace("  branch: main", "  brnach: main"), "source.brnach"),
    ("unknown-build-key", _after("  context: .", "  dockerfle: Dockerfile"), "build.dockerfle"),
    ("missing-name", _remove("name: demo-app"), "name"),
    ("missing-region", _remove("region: us-east-1"), "region"),
    ("missing-branch", _remove("  branch: main"), "source.branch"),
    ("missing-version", _remove("version: 1"), "version"),
    ("version-2", _replace("version: 1", "version: 2"), "version"),
    ("version-as-string", _replace("version: 1", 'version: "1"'), "version"),
]

FILE_CASES: list[tuple[str, str, str]] = [
    ("empty-file", "", "empty"),
    ("whitespace-only", "  \n\n", "empty"),
    ("only-comments", "# ecspipe\n# nothing here\n", "only comments"),
    ("unclosed-bracket", "version: 1\nname: [demo-app\nregion: us-east-1\n", "invalid YAML"),
    ("bad-indentation", "version: 1\nsource:\n  repository: a/b\n branch: main\n", "invalid YAML"),
    ("tab-indentation", "version: 1\nsource:\n\trepository: a/b\n", "invalid YAML"),
    ("unknown-yaml-tag", "version: 1\nname: !Ref demo\n", "invalid YAML"),
    ("nul-character", "version: 1\x00\n", "invalid YAML"),
    ("list-document", "- version: 1\n- name: demo-app\n", "must be a mapping"),
    ("scalar-document", "demo-app\n", "must be a mapping"),
    ("two-documents", VALID_BASE + "---\n" + VALID_BASE, "2 YAML documents"),
    ("duplicate-key", _after("  branch: main", "  branch: develop"), "duplicate key 'branch'"),
    ("duplicate-top-level-key", VALID_BASE + "name: other\n", "duplicate key 'name'"),
]
