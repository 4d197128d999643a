"""Notifications against the sandbox (mock mode): key, topic, rule; events really published.

`notify.email` makes ecspipe's own KMS key, topic and email subscriptions and a
CodeStar Notifications rule on the pipeline; `notify.sns_topic_arn` uses a topic
of the user's, checked and never touched. The sandbox delivers the pipeline's
events to SNS exactly when the rule, the topic policy and the key policy allow
it, so the events read back here prove the policies ecspipe writes work.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

ACCOUNT = "123456789012"
REGION = "us-east-1"
EXAMPLE = Path(__file__).resolve().parents[2] / "config.environments.example.yaml"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:demo-app-us-east-1-notifications"
ALIAS = "alias/ecspipe/demo-app-us-east-1-notifications"
RULE = "ecspipe-demo-app-us-east-1"
PIPELINE_ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:demo-app"
APPROVAL_NEEDED = "codepipeline-pipeline-manual-approval-needed"
FAILED = "codepipeline-pipeline-pipeline-execution-failed"
SUCCEEDED = "codepipeline-pipeline-pipeline-execution-succeeded"


@pytest.fixture
def write_notify(tmp_path):
    def write(*replacements: tuple[str, str]) -> str:
        text = EXAMPLE.read_text()
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "notify.yaml"
        path.write_text(text)
        return str(path)

    return write


def _up(ecspipe, config: str, *args: str):
    result = ecspipe("up", "-c", config, "--wait-connection", "--timeout", "60", *args)
    assert result.code == 0, result
    return result


def _rule() -> dict:
    api = boto3.client("codestar-notifications")
    (found,) = api.list_notification_rules(
        Filters=[{"Name": "RESOURCE", "Value": PIPELINE_ARN}])["NotificationRules"]
    return api.describe_notification_rule(Arn=found["Arn"])


def _sent(topic: str = TOPIC) -> list[str]:
    from ecspipe.sandbox.notifications import sent

    return [m["eventTypeId"] for m in sent(ACCOUNT, REGION, topic)]


def _advance_until(clock, predicate, limit: float = 120.0) -> None:
    waited = 0.0
    while not predicate():
        assert waited < limit, "the condition never came true"
        clock.advance(1.0)
        waited += 1.0


def _pending_token(execution_id: str) -> str | None:
    state = boto3.client("codepipeline").get_pipeline_state(name="demo-app")
    for stage in state["stageStates"]:
        if stage["stageName"] != "Approve-production":
            continue
        latest = (stage.get("latestExecution") or {})
        action = (stage["actionStates"][0].get("latestExecution") or {})
        if latest.get("pipelineExecutionId") == execution_id and action.get("token"):
            return str(action["token"])
    return None


def test_up_makes_an_encrypted_topic_only_codestar_may_publish_to_and_a_rule_on_the_pipeline(
        seeded, ecspipe, write_notify, calls):
    plan = ecspipe("plan", "-c", write_notify())
    assert plan.code == 0, plan
    assert "ops@example.com: SNS emails a confirmation link" in plan.out
    assert "costs about $1 a month" in plan.out
    _up(ecspipe, write_notify())

    kms = boto3.client("kms")
    key = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    key_policy = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    (service,) = [s for s in key_policy["Statement"]
                  if s["Principal"] == {"Service": "codestar-notifications.amazonaws.com"}]
    assert service["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags["ecspipe:pipeline"] == "demo-app" and tags["managed-by"] == "ecspipe"

    sns = boto3.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]
    assert attributes["KmsMasterKeyId"] == ALIAS
    statements = json.loads(attributes["Policy"])["Statement"]
    publishers = [s for s in statements if "SNS:Publish" in json.dumps(s["Action"])]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in publishers} == {
        json.dumps({"Service": "codestar-notifications.amazonaws.com"}),
        json.dumps({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, sort_keys=True)}
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]

    rule = _rule()
    assert rule["Name"] == RULE and rule["DetailType"] == "FULL" and rule["Status"] == "ENABLED"
    assert sorted(e["EventTypeId"] for e in rule["EventTypes"]) == [APPROVAL_NEEDED, FAILED]
    assert [(t["TargetAddress"], t["TargetStatus"]) for t in rule["Targets"]] == [
        (TOPIC, "ACTIVE")]
    assert rule["Tags"]["ecspipe:pipeline"] == "demo-app"

    calls.clear()
    again = ecspipe("up", "-c", write_notify(), "-o", "json")
    assert again.code == 0, again
    assert {c["action"] for c in again.json()["changes"]} <= {"unchanged", "use"}, again
    assert calls.writes == []


def test_the_chosen_events_are_published_to_the_topic_and_no_others(
        seeded, ecspipe, write_notify, clock):
    _up(ecspipe, write_notify())
    cp = boto3.client("codepipeline")
    first = cp.list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]  # started by CreatePipeline
    _advance_until(clock, lambda: _pending_token(first) is not None)
    assert _sent() == [APPROVAL_NEEDED]
    cp.put_approval_result(pipelineName="demo-app", stageName="Approve-production",
                           actionName="Approve", token=_pending_token(first) or "",
                           result={"status": "Rejected", "summary": "not this one"})
    assert _sent() == [APPROVAL_NEEDED, FAILED]
    # Succeeded is not among the default events: a successful run publishes nothing more.
    second = cp.start_pipeline_execution(name="demo-app")["pipelineExecutionId"]
    _advance_until(clock, lambda: _pending_token(second) is not None)
    cp.put_approval_result(pipelineName="demo-app", stageName="Approve-production",
                           actionName="Approve", token=_pending_token(second) or "",
                           result={"status": "Approved", "summary": "ship it"})
    _advance_until(clock, lambda: cp.get_pipeline_execution(
        pipelineName="demo-app", pipelineExecutionId=second)["pipelineExecution"]["status"]
        == "Succeeded")
    assert _sent() == [APPROVAL_NEEDED, FAILED, APPROVAL_NEEDED]
    from ecspipe.sandbox.notifications import sent

    message = sent(ACCOUNT, REGION, TOPIC)[0]
    assert message["detail"]["execution-id"] == first
    assert message["resources"] == [PIPELINE_ARN]


def _confirm(address: str) -> None:
    """The recipient follows the link in SNS's confirmation email."""
    from ecspipe.sandbox.sns import confirm

    confirm(ACCOUNT, REGION, TOPIC, address)


