"""init's pure parts (initfile.py): the derived name, single-value checks, the rendered file."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ecspipe.config import parse_config
from ecspipe.init import ecr_repository_of
from ecspipe.initfile import (
    Found,
    derive_name,
    problem_with,
    render_config,
    validate_rendered,
)

ECS_NAME = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1,
                   max_size=255)


@pytest.mark.parametrize("service,name", [
    ("demo-web-service", "demo-web-service"),
    ("Demo_Web__Service", "demo-web-service"),
    ("api", "api"),
    ("-leading--and-trailing-", "leading-and-trailing"),
    ("2048-game", "ecs-2048-game"),
    ("x", "ecs-x"),
    ("_", "ecs"),
    ("sthree-files", "ecs-sthree-files"),
    ("amzn-s3-demo-bucket", "ecs-amzn-s3-demo-bucket"),
    ("a-very-long-service-name-for-payments", "a-very-long-service-name"),
    ("payments-processing-service-x", "payments-processing-serv"),
    ("abcdefghijklmnopqrstuvw-z", "abcdefghijklmnopqrstuvw"),
])
def test_the_name_is_derived_from_the_service_name(service, name):
    assert derive_name(service) == name
    assert problem_with(("name",), name) is None


@given(ECS_NAME)
def test_every_ecs_service_name_derives_a_valid_name(service):
    name = derive_name(service)

    assert problem_with(("name",), name) is None, (service, name)
    assert derive_name(service) == name  # deterministic


@given(st.text(max_size=60))
def test_any_text_derives_a_valid_name(text):
    assert problem_with(("name",), derive_name(text)) is None


def test_single_values_are_checked_with_the_configs_own_rules():
    assert problem_with(("source", "branch"), "main") is None
    assert "'..'" in problem_with(("source", "branch"), "a..b")
    assert "owner/repo" in problem_with(("source", "repository"), "a/b/c")
    assert "lowercase" in problem_with(("name",), "Demo")
    assert problem_with(("build", "context"), "services/api") is None
    assert "space" in problem_with(("build", "context"), "my app")
    assert "container name" in problem_with(("service", "container"), "a b")


def test_ecr_images_of_this_account_and_region_give_their_repository():
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:20261101-0a1b2c3"
    assert ecr_repository_of(image, "123456789012", "us-east-1") == "team/app"
    by_digest = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:" + "ab" * 32
    assert ecr_repository_of(by_digest, "123456789012", "us-east-1") == "team/app"
    assert ecr_repository_of(image, "210987654321", "us-east-1") is None
    assert ecr_repository_of(image, "123456789012", "eu-west-1") is None
    assert ecr_repository_of("nginx:1.27", "123456789012", "us-east-1") is None
    assert ecr_repository_of(None, "123456789012", "us-east-1") is None


def _found(**changes) -> Found:
    values = dict(
        name="demo-web-service", name_note="from the service name", region="us-east-1",
        account_id="123456789012", repository="acme/demo-app", provider="GitHub",
        branch="main", cluster="demo-cluster", service="demo-web-service", container="web",
        task_definition="demo-web:1", cpu_architecture="X86_64",
        source_note="from origin: git@github.com:acme/demo-app.git",
    )
    values.update(changes)
    return Found(**values)


def test_the_rendered_config_parses_back_to_every_value_it_set():
    text = render_config(_found(connection_arn="arn:aws:codeconnections:us-east-1:123456789012:"
                                "connection/abc-123", context="services/web",
                                dockerfile="services/web/Dockerfile", ecr_repository="demo-app"))

    config = parse_config(text)

    assert text.splitlines()[0] == "# yaml-language-server: $schema=./ecspipe.schema.json"
    assert (config.name, config.region, config.account_id) == (
        "demo-web-service", "us-east-1", "123456789012")
    assert (config.source.repository, config.source.branch, config.source.provider) == (
        "acme/demo-app", "main", "GitHub")
    assert config.source.connection_arn.endswith("connection/abc-123")
    assert (config.service.cluster, config.service.name, config.service.container) == (
        "demo-cluster", "demo-web-service", "web")
    assert (config.build.context, config.build.dockerfile) == (
        "services/web", "services/web/Dockerfile")
    assert config.image.repository == "demo-app"


def test_the_optional_keys_are_there_commented_out_and_uncommenting_them_stays_valid():
    text = render_config(_found())
    commented = [line for line in text.splitlines() if line.lstrip().startswith("# ")
                 and ":" in line and not line.startswith("# ")]

    keys = {line.split("#", 1)[1].split(":", 1)[0].strip() for line in commented}
    assert {"connection_arn", "dockerfile", "compute_type", "image", "buildspec",
            "timeout_minutes", "env", "test_commands", "repository", "keep"} <= keys
    uncommented = "\n".join(
        line.replace("# ", "", 1) if line.startswith("  # ") and not line.startswith("  #  ")
        and "connection_arn" not in line else line
        for line in text.splitlines())
    uncommented = uncommented.replace("  #   ", "    ").replace("#   team", "  team")
    uncommented = uncommented.replace("# tags:", "tags:")
    config = parse_config(uncommented)
    assert config.build.env["APP_ENV"] == "production"
    assert config.build.test_commands == ['docker run --rm "$IMAGE_URI" make test']
    assert config.image.keep == 20 and config.tags == {"team": "platform"}


HOSTILE = ["feat/#1", "a: b", "yes", "null", "'quoted'", '"dq"', "*star", "&anchor", "!tag",
           "@at", "%pct", "x #comment", "1.0", "0x1F", "{brace}", "[list]", "- dash", "~",
           "tab\there", "line\nbreak", "ünïcødé", "`tick`", ">fold", "|lit"]


@pytest.mark.parametrize("value", HOSTILE)
def test_values_are_quoted_so_yaml_reads_back_exactly_the_same_text(value):
    text = render_config(_found(branch=value, source_note=f"from origin: {value}",
                                name_note=value))

    data = yaml.safe_load(text)  # valid YAML whatever the value, and the same value

    assert data["source"]["branch"] == value
    assert data["name"] == "demo-web-service" and data["version"] == 1
    assert set(data) == {"version", "name", "region", "account_id", "source", "service",
                         "build", "image"}


def test_a_comment_cannot_be_broken_out_of():
    text = render_config(_found(source_note="x\nname: injected", name_note="y\rtags: {}"))

    assert not any(line.startswith(("name: injected", "tags:")) for line in text.splitlines())
    assert parse_config(text).name == "demo-web-service"


def test_a_rendered_file_that_does_not_validate_is_exit_1_with_the_problems():
    text = render_config(_found(container="not a container"))

    with pytest.raises(Exception) as excinfo:
        validate_rendered(text, "ecspipe.yaml")

    assert excinfo.value.exit_code == 1
    assert "a bug in ecspipe" in excinfo.value.message
    assert any("service.container" in p for p in excinfo.value.problems)


class _Pick:
    def __init__(self, index):
        self.index, self.asked = index, []

    def choose(self, question, options, default=0):
        self.asked.append(list(options))
        return self.index


def test_several_dockerfiles_ask_or_keep_the_root_with_a_warning(tmp_path):
    from ecspipe.init import _dockerfile

    for rel in ("api", "worker", "my app"):
        (tmp_path / rel).mkdir()
        (tmp_path / rel / "Dockerfile").write_text("FROM scratch\n")
    said, warnings = [], []

    unasked = _dockerfile(str(tmp_path), None, said.append, warnings)
    pick = _Pick(1)
    asked = _dockerfile(str(tmp_path), pick, said.append, [])

    assert unasked == (".", None, "several Dockerfiles: api/Dockerfile, worker/Dockerfile")
    assert any("my app/Dockerfile: its directory cannot be build.context" in w for w in warnings)
    assert any("set build.context and build.dockerfile" in w for w in warnings)
    assert pick.asked == [["api/Dockerfile", "worker/Dockerfile"]]
    assert asked == ("worker", "worker/Dockerfile", "")
    text = render_config(_found(context=".", dockerfile_note=unasked[2]))
    assert "context: .                  # several Dockerfiles: api/Dockerfile" in text
