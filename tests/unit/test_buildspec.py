"""The generated buildspec, executed for real by bash, plus the project and pipeline requests.

The buildspec's commands run in one `bash -e -o pipefail` process, phase after
phase, in a temporary directory: buildspec version 0.2 keeps variables (and the
working directory) from one command and phase to the next, and CodeBuild stops at
the first failing command. `aws`, `docker` and `date` are stub executables first
on PATH that log every call (one line per call, argv joined by tabs, written
with a single printf: `aws ... | docker login` run at the same time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample_facts import ACCOUNT, seed_environments

from ecspipe.config import Config, load_config, parse_config
from ecspipe.documents.buildspec import render_buildspec, single
from ecspipe.documents.pipeline import pipeline_declaration
from ecspipe.documents.project import project_request
from ecspipe.names import Names

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
SHA = "3f2a9c1b7e4d5f60718293a4b5c6d7e8f9012345"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
REPO_URI = f"{REGISTRY}/demo-app"
STAMP = "20261128_153000"
IMAGE_URI = f"{REPO_URI}:{STAMP}-{SHA[:7]}"
TOKEN = "stub-ecr-token-0123456789"
CONNECTION = f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/0f1e2d3c-4b5a-6978"
PHASES = ("pre_build", "build", "post_build")

AWS_STUB = f"""#!/bin/bash
printf -v args '\\t%s' "$@"; printf '%s\\n' "aws$args" >> "$STUB_LOG"
if [ "$1 $2" = "ecr get-login-password" ]; then
  [ -z "$STUB_FAIL_LOGIN" ] || {{ echo "stub aws: login refused" >&2; exit 255; }}
  printf '%s\\n' '{TOKEN}'
  exit 0
fi
echo "stub aws: unexpected call: $*" >&2
exit 2
"""

DOCKER_STUB = f"""#!/bin/bash
printf -v args '\\t%s' "$@"; printf '%s\\n' "docker$args" >> "$STUB_LOG"
case "$1" in
  login)
    password="$(cat)"
    printf 'docker-login-stdin\\t%s\\n' "$password" >> "$STUB_LOG"
    [ "$password" = '{TOKEN}' ] || {{ echo "stub docker: wrong password" >&2; exit 1; }}
    echo "Login Succeeded" ;;
  build) [ -z "$STUB_FAIL_BUILD" ] || {{ echo "stub docker: build failed" >&2; exit 1; }} ;;
  push) [ -z "$STUB_FAIL_PUSH" ] || {{ echo "stub docker: push failed" >&2; exit 1; }} ;;
  *) echo "stub docker: unexpected call: $*" >&2; exit 2 ;;
esac
"""

DATE_STUB = """#!/bin/bash
printf -v args '\\t%s' "$@"; printf '%s\\n' "date$args" >> "$STUB_LOG"
for arg in "$@"; do
  if [ "$arg" = "+%Y%m%d_%H%M%S" ]; then
    case " $* " in
      *" -u "*) echo "{stamp}"; exit 0 ;;
      *) echo "stub date: the tag must be in UTC (date -u)" >&2; exit 3 ;;
    esac
  fi
done
exec {real} "$@"
"""


# --------------------------------------------------------------------------- configs and facts


def example_config() -> Config:
    return load_config(EXAMPLE)


def config_with(**build: Any) -> Config:
    """config.example.yaml with some build settings replaced."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["build"].update(build)
    return parse_config(yaml.safe_dump(data, sort_keys=False))




# --------------------------------------------------------------------------- running the buildspec


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]  # one argv per stub call (and per line a test command logs)
    workdir: Path

    def argvs(self, program: str, subcommand: str | None = None) -> list[list[str]]:
        return [
            call[1:]
            for call in self.calls
            if call[0] == program and (subcommand is None or call[1:2] == [subcommand])
        ]

    def index(self, program: str, subcommand: str | None = None) -> int:
        for i, call in enumerate(self.calls):
            if call[0] == program and (subcommand is None or call[1:2] == [subcommand]):
                return i
        raise AssertionError(f"{program} {subcommand or ''} was never called: {self.calls}")

    @property
    def imagedefinitions(self) -> Path:
        return self.workdir / "imagedefinitions.json"


