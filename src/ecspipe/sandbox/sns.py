"""SNS: email subscriptions wait for the recipient to confirm, as on AWS.

moto confirms every subscription at once. On AWS an `email` (or `email-json`)
subscription is pending until the recipient follows the link in the
confirmation message ("Email notifications", SNS Developer Guide): Subscribe
answers `pending confirmation` (unless ReturnSubscriptionArn), the listings show
`PendingConfirmation` as its SubscriptionArn, and its attributes say
PendingConfirmation true. Nobody reads a sandbox's email, so its email
subscriptions stay pending; a test confirms one with `confirm()`, as the
recipient's click would.
"""

from __future__ import annotations

from typing import Any

PENDING = "PendingConfirmation"
EMAIL_PROTOCOLS = ("email", "email-json")
_MARK = "_ecspipe_email_pending"


def _pending(subscription: Any) -> bool:
    return getattr(subscription, "subscription_arn", None) == PENDING


def confirm(account_id: str, region: str, topic_arn: str, endpoint: str) -> str:
    """The recipient followed the link: the subscription's ARN from now on."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account_id][region]
    for subscription in backend.subscriptions.values():
        if subscription.topic.arn == topic_arn and subscription.endpoint == endpoint:
            if _pending(subscription):
                delattr(subscription, "subscription_arn")
            subscription.confirmed = True
            subscription.attributes["PendingConfirmation"] = "false"
            return str(subscription.arn)
    raise KeyError(f"no subscription of {endpoint} to {topic_arn}")


def install() -> None:
    from moto.sns.models import SNSBackend
    from moto.sns.responses import SNSResponse

    original = SNSBackend.subscribe
    if getattr(original, _MARK, False):
        return

    def subscribe(self: Any, topic_arn: str, endpoint: str, protocol: str) -> Any:
        existing = self._find_subscription(topic_arn, endpoint, protocol)
        subscription = original(self, topic_arn, endpoint, protocol)
        if protocol in EMAIL_PROTOCOLS and existing is None:
            # moto's serializer takes SubscriptionArn from this attribute before `arn`.
            setattr(subscription, "subscription_arn", PENDING)  # noqa: B010
            subscription.confirmed = False
            subscription.attributes["PendingConfirmation"] = "true"
        return subscription

    setattr(subscribe, _MARK, True)
    SNSBackend.subscribe = subscribe  # type: ignore[method-assign]

    answer = SNSResponse.subscribe

    def subscribe_response(self: Any) -> Any:
        result = answer(self)
        protocol = self._get_param("Protocol")
        wants_arn = str(self._get_param("ReturnSubscriptionArn") or "").lower() == "true"
        endpoint, topic = self._get_param("Endpoint"), self._get_param("TopicArn")
        subscription = self.backend._find_subscription(topic, endpoint, protocol)
        if protocol in EMAIL_PROTOCOLS and not wants_arn and subscription is not None \
                and _pending(subscription):
            from moto.core.responses import ActionResult

            # "the string "pending confirmation" if the subscription requires confirmation"
            # (Subscribe, SNS API Reference).
            return ActionResult({"SubscriptionArn": "pending confirmation"})
        return result

    subscribe_response.__name__ = "subscribe"
    SNSResponse.subscribe = subscribe_response  # type: ignore[method-assign]
