"""Fixtures of the sandbox self-tests.

`aws` makes boto3 clients from one session kept for the whole run: mock_aws
resets boto3's default session on entry, and a fresh session reloads every
service model from disk (0.3-0.5 s a client), which would dominate these tests.
Clients made from it work in mock mode (moto's stubber is a botocore built-in
handler, so any session created after moto's import carries it) and against a
server (pass endpoint_url).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

REGION = "us-east-1"


@pytest.fixture(scope="session")
def _session() -> Any:
    import boto3
    import moto  # noqa: F401  (registers moto's stubber before the session exists)

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture
def aws(_session) -> Callable[..., Any]:
    """`aws("ecs")`, `aws("codebuild", region_name=..., endpoint_url=...)`."""

    def client(service: str, **kwargs: Any) -> Any:
        return _session.client(service, **kwargs)

    return client
