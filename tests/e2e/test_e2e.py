"""End to end: the installed `ecspipe` against `ecspipe sandbox` servers, both as subprocesses.

Nothing here imports ecspipe: every command is the installed console script run
with fake credentials, an empty AWS config, stdin that is not a terminal and a
timeout, the way a user (or CI) runs it against the sandbox.

Servers take seconds to start and run on wall time, so there are three, one per
behaviour (default, `--fail-stage Build`, `--rollback`), each used by exactly
one test function that runs its story in order. That keeps the module correct
and cheap under `pytest -n 2`: a worker starts only the server its test needs,
and no test depends on another test having run first. Waiting is bounded
everywhere: the server's readiness line has a deadline, every command a timeout,
and `release --wait` its own `--timeout`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config.example.yaml")
COMMANDS = {"init", "validate", "plan", "up", "status", "release", "approve", "rollback",
            "down", "export", "schema", "sandbox"}

STARTUP_TIMEOUT = 120.0  # seconds until the sandbox prints its export line (usually ~7)
STOP_TIMEOUT = 15.0  # seconds after SIGTERM before the server is killed
COMMAND_TIMEOUT = 90.0  # seconds for a command that does not wait on purpose
RELEASE_TIMEOUT = 120  # `release --wait --timeout`; the subprocess gets a margin on top

SHA = re.compile(r"^[0-9a-f]{40}$")
EXECUTION_ID = re.compile(r"started execution ([0-9a-f-]{36})")


# --- running things -----------------------------------------------------------------


def _ecspipe_command() -> list[str]:
    """The installed console script next to this interpreter (else `python -m ecspipe`)."""
    script = Path(sys.executable).with_name("ecspipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ecspipe"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError:
            pytest.fail(f"stdout is not JSON: {self!r}")

    @property
    def output(self) -> str:
        return self.out + self.err

    def __repr__(self) -> str:
        return (f"<ecspipe {' '.join(self.args)}: exit {self.code} after {self.seconds:.1f}s\n"
                f"--- stdout:\n{self.out}\n--- stderr:\n{self.err}>")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A working directory (no ./ecspipe.yaml) and empty AWS config/credentials files."""
    path = tmp_path_factory.mktemp("e2e-home")
    (path / "aws-config").write_text("")
    (path / "aws-credentials").write_text("")
    return path


def _env(home: Path, endpoint_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k != "ECSPIPE_CONFIG"}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        NO_COLOR="1",
        CI="true",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env


@pytest.fixture(scope="module")
def ecspipe(home):
    """ecspipe(*args, endpoint=URL, timeout=S) -> Run: the installed CLI as a subprocess."""

    def run(*args: str, endpoint: str | None, timeout: float = COMMAND_TIMEOUT) -> Run:
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [*_ecspipe_command(), *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=home,
                env=_env(home, endpoint),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`ecspipe {' '.join(args)}` still running after {timeout}s\n"
                        f"--- stdout:\n{exc.stdout}\n--- stderr:\n{exc.stderr}")
        return Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)

    return run


# --- sandbox servers ------------------------------------------------------------------