def buildspec_script(phases: dict[str, Any]) -> str:
    """One bash script for all phases, meant for `bash -e -o pipefail`.

    pre_build then build run top to bottom and stop at the first failing command.
    post_build, if any, runs from an EXIT trap once build has started, even after a
    failed build, as CodeBuild does (with CODEBUILD_BUILD_SUCCEEDING=0 or 1); it
    runs in the same process, so every variable is still there.
    """
    unknown = set(phases) - set(PHASES)
    assert not unknown, f"the runner does not model phases {unknown}"
    lines = []
    post_build = phases.get("post_build", {}).get("commands", [])
    if post_build:
        lines += [
            "__phase=pre_build",
            "__post_build() {",
            "  __rc=$?",
            "  trap - EXIT",
            '  if [ "$__phase" = build ]; then',
            "    CODEBUILD_BUILD_SUCCEEDING=$(( __rc == 0 ))",
            *(f"    {command}" for command in post_build),
            "  fi",
            '  exit "$__rc"',
            "}",
            "trap __post_build EXIT",
        ]
    lines += phases.get("pre_build", {}).get("commands", [])
    if post_build:
        lines.append("__phase=build")
    lines += phases.get("build", {}).get("commands", [])
    return "\n".join(lines) + "\n"


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    real_date = shutil.which("date")
    assert real_date, "the tests need a real `date` to delegate to"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        "aws": AWS_STUB,
        "docker": DOCKER_STUB,
        "date": DATE_STUB.format(stamp=STAMP, real=real_date),
    }
    for name, text in stubs.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(0o755)
    return bin_dir


@pytest.fixture
def run_buildspec(tmp_path: Path, stub_bin: Path):
    def run(config: Config, *, unset: tuple[str, ...] = (), container: str = "web",
            definitions: list[tuple[str, str]] | None = None, **extra_env: str) -> Run:
        spec = yaml.safe_load(render_buildspec(config, REPO_URI,
                                               definitions or single(container)))
        script_text = buildspec_script(spec["phases"])
        workdir = tmp_path / "src"
        workdir.mkdir()
        log = tmp_path / "calls.log"
        log.touch()
        env = {
            "PATH": f"{stub_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp_path),
            "CODEBUILD_SRC_DIR": str(workdir),  # CodeBuild sets it; the build starts there
            "LC_ALL": "C",
            "STUB_LOG": str(log),
            "CODEBUILD_RESOLVED_SOURCE_VERSION": SHA,
            "AWS_DEFAULT_REGION": "us-east-1",
            "IMAGE_REPO_URI": REPO_URI,
            "CONTAINER_NAME": "web",
            **extra_env,
        }
        for name in unset:
            env.pop(name)
        script = tmp_path / "buildspec.sh"
        script.write_text(script_text)
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", str(script)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        calls = [line.split("\t") for line in log.read_text().splitlines()]
        return Run(done.returncode, done.stdout, done.stderr, calls, workdir)

    return run


def test_a_build_pushes_one_unique_tag_of_utc_time_and_short_commit(run_buildspec) -> None:
    run = run_buildspec(example_config())
    assert run.returncode == 0, run.stderr
    assert run.argvs("docker", "push") == [["push", IMAGE_URI]]
    assert run.argvs("date") == [["-u", "+%Y%m%d_%H%M%S"]]


def test_imagedefinitions_names_the_container_and_the_pushed_image(run_buildspec) -> None:
    run = run_buildspec(example_config())
    assert run.returncode == 0, run.stderr
    text = run.imagedefinitions.read_text()
    assert text == f'[{{"name":"web","imageUri":"{IMAGE_URI}"}}]'
    assert json.loads(text) == [{"name": "web", "imageUri": IMAGE_URI}]


def test_with_environments_one_build_writes_each_environments_file_naming_the_one_image(
        run_buildspec) -> None:
    definitions = [("imagedefinitions-staging.json", "app"),
                   ("imagedefinitions-production.json", "web")]
    run = run_buildspec(example_config(), definitions=definitions)
    assert run.returncode == 0, run.stderr
    assert run.argvs("docker", "build") != [] and len(run.argvs("docker", "build")) == 1
    assert run.argvs("docker", "push") == [["push", IMAGE_URI]]
    for file, container in definitions:
        assert json.loads((run.workdir / file).read_text()) == [
            {"name": container, "imageUri": IMAGE_URI}]
    assert not (run.workdir / "imagedefinitions.json").exists()
    spec = yaml.safe_load(render_buildspec(example_config(), REPO_URI, definitions))
    assert spec["artifacts"]["files"] == [file for file, _ in definitions]


def test_docker_logs_in_to_the_registry_host_with_the_token_on_stdin(run_buildspec) -> None:
    run = run_buildspec(example_config())
    assert run.returncode == 0, run.stderr
    assert run.argvs("aws") == [["ecr", "get-login-password", "--region", "us-east-1"]]
    assert run.argvs("docker", "login") == [
        ["login", "--username", "AWS", "--password-stdin", REGISTRY]
    ]
    assert run.argvs("docker-login-stdin") == [[TOKEN]]
    assert run.index("docker", "login") < run.index("docker", "build")


