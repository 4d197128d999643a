"""The notification documents: key and topic policies, the rule, and the policy checks.

The checks decide whether a topic given as `notify.sns_topic_arn` (and its key)
lets CodeStar Notifications in; they must say no whenever they cannot be sure.
"""

from __future__ import annotations

import json

import pytest

from ecspipe.documents import notifications as docs
from ecspipe.names import Names

ACCOUNT = "123456789012"
NAMES = Names("demo-app", "us-east-1", "demo-app", ACCOUNT)
TOPIC = NAMES.notification_topic_arn
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SERVICE = {"Service": "codestar-notifications.amazonaws.com"}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource=TOPIC, principal=None, **extra) -> dict:
    return {"Effect": "Allow", "Principal": principal or SERVICE, "Action": action,
            "Resource": resource, **extra}


def test_ecspipes_own_policies_let_exactly_codestar_notifications_publish():
    topic = docs.topic_policy(NAMES)
    assert docs.topic_allows_publish(topic, TOPIC)
    assert docs.topic_allows_publish(json.dumps(topic), TOPIC)  # as SNS returns it
    (publisher,) = [s for s in topic["Statement"] if s["Principal"] == SERVICE]
    assert publisher == {"Sid": "AWSCodeStarNotifications_publish", "Effect": "Allow",
                         "Principal": SERVICE, "Action": "SNS:Publish", "Resource": TOPIC}
    owner = next(s for s in topic["Statement"] if s["Principal"] != SERVICE)
    assert owner["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "*" not in json.dumps(owner["Action"]) and owner["Resource"] == TOPIC

    key = docs.key_policy(NAMES)
    assert docs.key_allows_sns_use(key, KEY, NAMES)
    (service,) = [s for s in key["Statement"] if s["Principal"] == SERVICE]
    assert service["Condition"] == {"StringEquals": {
        "kms:ViaService": "sns.us-east-1.amazonaws.com"}}
    admin = next(s for s in key["Statement"] if s["Principal"] != SERVICE)
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_the_via_service_domain_follows_the_partition():
    china = Names("demo-app", "cn-north-1", "demo-app", ACCOUNT)
    (service,) = [s for s in docs.key_policy(china)["Statement"] if s["Principal"] == SERVICE]
    assert service["Condition"]["StringEquals"]["kms:ViaService"] == \
        "sns.cn-north-1.amazonaws.com.cn"
    assert docs.key_policy(china)["Statement"][0]["Principal"]["AWS"] == \
        f"arn:aws-cn:iam::{ACCOUNT}:root"


@pytest.mark.parametrize(("document", "allowed"), [
    (policy(allow("sns:Publish")), True),
    (policy(allow("SNS:*")), True),
    (policy(allow("*", resource="*")), True),
    (policy(allow(["sns:Subscribe", "sns:Publish"], resource="arn:aws:sns:us-east-1:*:*")), True),
    (policy(allow("sns:Publish", principal="*")), True),
    # not CodeStar Notifications, not publish, not this topic
    (policy(allow("sns:Publish", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), False),
    (policy(allow("sns:Subscribe")), False),
    (policy(allow("sns:Publish", resource=TOPIC + "-other")), False),
    # a condition we cannot know the service's request meets
    (policy(allow("sns:Publish", Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}})),
     False),
    # SNS's default policy: everyone in the account, by AWS:SourceOwner
    (policy(allow("SNS:Publish", principal={"AWS": "*"},
                  Condition={"StringEquals": {"AWS:SourceOwner": ACCOUNT}})), False),
    # an unconditional Deny wins; a conditional one (say, no TLS) does not apply
    (policy(allow("sns:Publish"), {"Effect": "Deny", "Principal": "*", "Action": "sns:*",
                                   "Resource": TOPIC}), False),
    (policy(allow("sns:Publish"), {"Effect": "Deny", "Principal": "*", "Action": "sns:*",
                                   "Resource": TOPIC,
                                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
     True),
    ("not json", False),
    ({"Statement": "nonsense"}, False),
])
def test_a_topic_policy_lets_codestar_publish_only_when_it_surely_does(document, allowed):
    assert docs.topic_allows_publish(document, TOPIC) is allowed


@pytest.mark.parametrize(("condition", "allowed"), [
    ({"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}, True),
    ({"StringLike": {"kms:ViaService": "sns.*.amazonaws.com"}}, True),
    ({"StringEquals": {"kms:ViaService": ["sqs.us-east-1.amazonaws.com",
                                          "sns.us-east-1.amazonaws.com"]}}, True),
    (None, True),
    ({"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}}, False),
    ({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, False),
])
def test_a_key_policy_lets_codestar_use_the_key_through_sns(condition, allowed):
    statement = allow(["kms:GenerateDataKey*", "kms:Decrypt"], resource="*")
    if condition:
        statement["Condition"] = condition
    assert docs.key_allows_sns_use(policy(statement), KEY, NAMES) is allowed
    only_decrypt = allow("kms:Decrypt", resource="*")
    assert docs.key_allows_sns_use(policy(only_decrypt), KEY, NAMES) is False


def test_the_rule_request_maps_events_and_targets_the_topic_with_ecspipes_tags():
    request = docs.rule_request(NAMES, ["approval", "failed"], TOPIC)
    assert request == {
        "Name": "ecspipe-demo-app-us-east-1",
        "EventTypeIds": ["codepipeline-pipeline-manual-approval-needed",
                         "codepipeline-pipeline-pipeline-execution-failed"],
        "Resource": f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:demo-app",
        "Targets": [{"TargetType": "SNS", "TargetAddress": TOPIC}],
        "DetailType": "FULL",
        "Status": "ENABLED",
        "Tags": {"ecspipe:pipeline": "demo-app", "managed-by": "ecspipe"},
    }
    from ecspipe.sandbox.notifications import PIPELINE_EVENT_TYPES

    assert set(docs.EVENT_TYPES.values()) <= set(PIPELINE_EVENT_TYPES)