def test_changing_events_and_addresses_updates_in_place(seeded, ecspipe, write_notify, calls,
                                                        clock):
    _up(ecspipe, write_notify())
    arn = _rule()["Arn"]
    _confirm("ops@example.com")
    config = write_notify(("events: [failed, approval]", "events: [succeeded]"),
                          ("email: [ops@example.com]", "email: [dev@example.com, lead@example.com]"))
    calls.clear()
    result = _up(ecspipe, config)
    assert "notification rule" in result.out and "~ update" in result.out
    assert sorted(calls.writes) == ["Subscribe", "Subscribe", "Unsubscribe",
                                    "UpdateNotificationRule"], calls.writes
    rule = _rule()
    assert rule["Arn"] == arn
    assert [e["EventTypeId"] for e in rule["EventTypes"]] == [SUCCEEDED]
    endpoints = sorted(s["Endpoint"] for s in boto3.client("sns").list_subscriptions_by_topic(
        TopicArn=TOPIC)["Subscriptions"])
    assert endpoints == ["dev@example.com", "lead@example.com"]


def test_a_pending_subscription_is_said_and_a_removed_pending_one_cannot_be_unsubscribed(
        seeded, ecspipe, write_notify, calls):
    _up(ecspipe, write_notify())
    again = ecspipe("plan", "-c", write_notify())
    assert "ops@example.com: waiting for the recipient to confirm the subscription" in again.out
    calls.clear()
    result = _up(ecspipe, write_notify(("email: [ops@example.com]", "email: [dev@example.com]")))
    assert "ops@example.com: no longer in notify.email, but its subscription is pending " \
        "confirmation: SNS cannot unsubscribe it" in result.out
    assert "Unsubscribe" not in calls.writes and calls.writes.count("Subscribe") == 1
    endpoints = sorted(s["Endpoint"] for s in boto3.client("sns").list_subscriptions_by_topic(
        TopicArn=TOPIC)["Subscriptions"])
    assert endpoints == ["dev@example.com", "ops@example.com"]


def _given_topic(policy_statements: list[dict], kms_key: str | None = None) -> str:
    sns = boto3.client("sns")
    attributes = {"KmsMasterKeyId": kms_key} if kms_key else {}
    arn = sns.create_topic(Name="team-alerts", Attributes=attributes)["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(
        {"Version": "2012-10-17", "Statement": policy_statements}))
    return arn


def _codestar_may_publish(arn: str) -> dict:
    return {"Sid": "CodeStar", "Effect": "Allow",
            "Principal": {"Service": "codestar-notifications.amazonaws.com"},
            "Action": "sns:Publish", "Resource": arn}


def _given(write_notify, arn: str) -> str:
    return write_notify(("  email: [ops@example.com]", f"  sns_topic_arn: {arn}  #"))