def test_a_refused_ecr_login_stops_the_build_before_docker_build(run_buildspec) -> None:
    run = run_buildspec(example_config(), STUB_FAIL_LOGIN="1")
    assert run.returncode != 0
    assert run.argvs("docker", "build") == []
    assert run.argvs("docker", "push") == []


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ({}, ["build", "--tag", IMAGE_URI, "."]),
        ({"context": "app"}, ["build", "--tag", IMAGE_URI, "app"]),
        (
            {"context": "app", "dockerfile": "docker/Dockerfile"},
            ["build", "--tag", IMAGE_URI, "--file", "docker/Dockerfile", "app"],
        ),
        (
            {"context": "svc/web+api@2", "dockerfile": "svc/web+api@2/Dockerfile.prod"},
            [
                "build",
                "--tag",
                IMAGE_URI,
                "--file",
                "svc/web+api@2/Dockerfile.prod",
                "svc/web+api@2",
            ],
        ),
    ],
    ids=["default-context", "context", "context-and-dockerfile", "unusual-path-characters"],
)
def test_docker_build_gets_the_configured_context_and_dockerfile(
    run_buildspec, build: dict[str, str], expected: list[str]
) -> None:
    run = run_buildspec(config_with(**build))
    assert run.returncode == 0, run.stderr
    assert run.argvs("docker", "build") == [expected]


def test_test_commands_run_after_the_build_and_before_the_push(run_buildspec) -> None:
    config = config_with(
        test_commands=[
            'printf "test-one\\t%s\\n" "$IMAGE_URI" >> "$STUB_LOG"',
            'printf "test-two\\n" >> "$STUB_LOG"',
        ]
    )
    run = run_buildspec(config)
    assert run.returncode == 0, run.stderr
    # IMAGE_URI, set in pre_build, is still there in build: variables persist.
    assert run.argvs("test-one") == [[IMAGE_URI]]
    order = [run.index(p, s) for p, s in [("docker", "build"), ("test-one", None)]]
    order += [run.index("test-two"), run.index("docker", "push")]
    assert order == sorted(order)


@pytest.mark.parametrize(
    "failing", ["false", "exit 3", "printf 'x\\n' | grep -q y", "test -f does-not-exist"]
)
def test_a_failing_test_command_pushes_nothing_and_writes_no_imagedefinitions(
    run_buildspec, failing: str
) -> None:
    config = config_with(test_commands=[failing, 'printf "after\\n" >> "$STUB_LOG"'])
    run = run_buildspec(config)
    assert run.returncode != 0
    assert run.argvs("docker", "build") != []  # it did get as far as the tests
    assert run.argvs("after") == []
    assert run.argvs("docker", "push") == []
    assert not run.imagedefinitions.exists()


def test_a_failing_docker_build_runs_no_tests_and_pushes_nothing(run_buildspec) -> None:
    config = config_with(test_commands=['printf "tested\\n" >> "$STUB_LOG"'])
    run = run_buildspec(config, STUB_FAIL_BUILD="1")
    assert run.returncode != 0
    assert run.argvs("docker", "build") != []
    assert run.argvs("tested") == []
    assert run.argvs("docker", "push") == []
    assert not run.imagedefinitions.exists()


def test_a_failing_push_writes_no_imagedefinitions(run_buildspec) -> None:
    run = run_buildspec(example_config(), STUB_FAIL_PUSH="1")
    assert run.returncode != 0
    assert run.argvs("docker", "push") == [["push", IMAGE_URI]]
    assert not run.imagedefinitions.exists()


def test_latest_is_never_a_tag_and_never_pushed(run_buildspec) -> None:
    config = config_with(context="app", dockerfile="docker/Dockerfile")
    assert "latest" not in render_buildspec(config, REPO_URI, single("web"))
    run = run_buildspec(config)
    assert run.returncode == 0, run.stderr
    pushed = [argv[-1] for argv in run.argvs("docker", "push")]
    tags = [
        argv[i + 1]
        for argv in run.argvs("docker", "build")
        for i, a in enumerate(argv)
        if a in ("--tag", "-t")
    ]
    assert pushed == tags == [IMAGE_URI]
    assert all("latest" not in "\t".join(call) for call in run.calls)
    assert "latest" not in run.imagedefinitions.read_text()


