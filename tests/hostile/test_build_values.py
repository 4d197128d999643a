"""Hostile inputs for the values that reach the build, through the real CLI.

Each refused input runs `validate` and `up` (in-process, the `ecspipe` fixture) and
must give: exit 2, the field or resource named on stderr, no traceback, and no AWS
call at all before the error (offline refusals) or no write (refusals at plan time,
against the sandbox). A secret given as a plain value is never echoed. Inputs that
are accepted but reach the build (plain build.env values, unusual paths) are run
through the generated buildspec in a real bash, where nothing injected may execute.

The helpers live in this file on purpose (no shared harness in tests/hostile).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "config.example.yaml").read_text())
ACCOUNT = "123456789012"
OTHER = "999999999999"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


def _config(tmp_path: Path, mutate, name: str = "hostile.yaml") -> str:
    data = copy.deepcopy(EXAMPLE)
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def env(**values: Any):
    return lambda d: d["build"]["env"].update(values)


def env_named(name: str, value: Any = "x"):
    return lambda d: d["build"]["env"].update({name: value})


def build(**values: Any):
    return lambda d: d["build"].update(values)


def source(**values: Any):
    return lambda d: d["source"].update(values)


def service(**values: Any):
    return lambda d: d["service"].update(values)


def top(**values: Any):
    return lambda d: d.update(values)


def both(*mutations):
    def apply(d):
        for m in mutations:
            m(d)
    return apply


# (id, mutation, what stderr must name, a value that must never be printed)
REFUSED: list[tuple[str, Any, str, str | None]] = [
    # --- build.env names that would change what the build does
    ("env-bash-env", env_named("BASH_ENV", "/tmp/evil.sh"), "build.env.BASH_ENV", None),
    ("env-posix-env", env_named("ENV", "/tmp/evil.sh"), "build.env.ENV", None),
    ("env-path", env_named("PATH", "/tmp/bin"), "build.env.PATH", None),
    ("env-ld-preload", env_named("LD_PRELOAD", "/tmp/x.so"), "build.env.LD_PRELOAD", None),
    ("env-ld-library-path", env_named("LD_LIBRARY_PATH", "/tmp"), "build.env.LD_LIBRARY_PATH",
     None),
    ("env-ifs", env_named("IFS", "/"), "build.env.IFS", None),
    ("env-ps4", env_named("PS4", "$(touch /tmp/pwned)"), "build.env.PS4", None),
    ("env-shellopts", env_named("SHELLOPTS", "xtrace"), "build.env.SHELLOPTS", None),
    ("env-bashopts", env_named("BASHOPTS", "extdebug"), "build.env.BASHOPTS", None),
    ("env-home", env_named("HOME", "/tmp/evil"), "build.env.HOME", None),
    ("env-prompt-command", env_named("PROMPT_COMMAND", "touch /tmp/p"),
     "build.env.PROMPT_COMMAND", None),
    ("env-cdpath", env_named("CDPATH", "/tmp"), "build.env.CDPATH", None),
    ("env-image-repo-uri", env_named("IMAGE_REPO_URI", "evil.example.com/x"),
     "build.env.IMAGE_REPO_URI", None),
    ("env-container-name", env_named("CONTAINER_NAME", "other"), "build.env.CONTAINER_NAME",
     None),
    ("env-image-uri", env_named("IMAGE_URI", "evil.example.com/x:1"), "build.env.IMAGE_URI",
     None),
    ("env-src-dir", env_named("SRC_DIR", "/tmp"), "build.env.SRC_DIR", None),
    ("env-aws-endpoint", env_named("AWS_ENDPOINT_URL", "https://evil.example.com"),
     "build.env.AWS_ENDPOINT_URL", None),
    ("env-aws-lowercase", env_named("aws_ca_bundle", "/tmp/ca.pem"), "build.env.aws_ca_bundle",
     None),
    ("env-codebuild", env_named("CODEBUILD_RESOLVED_SOURCE_VERSION", "0" * 40),
     "build.env.CODEBUILD_RESOLVED_SOURCE_VERSION", None),
    ("env-pythonpath", env_named("PYTHONPATH", "/tmp/evil"), "build.env.PYTHONPATH", None),
    ("env-docker-host", env_named("DOCKER_HOST", "tcp://evil.example.com:2375"),
     "build.env.DOCKER_HOST", None),
    ("env-docker-config", env_named("DOCKER_CONFIG", "/tmp/evil"), "build.env.DOCKER_CONFIG",
     None),
    ("env-openssl-conf", env_named("OPENSSL_CONF", "/tmp/evil.cnf"), "build.env.OPENSSL_CONF",
     None),
    ("env-bash-func-prefix", env_named("BASH_FUNC_docker", "() { :; }"),
     "build.env.BASH_FUNC_docker", None),
    ("env-bash-func-exported", env_named("BASH_FUNC_docker%%", "() { :; }"), "build.env.", None),
    ("env-name-command-substitution", env_named("$(touch pwned)", "x"), "build.env.", None),
    ("env-name-with-newline", env_named("A\nPATH", "x"), "build.env.", None),
    ("env-name-with-equals", env_named("A=B", "x"), "build.env.", None),
    ("env-reserved-with-reference", env_named("PATH", {"parameter_store": "/demo/path"}),
     "build.env.PATH", None),
    # --- secrets given as plain values: refused, never echoed
    ("secret-password", env_named("DB_PASSWORD", "hunter2-plain"), "build.env.DB_PASSWORD",
     "hunter2-plain"),
    ("secret-pass-part", env_named("DB_PASS", "hunter2-plain"), "build.env.DB_PASS",
     "hunter2-plain"),
    ("secret-pat", env_named("GITHUB_PAT", "ghp_plainTOKEN"), "build.env.GITHUB_PAT",
     "ghp_plainTOKEN"),
    ("secret-camel-api-key", env_named("apiKey", "sk_live_plain"), "build.env.apiKey",
     "sk_live_plain"),
    ("secret-camel-token", env_named("ApiToken", "tok-plain-123"), "build.env.ApiToken",
     "tok-plain-123"),
    ("secret-as-number", env_named("DB_PWD", 8675309), "build.env.DB_PWD", "8675309"),
    ("secret-as-list", env_named("SSH_KEY", ["-----BEGIN KEY-----"]), "build.env.SSH_KEY",
     "BEGIN KEY"),
    ("secret-as-mapping", env_named("CLIENT_SECRET", {"value": "cs-plain-9"}),
     "build.env.CLIENT_SECRET", "cs-plain-9"),
    ("secret-pasted-as-parameter-name", env_named("DB_PASSWORD", {
        "parameter_store": "hunter2 pasted"}), "build.env.DB_PASSWORD.parameter_store",
     "hunter2"),
    ("secret-pasted-as-secret-id", env_named("API_TOKEN", {"secrets_manager": "tok$en!9"}),
     "build.env.API_TOKEN.secrets_manager", "tok$en!9"),
    # --- test commands, Dockerfile and context
    ("test-command-newline", build(test_commands=["echo ok\ntouch pwned"]),
     "build.test_commands.0", None),
    ("test-command-carriage-return", build(test_commands=["echo ok\rtouch pwned"]),
     "build.test_commands.0", None),
    ("test-command-nul", build(test_commands=["echo ok\x00touch pwned"]),
     "build.test_commands.0", None),
    ("test-command-blank", build(test_commands=["   "]), "build.test_commands.0", None),
    ("context-command-substitution", build(context="$(touch pwned)"), "build.context", None),
    ("context-backticks", build(context="`touch pwned`"), "build.context", None),
    ("context-semicolon", build(context="app; touch pwned"), "build.context", None),
    ("context-parent", build(context="../../etc"), "build.context", None),
    ("context-absolute", build(context="/etc"), "build.context", None),
    ("context-option", build(context="--output=/tmp"), "build.context", None),
    ("dockerfile-newline", build(dockerfile="Dockerfile\ntouch pwned"), "build.dockerfile",
     None),
    ("dockerfile-quote", build(dockerfile="Docker'file"), "build.dockerfile", None),
    ("dockerfile-directory", build(dockerfile="docker/"), "build.dockerfile", None),
    ("buildspec-dollar", build(buildspec="$(id).yml"), "build.buildspec", None),
    ("build-image-injection", build(image="alpine;touch pwned"), "build.image", None),
    # --- the branch (a glob in the trigger) and the repository
    ("branch-star", source(branch="release*"), "source.branch", None),
    ("branch-question", source(branch="v?"), "source.branch", None),
    ("branch-bracket", source(branch="x[1]"), "source.branch", None),
    ("branch-backslash", source(branch="a\\b"), "source.branch", None),
    ("branch-option", source(branch="--upload-pack=touch"), "source.branch", None),
    ("branch-newline", source(branch="main\nrelease"), "source.branch", None),
    ("branch-pattern-too-long", source(branch="{" * 128), "source.branch", None),
    ("branch-at-brace", source(branch="@{-1}"), "source.branch", None),
    ("branch-pipeline-variable", source(branch="fix#{codepipeline.PipelineExecutionId}"),
     "source.branch", None),
    ("repository-url", source(repository="https://github.com/acme/demo-app"),
     "source.repository", None),
    ("repository-three-parts", source(repository="acme/demo/app"), "source.repository", None),
    ("repository-semicolon", source(repository="acme/demo;touch"), "source.repository", None),
    ("repository-dot-dot", source(repository="acme/.."), "source.repository", None),
    ("repository-owner-too-long", source(repository="o" * 40 + "/demo"), "source.repository",
     None),
    # --- secret references and KMS keys
    ("ref-parameter-wildcard", env_named("DB_SECRET", {"parameter_store": "/demo/*"}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-secret-wildcard", env_named("DB_SECRET", {"secrets_manager": "prod/*"}),
     "build.env.DB_SECRET.secrets_manager", None),
    ("ref-secret-question", env_named("DB_SECRET", {"secrets_manager": "prod/db?"}),
     "build.env.DB_SECRET.secrets_manager", None),
    ("ref-secret-arn-wildcard", env_named("DB_SECRET", {
        "secrets_manager": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:*"}),
     "build.env.DB_SECRET.secrets_manager", None),
    ("ref-parameter-other-region", env_named("DB_SECRET", {
        "parameter_store": f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/db"}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-parameter-other-partition", env_named("DB_SECRET", {
        "parameter_store": f"arn:aws-us-gov:ssm:us-gov-west-1:{ACCOUNT}:parameter/db"}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-secret-other-account", both(top(account_id=ACCOUNT), env_named("DB_SECRET", {
        "secrets_manager": f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:db-AbCdEf"})),
     "build.env.DB_SECRET.secrets_manager", None),
    ("ref-policy-variable", env_named("DB_SECRET", {"parameter_store": "/${aws:username}/db"}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-parameter-too-long", env_named("DB_SECRET", {"parameter_store": "/" + "p" * 1100}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-secret-too-long", env_named("DB_SECRET", {"secrets_manager": "s" * 600}),
     "build.env.DB_SECRET.secrets_manager", None),
    ("ref-parameter-not-qualified", env_named("DB_SECRET", {"parameter_store": "demo/db"}),
     "build.env.DB_SECRET.parameter_store", None),
    ("ref-not-a-parameter-arn", env_named("DB_SECRET", {
        "parameter_store": "arn:aws:s3:::bucket/key"}), "build.env.DB_SECRET.parameter_store",
     None),
    ("kms-wildcard", env_named("DB_SECRET", {"parameter_store": "/db", "kms_key": "alias/*"}),
     "build.env.DB_SECRET.kms_key", None),
    ("kms-key-arn-wildcard", env_named("DB_SECRET", {
        "parameter_store": "/db", "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"}),
     "build.env.DB_SECRET.kms_key", None),
    ("kms-other-account", both(top(account_id=ACCOUNT), env_named("DB_SECRET", {
        "secrets_manager": "db", "kms_key": f"arn:aws:kms:us-east-1:{OTHER}:key/{KEY}"})),
     "build.env.DB_SECRET.kms_key", None),
    ("kms-other-region", env_named("DB_SECRET", {
        "secrets_manager": "db", "kms_key": f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/k"}),
     "build.env.DB_SECRET.kms_key", None),
    ("kms-aws-managed", env_named("DB_SECRET", {"parameter_store": "/db",
                                                 "kms_key": "alias/aws/ssm"}),
     "build.env.DB_SECRET.kms_key", None),
    ("kms-garbage", env_named("DB_SECRET", {"parameter_store": "/db", "kms_key": "my key"}),
     "build.env.DB_SECRET.kms_key", None),
    # --- names and ARNs elsewhere in the config
    ("name-too-long", top(name="a" * 25), "name", None),
    ("ecr-repository-too-long", lambda d: d["image"].update(repository="r" * 257),
     "image.repository", None),
    ("container-quote", service(container='web","imageUri":"x'), "service.container", None),
    ("cluster-arn-wildcard", service(cluster=f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/*"),
     "service.cluster", None),
    ("connection-other-region", source(
        connection_arn=f"arn:aws:codeconnections:eu-west-1:{ACCOUNT}:connection/abc-123"),
     "source.connection_arn", None),
]


@pytest.mark.parametrize(("mutation", "field", "secret"),
                         [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_hostile_value_is_refused_before_any_aws_call(
        tmp_path, ecspipe, calls, mutation, field, secret) -> None:
    path = _config(tmp_path, mutation)
    for command in (["validate"], ["up"], ["plan", "-o", "json"]):
        calls.clear()
        result = ecspipe(*command, "-c", path)
        assert result.code == 2, result
        assert field in result.err, result
        assert "Traceback" not in result.err + result.out
        assert calls.ops == [], "nothing may reach AWS before the error"
        if secret is not None:
            assert secret not in result.err + result.out


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    ids = [c[0] for c in REFUSED]
    assert len(ids) == len(set(ids)) and len(ids) >= 50


# ---- refused at plan time, before any write (the sandbox) ------------------------------------

def _register_service(container: str) -> None:
    """The seeded service, moved to a task definition whose only container is `container`."""
    ecs = boto3.client("ecs")
    task = ecs.register_task_definition(
        family="demo-web", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512",
        containerDefinitions=[{"name": container, "image": "nginx:1", "essential": True}],
    )["taskDefinition"]
    ecs.update_service(cluster="demo-cluster", service="demo-web-service",
                       taskDefinition=task["taskDefinitionArn"])


PLAN_TIME = [
    ("parameter-of-another-account", env_named("DB_SECRET", {
        "parameter_store": f"arn:aws:ssm:us-east-1:{OTHER}:parameter/db"}), None,
     "build.env.DB_SECRET.parameter_store"),
    ("secret-of-another-account", env_named("DB_SECRET", {
        "secrets_manager": f"arn:aws:secretsmanager:us-east-1:{OTHER}:secret:db-AbCdEf:k"}),
     None, "build.env.DB_SECRET.secrets_manager"),
    ("kms-key-of-another-account", env_named("DB_SECRET", {
        "secrets_manager": "db", "kms_key": f"arn:aws:kms:us-east-1:{OTHER}:alias/k"}),
     None, "build.env.DB_SECRET.kms_key"),
    ("task-definition-container-json", service(container=None), 'web","imageUri":"evil',
     "service.container"),
    ("task-definition-container-command", service(container=None), "$(touch pwned)",
     "service.container"),
    ("task-definition-container-newline", service(container=None), "web\nother",
     "service.container"),
    ("policy-too-large", env(**{f"SECRET_{i:03d}": {"secrets_manager": f"{'s' * 200}/{i}"}
                                for i in range(60)}), None, "build.env"),
]


@pytest.mark.parametrize(("mutation", "container", "field"), [c[1:] for c in PLAN_TIME],
                         ids=[c[0] for c in PLAN_TIME])
def test_a_hostile_value_found_at_plan_time_is_refused_before_any_write(
        seeded, tmp_path, ecspipe, calls, mutation, container, field) -> None:
    if container is not None:
        _register_service(container)

    def drop_none(d):
        mutation(d)
        d["service"] = {k: v for k, v in d["service"].items() if v is not None}

    path = _config(tmp_path, drop_none)
    assert ecspipe("validate", "-c", path).code == 0
    for command in ("plan", "up"):
        calls.clear()
        result = ecspipe(command, "-c", path)
        assert result.code == 2, result
        assert field in result.err, result
        assert "Traceback" not in result.err
        assert calls.writes == [], f"{command} wrote before the error"
    assert not Path("pwned").exists()


# ---- accepted values that reach the build: nothing injected executes -------------------------

STUB = """#!/bin/bash
printf '%s\\n' "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $1" in
  "aws ecr") echo token ;;
  "docker login") cat > /dev/null ;;
  "date "*) echo 20260101_000000 ;;
