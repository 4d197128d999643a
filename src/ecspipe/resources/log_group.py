"""The CloudWatch Logs group of the build, made by ecspipe so it has a retention.

CodeBuild would create it on the first build, with logs kept forever and no
tags. A same-name group that ecspipe did not create is used as is.
"""

from __future__ import annotations

from ecspipe.aws import is_error
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    deletion,
    diff,
    sync_tags,
)

KIND = "log group"
RETENTION_DAYS = 30


def _read(ctx: Context, read: Reader) -> dict | None:
    logs = read("logs")
    name = ctx.names.log_group
    # One page suffices: results are "ASCII-sorted by log group name" (CloudWatch
    # Logs API Reference), so the exact name comes before every longer one.
    groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        return None
    tags = logs.list_tags_for_resource(resourceArn=ctx.names.log_group_arn).get("tags", {})
    return {"retention": group.get("retentionInDays"), "tags": tags}


class LogGroup:
    kind = KIND
    needs: tuple[str, ...] = ()

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it."""
        name = ctx.names.log_group
        return [("create_log_group", {"logGroupName": name, "tags": dict(ctx.names.tags)}),
                ("put_retention_policy", {"logGroupName": name,
                                          "retentionInDays": RETENTION_DAYS})]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.log_group
        current = _read(ctx, read)
        if current is None:
            return Change(KIND, name, "create", notes=[f"retention {RETENTION_DAYS} days"])
        if not ctx.names.owns(current["tags"]):
            # Never adopted: our retention would delete someone else's old logs.
            return Change(KIND, name, "use", notes=["not created by ecspipe: used as is"])
        fields = diff(
            {"retentionInDays": current["retention"], "tags": current["tags"]},
            {"retentionInDays": RETENTION_DAYS, "tags": ctx.names.tags},
        )
        change = Change(KIND, name, "update" if fields else "unchanged", fields)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        logs = write("logs")
        name = ctx.names.log_group
        if change.action == "create":
            (_, create), (_, retention) = self.requests(ctx)
            try:
                logs.create_log_group(**create)
            except Exception as exc:
                if not is_error(exc, "ResourceAlreadyExistsException"):
                    raise
                tags = logs.list_tags_for_resource(resourceArn=ctx.names.log_group_arn).get(
                    "tags", {})
                if not ctx.names.owns(tags):
                    return  # made meanwhile by someone else: used as is
            logs.put_retention_policy(**retention)
        elif change.action == "update":
            paths = {f.path.split(".")[0] for f in change.fields}
            if "retentionInDays" in paths:
                logs.put_retention_policy(logGroupName=name, retentionInDays=RETENTION_DAYS)
            if "tags" in paths:
                arn = ctx.names.log_group_arn
                sync_tags(
                    change.current["tags"], ctx.names.tags,
                    untag=lambda keys: logs.untag_resource(resourceArn=arn, tagKeys=keys),
                    tag=lambda tags: logs.tag_resource(resourceArn=arn, tags=tags),
                )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read(ctx, read)
        return deletion(ctx, KIND, ctx.names.log_group, (current or {}).get("tags"),
                        exists=current is not None, notes=["build logs are deleted with it"])

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        try:
            write("logs").delete_log_group(logGroupName=ctx.names.log_group)
        except Exception as exc:
            if not is_error(exc, "ResourceNotFoundException"):
                raise
