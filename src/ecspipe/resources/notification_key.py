"""The KMS key that encrypts the notification topic ecspipe creates (`notify.email`).

A customer managed key, because the AWS managed `alias/aws/sns` cannot admit
CodeStar Notifications (documents/notifications.py): its key policy makes the
account root the key's administrator and lets CodeStar Notifications use it
through SNS only; rotation is on. Found by its alias
`alias/ecspipe/<name>-<region>-notifications`; owned by its tags.

KMS never deletes a key at once ("Deleting AWS KMS keys", KMS Developer Guide:
ScheduleKeyDeletion, a waiting period of 7 to 30 days): `down` deletes the alias
and schedules the key's deletion with the minimum, 7 days, and says so. A key
pending deletion does not count: the next `up` makes a new one. With
`notify.sns_topic_arn` (a topic of the user's) ecspipe needs no key: one it made
earlier is deleted the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents.notifications import key_policy
from ecspipe.names import tag_dict, tag_list
from ecspipe.resources.base import (
    PENDING,
    Change,
    Context,
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

KIND = "KMS key"
MINIMUM_WAITING_DAYS = 7
DELETE_NOTE = (f"KMS deletes keys only after a waiting period: scheduled for deletion in "
               f"{MINIMUM_WAITING_DAYS} days (the minimum), its alias deleted now")
COST_NOTE = "a customer managed key costs about $1 a month (AWS KMS pricing)"


def _wanted(ctx: Context) -> bool:
    return ctx.config.notify is not None and ctx.config.notify.owned_topic


def _read(ctx: Context, read: Reader, details: bool = True) -> dict[str, Any] | None:
    kms = read("kms")
    try:
        meta = kms.describe_key(KeyId=ctx.names.notification_key_alias)["KeyMetadata"]
    except Exception as exc:
        if is_error(exc, "NotFoundException"):
            return None
        raise
    if meta.get("KeyState") == "PendingDeletion":
        return {"meta": meta, "pending_deletion": True, "tags": {}}
    key_id = meta["KeyId"]

    def kept(call: Callable[[], Any]) -> Callable[[], Any]:
        # Read before its tags are known: a refusal counts only if the key is used.
        def run() -> Any:
            try:
                return call()
            except Exception as exc:  # noqa: BLE001 - raised below if it matters
                return exc
        return run

    # Its tags, policy and rotation at once (one round, not three); the policy and the
    # rotation are kept only for a key ecspipe owns (or adopts).
    # A key has at most 50 tags: ListResourceTags' default page (Limit 50) holds them.
    answers = at_once(
        ctx,
        lambda: tag_dict(kms.list_resource_tags(KeyId=key_id).get("Tags"), "TagKey", "TagValue"),
        *((kept(lambda: kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]),
           kept(lambda: kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]))
          if details else ()),
    )
    tags = answers[0]
    current: dict[str, Any] = {"meta": meta, "tags": tags, "pending_deletion": False}
    if details and (ctx.names.owns(tags) or ctx.adopt):
        for answer in answers[1:]:
            if isinstance(answer, Exception):
                raise answer
        current["policy"], current["rotation"] = answers[1:]
    return current


class NotificationKey:
    kind = KIND
    needs: tuple[str, ...] = ()
    optional = True  # not every pipeline has it: not reported by `down` when absent

    def requests(self, ctx: Context, key_id: str = PENDING) -> list[Request]:
        """What creates it, as `apply` sends it: the key, its rotation, its alias (the
        last two name the new key's id). None when the topic is the user's."""
        if not _wanted(ctx):
            return []
        return [
            ("create_key", {
                "Description": f"ecspipe: encrypts the notification topic of pipeline "
                f"{ctx.names.pipeline}",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "Policy": json.dumps(key_policy(ctx.names)),
                "Tags": tag_list(ctx.names.tags, "TagKey", "TagValue"),
            }),
            ("enable_key_rotation", {"KeyId": key_id}),
            ("create_alias", {"AliasName": ctx.names.notification_key_alias,
                              "TargetKeyId": key_id}),
        ]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.notification_key_alias
        current = _read(ctx, read)
        live = current is not None and not current["pending_deletion"]
        if not _wanted(ctx):
            # The topic is the user's (notify.sns_topic_arn): a key ecspipe made goes.
            if live and current and ctx.names.owns(current["tags"]):
                change = Change(KIND, name, "delete", notes=[
                    "notify.sns_topic_arn is given: ecspipe's own topic and key are not needed",
                    DELETE_NOTE])
                change.current = current
                return change
            return Change(KIND, name, "absent")
        if not live:
            notes = [COST_NOTE]
            if current is not None:
                notes.append(f"the alias points to key {current['meta']['KeyId']}, which is "
                             "pending deletion: a new key is made and the alias moved to it")
            change = Change(KIND, name, "create", notes=notes)
            change.current = current
            return change
        assert current is not None
        notes = ownership(ctx, KIND, name, current["tags"])
        before = {"key_policy": canonical_policy(current.get("policy")),
                  "rotation": current.get("rotation"), "tags": current["tags"]}
        after = {"key_policy": canonical_policy(key_policy(ctx.names)), "rotation": True,
                 "tags": ctx.names.tags}
        fields = diff(before, after)
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        kms = write("kms")
        if change.action == "delete":
            self.delete(ctx, change, write)
            return
        if change.action == "create":
            key = kms.create_key(**self.requests(ctx)[0][1])["KeyMetadata"]
            _, (_, rotation), (_, alias) = self.requests(ctx, key["KeyId"])
            # Rotation and the alias need only the key: at once.
            at_once(
                ctx,
                lambda: kms.enable_key_rotation(**rotation),
                # An alias that names a key pending deletion is moved to the new key.
                (lambda: kms.update_alias(**alias)) if change.current is not None else
                (lambda: kms.create_alias(**alias)),
            )
            return
        if change.action != "update":
            return
        key_id = change.current["meta"]["KeyId"]
        changed = {f.path.split(".")[0] for f in change.fields}
        if "key_policy" in changed:
            kms.put_key_policy(KeyId=key_id, PolicyName="default",
                               Policy=json.dumps(key_policy(ctx.names)))
        if "rotation" in changed:
            kms.enable_key_rotation(KeyId=key_id)
        if "tags" in changed:
            sync_tags(
                change.current["tags"], ctx.names.tags,
                untag=lambda keys: kms.untag_resource(KeyId=key_id, TagKeys=keys),
                tag=lambda tags: kms.tag_resource(KeyId=key_id,
                                                  Tags=tag_list(tags, "TagKey", "TagValue")),
            )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read(ctx, read, details=False)
        live = current is not None and not current["pending_deletion"]
        change = deletion(ctx, KIND, ctx.names.notification_key_alias,
                          (current or {}).get("tags"), exists=live, notes=[DELETE_NOTE])
        change.current = current
        return change

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        kms = write("kms")
        try:
            kms.delete_alias(AliasName=ctx.names.notification_key_alias)
        except Exception as exc:
            if not is_error(exc, "NotFoundException"):
                raise
        try:
            kms.schedule_key_deletion(KeyId=change.current["meta"]["KeyId"],
                                      PendingWindowInDays=MINIMUM_WAITING_DAYS)
        except Exception as exc:
            # Already pending deletion (a retried down): KMSInvalidStateException.
            if not is_error(exc, "NotFoundException", "KMSInvalidStateException"):
                raise
