"""How AWS-side failures reach the user: one clear line, the right exit code, no traceback."""

from __future__ import annotations

import pytest


class FakeHttp:
    status_code = 400


def refuse_all(code: str, message: str):
    def hook(model, **_kwargs):
        return FakeHttp(), {"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": 400}}

    return hook


@pytest.mark.parametrize("code", ["ExpiredToken", "InvalidClientTokenId"])
def test_rejected_credentials_are_a_user_error_with_a_hint(seeded, ecspipe, write_config, code):
    hook = refuse_all(code, "The security token included in the request is expired")
    result = ecspipe("plan", "-c", write_config(), obj={"client_hooks": [("before-call.*.*", hook)]})
    assert result.code == 2, result
    assert f"AWS rejected the credentials ({code})" in result.err
    assert "hint:" in result.err and "Traceback" not in result.err


def test_missing_credentials_are_a_user_error(seeded, ecspipe, write_config, monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    result = ecspipe("plan", "-c", write_config())
    assert result.code == 2, result
    assert "no AWS credentials found" in result.err


def test_an_unknown_profile_is_a_user_error(seeded, ecspipe, write_config):
    result = ecspipe("plan", "-c", write_config(), "--profile", "nope")
    assert result.code == 2, result
    assert "profile 'nope'" in result.err


def test_a_quota_error_says_it_is_a_quota_not_throttling(seeded, ecspipe, write_config):
    hook = refuse_all("LimitExceededException", "Cannot exceed quota for PipelinesPerAccount")

    def only_pipelines(model, **kwargs):
        return hook(model) if model.name == "CreatePipeline" else None

    result = ecspipe("up", "-c", write_config(),
                     obj={"client_hooks": [("before-call.*.*", only_pipelines)]})
    assert result.code == 1, result
    assert "quota" in result.err and "Service Quotas" in result.err


def test_status_watch_refreshes_until_interrupted(seeded, ecspipe, write_config):
    path = write_config()
    assert ecspipe("up", "-c", path, "--wait-connection").code == 0
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt

    result = ecspipe("status", "-c", path, "--watch", obj={"sleep": sleep})
    assert result.code == 130
    assert result.out.count("pipeline   demo-app") == 2