@pytest.mark.parametrize("how", ["unset", "empty"])
def test_without_a_resolved_commit_the_build_fails_before_docker_build(
    run_buildspec, how: str
) -> None:
    if how == "unset":
        run = run_buildspec(example_config(), unset=("CODEBUILD_RESOLVED_SOURCE_VERSION",))
    else:
        run = run_buildspec(example_config(), CODEBUILD_RESOLVED_SOURCE_VERSION="")
    assert run.returncode != 0
    assert "CodeBuild did not resolve a commit" in run.stderr
    assert run.argvs("docker", "build") == []
    assert run.argvs("docker", "push") == []
    assert not run.imagedefinitions.exists()


def test_a_test_command_that_changes_directory_still_leaves_imagedefinitions_at_the_root(
    run_buildspec,
) -> None:
    config = config_with(test_commands=["mkdir -p app && cd app"])
    run = run_buildspec(config)
    assert run.returncode == 0, run.stderr
    assert run.imagedefinitions.exists()


def test_the_buildspec_is_version_0_2_in_bash_with_imagedefinitions_as_the_artifact() -> None:
    spec = yaml.safe_load(render_buildspec(example_config(), REPO_URI, single("web")))
    assert spec["version"] == 0.2
    assert spec["env"] == {"shell": "bash"}
    assert spec["artifacts"]["files"] == ["imagedefinitions.json"]
    # The push lives in build: CodeBuild runs post_build even after a failed build.
    assert set(spec["phases"]) == {"pre_build", "build"}
    assert any("docker push" in c for c in spec["phases"]["build"]["commands"])


# --------------------------------------------------------------------------- project and pipeline


@pytest.mark.parametrize(
    ("architecture", "environment_type", "image_arch"),
    [("ARM64", "ARM_CONTAINER", "aarch64"), ("X86_64", "LINUX_CONTAINER", "x86_64")],
)
def test_the_build_environment_matches_the_tasks_cpu_architecture(
    architecture: str, environment_type: str, image_arch: str
) -> None:
    config = example_config()
    request = project_request(config, Names.from_config(config, ACCOUNT), seed_environments(architecture))
    environment = request["environment"]
    assert environment["type"] == environment_type
    assert image_arch in environment["image"]
    other = {"aarch64": "x86_64", "x86_64": "aarch64"}[image_arch]
    assert other not in environment["image"]
    assert environment["privilegedMode"] is True


def test_the_project_passes_the_repository_container_and_build_env_with_reference_types() -> None:
    config = config_with(
        env={
            "APP_ENV": "production",
            "DB_PASSWORD": {"parameter_store": "/demo-app/db-password"},
            "API_TOKEN": {"secrets_manager": "demo-app/api-token"},
        }
    )
    request = project_request(config, Names.from_config(config, ACCOUNT), seed_environments())
    variables = request["environment"]["environmentVariables"]
    assert {v["name"]: (v["value"], v["type"]) for v in variables} == {
        "IMAGE_REPO_URI": (REPO_URI, "PLAINTEXT"),
        "CONTAINER_NAME": ("web", "PLAINTEXT"),
        "APP_ENV": ("production", "PLAINTEXT"),
        "DB_PASSWORD": ("/demo-app/db-password", "PARAMETER_STORE"),
        "API_TOKEN": ("demo-app/api-token", "SECRETS_MANAGER"),
    }
    assert len(variables) == 5  # no duplicates hidden by the dict above
    assert request["source"] == {"type": "CODEPIPELINE", "buildspec": render_buildspec(config, REPO_URI, single("web"))}


def _action(declaration: dict[str, Any], stage: str) -> dict[str, Any]:
    (found,) = [s for s in declaration["stages"] if s["name"] == stage]
    (action,) = found["actions"]
    return action


@pytest.mark.parametrize("branch", ["main", "release/2026.11"])
def test_the_pipeline_is_v2_and_starts_only_on_pushes_to_the_configured_branch(branch: str) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["source"]["branch"] = branch
    config = parse_config(yaml.safe_dump(data))
    declaration = pipeline_declaration(
        config, Names.from_config(config, ACCOUNT), seed_environments(), CONNECTION
    )
    assert declaration["pipelineType"] == "V2"
    assert [s["name"] for s in declaration["stages"]] == ["Source", "Build", "Deploy"]
    (trigger,) = declaration["triggers"]
    assert trigger["providerType"] == "CodeStarSourceConnection"
    assert trigger["gitConfiguration"] == {
        "sourceActionName": "Source",
        "push": [{"branches": {"includes": [branch]}}],
    }
    source = _action(declaration, "Source")["configuration"]
    assert source["FullRepositoryId"] == "acme/demo-app"
    assert source["BranchName"] == branch
    assert source["ConnectionArn"] == CONNECTION
    deploy = _action(declaration, "Deploy")
    assert deploy["actionTypeId"]["provider"] == "ECS"
    assert deploy["configuration"] == {
        "ClusterName": "demo-cluster",
        "ServiceName": "demo-web-service",
        "FileName": "imagedefinitions.json",
    }


