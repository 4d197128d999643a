"""The sandbox's CodeStar Notifications: rules, target reachability, events published to SNS.

Mock mode with the pipeline simulation of test_pipeline_sim's World, and one
test against a server (in-process, so it drives the clock) that reads the
published events from an SQS queue subscribed to the topic, as a user would.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from test_pipeline_sim import ACCOUNT, PIPELINE, REGION, World, client
from test_stage_features import advance_until, approval_stage, state_of

PIPELINE_ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE}"
EVENTS = ["codepipeline-pipeline-manual-approval-needed",
          "codepipeline-pipeline-pipeline-execution-failed",
          "codepipeline-pipeline-pipeline-execution-succeeded"]


@pytest.fixture
def world(sandbox, clock) -> World:
    """Every sandbox extension (notifications too), an existing service, a build project."""
    return World(clock)


def publishable_topic(name: str = "ops", kms_key: str | None = None) -> str:
    sns = client("sns")
    attributes = {"KmsMasterKeyId": kms_key} if kms_key else {}
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2008-10-17", "Statement": [{
            "Sid": "CodeStarNotifications", "Effect": "Allow",
            "Principal": {"Service": "codestar-notifications.amazonaws.com"},
            "Action": "sns:Publish", "Resource": arn}]}))
    return arn


def rule(topic: str, events=EVENTS, name: str = "demo-notify") -> str:
    return client("codestar-notifications").create_notification_rule(
        Name=name, EventTypeIds=events, Resource=PIPELINE_ARN, DetailType="FULL",
        Targets=[{"TargetType": "SNS", "TargetAddress": topic}], Tags={"team": "ops"})["Arn"]


def sent(topic: str) -> list[dict]:
    from ecspipe.sandbox.notifications import sent as published

    return published(ACCOUNT, REGION, topic)


def test_a_rule_is_created_described_listed_updated_tagged_and_deleted(sandbox):
    api = client("codestar-notifications")
    topic = publishable_topic()
    arn = rule(topic)
    described = api.describe_notification_rule(Arn=arn)
    assert described["Resource"] == PIPELINE_ARN and described["Status"] == "ENABLED"
    assert [t["TargetStatus"] for t in described["Targets"]] == ["ACTIVE"]
    assert sorted(e["EventTypeId"] for e in described["EventTypes"]) == sorted(EVENTS)
    listed = api.list_notification_rules(Filters=[{"Name": "RESOURCE", "Value": PIPELINE_ARN}])
    assert [r["Arn"] for r in listed["NotificationRules"]] == [arn]
    assert api.list_notification_rules(Filters=[{"Name": "RESOURCE", "Value": "arn:aws:x:y:"
                                                 "123456789012:z"}])["NotificationRules"] == []
    api.update_notification_rule(Arn=arn, EventTypeIds=EVENTS[:1], Status="DISABLED")
    updated = api.describe_notification_rule(Arn=arn)
    assert updated["Status"] == "DISABLED" and len(updated["EventTypes"]) == 1
    assert api.list_tags_for_resource(Arn=arn)["Tags"] == {"team": "ops"}
    api.tag_resource(Arn=arn, Tags={"cost": "1"})
    api.untag_resource(Arn=arn, TagKeys=["team"])
    assert api.list_tags_for_resource(Arn=arn)["Tags"] == {"cost": "1"}
    assert api.delete_notification_rule(Arn=arn)["Arn"] == arn
    with pytest.raises(ClientError) as gone:
        api.describe_notification_rule(Arn=arn)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    api.delete_notification_rule(Arn=arn)  # deleting again succeeds, as on AWS


def test_rules_refuse_what_the_api_refuses(sandbox):
    api = client("codestar-notifications")
    topic = publishable_topic()
    rule(topic)
    cases = [
        (dict(Name="demo-notify"), "ResourceAlreadyExistsException"),
        (dict(Name="bad:name"), "ValidationException"),
        (dict(Name="x", EventTypeIds=["codepipeline-pipeline-nope"]), "ValidationException"),
        (dict(Name="y", Targets=[{"TargetType": "Email", "TargetAddress": "a@b.c"}]),
         "ValidationException"),
    ]
    for overrides, code in cases:
        request = dict(Name="z", EventTypeIds=EVENTS, Resource=PIPELINE_ARN, DetailType="FULL",
                       Targets=[{"TargetType": "SNS", "TargetAddress": topic}])
        request.update(overrides)
        with pytest.raises(ClientError) as refused:
            api.create_notification_rule(**request)
        assert refused.value.response["Error"]["Code"] == code, overrides


def _statuses(arn: str) -> list[str]:
    described = client("codestar-notifications").describe_notification_rule(Arn=arn)
    return [t["TargetStatus"] for t in described["Targets"]]


def test_a_topic_that_does_not_admit_the_service_or_its_key_is_unreachable(sandbox):
    plain = client("sns").create_topic(Name="default-policy")["TopicArn"]
    assert _statuses(rule(plain, name="a")) == ["UNREACHABLE"]
    aws_managed = publishable_topic("aws-managed-key", kms_key="alias/aws/sns")
    assert _statuses(rule(aws_managed, name="b")) == ["UNREACHABLE"]
    kms = client("kms")
    closed = kms.create_key()["KeyMetadata"]["KeyId"]
    assert _statuses(rule(publishable_topic("closed-key", kms_key=closed), name="c")) == [
        "UNREACHABLE"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Notifications", "Effect": "Allow",
         "Principal": {"Service": "codestar-notifications.amazonaws.com"},
         "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}}]}
    open_key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    assert _statuses(rule(publishable_topic("open-key", kms_key=open_key), name="d")) == [
        "ACTIVE"]


def test_pipeline_events_the_rule_names_are_published_to_its_topic(world):
    topic = publishable_topic()
    rule(topic)
    first = world.create_pipeline(shape=lambda s: [*s[:2], approval_stage(), s[2]])
    advance_until(world, lambda: "token" in state_of(world, "Approve")["actionStates"][0].get(
        "latestExecution", {}))
    needed = [m for m in sent(topic) if m["eventTypeId"].endswith("manual-approval-needed")]
    assert len(needed) == 1
    assert needed[0]["detail"]["stage"] == "Approve"
    assert needed[0]["detail"]["execution-id"] == first
    assert needed[0]["resources"] == [PIPELINE_ARN]
    token = state_of(world, "Approve")["actionStates"][0]["latestExecution"]["token"]
    world.cp.put_approval_result(pipelineName=PIPELINE, stageName="Approve",
                                 actionName="Approve",
                                 result={"summary": "ok", "status": "Approved"}, token=token)
    assert world.run_until_done(first) == "Succeeded"
    events = [m["eventTypeId"] for m in sent(topic)]
    assert events == ["codepipeline-pipeline-manual-approval-needed",
                      "codepipeline-pipeline-pipeline-execution-succeeded"]


def test_a_disabled_rule_or_an_unreachable_topic_gets_nothing(world):
    unreachable = client("sns").create_topic(Name="closed")["TopicArn"]
    rule(unreachable, name="closed")
    topic = publishable_topic()
    disabled = rule(topic)
    client("codestar-notifications").update_notification_rule(Arn=disabled, Status="DISABLED")
    world.run_until_done(world.create_pipeline())
    assert sent(unreachable) == [] and sent(topic) == []


def test_events_reach_an_sqs_queue_subscribed_to_the_topic_of_a_server(aws):
    """Server mode: the rule is made over HTTP, the execution runs on the server, and the
    event arrives in SQS as it would for a user."""
    from test_server import _serve_in_a_thread

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.settings import ManualClock

    with _serve_in_a_thread(seed=False) as url:
        clock = ManualClock()
        settings.SETTINGS.clock = clock
        sns, sqs = aws("sns", endpoint_url=url), aws("sqs", endpoint_url=url)
        topic = sns.create_topic(Name="ops")["TopicArn"]
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(
            {"Version": "2008-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "codestar-notifications.amazonaws.com"},
                "Action": "sns:Publish", "Resource": topic}]}))
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        notifications = aws("codestar-notifications", endpoint_url=url)
        pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:approvals"
        notifications.create_notification_rule(
            Name="ops", EventTypeIds=["codepipeline-pipeline-manual-approval-needed"],
            Resource=pipeline_arn, DetailType="FULL",
            Targets=[{"TargetType": "SNS", "TargetAddress": topic}])["Arn"]
        role = aws("iam", endpoint_url=url).create_role(
            RoleName="pipeline", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        source = {"name": "Source", "actionTypeId": {
            "category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"},
            "outputArtifacts": [{"name": "SourceOutput"}]}
        aws("codepipeline", endpoint_url=url).create_pipeline(pipeline={
            "name": "approvals", "roleArn": role, "pipelineType": "V2",
            "artifactStore": {"type": "S3", "location": "artifacts"},
            "stages": [{"name": "Source", "actions": [source]}, approval_stage()]})
        clock.advance(5)
        aws("codepipeline", endpoint_url=url).get_pipeline_state(name="approvals")  # advances
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in received]
        assert [b["eventTypeId"] for b in bodies] == [
            "codepipeline-pipeline-manual-approval-needed"]
        assert bodies[0]["resources"] == [pipeline_arn]