esac
"""
PAYLOADS = ["$(touch pwned-1)", "`touch pwned-2`", "; touch pwned-3", "x\ntouch pwned-4",
            "' ; touch pwned-5; '", '" ; touch pwned-6; "', "${IFS}touch${IFS}pwned-7",
            "$(touch pwned-8)\\"]
ACCEPTED = [
    ("plain-values", env(**{f"NOTE_{i}": p for i, p in enumerate(PAYLOADS)})),
    ("path-characters", build(context="app+x@1/svc", dockerfile="app+x@1/svc/Docker-file.v2")),
    ("glob-branch", source(branch="feat/{a,b}!")),
]


@pytest.mark.parametrize("mutation", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_values_reach_the_build_inert(tmp_path, ecspipe, calls, mutation) -> None:
    from ecspipe.config import load_config
    from ecspipe.documents.buildspec import build_commands, single

    path = _config(tmp_path, mutation)
    assert ecspipe("validate", "-c", path).code == 0
    assert calls.ops == []
    config = load_config(path)
    repo = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/demo-app"
    phases = build_commands(config, repo, single("web"))
    work = tmp_path / "src"
    work.mkdir()
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("aws", "docker", "date"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    variables = {name: value for name, value in config.build.env.items()
                 if isinstance(value, str)}
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", "\n".join(phases["pre_build"] + phases["build"])],
        cwd=work, capture_output=True, text=True, timeout=30,
        env={"PATH": f"{stubs}{os.pathsep}/usr/bin:/bin", "STUB_LOG": str(tmp_path / "log"),
             "HOME": str(tmp_path), "CODEBUILD_RESOLVED_SOURCE_VERSION": "a" * 40,
             "AWS_DEFAULT_REGION": "us-east-1", "IMAGE_REPO_URI": repo,
             "CONTAINER_NAME": "web", **variables},
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in work.iterdir()) == ["imagedefinitions.json"]
    assert not list(tmp_path.glob("pwned*")) and not list(Path.cwd().glob("pwned*"))
    assert json.loads((work / "imagedefinitions.json").read_text()) == [
        {"name": "web", "imageUri": f"{repo}:20260101_000000-aaaaaaa"}]
    assert shutil.which("bash")
