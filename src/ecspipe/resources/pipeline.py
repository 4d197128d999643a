"""The CodePipeline V2 pipeline: Source -> Build -> Deploy, triggered by one branch.

The declaration comes from documents/pipeline.py. Stages and actions are keyed
by name for the diff, so a branch change reads as
`stages.Source.actions.Source.configuration.BranchName: main -> release`.

A pipeline created or updated while its connection is not AVAILABLE may never
get its webhook (reported for GitLab and Bitbucket): pushes would not start it.
Without a state file, the pipeline itself remembers: it is tagged
`ecspipe:webhook=pending` when saved so, and a later plan that finds the tag with
the connection AVAILABLE plans an update that saves the same declaration once
more (UpdatePipeline) and removes the tag. `up --wait-connection` waits for the
connection before the pipeline is created, so it never needs this.
"""

from __future__ import annotations

from ecspipe.aws import is_error
from ecspipe.documents.pipeline import pipeline_declaration
from ecspipe.gates import plan_notes
from ecspipe.names import WEBHOOK_PENDING, WEBHOOK_TAG, tag_dict, tag_list
from ecspipe.resources.base import (
    PENDING,
    Change,
    Context,
    FieldChange,
    Reader,
    Request,
    Writer,
    canonical,
    deletion,
    diff,
    keyed,
    ownership,
    project_onto,
    sync_tags,
)

KIND = "pipeline"
RESAVE_NOTE = ("the connection is AVAILABLE now: the pipeline was saved while it was not, so "
               "it is saved once more for CodePipeline to register its webhook")


def _desired_tags(ctx: Context, saves_declaration: bool, current: dict[str, str]) -> dict:
    """ecspipe's tags, plus the webhook marker while the connection is not AVAILABLE and
    the declaration is (or was) saved without it."""
    tags = dict(ctx.names.tags)
    available = ctx.outputs.connection_status == "AVAILABLE"
    if not available and (saves_declaration or current.get(WEBHOOK_TAG) == WEBHOOK_PENDING):
        tags[WEBHOOK_TAG] = WEBHOOK_PENDING
    return tags


def _managed(declaration: dict) -> dict:
    return keyed(canonical({k: v for k, v in declaration.items() if k != "version"}))


# A stage's condition members are ecspipe's (the gates): one the declaration leaves out
# must not stay (`on_failure: fail` after `rollback` removes onFailure), so the desired
# side names them, absent as None, and the diff sees one AWS still has.
CONDITION_MEMBERS = ("beforeEntry", "onSuccess", "onFailure")


def _desired(declaration: dict) -> dict:
    desired = _managed(declaration)
    for stage in (desired.get("stages") or {}).values():
        for member in CONDITION_MEMBERS:
            stage.setdefault(member, None)
    return desired


def _read(ctx: Context, read: Reader) -> dict | None:
    client = read("codepipeline")
    try:
        pipeline = client.get_pipeline(name=ctx.names.pipeline)["pipeline"]
    except Exception as exc:
        if is_error(exc, "PipelineNotFoundException"):
            return None
        raise
    tags = tag_dict(
        client.list_tags_for_resource(resourceArn=ctx.names.pipeline_arn).get("tags"),
        "key", "value",
    )
    return {"pipeline": pipeline, "tags": tags}


