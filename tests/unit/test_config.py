"""ecspipe.config: loading, validation rules and the one-line-per-problem report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from config_cases import FILE_CASES, INVALID_CASES, VALID_BASE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecspipe.config import (
    Config,
    ParameterStoreRef,
    SecretsManagerRef,
    config_json_schema,
    load_config,
    parse_config,
)
from ecspipe.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBLEM_LINE = re.compile(r"^(?P<file>\S+):(?P<line>\d+) (?P<path>\S+): (?P<what>.+)$")


def problems_of(text: str, filename: str = "ecspipe.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, filename)
    return caught.value.problems


def parsed(line: str) -> dict[str, str]:
    match = PROBLEM_LINE.match(line)
    assert match, f"not a FILE:LINE path: message line: {line!r}"
    return match.groupdict()


def test_the_documented_example_config_is_valid():
    config = load_config(REPO_ROOT / "config.example.yaml")

    assert config.name == "demo-app"
    assert config.source.owner == "acme"
    assert config.source.repo == "demo-app"
    assert config.service.container == "web"
    assert config.build.env == {"APP_ENV": "production"}


def test_the_valid_base_of_the_cases_is_valid():
    assert parse_config(VALID_BASE).name == "demo-app"


def test_defaults_are_filled_and_the_image_repository_defaults_to_the_name():
    text = "version: 1\nname: my-app\nregion: eu-central-2\nsource: {repository: a/b, branch: main}\nservice: {cluster: c, name: s}\n"

    config = parse_config(text)

    assert config.image.repository == "my-app"
    assert config.image.keep == 20
    assert config.build.context == "."
    assert config.build.compute_type == "BUILD_GENERAL1_SMALL"
    assert config.build.timeout_minutes == 30
    assert config.build.env == {} and config.build.test_commands == []
    assert config.source.provider == "GitHub"
    assert config.account_id is None and config.tags == {}


def test_empty_optional_sections_mean_their_defaults():
    text = VALID_BASE.replace("    APP_ENV: production\n", "").replace("  team: platform\n", "")

    config = parse_config(text)

    assert config.build.env == {}
    assert config.tags == {}


@pytest.mark.parametrize(
    ("case_id", "text", "expected_path"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES]
)
def test_each_invalid_config_is_reported_as_one_problem_at_its_field(case_id, text, expected_path):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)

    error = caught.value
    assert error.message == "ecspipe.yaml: 1 problem in the configuration"
    assert len(error.problems) == 1, error.problems
    problem = parsed(error.problems[0])
    assert problem["file"] == "ecspipe.yaml"
    assert expected_path in problem["path"]
    assert problem["path"] == expected_path
    assert "Value error" not in problem["what"]
    assert "\n" not in error.problems[0]


def test_there_are_enough_invalid_cases_and_their_ids_are_unique():
    ids = [case_id for case_id, _, _ in INVALID_CASES]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("case_id", "text", "expected"), FILE_CASES, ids=[c[0] for c in FILE_CASES]
)
def test_whole_file_problems_are_one_clear_message(case_id, text, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)

    error = caught.value
    assert expected in "\n".join([error.message, *error.problems])
    assert "\n" not in error.message
    assert error.message.startswith("ecspipe.yaml")
    for line in error.problems:
        parsed(line)


def test_malformed_yaml_reports_the_line_and_column():
    with pytest.raises(ConfigError) as caught:
        parse_config("version: 1\nname: [demo-app\nregion: us-east-1\n")

    assert re.match(r"ecspipe\.yaml:\d+:\d+: invalid YAML: ", caught.value.message)
    assert caught.value.problems == []


def test_tab_indentation_gets_a_hint_about_spaces():
    with pytest.raises(ConfigError) as caught:
        parse_config("version: 1\nsource:\n\trepository: a/b\n")

    assert "spaces" in (caught.value.hint or "")


def test_every_problem_is_reported_at_once_sorted_by_line():
    text = (
        VALID_BASE.replace("name: demo-app", "name: Demo")
        .replace("  branch: main", "  branch: a..b")
        .replace("  keep: 20", "  keep: 0")
    )

    problems = problems_of(text)

    assert [parsed(p)["path"] for p in problems] == ["name", "source.branch", "image.keep"]
    assert [int(parsed(p)["line"]) for p in problems] == [2, 6, 21]


def test_the_message_counts_the_problems():
    text = VALID_BASE.replace("name: demo-app", "name: Demo").replace("  keep: 20", "  keep: 0")

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "conf/ecspipe.yaml")

    assert caught.value.message == "conf/ecspipe.yaml: 2 problems in the configuration"
    assert all(p.startswith("conf/ecspipe.yaml:") for p in caught.value.problems)


@pytest.mark.parametrize(
    ("change", "line", "path"),
    [
        (("  branch: main", "  branch: a b"), 6, "source.branch"),
        (("  branch: main\n", ""), 4, "source.branch"),
        (("name: demo-app\n", ""), 1, "name"),
        (("    APP_ENV: production", "    DB_PASSWORD: hunter2"), 17, "build.env.DB_PASSWORD"),
        (
            ("  test_commands: []", "  test_commands:\n    - make\n    - ''"),
            20,
            "build.test_commands.1",
        ),
        (("  team: platform", "  team: platform\n  aws:x: y"), 24, "tags.aws:x"),
    ],
)
def test_problems_point_at_the_line_of_the_offending_key(change, line, path):
    problems = problems_of(VALID_BASE.replace(*change))

    assert len(problems) == 1
    assert parsed(problems[0])["line"] == str(line)
    assert parsed(problems[0])["path"] == path


def test_line_numbers_follow_the_file_as_written_with_comments_and_flow_style():
    text = "# header\n\n" + VALID_BASE.replace(
        "service:\n  cluster: demo-cluster\n  name: demo-web-service\n  container: web\n",
        "service: {cluster: demo-cluster, name: 'bad name'}\n",
    )

    (problem,) = problems_of(text)

    assert parsed(problem)["line"] == "10"
    assert parsed(problem)["path"] == "service.name"


def test_an_unknown_key_suggests_the_closest_allowed_key():
    (problem,) = problems_of(VALID_BASE.replace("  branch: main", "  brnach: main"))

    assert "unknown key 'brnach' (did you mean 'branch'?)" in problem


def test_an_unknown_key_with_no_close_match_lists_the_allowed_keys():
    (problem,) = problems_of(VALID_BASE + "colour: blue\n")

    assert "unknown key 'colour'" in problem
    assert "allowed: version, name, region" in problem


def test_a_missing_required_field_says_so():
    (problem,) = problems_of(VALID_BASE.replace("  branch: main\n", ""))

    assert problem == "ecspipe.yaml:4 source.branch: required field is missing"


def test_values_are_shown_short_and_truncated():
    (problem,) = problems_of(VALID_BASE.replace("  branch: main", f"  branch: {'x' * 300}"))

    got = problem.split("(got ", 1)[1]
    assert len(got) <= 61
    assert got.endswith("...)")


@pytest.mark.parametrize("value", ["hunter2", "982451653"])
def test_secret_values_are_never_printed(value):
    (problem,) = problems_of(VALID_BASE.replace("APP_ENV: production", f"DB_PASSWORD: {value}"))

    assert value not in problem
    assert "parameter_store" in problem and "secrets_manager" in problem


def test_env_references_become_models():
    text = VALID_BASE.replace(
        "    APP_ENV: production",
        "    APP_ENV: production\n    DB_PASSWORD: {parameter_store: /demo/db}\n"
        "    API_TOKEN:\n      secrets_manager: demo/api-token",
    )

    env = parse_config(text).build.env

    assert env["APP_ENV"] == "production"
    assert env["DB_PASSWORD"] == ParameterStoreRef(parameter_store="/demo/db")
    assert env["API_TOKEN"] == SecretsManagerRef(secrets_manager="demo/api-token")


def test_ecs_arns_are_accepted_and_give_short_names():
    text = VALID_BASE.replace(
        "  cluster: demo-cluster",
        "  cluster: arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster",
    ).replace(
        "  name: demo-web-service",
        "  name: arn:aws:ecs:us-east-1:123456789012:service/demo-cluster/demo-web-service",
    )

    service = parse_config(text).service

    assert service.cluster_name == "demo-cluster"
    assert service.service_name == "demo-web-service"


def test_a_service_arn_in_another_cluster_is_an_error():
    text = VALID_BASE.replace(
        "  name: demo-web-service",
        "  name: arn:aws:ecs:us-east-1:123456789012:service/other/demo-web-service",
    )

    (problem,) = problems_of(text)

    assert parsed(problem)["path"] == "service.name"
    assert "'other'" in problem


def test_a_connection_arn_of_the_same_account_and_region_is_accepted():
    arn = "arn:aws:codestar-connections:us-east-1:123456789012:connection/abc-123"
    text = VALID_BASE.replace(
        "region: us-east-1", 'region: us-east-1\naccount_id: "123456789012"'
    ).replace("  provider: GitHub", f"  provider: GitHub\n  connection_arn: {arn}")

    config = parse_config(text)

    assert config.source.connection_arn == arn
    assert config.account_id == "123456789012"


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-2",
        "il-central-1",
        "mx-central-1",
        "ap-southeast-7",
        "cn-north-1",
        "us-gov-west-1",
    ],
)
def test_every_kind_of_region_code_is_accepted(region):
    assert (
        parse_config(VALID_BASE.replace("region: us-east-1", f"region: {region}")).region == region
    )


@pytest.mark.parametrize("branch", ["main", "feature/x-1", "release-2024.01", "a@b", "v1.0"])
def test_ordinary_branch_names_are_accepted(branch):
    assert (
        parse_config(VALID_BASE.replace("branch: main", f"branch: {branch}")).source.branch
        == branch
    )


def test_a_date_like_branch_stays_a_string():
    assert (
        parse_config(VALID_BASE.replace("branch: main", "branch: 2024-01-01")).source.branch
        == "2024-01-01"
    )


def test_a_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "ecspipe.yaml")

    assert caught.value.message == f"{tmp_path / 'ecspipe.yaml'}: no such file"
    assert "config.example.yaml" in caught.value.hint
    assert "-c" in caught.value.hint
    assert caught.value.problems == []


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)

    assert "is a directory" in caught.value.message


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "ecspipe.yaml"
    path.write_bytes(b"name: \xff\xfe\xfa\n")

    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_problems_name_the_file_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("my.yaml").write_text(VALID_BASE.replace("  keep: 20", "  keep: 0"))

    with pytest.raises(ConfigError) as caught:
        load_config("my.yaml")

    assert caught.value.problems == ["my.yaml:21 image.keep: must be between 1 and 1000 (got 0)"]


def test_the_json_schema_describes_the_top_level_and_forbids_unknown_keys():
    schema = config_json_schema()

    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Config.model_fields)
    assert {"version", "name", "region", "source"} <= set(schema["required"])
    assert schema["oneOf"] == [{"required": ["service"]}, {"required": ["environments"]}]
    assert all(d.get("additionalProperties") is False for d in schema["$defs"].values())


def test_deeply_nested_or_self_referencing_yaml_is_a_config_error():
    for text in ["[" * 1000, "name: &a [*a]\n", "a: &x {b: *x}\nname: *x\n"]:
        with pytest.raises(ConfigError):
            parse_config(text)


YAML_ALPHABET = st.sampled_from(
    list(":-[]{}#&*!|>'\"%@`,?~ \n\t") + ["name", "version: 1", "source", "  ", "---", "<<"]
)
FIELD_NAMES = [
    "version", "name", "region", "account_id", "source", "service", "build", "image", "tags",
    "repository", "branch", "provider", "connection_arn", "cluster", "container", "env",
    "test_commands", "keep", "parameter_store", "secrets_manager", "context", "dockerfile",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
SHALLOW = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(FIELD_NAMES), SCALARS, max_size=3),
)
VALUES = st.one_of(SHALLOW, st.dictionaries(st.sampled_from(FIELD_NAMES), SHALLOW, max_size=4))
# A parse costs about a millisecond; these budgets keep the module well under 5 s.
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_raises_config_error(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as error:
        assert "\n" not in error.message
        for line in error.problems:
            parsed(line)


@FAST
@given(st.text(max_size=200))
def test_random_text_never_raises_anything_but_config_error(text):
    parses_or_raises_config_error(text)


@FAST
@given(st.lists(YAML_ALPHABET, max_size=40).map("".join))
def test_random_yaml_punctuation_never_raises_anything_but_config_error(text):
    parses_or_raises_config_error(text)


@settings(FAST, max_examples=40)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), VALUES, max_size=9))
def test_random_structures_never_raise_anything_but_config_error(data):
    parses_or_raises_config_error(yaml.safe_dump(data))


BASE_LINES = VALID_BASE.splitlines()
VALUE_LINES = [i for i, line in enumerate(BASE_LINES) if ": " in line]


@FAST
@given(st.sampled_from(VALUE_LINES), st.one_of(SCALARS, st.lists(SCALARS, max_size=2)))
def test_any_value_in_any_field_is_accepted_or_reported_on_that_field_only(index, value):
    key = BASE_LINES[index].split(": ", 1)[0]
    rendered = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    rendered = rendered.removesuffix("\n...").removesuffix("...").strip()
    lines = [*BASE_LINES]
    lines[index] = f"{key}: {rendered}"
    try:
        parse_config("\n".join(lines) + "\n")
    except ConfigError as error:
        assert error.problems, error.message
        assert [parsed(p)["line"] for p in error.problems] == [str(index + 1)] * len(error.problems)