@dataclass
class Sandbox:
    """An `ecspipe sandbox` subprocess; stdout is read line by line on a thread."""

    proc: subprocess.Popen
    url: str
    stderr_path: Path
    lines: list[str] = field(default_factory=list)
    _lines: queue.Queue = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, home: Path, *flags: str) -> Sandbox:
        port = _free_port()
        stderr_path = home / f"sandbox-{port}.stderr"
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen(
                [*_ecspipe_command(), "sandbox", "--port", str(port), *flags],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=_env(home, None),
            )
        server = cls(proc, f"http://127.0.0.1:{port}", stderr_path)
        threading.Thread(target=server._read, daemon=True).start()
        try:
            server._wait_for(f"export AWS_ENDPOINT_URL={server.url}", STARTUP_TIMEOUT)
        except BaseException:
            server.stop()
            raise
        return server

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _wait_for(self, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"the sandbox did not print {wanted!r} within {timeout}s\n"
                            f"{self.lines}\n{self.stderr()}")
            if line is None:
                pytest.fail(f"the sandbox exited ({self.proc.wait()}) before printing "
                            f"{wanted!r}\n{self.lines}\n{self.stderr()}")
            self.lines.append(line)
            if line == wanted:
                return

    def stderr(self) -> str:
        return "--- sandbox stderr:\n" + self.stderr_path.read_text()[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _sandbox(home: Path, *flags: str) -> Iterator[Sandbox]:
    server = Sandbox.start(home, *flags)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def default_sandbox(home):
    # A short handshake: `up --wait-connection` really waits, briefly.
    yield from _sandbox(home, "--handshake-delay", "0.5")


@pytest.fixture(scope="module")
def failing_build_sandbox(home):
    yield from _sandbox(home, "--handshake-delay", "0", "--fail-stage", "Build")


@pytest.fixture(scope="module")
def rollback_sandbox(home):
    yield from _sandbox(home, "--handshake-delay", "0", "--rollback")


# --- helpers --------------------------------------------------------------------------


def show(value: object) -> str:
    """An assertion message pytest does not truncate: a run's output, or indented JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Run):
        return repr(value)
    return json.dumps(value, indent=2, default=str)


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.output, show(run)


def _actions(run: Run) -> dict[str, str]:
    return {f"{c['resource']} {c['name']}": c["action"] for c in run.json()["changes"]}


def _execution_id(run: Run) -> str:
    match = EXECUTION_ID.search(run.out)
    assert match, show(run)
    return match.group(1)


def _tag(image: str) -> str:
    """The tag of an image URI (the buildspec tags TIMESTAMP-<commit7>)."""
    return image.rsplit("/", 1)[-1].rsplit(":", 1)[1]


def _stage(status: dict, name: str) -> dict:
    return next(s for s in status["stages"] if s["name"] == name)


def _up_and_wait_for_the_connection(ecspipe, url: str) -> None:
    up = ecspipe("up", "-c", CONFIG, "--wait-connection", "--timeout", "60", endpoint=url)
    assert up.code == 0, show(up)


def _release_and_wait(ecspipe, url: str, *args: str) -> Run:
    return ecspipe("release", "-c", CONFIG, "--wait", "--timeout", str(RELEASE_TIMEOUT), *args,
                   endpoint=url, timeout=RELEASE_TIMEOUT + 60)


# --- the default sandbox: the whole story ------------------------------------------------


def test_up_creates_the_pipeline_once_release_deploys_each_commit_and_down_deletes_only_ours(
        ecspipe, default_sandbox, home):
    url = default_sandbox.url

    # A typo in the cluster is refused by the preflight, before anything is written.
    missing = home / "missing-cluster.yaml"
    text = Path(CONFIG).read_text()
    assert "cluster: demo-cluster" in text
    missing.write_text(text.replace("cluster: demo-cluster", "cluster: no-such-cluster", 1))
    refused = ecspipe("up", "-c", str(missing), endpoint=url)
    assert refused.code == 2, show(refused)
    assert "service.cluster" in refused.err, show(refused)
    assert "no-such-cluster" in refused.err, show(refused)
    _no_traceback(refused)

    # First up: everything is created (the connection is waited for); the table goes to
    # stdout, progress and the ACTION REQUIRED notice to stderr.
    first = ecspipe("up", "-c", CONFIG, "--wait-connection", "--timeout", "60", endpoint=url)
    assert first.code == 0, show(first)
    assert re.search(r"^\s*\+ create\s+pipeline\s+demo-app\s*$", first.out, re.M), show(first)
    assert re.search(r"^\s*\+ create\s+connection\s+demo-app-us-east-1\s*$", first.out,
                     re.M), show(first)
    assert "creating pipeline demo-app" in first.err, show(first)
    assert "ACTION REQUIRED" in first.err, show(first)
    assert "connection demo-app-us-east-1 is AVAILABLE" in first.err, show(first)
    assert "creating " not in first.out, show(first)
    assert "ACTION REQUIRED" not in first.out, show(first)
    assert "+ create" not in first.err, show(first)
    _no_traceback(first)

    # Second up changes nothing; nor would plan.
    again = ecspipe("up", "-c", CONFIG, "-o", "json", endpoint=url)
    assert again.code == 0, show(again)
    actions = _actions(again)
    assert set(actions.values()) <= {"unchanged", "use"}, show(again)
    assert actions["pipeline demo-app"] == "unchanged", show(again)
    assert again.json()["connection"]["status"] == "AVAILABLE", show(again)

    plan = ecspipe("plan", "-c", CONFIG, "-o", "json", endpoint=url)
    assert plan.code == 0, show(plan)
    assert _actions(plan) == actions, show(plan)

    # release --wait follows the execution until ECS runs the image of its commit.
    released = _release_and_wait(ecspipe, url)
    assert released.code == 0, show(released)
    released_id = _execution_id(released)
    assert f"released: execution {released_id} succeeded" in released.out, show(released)

    status = ecspipe("status", "-c", CONFIG, "-o", "json", endpoint=url)
    assert status.code == 0, show(status)
    data = status.json()
    assert {"name", "type", "branch", "console_url"} <= set(data["pipeline"]), show(data)
    assert (data["pipeline"]["name"], data["pipeline"]["type"], data["pipeline"]["branch"]) \
        == ("demo-app", "V2", "main"), show(data)
    assert {"arn", "status"} <= set(data["connection"]), show(data)
    assert data["connection"]["status"] == "AVAILABLE", show(data)
    assert data["executions"], show(data)
    for execution in data["executions"]:
        assert {"id", "status", "trigger", "commit", "message", "started_at",
                "finished_at"} <= set(execution), show(execution)
    newest = data["executions"][0]
    assert (newest["id"], newest["status"]) == (released_id, "Succeeded"), show(data)
    assert SHA.match(newest["commit"] or ""), show(newest)
    assert [s["name"] for s in data["stages"]] == ["Source", "Build", "Deploy"], show(data)
    for stage in data["stages"]:
        assert {"name", "status", "actions"} <= set(stage), show(stage)
        assert stage["status"] == "Succeeded", show(stage)
        for action in stage["actions"]:
            assert {"name", "status", "error"} <= set(action), show(action)
    service = data["service"]
    assert {"cluster", "name", "image", "rollout_state", "running", "desired",
            "matches_latest_success"} <= set(service), show(service)
    assert _tag(service["image"]).endswith("-" + newest["commit"][:7]), show(service)
    assert service["matches_latest_success"] is True, show(service)
    assert service["rollout_state"] == "COMPLETED", show(service)

    # release without --wait only starts an execution.
    started = ecspipe("release", "-c", CONFIG, endpoint=url)
    assert started.code == 0, show(started)
    started_id = _execution_id(started)

    # release --commit pins the commit; the service ends up running its image.
    pinned = "0123456789abcdef0123456789abcdef01234567"
    released = _release_and_wait(ecspipe, url, "--commit", pinned)
    assert released.code == 0, show(released)
    pinned_id = _execution_id(released)

    data = ecspipe("status", "-c", CONFIG, "-o", "json", endpoint=url).json()
    newest = data["executions"][0]
    assert (newest["id"], newest["status"], newest["commit"]) \
        == (pinned_id, "Succeeded", pinned), show(data)
    assert started_id in [e["id"] for e in data["executions"]], show(data)
    assert _tag(data["service"]["image"]).endswith("-" + pinned[:7]), show(data)
    assert data["service"]["matches_latest_success"] is True, show(data)

    # down refuses without --yes when stdin is not a terminal, and deletes nothing.
    refused = ecspipe("down", "-c", CONFIG, endpoint=url)
    assert refused.code == 2, show(refused)
    assert "--yes" in refused.err, show(refused)
    _no_traceback(refused)
    after_refusal = ecspipe("plan", "-c", CONFIG, "-o", "json", endpoint=url)
    assert after_refusal.code == 0, show(after_refusal)
    assert _actions(after_refusal) == actions, show(after_refusal)

    # down --yes deletes what ecspipe created and keeps the repository it did not.
    down = ecspipe("down", "-c", CONFIG, "--yes", endpoint=url)
    assert down.code == 0, show(down)
    assert re.search(r"^\s*- delete\s+pipeline\s+demo-app\s*$", down.out, re.M), show(down)
    assert re.search(r"^\s*· keep\s+ECR repository\s+demo-app\s*$", down.out, re.M), show(down)
    assert re.search(r"Result: \d+ deleted", down.out), show(down)
    _no_traceback(down)

    again = ecspipe("down", "-c", CONFIG, "--yes", endpoint=url)
    assert again.code == 0, show(again)
    assert "nothing to delete" in again.out, show(again)

    gone = ecspipe("status", "-c", CONFIG, endpoint=url)
    assert gone.code == 2, show(gone)
    assert "does not exist" in gone.err, show(gone)
    _no_traceback(gone)


# --- failures the user must see ------------------------------------------------------------


def test_a_failing_build_makes_release_wait_exit_1_with_the_error_and_the_build_log_tail(
        ecspipe, failing_build_sandbox):
    url = failing_build_sandbox.url
    _up_and_wait_for_the_connection(ecspipe, url)

    released = _release_and_wait(ecspipe, url)

    assert released.code == 1, show(released)
    execution_id = _execution_id(released)
    assert "failed action: Build/Build" in released.out, show(released)
    assert "Build terminated with state: FAILED" in released.out, show(released)
    tail = released.out.split("last lines of the build log:", 1)
    assert len(tail) == 2, show(released)
    assert "Phase complete: BUILD State: FAILED" in tail[1], show(released)
    assert "error: " in released.err, show(released)
    _no_traceback(released)

    status = ecspipe("status", "-c", CONFIG, "-o", "json", endpoint=url)
    assert status.code == 0, show(status)
    data = status.json()
    assert (data["executions"][0]["id"], data["executions"][0]["status"]) \
        == (execution_id, "Failed"), show(data)
    build = _stage(data, "Build")
    assert build["status"] == "Failed", show(build)
    assert build["actions"][0]["error"], show(build)
    assert "FAILED" in build["actions"][0]["error"], show(build)
    assert _stage(data, "Deploy")["status"] is None, show(data)
    assert data["service"]["matches_latest_success"] is False, show(data)


def test_a_rolled_back_deployment_makes_release_wait_exit_1_and_says_it_was_rolled_back(
        ecspipe, rollback_sandbox):
    url = rollback_sandbox.url
    _up_and_wait_for_the_connection(ecspipe, url)

    released = _release_and_wait(ecspipe, url)

    assert released.code == 1, show(released)
    assert "rolled back" in released.out, show(released)
    assert "rolled back" in released.err, show(released)
    _no_traceback(released)

    # The pipeline calls it a success; status shows ECS does not run its image.
    data = ecspipe("status", "-c", CONFIG, "-o", "json", endpoint=url).json()
    newest = data["executions"][0]
    assert (newest["id"], newest["status"]) == (_execution_id(released), "Succeeded"), show(data)
    assert not _tag(data["service"]["image"]).endswith("-" + newest["commit"][:7]), show(data)
    assert data["service"]["matches_latest_success"] is False, show(data)


# --- no server ------------------------------------------------------------------------


def test_validate_works_without_any_aws_endpoint(ecspipe):
    closed = f"http://127.0.0.1:{_free_port()}"

    text = ecspipe("validate", "-c", CONFIG, endpoint=closed)
    data = ecspipe("validate", "-c", CONFIG, "-o", "json", endpoint=closed)

    assert text.code == 0, show(text)
    assert "valid" in text.out and "demo-app-us-east-1-codepipeline" in text.out, show(text)
    assert data.code == 0, show(data)
    assert data.json()["valid"] is True, show(data)


def test_up_against_a_closed_port_exits_2_saying_it_cannot_reach_the_endpoint(ecspipe):
    closed = f"http://127.0.0.1:{_free_port()}"

    up = ecspipe("up", "-c", CONFIG, endpoint=closed)

    assert up.code == 2, show(up)
    assert f"cannot reach the AWS endpoint {closed}" in up.err, show(up)
    assert "ecspipe sandbox" in up.err, show(up)  # the hint
    assert up.out == "", show(up)
    _no_traceback(up)


def test_importing_the_cli_loads_neither_boto3_botocore_moto_nor_rich(home):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ecspipe.cli"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=home,
        env=_env(home, None), timeout=COMMAND_TIMEOUT,
    )

    assert proc.returncode == 0, show(proc.stderr)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "ecspipe.cli" in modules, show(proc.stderr)  # the report is what we think it is
    heavy = sorted(m for m in modules if m.split(".")[0] in {"boto3", "botocore", "moto", "rich"})
    assert heavy == []


def test_help_exits_0_and_lists_every_command(ecspipe):
    result = ecspipe("--help", endpoint=None)

    assert result.code == 0, show(result)
    listed = result.out.split("Commands:", 1)[1]
    names = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert names == COMMANDS, show(result)


# --- environments: staging, an approval, production -------------------------------------

ENVIRONMENTS = str(ROOT / "config.environments.example.yaml")
WAIT_STEP = 1.0  # seconds between two looks at `status` while waiting for the pipeline


@pytest.fixture(scope="module")
def environments_sandbox(home):
    yield from _sandbox(home, "--handshake-delay", "0.5")


def _approval(ecspipe, url: str) -> dict | None:
    data = ecspipe("status", "-c", ENVIRONMENTS, "-o", "json", endpoint=url).json()
    production = next(e for e in data["environments"] if e["name"] == "production")
    return production["approval"]


def _wait_for_approval(ecspipe, url: str, execution_id: str | None = None,
                       timeout: float = 90.0) -> dict:
    """Look at `status` until production's approval waits (for that execution)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approval = _approval(ecspipe, url)
        if approval and execution_id in (None, approval["execution_id"]):
            return approval
        time.sleep(WAIT_STEP)  # the server runs on wall time: the pipeline needs seconds
    pytest.fail(f"no approval waited for {execution_id or 'any execution'} within {timeout}s")


class Background:
    """`ecspipe release --wait` running while the test answers its approval."""

    def __init__(self, home: Path, url: str, *args: str) -> None:
        self.out_path = home / f"release-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [*_ecspipe_command(), "release", "-c", ENVIRONMENTS, "--wait", "--timeout",
                 str(RELEASE_TIMEOUT), *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True, cwd=home,
                env=_env(home, url))
        self.started = time.monotonic()

    def _printed(self, find: Callable[[str], Any], what: str, timeout: float) -> Any:
        """Until `find` finds something in what release --wait printed so far (it polls:
        an approval can wait in the sandbox a few seconds before release --wait sees it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = find(self.out_path.read_text())
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"release --wait printed no {what}\n{self.out_path.read_text()}")

    def execution_id(self, timeout: float = COMMAND_TIMEOUT) -> str:
        return self._printed(EXECUTION_ID.search, "execution id", timeout).group(1)

    def said(self, text: str, timeout: float = COMMAND_TIMEOUT) -> None:
        self._printed(lambda out: text in out, repr(text), timeout)

    def result(self) -> Run:
        try:
            code = self.proc.wait(timeout=RELEASE_TIMEOUT + 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("release --wait did not end")
        return Run(("release", "--wait"), code, self.out_path.read_text(),
                   self.err_path.read_text(), time.monotonic() - self.started)


def test_promotion_through_staging_and_an_approval_to_production_and_a_rejection(
        ecspipe, environments_sandbox, home):
    url = environments_sandbox.url

    # up creates a stage per environment (and the approval's), notifications included.
    up = ecspipe("up", "-c", ENVIRONMENTS, "--wait-connection", "--timeout", "60", endpoint=url)
    assert up.code == 0, show(up)
    assert re.search(r"^\s*\+ create\s+notification rule\s+ecspipe-demo-app-us-east-1\s*$",
                     up.out, re.M), show(up)
    status = ecspipe("status", "-c", ENVIRONMENTS, "-o", "json", endpoint=url).json()
    assert [s["name"] for s in status["stages"]] == [
        "Source", "Build", "Deploy-staging", "Approve-production", "Deploy-production"]

    # AWS started an execution when it created the pipeline: it waits for approval too.
    first = _wait_for_approval(ecspipe, url)["execution_id"]
    unasked = ecspipe("approve", "-c", ENVIRONMENTS, "--env", "production", endpoint=url)
    assert unasked.code == 2 and "--yes" in unasked.err, show(unasked)
    rejected = ecspipe("approve", "-c", ENVIRONMENTS, "--env", "production", "--reject",
                       "--yes", "--comment", "the release below is newer", endpoint=url)
    assert rejected.code == 0, show(rejected)
    assert f"rejected: execution {first[:8]}" in rejected.out, show(rejected)

    # release --wait, in the background, stops at the approval...
    release = Background(home, url)
    ours = release.execution_id()
    _wait_for_approval(ecspipe, url, ours)
    release.said("waiting for approval to deploy to production")
    assert release.proc.poll() is None, "release --wait waits while the approval does"
    # ...and `approve` lets it finish.
    approved = ecspipe("approve", "-c", ENVIRONMENTS, "--env", "production", "--yes",
                       endpoint=url)
    assert approved.code == 0, show(approved)
    assert f"promotes       execution {ours[:8]}" in approved.out, show(approved)
    done = release.result()
    assert done.code == 0, show(done)
    assert done.out.count("waiting for approval to deploy to production: ecspipe approve "
                          f"--env production -c {ENVIRONMENTS}") == 1, show(done)
    _no_traceback(done)

    data = ecspipe("status", "-c", ENVIRONMENTS, "-o", "json", endpoint=url).json()
    newest = data["executions"][0]
    assert (newest["id"], newest["status"]) == (ours, "Succeeded"), show(data)
    envs = {e["name"]: e for e in data["environments"]}
    assert list(envs) == ["staging", "production"], show(data)
    assert (envs["staging"]["cluster"], envs["production"]["cluster"]) == (
        "demo-staging", "demo-cluster")
    assert (envs["staging"]["container"], envs["production"]["container"]) == ("app", "web")
    assert _tag(envs["staging"]["image"]) == _tag(envs["production"]["image"]), show(data)
    assert _tag(envs["production"]["image"]).endswith("-" + newest["commit"][:7]), show(data)
    assert envs["staging"]["behind"] == envs["production"]["behind"] == [], show(data)
    deployed = envs["production"]["image"]

    # A rejection: exit 1 with the comment; production keeps its image.
    release = Background(home, url)
    again = release.execution_id()
    _wait_for_approval(ecspipe, url, again)
    release.said("waiting for approval to deploy to production")
    no = ecspipe("approve", "-c", ENVIRONMENTS, "--reject", "--yes", "--comment",
                 "not on a Friday", endpoint=url)
    assert no.code == 0, show(no)
    refused = release.result()
    assert refused.code == 1, show(refused)
    assert "the approval for production was rejected by " in refused.out, show(refused)
    assert "not on a Friday" in refused.out, show(refused)
    _no_traceback(refused)
    data = ecspipe("status", "-c", ENVIRONMENTS, "-o", "json", endpoint=url).json()
    production = next(e for e in data["environments"] if e["name"] == "production")
    assert production["image"] == deployed, show(data)

    down = ecspipe("down", "-c", ENVIRONMENTS, "--yes", endpoint=url)
    assert down.code == 0, show(down)
    assert "scheduled for deletion in 7 days" in down.out, show(down)
