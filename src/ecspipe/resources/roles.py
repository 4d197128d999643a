"""The two IAM service roles: one CodeBuild assumes, one CodePipeline assumes.

Each has a trust policy naming its service (CodeBuild's with aws:SourceAccount and
aws:SourceArn; CodePipeline's exactly as AWS documents it, with no condition) and one
inline least-privilege policy from
documents/policies.py. Roles live under the /ecspipe/ path. An inline policy
that is not ecspipe's is left alone (and mentioned); deletion removes inline
policies first, as IAM requires.
"""

from __future__ import annotations

import json
from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents import policies
from ecspipe.errors import UserError
from ecspipe.names import tag_list
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

# IAM's limit on all inline policies of a role, whitespace not counted.
INLINE_POLICY_LIMIT = 10_240
# IAM list calls answer 100 items a page unless MaxItems says otherwise (1-1000).
PAGE_SIZE = 100


def _all(iam: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a paged IAM list (Marker/IsTruncated); one request for one page."""
    pages = iam.get_paginator(operation).paginate(
        **kwargs, PaginationConfig={"PageSize": PAGE_SIZE})
    return [item for page in pages for item in page.get(key, [])]


class Role:
    def __init__(self, service: str) -> None:
        assert service in ("codebuild", "codepipeline")
        self.service = service
        self.kind = "CodeBuild role" if service == "codebuild" else "CodePipeline role"
        # The role needs nothing made first (its trust policy names only what names.py
        # derives); the CodePipeline role's inline policy names the connection's ARN.
        self.needs: tuple[str, ...] = ()
        self.policy_needs: tuple[str, ...] = () if service == "codebuild" else ("connection",)

    # ---- what it should be ---------------------------------------------------------
    def role_name(self, ctx: Context) -> str:
        return ctx.names.codebuild_role if self.service == "codebuild" else ctx.names.pipeline_role

    def policy_name(self, ctx: Context) -> str:
        return (
            ctx.names.codebuild_policy if self.service == "codebuild" else ctx.names.pipeline_policy
        )

    def trust(self, ctx: Context) -> dict[str, Any]:
        if self.service == "codebuild":
            return policies.codebuild_trust(ctx.names)
        return policies.pipeline_trust(ctx.names)

    def policy(self, ctx: Context) -> dict[str, Any]:
        if self.service == "codebuild":
            return policies.codebuild_policy(ctx.config, ctx.names)
        assert ctx.environments
        return policies.pipeline_policy(
            ctx.names, ctx.environments, ctx.outputs.connection_arn_planned() or PENDING
        )

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it: the role, then its inline policy."""
        name = self.role_name(ctx)
        return [
            ("create_role", {
                "RoleName": name,
                "Path": ctx.names.role_path,
                "AssumeRolePolicyDocument": json.dumps(self.trust(ctx)),
                "Description": f"ecspipe: {self.service} service role of pipeline "
                f"{ctx.names.pipeline}",
                "Tags": tag_list(ctx.names.tags),
            }),
            self._put_policy(ctx),
        ]

    def _put_policy(self, ctx: Context) -> Request:
        return ("put_role_policy", {"RoleName": self.role_name(ctx),
                                    "PolicyName": self.policy_name(ctx),
                                    "PolicyDocument": json.dumps(self.policy(ctx))})

    # ---- plan / apply -------------------------------------------------------------
    def _read(self, ctx: Context, read: Reader, with_policy: bool = True) -> dict | None:
        iam = read("iam")
        name = self.role_name(ctx)
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except Exception as exc:
            if is_error(exc, "NoSuchEntity"):
                return None
            raise
        tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
        if not with_policy:
            return {"role": role, "tags": tags}
        # GetRolePolicy directly (not ListRolePolicies first): two reads per role.
        # Other inline policies someone added are not ecspipe's; `down` deletes them
        # with the role and says so.
        try:
            policy = iam.get_role_policy(RoleName=name, PolicyName=self.policy_name(ctx))[
                "PolicyDocument"
            ]
        except Exception as exc:
            if not is_error(exc, "NoSuchEntity"):
                raise
            policy = None
        return {
            "role": role,
            "tags": tags,
            "trust": role.get("AssumeRolePolicyDocument"),
            "policy": policy,
        }

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = self.role_name(ctx)
        # Read first: the pipeline role's policy waits for the connection's plan.
        current = self._read(ctx, read)
        size = len("".join(json.dumps(self.policy(ctx)).split()))
        if size > INLINE_POLICY_LIMIT:
            # IAM would refuse PutRolePolicy half-way through `up`: say so before any write.
            raise UserError(
                f"build.env: the {self.kind}'s policy would be {size} characters, over IAM's "
                f"{INLINE_POLICY_LIMIT} for a role's inline policies",
                hint="reference fewer Parameter Store parameters / Secrets Manager secrets, "
                "e.g. one JSON secret with several keys",
            )
        if current is None:
            return Change(self.kind, name, "create")
        notes = ownership(ctx, self.kind, name, current["tags"])
        before = {
            "trust_policy": canonical_policy(current["trust"]),
            "inline_policy": canonical_policy(current["policy"]),
            "tags": current["tags"],
        }
        after = {
            "trust_policy": canonical_policy(self.trust(ctx)),
            "inline_policy": canonical_policy(self.policy(ctx)),
            "tags": ctx.names.tags,
        }
        fields = diff(before, after)
        change = Change(self.kind, name, "update" if fields else "unchanged", fields, notes)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        iam = write("iam")
        name = self.role_name(ctx)
        call = ctx.retry.call
        if change.action == "create":
            try:
                call(iam.create_role, **self.requests(ctx)[0][1])
            except Exception as exc:
                if not is_error(exc, "EntityAlreadyExists"):
                    raise
                # Made since we planned: converge it like an update, if it is ours.
                role = iam.get_role(RoleName=name)["Role"]
                tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
                ownership(ctx, self.kind, name, tags)
                change.current = {"tags": tags}
                changed = {"trust_policy", "inline_policy", "tags"}
            else:
                changed = {"inline_policy"}
        elif change.action == "update":
            changed = {f.path.split(".")[0] for f in change.fields}
        else:
            return
        # The trust policy, the inline policy and the tags are independent: at once. The
        # pipeline role's policy names the connection, made in the same wave: its put
        # waits for it, the role itself does not, so both roles start propagating first.

        def put_policy() -> None:
            for kind in self.policy_needs:
                ctx.outputs.wait_applied(kind)
            if "connection" in self.policy_needs and not ctx.outputs.connection_arn:
                raise UserError(f"the {self.kind}'s policy names the connection, which was "
                                "not made (see its error); run `ecspipe up` again")
            call(iam.put_role_policy, **self._put_policy(ctx)[1])

        at_once(
            ctx,
            (lambda: call(iam.update_assume_role_policy, RoleName=name,
                          PolicyDocument=json.dumps(self.trust(ctx))))
            if "trust_policy" in changed else None,
            put_policy if "inline_policy" in changed else None,
            (lambda: sync_tags(
                change.current["tags"], ctx.names.tags,
                untag=lambda keys: call(iam.untag_role, RoleName=name, TagKeys=keys),
                tag=lambda tags: call(iam.tag_role, RoleName=name, Tags=tag_list(tags)),
            )) if "tags" in changed else None,
        )

    # ---- teardown -----------------------------------------------------------------
    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = self._read(ctx, read, with_policy=False)
        return deletion(ctx, self.kind, self.role_name(ctx), (current or {}).get("tags"),
                        exists=current is not None,
                        notes=["with its inline policies; attached managed policies are "
                               "detached, not deleted"])

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        iam = write("iam")
        name = self.role_name(ctx)
        call = ctx.retry.call

        def gone_ok(fn: Any, **kwargs: Any) -> None:
            # Each step tolerates "already gone" on its own (a retried request may
            # find its own earlier success), so no step is ever skipped.
            try:
                call(fn, **kwargs)
            except Exception as exc:
                if not is_error(exc, "NoSuchEntity"):
                    raise

        try:
            policies = _all(iam, "list_role_policies", "PolicyNames", RoleName=name)
            attached = _all(iam, "list_attached_role_policies", "AttachedPolicies",
                            RoleName=name)
        except Exception as exc:
            if is_error(exc, "NoSuchEntity"):
                return
            raise
        # IAM refuses to delete a role with policies (DeleteConflict): remove them first.
        for policy in policies:
            gone_ok(iam.delete_role_policy, RoleName=name, PolicyName=policy)
        for item in attached:
            gone_ok(iam.detach_role_policy, RoleName=name, PolicyArn=item["PolicyArn"])
        gone_ok(iam.delete_role, RoleName=name)