def test_a_given_topic_is_used_never_modified_and_kept_by_down(seeded, ecspipe, write_notify,
                                                                clock):
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"
    arn = _given_topic([_codestar_may_publish(arn)])
    before = boto3.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"]
    config = _given(write_notify, arn)
    result = _up(ecspipe, config)
    assert "use as is  SNS topic" in result.out and "never modifies or deletes it" in result.out
    assert "KMS key" not in result.out  # no key of ecspipe's is needed, and none exists
    assert [t["TargetAddress"] for t in _rule()["Targets"]] == [arn]
    with pytest.raises(Exception):  # noqa: B017 - ecspipe made no topic or key of its own
        boto3.client("sns").get_topic_attributes(TopicArn=TOPIC)
    first = boto3.client("codepipeline").list_pipeline_executions(pipelineName="demo-app")[
        "pipelineExecutionSummaries"][0]["pipelineExecutionId"]
    _advance_until(clock, lambda: _pending_token(first) is not None)
    assert _sent(arn) == [APPROVAL_NEEDED]

    down = ecspipe("down", "-c", config, "--yes")
    assert down.code == 0, down
    assert "team-alerts" not in down.out
    after = boto3.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"]
    assert after == before
    assert boto3.client("codestar-notifications").list_notification_rules()[
        "NotificationRules"] == []


def test_a_given_topic_codestar_may_not_publish_to_or_whose_key_it_may_not_use_is_refused(
        seeded, ecspipe, write_notify, calls):
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"
    owner_only = {"Sid": "Owner", "Effect": "Allow",
                  "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                  "Action": "sns:Publish", "Resource": arn}
    _given_topic([owner_only])
    calls.clear()
    result = ecspipe("up", "-c", _given(write_notify, arn))
    assert result.code == 2, result
    assert "notify.sns_topic_arn: the access policy of" in result.err
    assert '"Principal": {"Service": "codestar-notifications.amazonaws.com"}' in result.err
    assert calls.writes == []

    admin_only = boto3.client("kms").create_key(Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*", "Resource": "*"}]}))["KeyMetadata"]["Arn"]
    sns = boto3.client("sns")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(
        {"Version": "2012-10-17", "Statement": [_codestar_may_publish(arn)]}))
    for key in ("alias/aws/sns", admin_only):
        sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId",
                                 AttributeValue=key)
        calls.clear()
        result = ecspipe("up", "-c", _given(write_notify, arn))
        assert result.code == 2, result
        assert "CodeStar Notifications" in result.err and "kms:ViaService" in result.err
        assert calls.writes == []


def test_switching_to_a_given_topic_deletes_ecspipes_own_topic_and_key(seeded, ecspipe,
                                                                        write_notify):
    _up(ecspipe, write_notify())
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"
    arn = _given_topic([_codestar_may_publish(arn)])
    result = _up(ecspipe, _given(write_notify, arn))
    assert "- delete     SNS topic          demo-app-us-east-1-notifications" in result.out
    assert "- delete     KMS key" in result.out and "7 days" in result.out
    assert [t["TargetAddress"] for t in _rule()["Targets"]] == [arn]
    topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
    assert topics == [arn]
    kms = boto3.client("kms")
    assert not [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == ALIAS]


def test_down_deletes_the_rule_topic_and_schedules_the_key_for_deletion(
        seeded, ecspipe, write_notify):
    _up(ecspipe, write_notify())
    key_id = boto3.client("kms").describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"]
    down = ecspipe("down", "-c", write_notify(), "--yes")
    assert down.code == 0, down
    assert "scheduled for deletion in 7 days" in down.out
    assert boto3.client("codestar-notifications").list_notification_rules()[
        "NotificationRules"] == []
    assert boto3.client("sns").list_topics()["Topics"] == []
    assert boto3.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == \
        "PendingDeletion"
    again = ecspipe("down", "-c", write_notify(), "--yes")
    assert again.code == 0 and "nothing to delete" in again.out, again


def test_down_keeps_a_same_name_topic_and_key_ecspipe_did_not_create(seeded, ecspipe,
                                                                      write_notify):
    boto3.client("sns").create_topic(Name="demo-app-us-east-1-notifications")
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    boto3.client("kms").create_alias(AliasName=ALIAS, TargetKeyId=key)
    refused = ecspipe("up", "-c", write_notify())
    assert refused.code == 2 and "was not created by ecspipe" in refused.err, refused
    down = ecspipe("down", "-c", write_notify(), "--yes")
    assert down.code == 0, down
    assert boto3.client("sns").list_topics()["Topics"] != []
    assert boto3.client("kms").describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyState"] == "Enabled"


def test_status_shows_the_rule_its_topic_and_who_is_subscribed(seeded, ecspipe, write_notify):
    config = write_notify()
    _up(ecspipe, config)
    data = ecspipe("status", "-c", config, "-o", "json").json()
    assert data["notifications"] == {
        "rule": RULE, "status": "ENABLED", "events": ["failed", "approval"], "topic": TOPIC,
        "target_status": "ACTIVE",
        "subscriptions": [{"endpoint": "ops@example.com", "confirmed": False}],
    }
    text = ecspipe("status", "-c", config)
    assert f"notify     failed, approval -> {TOPIC} (ENABLED, topic ACTIVE)" in text.out
    assert "ops@example.com: pending: the recipient must follow the link" in text.out
    _confirm("ops@example.com")
    assert "ops@example.com: subscribed" in ecspipe("status", "-c", config).out
