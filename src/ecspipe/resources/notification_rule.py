"""The CodeStar Notifications rule: the pipeline's chosen events, published to the topic.

Named `ecspipe-<name>-<region>` (rule names are unique per account, so the region
is in it); found with ListNotificationRules filtered by the pipeline's ARN
(RESOURCE), then DescribeNotificationRule of each to match the name; updated in
place (UpdateNotificationRule cannot change the resource, which never changes
here). "Notification concepts" (Developer Tools console User Guide) gives the
event types; DetailType FULL puts the execution's details into each message.

The first rule of an account makes CodeStar Notifications create its
service-linked role; until that role exists CreateNotificationRule answers
ConfigurationException ("... the service-linked role ... might not yet exist"),
which retry.py retries like IAM propagation. It needs the pipeline, so it comes
after it in the engine's order, and goes first in `down`.
"""

from __future__ import annotations

from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents.notifications import rule_request
from ecspipe.errors import UserError
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    deletion,
    diff,
    ownership,
    sync_tags,
)

KIND = "notification rule"
SERVICE = "codestar-notifications"


def _read(ctx: Context, read: Reader) -> dict[str, Any] | None:
    client = read(SERVICE)
    pages = client.get_paginator("list_notification_rules").paginate(
        Filters=[{"Name": "RESOURCE", "Value": ctx.names.pipeline_arn}])
    for page in pages:
        for rule in page.get("NotificationRules", []):
            described = client.describe_notification_rule(Arn=rule["Arn"])
            if described.get("Name") == ctx.names.notification_rule:
                return dict(described)
    return None


def _topic_arn(ctx: Context) -> str:
    notify = ctx.config.notify
    assert notify is not None
    return notify.sns_topic_arn or ctx.names.notification_topic_arn


def _managed(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_types": sorted(rule.get("EventTypeIds") or
                              [e["EventTypeId"] for e in rule.get("EventTypes", [])]),
        "targets": sorted(f"{t.get('TargetType')} {t.get('TargetAddress')}"
                          for t in rule.get("Targets", [])),
        "detail_type": rule.get("DetailType"),
        "status": rule.get("Status"),
        "tags": dict(rule.get("Tags") or {}),
    }


class NotificationRule:
    kind = KIND
    # The rule is on the pipeline (Resource) and targets the topic.
    needs: tuple[str, ...] = ("pipeline", "SNS topic")
    optional = True  # not every pipeline has it: not reported by `down` when absent

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it."""
        notify = ctx.config.notify
        if notify is None:
            return []
        return [("create_notification_rule",
                 rule_request(ctx.names, list(notify.events), _topic_arn(ctx)))]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.notification_rule
        current = _read(ctx, read)
        notify = ctx.config.notify
        assert notify is not None
        desired = rule_request(ctx.names, list(notify.events), _topic_arn(ctx))
        events = ", ".join(notify.events)
        if current is None:
            return Change(KIND, name, "create", notes=[
                f"notifies {events} of pipeline {ctx.names.pipeline} to {_topic_arn(ctx)}"])
        notes = ownership(ctx, KIND, name, dict(current.get("Tags") or {}))
        unreachable = [t["TargetAddress"] for t in current.get("Targets", [])
                       if t.get("TargetStatus") == "UNREACHABLE"]
        notes += [f"CodeStar Notifications reports {a} UNREACHABLE: its policy (or its key's) "
                  "does not let the service publish" for a in unreachable]
        fields = diff(_managed(current), _managed(desired))
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        client = write(SERVICE)
        notify = ctx.config.notify
        assert notify is not None
        request = rule_request(ctx.names, list(notify.events), _topic_arn(ctx))
        if change.action == "create":
            try:
                ctx.retry.call(client.create_notification_rule, **self.requests(ctx)[0][1])
            except Exception as exc:
                if is_error(exc, "ResourceAlreadyExistsException"):
                    raise UserError(
                        f"a notification rule named {ctx.names.notification_rule!r} already "
                        "exists in this account, for another resource",
                        hint="rule names are unique per account: delete that rule, or pick "
                        "another `name`",
                    ) from exc
                if is_error(exc, "ConfigurationException"):
                    first_use = "service-linked role" in str(exc)
                    raise UserError(
                        f"CodeStar Notifications refused the rule: {exc}",
                        hint="on first use in an account its service-linked role "
                        "(AWSServiceRoleForCodeStarNotifications) can take up to 15 minutes "
                        "to exist: run `ecspipe up` again later" if first_use else
                        "check notify: (the topic, its policy and its key)",
                    ) from exc
                raise
            return
        if change.action != "update":
            return
        arn = change.current["Arn"]
        changed = {f.path.split(".")[0] for f in change.fields}
        if changed - {"tags"}:
            ctx.retry.call(client.update_notification_rule, Arn=arn, Name=request["Name"],
                           EventTypeIds=request["EventTypeIds"], Targets=request["Targets"],
                           DetailType=request["DetailType"], Status=request["Status"])
        if "tags" in changed:
            sync_tags(
                dict(change.current.get("Tags") or {}), ctx.names.tags,
                untag=lambda keys: client.untag_resource(Arn=arn, TagKeys=keys),
                tag=lambda tags: client.tag_resource(Arn=arn, Tags=tags),
            )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read(ctx, read)
        change = deletion(ctx, KIND, ctx.names.notification_rule,
                          dict((current or {}).get("Tags") or {}), exists=current is not None)
        change.current = current
        return change

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        # DeleteNotificationRule of a missing rule succeeds.
        write(SERVICE).delete_notification_rule(Arn=change.current["Arn"])
