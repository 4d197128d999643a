"""The sandbox's SNS: email subscriptions stay pending until the recipient confirms.

Mock mode (with `confirm`, the recipient's click) and one check against the
sandbox server, as AWS answers: Subscribe says "pending confirmation", the
listings say PendingConfirmation, and other protocols are confirmed as before.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def sns(sandbox, aws):
    return aws("sns")


def test_an_email_subscription_is_pending_until_the_recipient_confirms(sns):
    from ecspipe.sandbox.sns import confirm

    topic = sns.create_topic(Name="ops")["TopicArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="email",
                         Endpoint="ops@example.com")["SubscriptionArn"] == "pending confirmation"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Endpoint"], s["SubscriptionArn"]) for s in listed] == [
        ("ops@example.com", "PendingConfirmation")]
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]] == [
        "PendingConfirmation"]
    # Subscribing again does not make a second one.
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1

    arn = confirm("123456789012", "us-east-1", topic, "ops@example.com")
    assert arn.startswith(topic + ":")
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(
        TopicArn=topic)["Subscriptions"]] == [arn]
    assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"][
        "PendingConfirmation"] == "false"
    sns.unsubscribe(SubscriptionArn=arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_return_subscription_arn_and_other_protocols_answer_an_arn(sns, aws):
    topic = sns.create_topic(Name="ops")["TopicArn"]
    pending = sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="a@example.com",
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert pending.startswith(topic + ":")
    queue = aws("sqs").create_queue(QueueName="q")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sqs = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    listed = {s["Protocol"]: s["SubscriptionArn"] for s in
              sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
    assert listed == {"email-json": "PendingConfirmation", "sqs": sqs}


def test_a_server_answers_email_subscriptions_as_pending(aws):
    from test_server import _serve_in_a_thread

    with _serve_in_a_thread() as url:
        sns = aws("sns", endpoint_url=url)
        topic = sns.create_topic(Name="ops")["TopicArn"]
        answered = sns.subscribe(TopicArn=topic, Protocol="email",
                                 Endpoint="ops@example.com")["SubscriptionArn"]
        listed = [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(
            TopicArn=topic)["Subscriptions"]]

    assert (answered, listed) == ("pending confirmation", ["PendingConfirmation"])
