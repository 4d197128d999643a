"""The ECR repository the build pushes to.

Created with scan on push, IMMUTABLE tags (unique tags are the rollback story),
AES256 encryption and a lifecycle policy keeping the newest `image.keep` images.
A repository that exists without ecspipe's tags was made by someone else (often
the guide's Part 1): it is *used as is*, never modified, and the plan notes the
settings ecspipe would recommend. `down` keeps a repository holding images
unless `--delete-images`: those images are what production runs.
"""

from __future__ import annotations

import json
from typing import Any

from ecspipe.aws import is_error
from ecspipe.documents.policies import ecr_lifecycle
from ecspipe.names import tag_dict, tag_list
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    at_once,
    canonical,
    diff,
    sync_tags,
)

KIND = "ECR repository"


def _read(ctx: Context, read: Reader) -> dict | None:
    ecr = read("ecr")
    name = ctx.names.ecr_repository
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except Exception as exc:
        if is_error(exc, "RepositoryNotFoundException"):
            return None
        raise

    def lifecycle() -> str | None:
        try:
            return str(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except Exception as exc:
            if not is_error(exc, "LifecyclePolicyNotFoundException"):
                raise
            return None

    # Once it exists, its tags and its lifecycle policy are read at once.
    tags, policy = at_once(
        ctx,
        lambda: tag_dict(ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get(
            "tags")),
        lifecycle,
    )
    return {"repo": repo, "tags": tags, "lifecycle": policy}


def _settings(current: dict) -> dict:
    repo = current["repo"]
    return canonical(
        {
            "imageTagMutability": repo.get("imageTagMutability", "MUTABLE"),
            "scanOnPush": repo.get("imageScanningConfiguration", {}).get("scanOnPush", False),
            "lifecyclePolicy": current["lifecycle"],
            "tags": current["tags"],
        }
    )


def _desired(ctx: Context) -> dict:
    return canonical(
        {
            "imageTagMutability": "IMMUTABLE",
            "scanOnPush": True,
            "lifecyclePolicy": ecr_lifecycle(ctx.config.image.keep),
            "tags": ctx.names.tags,
        }
    )


# DescribeImages answers at most 1000 images a page (maxResults, ECR API Reference).
PAGE_SIZE = 1000


def count_images(ecr: Any, name: str) -> int:
    """How many images the repository holds (paged; one request up to PAGE_SIZE)."""
    pages = ecr.get_paginator("describe_images").paginate(
        repositoryName=name, PaginationConfig={"PageSize": PAGE_SIZE})
    return sum(len(page.get("imageDetails", [])) for page in pages)


class Repository:
    kind = KIND
    needs: tuple[str, ...] = ()

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it."""
        name = ctx.names.ecr_repository
        return [
            ("create_repository", {
                "repositoryName": name,
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "encryptionConfiguration": {"encryptionType": "AES256"},
                "tags": tag_list(ctx.names.tags),
            }),
            ("put_lifecycle_policy", {
                "repositoryName": name,
                "lifecyclePolicyText": json.dumps(ecr_lifecycle(ctx.config.image.keep)),
            }),
        ]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.ecr_repository
        current = _read(ctx, read)
        if current is None:
            return Change(KIND, name, "create")
        if not ctx.names.owns(current["tags"]):
            # Someone else's repository: push to it, change nothing, recommend. Never
            # adopted, even with --adopt: its images and their tags are production's.
            recommended = {k: v for k, v in _desired(ctx).items() if k != "tags"}
            actual = {k: v for k, v in _settings(current).items() if k != "tags"}
            notes = ["not created by ecspipe: used as is, left unmodified"]
            for f in diff(actual, recommended):
                if f.path.startswith("lifecyclePolicy"):
                    notes.append("recommended: a lifecycle policy keeping the newest "
                                 f"{ctx.config.image.keep} images (now "
                                 f"{'another one' if f.before else 'none'})")
                else:
                    notes.append(f"recommended: {f.path} {f.after} (now {f.before})")
            if actual.get("imageTagMutability") != "IMMUTABLE":
                notes.append("tags are mutable: ecspipe pushes unique tags and never `latest`")
            return Change(KIND, name, "use", notes=notes)
        fields = diff(_settings(current), _desired(ctx))
        change = Change(KIND, name, "update" if fields else "unchanged", fields)
        change.current = current
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        ecr = write("ecr")
        name = ctx.names.ecr_repository
        (_, create), (_, put_lifecycle) = self.requests(ctx)
        lifecycle = put_lifecycle["lifecyclePolicyText"]
        if change.action == "create":
            try:
                ecr.create_repository(**create)
            except Exception as exc:
                if not is_error(exc, "RepositoryAlreadyExistsException"):
                    raise
                # Made since we planned: finish it only if it is ours (e.g. this very
                # request, sent again after its response was lost).
                tags = tag_dict(ecr.list_tags_for_resource(
                    resourceArn=ctx.names.ecr_repository_arn).get("tags"))
                if not ctx.names.owns(tags):
                    return
            ecr.put_lifecycle_policy(**put_lifecycle)
            return
        if change.action != "update":
            return
        paths = {f.path.split(".")[0] for f in change.fields}
        arn = change.current["repo"]["repositoryArn"]
        at_once(
            ctx,
            (lambda: ecr.put_image_tag_mutability(repositoryName=name,
                                                  imageTagMutability="IMMUTABLE"))
            if "imageTagMutability" in paths else None,
            (lambda: ecr.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": True}))
            if "scanOnPush" in paths else None,
            (lambda: ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle))
            if "lifecyclePolicy" in paths else None,
            (lambda: sync_tags(
                change.current["tags"], ctx.names.tags,
                untag=lambda keys: ecr.untag_resource(resourceArn=arn, tagKeys=keys),
                tag=lambda tags: ecr.tag_resource(resourceArn=arn, tags=tag_list(tags)),
            )) if "tags" in paths else None,
        )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.ecr_repository
        current = _read(ctx, read)
        if current is None:
            return Change(KIND, name, "absent")
        if not ctx.names.owns(current["tags"]):
            return Change(KIND, name, "keep", notes=["not created by ecspipe"])
        images = count_images(read("ecr"), name)
        if images and not ctx.delete_images:
            return Change(
                KIND, name, "keep",
                notes=[f"holds {images} image(s); pass --delete-images to delete them"],
            )
        change = Change(KIND, name, "delete",
                        notes=[f"with its {images} image(s)"] if images else [])
        change.current = {"images": images}
        return change

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        try:
            write("ecr").delete_repository(
                repositoryName=ctx.names.ecr_repository, force=ctx.delete_images
            )
        except Exception as exc:
            if not is_error(exc, "RepositoryNotFoundException"):
                raise
