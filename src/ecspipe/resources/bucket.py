"""The S3 artifact bucket CodePipeline passes artifacts through.

Deterministic name (names.py), SSE-S3, all public access blocked, object
ownership BucketOwnerEnforced (no ACLs), a TLS-only bucket policy, versioning,
and lifecycle rules so artifacts expire. Tags go in CreateBucket itself
(CreateBucketConfiguration.Tags), so an interrupted run can never leave an
untagged bucket that the next run would take for someone else's.
Every call that accepts it passes ExpectedBucketOwner: bucket names are global,
and a same-name bucket in another account must never receive our artifacts.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents.policies import bucket_lifecycle, bucket_policy
from ecspipe.errors import AwsError, UserError
from ecspipe.names import tag_list
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    at_once,
    canonical,
    canonical_policy,
    deletion,
    diff,
    ownership,
)

KIND = "artifact bucket"

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
}


def _get(fn: Any, missing: tuple[str, ...], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except Exception as exc:
        if is_error(exc, *missing):
            return None
        raise


def read_tags(ctx: Context, read: Reader) -> dict[str, str] | None:
    """The bucket's tags ({} when it has none), or None when it does not exist.

    One GetBucketTagging answers existence and ownership at once (no HeadBucket):
    with ExpectedBucketOwner, a bucket of another account is a 403.
    """
    bucket = ctx.names.artifact_bucket
    try:
        tagging = read("s3").get_bucket_tagging(Bucket=bucket,
                                                ExpectedBucketOwner=ctx.names.account)
    except Exception as exc:
        if is_error(exc, "NoSuchTagSet"):
            return {}
        if is_error(exc, "404", "NoSuchBucket", "NotFound"):
            return None
        if is_error(exc, "403", "AccessDenied"):
            raise UserError(
                f"S3 bucket {bucket!r} is not accessible: it exists in another account "
                "(bucket names are global), or these credentials lack s3:GetBucketTagging "
                "on it",
                hint="choose another `name` in the config, or check the caller's permissions",
            ) from exc
        raise
    return {t["Key"]: t["Value"] for t in tagging.get("TagSet", [])}


def _read(ctx: Context, read: Reader, tags: dict[str, str]) -> dict:
    """The managed settings, one read each, sent concurrently (S3 has no call for all)."""
    s3 = read("s3")
    kw = {"Bucket": ctx.names.artifact_bucket, "ExpectedBucketOwner": ctx.names.account}
    reads: dict[str, tuple[Any, tuple[str, ...]]] = {
        "encryption": (s3.get_bucket_encryption,
                       ("ServerSideEncryptionConfigurationNotFoundError",)),
        "pab": (s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",)),
        "owner": (s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",)),
        "policy": (s3.get_bucket_policy, ("NoSuchBucketPolicy",)),
        "versioning": (s3.get_bucket_versioning, ()),
        "lifecycle": (s3.get_bucket_lifecycle_configuration, ("NoSuchLifecycleConfiguration",)),
    }
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        futures = {key: pool.submit(_get, fn, missing, **kw)
                   for key, (fn, missing) in reads.items()}
        got = {key: future.result() for key, future in futures.items()}
    encryption, pab, owner = got["encryption"], got["pab"], got["owner"]
    policy, versioning, lifecycle = got["policy"], got["versioning"] or {}, got["lifecycle"]
    return {
        "tags": tags,
        "encryption": [
            r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
            for r in (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get(
                "Rules", []
            )
        ],
        "publicAccessBlock": (pab or {}).get("PublicAccessBlockConfiguration"),
        "ownership": [r.get("ObjectOwnership") for r in (owner or {}).get(
            "OwnershipControls", {}).get("Rules", [])],
        "policy": canonical_policy(policy["Policy"]) if policy else None,
        "versioning": versioning.get("Status", "Disabled"),
        "lifecycle": canonical(_lifecycle_rules((lifecycle or {}).get("Rules", []))),
    }


def _lifecycle_rules(rules: list[dict]) -> list[dict]:
    """The managed part of lifecycle rules (S3 echoes back extra, defaulted fields)."""
    out = []
    for r in rules:
        out.append({
            "ID": r.get("ID"),
            "Status": r.get("Status"),
            "Expiration": (r.get("Expiration") or {}).get("Days"),
            "NoncurrentDays": (r.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"),
            "AbortDays": (r.get("AbortIncompleteMultipartUpload") or {}).get(
                "DaysAfterInitiation"),
        })
    return sorted(out, key=lambda r: str(r["ID"]))


def _desired(ctx: Context) -> dict:
    return {
        "tags": ctx.names.tags,
        "encryption": ["AES256"],
        "publicAccessBlock": PUBLIC_ACCESS_BLOCK,
        "ownership": ["BucketOwnerEnforced"],
        "policy": canonical_policy(bucket_policy(ctx.names)),
        "versioning": "Enabled",
        "lifecycle": canonical(_lifecycle_rules(bucket_lifecycle()["Rules"])),
    }


def _puts(ctx: Context) -> dict[str, Request]:
    """Each managed setting's request, in the order `apply` sends them (the bucket and
    ExpectedBucketOwner are added when sent)."""
    return {
        "publicAccessBlock": ("put_public_access_block",
                              {"PublicAccessBlockConfiguration": PUBLIC_ACCESS_BLOCK}),
        "ownership": ("put_bucket_ownership_controls",
                      {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}),
        "encryption": ("put_bucket_encryption", {"ServerSideEncryptionConfiguration": ENCRYPTION}),
        "versioning": ("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}}),
        "lifecycle": ("put_bucket_lifecycle_configuration",
                      {"LifecycleConfiguration": bucket_lifecycle()}),
        "policy": ("put_bucket_policy", {"Policy": json.dumps(bucket_policy(ctx.names))}),
        "tags": ("put_bucket_tagging", {"Tagging": {"TagSet": tag_list(ctx.names.tags)}}),
    }


def create_bucket_request(ctx: Context) -> dict[str, Any]:
    config: dict[str, Any] = {"Tags": tag_list(ctx.names.tags)}
    if ctx.names.region != "us-east-1":
        config["LocationConstraint"] = ctx.names.region
    return {"Bucket": ctx.names.artifact_bucket, "CreateBucketConfiguration": config}


class Bucket:
    kind = KIND
    needs: tuple[str, ...] = ()

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it (tags in CreateBucket itself)."""
        puts = [request for key, request in _puts(ctx).items() if key != "tags"]
        return [("create_bucket", create_bucket_request(ctx)), *puts]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.artifact_bucket
        tags = read_tags(ctx, read)
        if tags is None:
            return Change(KIND, name, "create")
        current = _read(ctx, read, tags)
        notes = ownership(ctx, KIND, name, current["tags"])
        fields = diff(canonical(current), canonical(_desired(ctx)))
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        if change.action not in ("create", "update"):
            return
        s3 = write("s3")
        name = ctx.names.artifact_bucket
        kw = {"Bucket": name, "ExpectedBucketOwner": ctx.names.account}
        if change.action == "create":
            changed = set(_desired(ctx)) - {"tags"}
            call = ctx.retry.call
            try:
                ctx.retry.call(s3.create_bucket, **create_bucket_request(ctx))
            except Exception as exc:
                if is_error(exc, "BucketAlreadyExists"):
                    raise UserError(
                        f"S3 bucket {name!r} is taken by another account",
                        hint="choose another `name` in the config",
                    ) from exc
                if not is_error(exc, "BucketAlreadyOwnedByYou"):
                    raise
                # Made since we planned: converge it like an update, if it is ours.
                ownership(ctx, KIND, name, read_tags(ctx, Reader(ctx.aws)) or {})
                changed.add("tags")
            else:
                # S3 is eventually consistent: configuration calls straight after
                # CreateBucket can answer NoSuchBucket for a while (terraform-provider-aws
                # retries them for 2 minutes). Only after our own create, bounded.
                call = ctx.retry.also("NoSuchBucket").call
        else:
            changed = {f.path.split(".")[0] for f in change.fields}
            call = ctx.retry.call
        # Each setting is its own subresource: S3 takes them at once (a conflict would be
        # OperationAborted, which ctx.retry retries).
        at_once(ctx, *((lambda op=operation, params=params: call(getattr(s3, op), **params, **kw))
                       for key, (operation, params) in _puts(ctx).items() if key in changed))

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        tags = read_tags(ctx, read)
        return deletion(ctx, KIND, ctx.names.artifact_bucket, tags, exists=tags is not None,
                        notes=["emptied first: every object version and delete marker"])

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        s3 = write("s3")
        name = ctx.names.artifact_bucket
        kw = {"Bucket": name, "ExpectedBucketOwner": ctx.names.account}
        try:
            empty_bucket(s3, kw)
            ctx.retry.call(s3.delete_bucket, **kw)
        except Exception as exc:
            if not is_error(exc, "NoSuchBucket", "404"):
                raise


# ListObjectVersions answers at most 1000 versions a page, and DeleteObjects takes
# at most 1000 keys (S3 API Reference): one page, one delete.
PAGE_SIZE = 1000


def empty_bucket(s3: Any, kw: dict[str, str]) -> int:
    """Delete every object version and delete marker, a page (PAGE_SIZE) at a time.

    Each page is listed from the start, after the previous page was deleted,
    instead of following the page markers: a marker names the last version of
    the previous page, which this very loop has just deleted (the sandbox's
    moto then answers an empty page, and what is left would stop DeleteBucket).
    The requests are those of paging: one list and one delete per page.
    """
    deleted = 0
    while True:
        page = s3.list_object_versions(**kw, MaxKeys=PAGE_SIZE)
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:
            result = s3.delete_objects(Delete={"Objects": keys, "Quiet": True}, **kw)
            errors = result.get("Errors", [])
            if errors:
                first = errors[0]
                raise AwsError(
                    f"could not empty the bucket: {len(errors)} object version(s) not deleted, "
                    f"e.g. {first.get('Key')} ({first.get('Code')}: {first.get('Message')})"
                )
            deleted += len(keys)
        if not page.get("IsTruncated") or not keys:
            return deleted
