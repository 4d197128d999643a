"""The CodeBuild project that builds, tests and pushes the image.

Compared field by field after projecting what CodeBuild returns onto what we
manage (CodeBuild adds many defaulted fields), with environment variables keyed
by name, so `build.env` changes show up as exactly those variables. A plain
value under a secret-looking name in the project as it is (someone may have put
a secret there in the console) is masked before the diff, so no plan, text or
JSON, ever shows it.
"""

from __future__ import annotations

from typing import Any

from ecspipe.aws import is_error
from ecspipe.config.rules import looks_secret
from ecspipe.documents.project import project_request
from ecspipe.names import tag_dict
from ecspipe.resources.base import (
    Change,
    Context,
    Reader,
    Request,
    Writer,
    canonical,
    deletion,
    diff,
    keyed,
    ownership,
    project_onto,
)

KIND = "CodeBuild project"
MASKED = "(hidden: a plain value under a secret-looking name)"


def _masked(project: dict[str, Any]) -> dict[str, Any]:
    environment = project.get("environment") or {}
    variables = environment.get("environmentVariables")
    if not isinstance(variables, list):
        return project
    hidden = [
        {**v, "value": MASKED}
        if isinstance(v, dict) and v.get("type", "PLAINTEXT") == "PLAINTEXT"
        and looks_secret(str(v.get("name", ""))) else v
        for v in variables
    ]
    return {**project, "environment": {**environment, "environmentVariables": hidden}}


def _managed(request: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in request.items() if k not in ("name", "tags")}
    body["tags"] = tag_dict(request.get("tags"), "key", "value")
    return body


def _read(ctx: Context, read: Reader) -> dict | None:
    projects = read("codebuild").batch_get_projects(names=[ctx.names.build_project]).get(
        "projects", []
    )
    return projects[0] if projects else None


class Project:
    kind = KIND
    # CreateProject checks that CodeBuild can assume its role (retry.py: until it can).
    needs: tuple[str, ...] = ("CodeBuild role",)

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it."""
        assert ctx.environments
        return [("create_project", project_request(ctx.config, ctx.names, ctx.environments))]

    def plan(self, ctx: Context, read: Reader) -> Change:
        assert ctx.environments
        name = ctx.names.build_project
        current = _read(ctx, read)
        if current is None:
            return Change(KIND, name, "create")
        notes = ownership(ctx, KIND, name, tag_dict(current.get("tags"), "key", "value"))
        desired = keyed(canonical(_managed(project_request(ctx.config, ctx.names, ctx.environments))))
        now = keyed(canonical(_managed(_masked(current))))
        fields = diff(project_onto(now, desired), desired)
        return Change(KIND, name, "update" if fields else "unchanged", fields, notes)

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        assert ctx.environments
        codebuild = write("codebuild")
        request = self.requests(ctx)[0][1]
        if change.action == "create":
            try:
                # A role created seconds ago is not yet usable by CodeBuild: retried.
                ctx.retry.call(codebuild.create_project, **request)
            except Exception as exc:
                if not is_error(exc, "ResourceAlreadyExistsException"):
                    raise
                # Made since we planned: converge it like an update, if it is ours.
                current = _read(ctx, Reader(ctx.aws)) or {}
                ownership(ctx, KIND, ctx.names.build_project,
                          tag_dict(current.get("tags"), "key", "value"))
                ctx.retry.call(codebuild.update_project, **request)
        elif change.action == "update":
            ctx.retry.call(codebuild.update_project, **request)

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read(ctx, read)
        return deletion(ctx, KIND, ctx.names.build_project,
                        tag_dict((current or {}).get("tags"), "key", "value"),
                        exists=current is not None)

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        # DeleteProject succeeds for a missing project: nothing to tolerate.
        write("codebuild").delete_project(name=ctx.names.build_project)
