"""Shared fixtures: fake credentials, the sandbox in mock mode, a manual clock.

No test talks to real AWS: every test gets fake credentials and, when it needs
AWS, moto in-process with ecspipe's sandbox extensions installed (`sandbox`
fixture) — the same emulator `ecspipe sandbox` serves over HTTP.
"""

from __future__ import annotations

import os

import pytest

REGION = "us-east-1"

# ECS pulls in moto's EC2 backend, which otherwise parses ~1,300 default AMIs
# (over a second) every time the mock starts. Nothing here needs them.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Fake credentials everywhere; never a real profile, endpoint or config file."""
    for var in list(os.environ):
        if var.startswith("AWS_") or var == "ECSPIPE_CONFIG":
            monkeypatch.delenv(var, raising=False)
    empty = tmp_path_factory.mktemp("awsconfig")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    # Compact botocore models (modelcache.py) go to this run's temp dir, not ~/.cache.
    monkeypatch.setenv("ECSPIPE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "models"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")


@pytest.fixture
def clock():
    from ecspipe.sandbox.settings import ManualClock

    return ManualClock()


@pytest.fixture
def sandbox(clock):
    """moto in-process with every sandbox extension, a manual clock, nothing seeded."""
    from moto import mock_aws

    from ecspipe import sandbox as sb
    from ecspipe.sandbox import settings

    sb.install()
    settings.reset(clock=clock)
    with mock_aws():
        yield settings.SETTINGS
    settings.reset()


@pytest.fixture
def seeded(sandbox):
    """The sandbox plus what the guide's Part 1 made (matches config.example.yaml)."""
    from ecspipe.sandbox.seed import seed

    return seed(region=REGION)


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "config.example.yaml"
READ_OPS = ("Get", "Describe", "List", "BatchGet", "Head")


class CallLog:
    """Every AWS operation the CLI sends, in order (a botocore before-call hook)."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def hook(self, model, **_kwargs) -> None:
        self.ops.append(model.name)

    @property
    def writes(self) -> list[str]:
        return [op for op in self.ops if not op.startswith(READ_OPS)]

    def clear(self) -> None:
        self.ops.clear()


class Invocation:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        import json

        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


@pytest.fixture
def calls() -> CallLog:
    return CallLog()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def ecspipe(capsys, calls, sleeps, clock):
    """Run the CLI in-process: ecspipe("up", "-c", path) -> Invocation(code, out, err).

    Sleeps are recorded instead of slept (and advance the sandbox clock), and every
    AWS operation is logged in `calls`.
    """
    from ecspipe.cli import run

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    def invoke(*args: str, obj: dict | None = None) -> Invocation:
        capsys.readouterr()
        injected = {
            "sleep": fake_sleep,
            "clock": clock.now,
            "wall": clock.now,
            "client_hooks": [("before-call.*.*", calls.hook)],
        }
        extra = dict(obj or {})
        injected["client_hooks"] = injected["client_hooks"] + extra.pop("client_hooks", [])
        injected.update(extra)
        code = run(list(args), obj=injected)
        captured = capsys.readouterr()
        return Invocation(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def write_config(tmp_path):
    """Write config.example.yaml with text replacements: write_config(("main", "release"))."""

    def write(*replacements: tuple[str, str], name: str = "ecspipe.yaml") -> str:
        text = EXAMPLE.read_text()
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write
