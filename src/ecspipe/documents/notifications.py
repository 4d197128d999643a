"""Notifications: the KMS key and topic policies, the notification rule, and policy checks.

What these rely on:
- "Configure Amazon SNS topics for notifications" (Developer Tools console User
  Guide): CodeStar Notifications publishes with the service principal
  `codestar-notifications.amazonaws.com`, which the topic's access policy must
  allow `sns:Publish`; an encrypted topic's key policy must let that principal
  use the key through SNS (`kms:GenerateDataKey*`, `kms:Decrypt` with
  `kms:ViaService sns.<region>.<domain>`). AWS documents no condition key
  (aws:SourceArn, aws:SourceAccount) for this principal, so the publish statement
  has none: a condition on a key the service does not send would silence every
  notification. The AWS managed key `alias/aws/sns` cannot be used: its key policy
  cannot be edited to admit the service.
- "Default key policy" (KMS Developer Guide): the account root as key
  administrator (`kms:*` on the key, Resource "*" meaning this key), so IAM
  policies decide who manages it and the key can never be locked out.
- "Notification concepts" (same guide): the event type ids of CodePipeline.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from ecspipe.names import Names

VERSION = "2012-10-17"
PRINCIPAL = "codestar-notifications.amazonaws.com"
# `notify.events` -> CodeStar Notifications event type ids of a pipeline.
EVENT_TYPES = {
    "failed": "codepipeline-pipeline-pipeline-execution-failed",
    "approval": "codepipeline-pipeline-manual-approval-needed",
    "succeeded": "codepipeline-pipeline-pipeline-execution-succeeded",
}
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


def event_type_ids(events: list[str]) -> list[str]:
    return sorted(EVENT_TYPES[e] for e in events)


def _via_sns(names: Names) -> str:
    from ecspipe.regions import dns_suffix_of

    return f"sns.{names.region}.{dns_suffix_of(names.region)}"


def key_statement(names: Names) -> dict[str, Any]:
    """What a topic's KMS key must allow CodeStar Notifications."""
    return {
        "Sid": "CodeStarNotificationsPublishThroughSns",
        "Effect": "Allow",
        "Principal": {"Service": PRINCIPAL},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": _via_sns(names)}},
    }


def key_policy(names: Names) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": names.account_root_arn},
                "Action": "kms:*",
                "Resource": "*",
            },
            key_statement(names),
        ],
    }


def publish_statement(topic_arn: str) -> dict[str, Any]:
    """What a topic's access policy must allow CodeStar Notifications (no condition: see
    the module docstring)."""
    return {
        "Sid": "AWSCodeStarNotifications_publish",
        "Effect": "Allow",
        "Principal": {"Service": PRINCIPAL},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
    }


# The actions SNS's own default topic policy grants the owner, spelt as SNS spells them
# (its default policy and "Configure Amazon SNS topics for notifications" write `SNS:`).
OWNER_ACTIONS = [
    "SNS:AddPermission", "SNS:DeleteTopic", "SNS:GetTopicAttributes",
    "SNS:ListSubscriptionsByTopic", "SNS:Publish", "SNS:RemovePermission",
    "SNS:SetTopicAttributes", "SNS:Subscribe",
]


def topic_policy(names: Names) -> dict[str, Any]:
    topic = names.notification_topic_arn
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountOwnerManages",
                "Effect": "Allow",
                "Principal": {"AWS": names.account_root_arn},
                "Action": OWNER_ACTIONS,
                "Resource": topic,
            },
            publish_statement(topic),
        ],
    }


def rule_request(names: Names, events: list[str], topic_arn: str) -> dict[str, Any]:
    """CreateNotificationRule's request (UpdateNotificationRule takes the same fields but
    Resource and Tags). DetailType FULL: the message carries the execution's details."""
    return {
        "Name": names.notification_rule,
        "EventTypeIds": event_type_ids(events),
        "Resource": names.pipeline_arn,
        "Targets": [{"TargetType": "SNS", "TargetAddress": topic_arn}],
        "DetailType": "FULL",
        "Status": "ENABLED",
        "Tags": dict(names.tags),
    }


# ---- does a policy let CodeStar Notifications in? --------------------------------------

def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _names_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return PRINCIPAL in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))


def _matches(patterns: list[Any], value: str) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value.lower(), p.lower())
               for p in patterns)


def _holds(condition: Any, known: dict[str, str]) -> bool | None:
    """Whether a statement's condition holds for CodeStar Notifications' requests: True or
    False when every key in it is one whose value is known (e.g. kms:ViaService when it
    goes through SNS), None when it depends on anything else."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return None
    for operator, tests in condition.items():
        if operator not in ("StringEquals", "StringLike") or not isinstance(tests, dict):
            return None
        for key, wanted in tests.items():
            value = next((v for k, v in known.items() if k.lower() == str(key).lower()), None)
            if value is None:
                return None
            patterns = _listed(wanted)
            ok = (value in patterns if operator == "StringEquals"
                  else _matches(patterns, value))
            if not ok:
                return False
    return True


def allows(policy: Any, actions: list[str], resource: str,
           known: dict[str, str] | None = None) -> bool:
    """True when `policy` (a document or its JSON text) allows CodeStar Notifications every
    one of `actions` on `resource`, and no Deny applies to it.

    `known` are the condition keys whose values its requests are known to carry;
    an Allow whose condition depends on anything else is not counted (whether the
    service's requests satisfy it cannot be known here), nor a Deny like that."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return False
    if not isinstance(policy, dict):
        return False
    allowed: set[str] = set()
    for statement in _listed(policy.get("Statement")):
        if not isinstance(statement, dict) or not _names_principal(statement.get("Principal")):
            continue
        hits = {a for a in actions if _matches(_listed(statement.get("Action")), a)}
        if not hits or not _matches(_listed(statement.get("Resource")), resource):
            continue
        holds = _holds(statement.get("Condition"), known or {})
        if statement.get("Effect") == "Deny" and holds:
            return False
        if statement.get("Effect") == "Allow" and holds:
            allowed |= hits
    return allowed == set(actions)


def topic_allows_publish(policy: Any, topic_arn: str) -> bool:
    return allows(policy, ["sns:Publish"], topic_arn)


def key_allows_sns_use(policy: Any, key_arn: str, names: Names) -> bool:
    return allows(policy, ["kms:GenerateDataKey", "kms:Decrypt"], key_arn,
                  {"kms:ViaService": _via_sns(names)})