class Pipeline:
    kind = KIND
    # CreatePipeline checks its role and artifact bucket, and the execution AWS starts at
    # once uses the connection, the project (which pushes to the repository and logs to
    # the log group): everything else comes first.
    needs: tuple[str, ...] = ("connection", "ECR repository", "artifact bucket", "log group",
                              "CodeBuild role", "CodePipeline role", "CodeBuild project")

    def declaration(self, ctx: Context) -> dict:
        assert ctx.environments
        return pipeline_declaration(
            ctx.config, ctx.names, ctx.environments,
            ctx.outputs.connection_arn_planned() or PENDING,
        )

    def requests(self, ctx: Context) -> list[Request]:
        """What creates it, as `apply` sends it (saved while the connection is not known
        to be AVAILABLE: with the webhook marker)."""
        return [("create_pipeline", {
            "pipeline": self.declaration(ctx),
            "tags": tag_list(_desired_tags(ctx, True, {}), "key", "value")})]

    def plan(self, ctx: Context, read: Reader) -> Change:
        name = ctx.names.pipeline
        current = _read(ctx, read)
        if current is None:
            notes = ["AWS starts a first execution when a pipeline is created"]
            gated = [t.name for t in ctx.config.targets if t.approval and t.name]
            if gated:
                notes.append(f"it waits at the approval before {gated[0]} (ecspipe approve "
                             f"--env {gated[0]}); a newer execution waits behind it")
            notes.extend(plan_notes(ctx.config.targets, created=True, fields=[]))
            return Change(KIND, name, "create", notes=notes)
        notes = ownership(ctx, KIND, name, current["tags"])
        desired = _desired(self.declaration(ctx))
        now = _managed(current["pipeline"])
        saves = bool(diff(project_onto(now, desired), desired))
        resave = (current["tags"].get(WEBHOOK_TAG) == WEBHOOK_PENDING
                  and ctx.outputs.connection_status == "AVAILABLE")
        if resave:
            notes.append(RESAVE_NOTE)
        desired["tags"] = _desired_tags(ctx, saves or resave, current["tags"])
        now["tags"] = current["tags"]
        fields = diff(project_onto(now, desired), desired)
        if WEBHOOK_TAG in current["tags"] and WEBHOOK_TAG not in desired["tags"]:
            # project_onto ignores tags we do not set; this one is ours to remove.
            fields.append(FieldChange(f"tags.{WEBHOOK_TAG}", current["tags"][WEBHOOK_TAG], None))
        if any(not f.path.startswith("tags") for f in fields):
            notes.extend(plan_notes(ctx.config.targets, created=False, fields=fields))
        change = Change(KIND, name, "update" if fields else "unchanged", fields, notes)
        change.current = {**current, "resave": resave}
        return change

    def apply(self, ctx: Context, change: Change, write: Writer) -> None:
        client = write("codepipeline")
        declaration = self.declaration(ctx)
        if change.action == "create":
            try:
                ctx.retry.call(client.create_pipeline, **self.requests(ctx)[0][1])
            except Exception as exc:
                if not is_error(exc, "PipelineNameInUseException"):
                    raise
                # Made since we planned: converge it like an update, if it is ours.
                current = _read(ctx, Reader(ctx.aws))
                if current is None:
                    raise
                ownership(ctx, KIND, ctx.names.pipeline, current["tags"])
                change.current = current
                paths = {"stages", "tags"}
            else:
                return
        elif change.action == "update":
            paths = {f.path.split(".")[0] for f in change.fields}
        else:
            return
        saves = bool(paths - {"tags"}) or bool(change.current.get("resave"))
        if saves:
            declaration["version"] = change.current["pipeline"].get("version", 1)
            ctx.retry.call(client.update_pipeline, pipeline=declaration)
        # Tags after the save, never at once with it: the webhook tag may go only once the
        # pipeline was saved with the connection AVAILABLE (a failed save keeps it).
        tags = _desired_tags(ctx, saves, change.current["tags"])
        if tags != change.current["tags"]:
            arn = ctx.names.pipeline_arn
            sync_tags(
                change.current["tags"], tags,
                untag=lambda keys: client.untag_resource(resourceArn=arn, tagKeys=keys),
                tag=lambda tags: client.tag_resource(
                    resourceArn=arn, tags=tag_list(tags, "key", "value")),
            )

    def plan_delete(self, ctx: Context, read: Reader) -> Change:
        current = _read(ctx, read)
        return deletion(ctx, KIND, ctx.names.pipeline, (current or {}).get("tags"),
                        exists=current is not None)

    def delete(self, ctx: Context, change: Change, write: Writer) -> None:
        # DeletePipeline succeeds for a missing pipeline.
        write("codepipeline").delete_pipeline(name=ctx.names.pipeline)