# --------------------------------------------------------------------------- no value changes it


def test_imagedefinitions_is_one_json_document_for_a_container_name_with_json_in_it(
        run_buildspec) -> None:
    # preflight refuses such a name (it is not ECS's character set); the writer is safe anyway
    hostile = 'web","imageUri":"evil.example.com/x:1"},{"name":"$(touch pwned)\\'
    run = run_buildspec(example_config(), container=hostile)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.imagedefinitions.read_text()) == [
        {"name": hostile, "imageUri": IMAGE_URI}]
    assert not (run.workdir / "pwned").exists()


@pytest.mark.parametrize("hijack", [
    'IMAGE_URI="evil.example.com/demo-app:1"',
    f'IMAGE_URI="{REPO_URI}-other:1"',
    f'IMAGE_URI="{REPO_URI}:1\\"}},{{\\"name\\":\\"x"',
    f'IMAGE_URI="{REPO_URI}:-rm"',
    f'IMAGE_URI="{REPO_URI}"',
    f"IMAGE_URI='{REPO_URI}:ok'$'\\n''evil'",
])
def test_a_test_command_that_changes_the_image_uri_stops_the_build_before_the_push(
        run_buildspec, hijack: str) -> None:
    run = run_buildspec(config_with(test_commands=[hijack]))
    assert run.returncode != 0
    assert "is not an image of" in run.stderr
    assert run.argvs("docker", "push") == []
    assert not run.imagedefinitions.exists()


def test_another_repository_uri_in_the_project_environment_stops_the_build_before_the_login(
        run_buildspec) -> None:
    # e.g. a StartBuild environmentVariablesOverride: the ECR token must not go elsewhere
    run = run_buildspec(example_config(), IMAGE_REPO_URI="evil.example.com/demo-app")
    assert run.returncode != 0
    assert "refusing to log in elsewhere" in run.stderr
    assert run.argvs("aws") == [] and run.argvs("docker") == []


def test_build_env_values_are_never_evaluated_by_the_buildspec(run_buildspec) -> None:
    # CodeBuild exports build.env values; ecspipe's commands never eval them.
    hostile = {name: f"$(touch {name}-ran) `touch {name}-ran2`; touch {name}-ran3"
               for name in ("APP_ENV", "FEATURE", "NOTES")}
    run = run_buildspec(example_config(), **hostile)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in run.workdir.iterdir()) == ["imagedefinitions.json"]


def _run_writer(tmp: Path, container: str, image: str) -> tuple[int, Path]:
    from ecspipe.documents.buildspec import imagedefinitions_command

    out = tmp / "imagedefinitions.json"
    if out.exists():
        out.unlink()
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c",
         imagedefinitions_command("imagedefinitions.json", container, "IMAGE_URI")],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SRC_DIR": str(tmp),
             "IMAGE_URI": image},
        capture_output=True, timeout=10,
    )
    return done.returncode, out


_NO_NUL = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
_ECS_CONTAINERS = st.from_regex(r"[A-Za-z0-9_-]{1,255}", fullmatch=True)
_IMAGES = st.one_of(
    st.from_regex(rf"{re.escape(REPO_URI)}:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,40}}", fullmatch=True),
    st.text(_NO_NUL, min_size=1, max_size=60),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(container=st.one_of(_ECS_CONTAINERS, st.text(_NO_NUL, min_size=1, max_size=40)),
       image=_IMAGES)
def test_the_imagedefinitions_writer_yields_that_json_document_or_nothing(
        tmp_path_factory, container: str, image: str) -> None:
    tmp = tmp_path_factory.mktemp("writer")
    code, out = _run_writer(tmp, container, image)
    if re.fullmatch(r"[A-Za-z0-9._/:@-]+", image):
        assert code == 0
        assert json.loads(out.read_text(encoding="utf-8")) == [
            {"name": container, "imageUri": image}]
    else:
        assert code != 0 and not out.exists()
    assert sorted(p.name for p in tmp.iterdir()) == (["imagedefinitions.json"] if code == 0
                                                      else [])
