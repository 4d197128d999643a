"""The SNS topic notifications go to: one ecspipe creates (`notify.email`), or the user's.

Owned: `<name>-<region>-notifications`, encrypted with ecspipe's KMS key (by its
alias), with an access policy that lets the account manage it and only CodeStar
Notifications publish to it (documents/notifications.py), and one email
subscription per `notify.email` address. Email subscriptions are pending until
the recipient follows the link SNS sends ("Email notifications", SNS Developer
Guide); ListSubscriptionsByTopic shows them as `PendingConfirmation`. An address
is never subscribed twice; one removed from the config is unsubscribed once
confirmed (SNS cannot unsubscribe a pending one: it is left, and plan says so).
`down` deletes the topic, and SNS its subscriptions with it.

Given (`notify.sns_topic_arn`): never modified and never deleted. Its access
policy (GetTopicAttributes) must let CodeStar Notifications publish, and, when it
is encrypted, its key policy must let the service use the key through SNS: if
not, `plan`/`up` refuse before any write, with the statement to add. A policy
ecspipe may not read is reported, not guessed.
"""

from __future__ import annotations

import json
from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents.notifications import (
    AWS_MANAGED_SNS_KEY,
    key_allows_sns_use,
    key_statement,
    publish_statement,
    topic_allows_publish,
    topic_policy,
)
from ecspipe.errors import UserError
from ecspipe.names import tag_dict, tag_list
from ecspipe.resources.base import (
    Change,
    Context,
    FieldChange,
    Reader,
    Request,
    Writer,
    at_once,
    canonical_policy,
    deletion,
    diff,
    ownership,
    sync_tags,
)

KIND = "SNS topic"
PENDING = "PendingConfirmation"  # the SubscriptionArn of a subscription not yet confirmed
DENIED = ("AuthorizationError", "AccessDenied", "AccessDeniedException")


def _pending(subscription_arn: str) -> bool:
    return subscription_arn.replace(" ", "").lower() == PENDING.lower()


