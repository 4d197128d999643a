"""`environments:` and `notify:` in ecspipe.yaml: their rules, offline, with the field path."""

from __future__ import annotations

import re

import pytest

from ecspipe.config import parse_config
from ecspipe.errors import ConfigError

HEAD = """\
version: 1
name: demo-app
region: us-east-1
account_id: "123456789012"
source: {repository: acme/demo-app, branch: main}
"""
TWO = HEAD + """\
environments:
  - name: staging
    service: {cluster: demo-staging, name: demo-web-staging}
  - name: production
    service: {cluster: demo-cluster, name: demo-web-service, container: web}
    approval: true
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "e.yaml")
    return caught.value.problems


def one_problem(text: str) -> str:
    (line,) = problems(text)
    return line


def test_two_environments_are_two_targets_in_order() -> None:
    config = parse_config(TWO)
    assert config.service is None
    assert [(t.name, t.service.cluster, t.service.container, t.approval, t.index)
            for t in config.targets] == [
        ("staging", "demo-staging", None, False, 0),
        ("production", "demo-cluster", "web", True, 1),
    ]
    assert config.targets[1].where == "environments[1] (production): service"
    assert config.targets[1].path == "environments[1].service"


def test_a_single_service_is_one_unnamed_target() -> None:
    config = parse_config(HEAD + "service: {cluster: c, name: s}\n")
    (target,) = config.targets
    assert (target.name, target.where, target.approval) == (None, "service", False)


def test_neither_service_nor_environments_says_both_keys() -> None:
    line = one_problem(HEAD)
    assert line.startswith("e.yaml:1 service: required field is missing")
    assert "`environments:`" in line


def test_service_and_environments_together_is_refused_naming_both() -> None:
    line = one_problem(TWO + "service: {cluster: c, name: s}\n")
    assert re.match(r"e\.yaml:6 environments: give `service:` .* or `environments:` .*not both",
                    line), line


@pytest.mark.parametrize(("name", "why"), [
    ("", "1-20 characters"),
    ("a" * 21, "1-20 characters"),
    ("Prod", "must be lowercase: 'prod'"),
    ("1st", "must start with a lowercase letter"),
    ("pre--prod", "'--'"),
    ("prod-", "must end with a letter or digit"),
    ("prod_eu", "only lowercase letters, digits and single hyphens"),
    ("prod eu", "only lowercase letters, digits and single hyphens"),
])
def test_an_environment_name_must_fit_stage_and_file_names(name: str, why: str) -> None:
    line = one_problem(TWO.replace("name: staging", f"name: {name!r}"))
    assert line.startswith("e.yaml:7 environments.0.name: "), line
    assert why in line


def test_environment_names_are_unique_and_the_second_one_is_pointed_at() -> None:
    line = one_problem(TWO.replace("name: production", "name: staging"))
    assert line.startswith("e.yaml:9 environments.1.name: environment name 'staging' is used "
                           "twice"), line


def test_at_most_ten_environments_and_at_least_one() -> None:
    many = HEAD + "environments:\n" + "".join(
        f"  - {{name: e{i}, service: {{cluster: c, name: s{i}}}}}\n" for i in range(11))
    assert "environments: " in one_problem(many)
    assert len(parse_config(many.replace("  - {name: e10, service: {cluster: c, name: s10}}\n",
                                         "")).targets) == 10
    assert "environments" in one_problem(HEAD + "environments: []\n")


def test_an_environments_service_is_checked_like_the_single_service() -> None:
    text = TWO.replace("name: demo-web-staging", "name: web/staging")
    assert one_problem(text).startswith("e.yaml:8 environments.0.service.name: ")
    text = TWO.replace("container: web", "container: 'web app'")
    assert one_problem(text).startswith("e.yaml:10 environments.1.service.container: ")


@pytest.mark.parametrize(("arn", "why"), [
    ("arn:aws:ecs:eu-west-1:123456789012:cluster/demo-cluster",
     "is in region eu-west-1, but region is us-east-1"),
    ("arn:aws:ecs:us-east-1:210987654321:cluster/demo-cluster",
     "is in account 210987654321, but account_id is 123456789012"),
    ("arn:aws-cn:ecs:us-east-1:123456789012:cluster/demo-cluster", "partition 'aws-cn'"),
])
def test_an_environment_in_another_account_or_region_is_refused(arn: str, why: str) -> None:
    line = one_problem(TWO.replace("cluster: demo-cluster", f"cluster: {arn}"))
    assert line.startswith("e.yaml:10 environments.1.service.cluster: the cluster "), line
    assert why in line


def test_approval_is_a_boolean() -> None:
    assert "environments.1.approval" in one_problem(TWO.replace("approval: true",
                                                                "approval: 'yes'"))
    assert "did you mean 'approval'" in one_problem(TWO.replace("approval: true",
                                                                "approvals: true"))


NOTIFY = TWO + "notify:\n  email: [ops@example.com]\n"


def test_notify_by_email_defaults_to_failures_and_approvals() -> None:
    notify = parse_config(NOTIFY).notify
    assert notify is not None
    assert (notify.email, notify.sns_topic_arn, notify.events, notify.owned_topic) == (
        ["ops@example.com"], None, ["failed", "approval"], True)


def test_notify_to_a_given_topic_for_chosen_events() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:team-alerts"
    notify = parse_config(TWO + f"notify:\n  sns_topic_arn: {topic}\n  events: [succeeded]\n"
                          ).notify
    assert notify is not None and (notify.sns_topic_arn, notify.events, notify.owned_topic) == (
        topic, ["succeeded"], False)


@pytest.mark.parametrize(("block", "where", "why"), [
    ("  events: [failed]\n", "notify", "not neither"),
    ("  email: [a@example.com]\n  sns_topic_arn: arn:aws:sns:us-east-1:123456789012:t\n",
     "notify", "not both"),
    ("  email: []\n", "notify.email", ""),
    ("  email: [a@example.com, A@Example.com]\n", "notify.email.1", "listed twice"),
    ("  email: [a@example.com]\n  events: [failed, failed]\n", "notify.events",
     "more than once"),
    ("  email: [a@example.com]\n  events: [deployed]\n", "notify.events.0",
     "failed, approval, succeeded"),
    ("  email: [a@example.com]\n  events: []\n", "notify.events", ""),
])
def test_notify_needs_one_topic_and_known_unique_events(block: str, where: str, why: str) -> None:
    line = one_problem(TWO + "notify:\n" + block)
    assert f" {where}: " in line and why in line, line


@pytest.mark.parametrize(("address", "why"), [
    ("Ops Team <ops@example.com>", "without a display name: 'ops@example.com'"),
    ("ops@example.com\\nBcc: x@evil.com", "one line"),
    ("ops@@example.com", "one email address"),
    ("ops", "one email address"),
    ("ops @example.com", "spaces"),
    (".ops@example.com", "before '@'"),
    ("ops..team@example.com", "before '@'"),
    ("ops@localhost", "not a domain name"),
    ("ops@-example.com", "not a domain name"),
    ("o" * 65 + "@example.com", "before '@'"),
    ("o" * 60 + "@" + ".".join(["d" * 60] * 4) + ".com", "at most 254"),
])
def test_an_email_address_is_one_plain_address(address: str, why: str) -> None:
    line = one_problem(TWO + f'notify:\n  email: ["{address}"]\n')
    assert " notify.email.0: " in line and why in line, line


@pytest.mark.parametrize(("arn", "why"), [
    ("arn:aws:sns:eu-west-1:123456789012:t", "is in region eu-west-1"),
    ("arn:aws:sns:us-east-1:210987654321:t", "is in account 210987654321"),
    ("arn:aws:sqs:us-east-1:123456789012:t", "not a 'sqs' ARN"),
    ("arn:aws:sns:us-east-1:123456789012:t.fifo", "not a FIFO topic"),
    ("team-alerts", "an SNS topic ARN"),
])
def test_a_given_topic_is_an_sns_topic_of_this_account_and_region(arn: str, why: str) -> None:
    line = one_problem(TWO + f"notify:\n  sns_topic_arn: {arn}\n")
    assert " notify.sns_topic_arn: " in line and why in line, line
