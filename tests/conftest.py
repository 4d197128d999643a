"""Shared fixtures: fake credentials, the sandbox in mock mode, a manual clock.

No test talks to real AWS: every test gets fake credentials and, when it needs
AWS, moto in-process with ecspipe's sandbox extensions installed (`sandbox`
fixture) — the same emulator `ecspipe sandbox` serves over HTTP.
"""

from __future__ import annotations

import os

import pytest

REGION = "us-east-1"


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