def _attributes(sns: Any, topic_arn: str) -> dict[str, str] | None:
    try:
        return dict(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"])
    except Exception as exc:
        if is_error(exc, "NotFound", "NotFoundException"):
            return None
        raise


def _emails(sns: Any, topic_arn: str) -> dict[str, str]:
    """{address (lower case): SubscriptionArn} of the topic's email subscriptions, all pages."""
    pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return {s["Endpoint"].lower(): s["SubscriptionArn"] for page in pages
            for s in page.get("Subscriptions", []) if s.get("Protocol") == "email"}


def _read_owned(ctx: Context, read: Reader, details: bool = True) -> dict[str, Any] | None:
    sns = read("sns")
    arn = ctx.names.notification_topic_arn
    attributes = _attributes(sns, arn)
    if attributes is None:
        return None
    # Once it exists, its tags and its email subscriptions are read at once.
    answers = at_once(
        ctx,
        lambda: tag_dict(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")),
        (lambda: _emails(sns, arn)) if details else None,
    )
    current: dict[str, Any] = {"attributes": attributes, "tags": answers[0]}
    if details:
        current["emails"] = answers[1]
    return current


class NotificationTopic:
    kind = KIND
    # CreateTopic names the key by its alias (KmsMasterKeyId): the alias is made first.
    needs: tuple[str, ...] = ("KMS key",)
    optional = True  # not every pipeline has it: not reported by `down` when absent

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it: the topic, then one email subscription
        per address. None for a given `notify.sns_topic_arn`."""
        notify = ctx.config.notify
        if notify is None or notify.sns_topic_arn:
            return []
        arn = ctx.names.notification_topic_arn
        return [
            ("create_topic", {
                "Name": ctx.names.notification_topic,
                "Attributes": {"Policy": json.dumps(topic_policy(ctx.names)),
                               "KmsMasterKeyId": ctx.names.notification_key_alias},
                "Tags": tag_list(ctx.names.tags),
            }),
            *(("subscribe", {"TopicArn": arn, "Protocol": "email", "Endpoint": address})
              for address in notify.email or []),
        ]

    # ---- plan / apply ---------------------------------------------------------------
    def plan(self, ctx: Context, read: Reader) -> Change:
        notify = ctx.config.notify
        assert notify is not None
        if notify.sns_topic_arn:
            return self._plan_given(ctx, read, notify.sns_topic_arn)
        name = ctx.names.notification_topic
        current = _read_owned(ctx, read)
        wanted = sorted(notify.email or [], key=str.lower)
        if current is None:
            notes = [f"{address}: SNS emails a confirmation link; nothing reaches it until the "
                     "recipient confirms" for address in wanted]
            return Change(KIND, name, "create", notes=notes)
        notes = ownership(ctx, KIND, name, current["tags"])
        attributes = current["attributes"]
        subscribed = current["emails"]
        before = {
            "topic_policy": canonical_policy(attributes.get("Policy")),
            "kms_master_key_id": attributes.get("KmsMasterKeyId"),
            "tags": current["tags"],
        }
        after = {
            "topic_policy": canonical_policy(topic_policy(ctx.names)),
            "kms_master_key_id": ctx.names.notification_key_alias,
            "tags": ctx.names.tags,
        }
        fields = diff(before, after)
        new = [a for a in wanted if a.lower() not in subscribed]
        gone = sorted(a for a in subscribed if a not in {w.lower() for w in wanted})
        removable = [a for a in gone if not _pending(subscribed[a])]
        if new or removable:
            fields.append(FieldChange("subscriptions", sorted(subscribed),
                                      sorted({*subscribed, *(a.lower() for a in new)}
                                             - set(removable))))
        notes += [f"{a}: SNS emails a confirmation link; nothing reaches it until the recipient "
                  "confirms" for a in new]
        notes += [f"{a}: waiting for the recipient to confirm the subscription"
                  for a in wanted if _pending(subscribed.get(a.lower(), ""))]
        notes += [f"{a}: no longer in notify.email, but its subscription is pending "
                  "confirmation: SNS cannot unsubscribe it (it lapses if nobody confirms)"
                  for a in gone if a not in removable]
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = {**current, "new": new, "removable": removable}
        return change

    def _plan_given(self, ctx: Context, read: Reader, topic_arn: str) -> Change:
        """Check the user's topic (reads only), and plan the deletion of ecspipe's own topic
        if there is one from an earlier `notify.email`."""
        sns = read("sns")
        notes = ["given in notify.sns_topic_arn: ecspipe never modifies or deletes it"]
        try:
            attributes = _attributes(sns, topic_arn)
        except Exception as exc:
            if not is_error(exc, *DENIED):
                raise
            attributes = {}
            notes.append("its access policy cannot be read with these credentials "
                         "(GetTopicAttributes): make sure it has "
                         + json.dumps(publish_statement(topic_arn)))
        if attributes is None:
            raise UserError(f"notify.sns_topic_arn: the SNS topic {topic_arn} does not exist",
                            hint="create it first, or use notify.email for a topic ecspipe "
                            "creates")
        if "Policy" in attributes and not topic_allows_publish(attributes["Policy"], topic_arn):
            raise UserError(
                f"notify.sns_topic_arn: the access policy of {topic_arn} does not let CodeStar "
                "Notifications publish to it, so no notification would arrive",
                hint="add this statement to the topic's access policy: "
                + json.dumps(publish_statement(topic_arn)),
            )
        notes += self._check_given_key(ctx, read, topic_arn, attributes.get("KmsMasterKeyId"))
        owned = _read_owned(ctx, read, details=False)
        if owned is not None and ctx.names.owns(owned["tags"]):
            change = Change(KIND, ctx.names.notification_topic, "delete", notes=[
                f"notifications go to {topic_arn} (notify.sns_topic_arn) now: ecspipe's own "
                "topic and its subscriptions are deleted"])
            return change
        return Change(KIND, topic_arn, "use", notes=notes)

    def _check_given_key(self, ctx: Context, read: Reader, topic_arn: str,
                         key: str | None) -> list[str]:
        if not key:
            return []
        statement = key_statement(ctx.names)
        if key.rsplit(":", 1)[-1] == AWS_MANAGED_SNS_KEY or key == AWS_MANAGED_SNS_KEY:
            raise UserError(
                f"notify.sns_topic_arn: {topic_arn} is encrypted with the AWS managed key "
                f"{AWS_MANAGED_SNS_KEY}, whose key policy cannot let CodeStar Notifications "
                "use it: nothing would be delivered",
                hint="encrypt the topic with a customer managed key whose policy has "
                + json.dumps(statement) + ", or use notify.email (ecspipe makes such a key)",
            )
        kms = read("kms")
        try:
            meta = kms.describe_key(KeyId=key)["KeyMetadata"]
            policy = kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"]
        except Exception as exc:
            if not is_error(exc, "NotFoundException", *DENIED):
                raise
            return [f"the policy of its KMS key {key} cannot be read with these credentials: "
                    f"make sure it has {json.dumps(statement)}"]
        if not key_allows_sns_use(policy, meta["Arn"], ctx.names):
            raise UserError(
                f"notify.sns_topic_arn: {topic_arn} is encrypted with KMS key {key}, whose key "
                "policy does not let CodeStar Notifications use it through SNS: nothing would "
                "be delivered",
                hint="add this statement to the key policy: " + json.dumps(statement),
            )
        return []

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        if change.action == "delete":
            self.delete(ctx, change, write)
            return
        if change.action not in ("create", "update"):
            return
        notify = ctx.config.notify
        assert notify is not None
        sns = write("sns")
        arn = ctx.names.notification_topic_arn
        policy = json.dumps(topic_policy(ctx.names))
        if change.action == "create":
            create, *subscriptions = self.requests(ctx)
            sns.create_topic(**create[1])
            subscribe = [params for _, params in subscriptions]
            unsubscribe: list[str] = []
        else:
            changed = {f.path.split(".")[0] for f in change.fields}
            if "topic_policy" in changed:
                sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                                         AttributeValue=policy)
            if "kms_master_key_id" in changed:
                sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId",
                                         AttributeValue=ctx.names.notification_key_alias)
            if "tags" in changed:
                sync_tags(
                    change.current["tags"], ctx.names.tags,
                    untag=lambda keys: sns.untag_resource(ResourceArn=arn, TagKeys=keys),
                    tag=lambda tags: sns.tag_resource(ResourceArn=arn, Tags=tag_list(tags)),
                )
            subscribe = [{"TopicArn": arn, "Protocol": "email", "Endpoint": address}
                         for address in change.current["new"]]
            unsubscribe = [change.current["emails"][a] for a in change.current["removable"]]
        # Each address is its own request, independent of the others: at once.
        at_once(
            ctx,
            *[(lambda p: lambda: sns.subscribe(**p))(params) for params in subscribe],
            *[(lambda a: lambda: sns.unsubscribe(SubscriptionArn=a))(sub) for sub in unsubscribe],
        )

    # ---- teardown (only ecspipe's own topic; a given one is never touched) ----------
    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read_owned(ctx, read, details=False)
        return deletion(ctx, KIND, ctx.names.notification_topic, (current or {}).get("tags"),
                        exists=current is not None, notes=["with its email subscriptions"])

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        # DeleteTopic succeeds for a topic that is gone ("This action is idempotent").
        write("sns").delete_topic(TopicArn=ctx.names.notification_topic_arn)
