"""The source connection (CodeConnections, formerly CodeStar Connections).

A new connection is PENDING until a person completes the provider handshake in
the console; ecspipe creates it, says so, and the pipeline can be created
meanwhile. With `source.connection_arn`, an existing connection is used as is:
we check it exists and report its status, and never modify or delete it.
The API is chosen by the ARN's prefix: `codeconnections` for new connections,
`codestar-connections` for older ARNs (both APIs see the same connections).
"""

from __future__ import annotations

from ecspipe.aws import is_error
from ecspipe.errors import UserError
from ecspipe.names import tag_dict, tag_list
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    ownership,
    sync_tags,
    tags_diff,
)

KIND = "connection"


def api_for(arn: str) -> str:
    return "codestar-connections" if ":codestar-connections:" in arn else "codeconnections"


def _find_by_name(read: Reader | Writer, name: str) -> dict | None:
    client = read("codeconnections")
    token = None
    while True:
        kwargs = {"MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = client.list_connections(**kwargs)
        for conn in page.get("Connections", []):
            if conn.get("ConnectionName") == name:
                return conn
        token = page.get("NextToken")
        if not token:
            return None


class Connection:
    kind = KIND
    needs: tuple[str, ...] = ()

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it (none for a given `source.connection_arn`)."""
        if ctx.config.source.connection_arn:
            return []
        return [("create_connection", {
            "ProviderType": ctx.config.source.provider,
            "ConnectionName": ctx.names.connection,
            "Tags": tag_list(ctx.names.tags),
        })]

    def plan(self, ctx: Context, read: Reader) -> Change:
        arn = ctx.config.source.connection_arn
        if arn:
            try:
                conn = read(api_for(arn)).get_connection(ConnectionArn=arn)["Connection"]
            except Exception as exc:
                if is_error(exc, "ResourceNotFoundException"):
                    raise UserError(
                        f"source.connection_arn: connection {arn} does not exist",
                        hint="check the ARN (account, region) or remove connection_arn "
                        "to let ecspipe create one",
                    ) from exc
                raise
            ctx.outputs.connection_arn = arn
            ctx.outputs.connection_status = conn.get("ConnectionStatus")
            return Change(KIND, conn.get("ConnectionName", arn), "use",
                          notes=[f"existing connection, status {conn.get('ConnectionStatus')}"])

        name = ctx.names.connection
        conn = _find_by_name(read, name)
        if conn is None:
            if ctx.config.source.provider == "GitHubEnterpriseServer":
                raise UserError(
                    "source.provider: GitHubEnterpriseServer needs a host, which ecspipe "
                    "does not create",
                    hint="create the connection in the console and set source.connection_arn",
                )
            return Change(KIND, name, "create",
                          notes=["new connections are PENDING until the handshake is completed"])
        arn = conn["ConnectionArn"]
        tags = tag_dict(read(api_for(arn)).list_tags_for_resource(ResourceArn=arn).get("Tags"))
        notes = ownership(ctx, KIND, name, tags)
        ctx.outputs.connection_arn = arn
        ctx.outputs.connection_status = conn.get("ConnectionStatus")
        fields = tags_diff(tags, ctx.names.tags)
        if conn.get("ProviderType") != ctx.config.source.provider:
            notes.append(
                f"provider is {conn.get('ProviderType')}, config says "
                f"{ctx.config.source.provider}: a connection's provider cannot change"
            )
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = {"arn": arn, "tags": tags}
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        if change.action == "create":
            try:
                conn = write("codeconnections").create_connection(
                    **self.requests(ctx)[0][1])
            except Exception as exc:
                if not is_error(exc, "ResourceAlreadyExistsException"):
                    raise
                # Made meanwhile, e.g. by this very request whose first response was
                # lost and that botocore sent again: adopt it only if it is ours.
                found = _find_by_name(write, ctx.names.connection)
                if found is None:
                    raise
                arn = found["ConnectionArn"]
                tags = tag_dict(write(api_for(arn)).list_tags_for_resource(
                    ResourceArn=arn).get("Tags"))
                ownership(ctx, KIND, ctx.names.connection, tags)
                ctx.outputs.connection_arn = arn
                ctx.outputs.connection_status = found.get("ConnectionStatus")
                return
            ctx.outputs.connection_arn = conn["ConnectionArn"]
            ctx.outputs.connection_status = "PENDING"
        elif change.action == "update":
            arn = change.current["arn"]
            client = write(api_for(arn))
            sync_tags(
                change.current["tags"], ctx.names.tags,
                untag=lambda keys: client.untag_resource(ResourceArn=arn, TagKeys=keys),
                tag=lambda tags: client.tag_resource(ResourceArn=arn, Tags=tag_list(tags)),
            )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        if ctx.config.source.connection_arn:
            return Change(KIND, ctx.config.source.connection_arn, "keep",
                          notes=["not created by ecspipe (source.connection_arn)"])
        name = ctx.names.connection
        conn = _find_by_name(read, name)
        if conn is None:
            return Change(KIND, name, "absent")
        arn = conn["ConnectionArn"]
        tags = tag_dict(read(api_for(arn)).list_tags_for_resource(ResourceArn=arn).get("Tags"))
        if not ctx.names.owns(tags):
            return Change(KIND, name, "keep", notes=["not created by ecspipe (no ecspipe tags)"])
        change = Change(KIND, name, "delete")
        change.current = {"arn": arn}
        return change

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        arn = change.current["arn"]
        try:
            write(api_for(arn)).delete_connection(ConnectionArn=arn)
        except Exception as exc:
            if not is_error(exc, "ResourceNotFoundException"):
                raise
