"""`ecspipe validate`, `schema` and the exit-code contract for bad configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from config_cases import FILE_CASES, INVALID_CASES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "config.example.yaml")
NAMES = {"pipeline", "build_project", "codebuild_role", "pipeline_role", "artifact_bucket",
         "connection", "ecr_repository"}


@pytest.fixture
def no_aws(monkeypatch):
    """Fail the test if anything tries to build an AWS client."""
    import ecspipe.aws

    def refuse(*_args, **_kwargs):
        raise AssertionError("validate must not call AWS")

    monkeypatch.setattr(ecspipe.aws.Aws, "client", refuse)


def test_validate_prints_the_resolved_names(ecspipe, no_aws):
    result = ecspipe("validate", "-c", EXAMPLE)
    assert result.code == 0, result
    assert "demo-app-artifacts-<account-id>-us-east-1" in result.out
    assert "demo-app-us-east-1-codepipeline" in result.out
    assert "demo-app-us-east-1-codebuild" in result.out
    assert "connection       demo-app-us-east-1\n" in result.out


def test_validate_json_has_the_documented_keys(ecspipe, no_aws):
    result = ecspipe("validate", "-c", EXAMPLE, "-o", "json")
    assert result.code == 0, result
    data = result.json()
    assert data["valid"] is True
    assert set(data["names"]) >= NAMES
    assert data["names"]["build_project"] == "demo-app-build"


def test_validate_resolves_the_bucket_when_the_account_is_configured(ecspipe, write_config):
    path = write_config(('# account_id: "123456789012"', 'account_id: "123456789012"'))
    data = ecspipe("validate", "-c", path, "-o", "json").json()
    assert data["names"]["artifact_bucket"] == "demo-app-artifacts-123456789012-us-east-1"


def test_the_config_file_comes_from_ECSPIPE_CONFIG(ecspipe, monkeypatch, no_aws):
    monkeypatch.setenv("ECSPIPE_CONFIG", EXAMPLE)
    assert ecspipe("validate").code == 0


@pytest.mark.parametrize("case_id,text,path", INVALID_CASES, ids=[c[0] for c in INVALID_CASES])
def test_an_invalid_config_exits_2_naming_the_field_without_traceback(
        ecspipe, tmp_path, no_aws, case_id, text, path):
    config = tmp_path / "ecspipe.yaml"
    config.write_text(text)
    result = ecspipe("validate", "-c", str(config))
    assert result.code == 2, result
    assert path in result.err
    assert f"{config}:" in result.err, "each problem says FILE:LINE"
    assert "Traceback" not in result.err
    assert result.out == ""


@pytest.mark.parametrize("case_id,text,needle", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_an_unreadable_config_file_is_one_clear_error(ecspipe, tmp_path, no_aws,
                                                       case_id, text, needle):
    config = tmp_path / "ecspipe.yaml"
    config.write_text(text)
    result = ecspipe("validate", "-c", str(config))
    assert result.code == 2, result
    assert needle in result.err
    assert "Traceback" not in result.err


def test_a_missing_config_file_exits_2_with_a_hint(ecspipe, tmp_path, no_aws):
    result = ecspipe("validate", "-c", str(tmp_path / "nope.yaml"))
    assert result.code == 2, result
    assert "nope.yaml" in result.err and "hint:" in result.err


def test_a_directory_as_config_exits_2(ecspipe, tmp_path, no_aws):
    result = ecspipe("validate", "-c", str(tmp_path))
    assert result.code == 2 and "Traceback" not in result.err, result


def test_an_invalid_config_stops_up_before_any_aws_call(ecspipe, tmp_path, calls):
    config = tmp_path / "ecspipe.yaml"
    config.write_text(INVALID_CASES[0][1])
    result = ecspipe("up", "-c", str(config))
    assert result.code == 2, result
    assert calls.ops == []


def test_verbose_shows_the_traceback_of_a_user_error(ecspipe, tmp_path):
    result = ecspipe("validate", "-v", "-c", str(tmp_path / "nope.yaml"))
    assert result.code == 2
    assert "Traceback" in result.err


def test_schema_prints_a_json_schema_that_forbids_unknown_keys(ecspipe):
    result = ecspipe("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert {"name", "region", "source", "service", "build", "image", "tags"} <= set(
        schema["properties"])
    assert schema.get("additionalProperties") is False


def test_an_unknown_flag_is_a_usage_error_with_exit_2(ecspipe):
    result = ecspipe("up", "--no-such-flag")
    assert result.code == 2
    assert "No such option" in result.err


def test_every_command_has_a_one_line_help(ecspipe):
    from ecspipe.cli import cli

    result = ecspipe("--help")
    assert result.code == 0
    for name, command in cli.commands.items():
        assert command.help, name
        assert name in result.out
        assert "..." not in command.get_short_help_str(limit=60), name
