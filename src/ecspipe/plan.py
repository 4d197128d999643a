"""The engine: order the resources, plan them (reads), apply the changes (writes).

`plan` and `up` are the same machinery; `plan` stops after planning. Resources
are grouped in waves by what each one needs made first (`Resource.needs`); the
members of a wave are independent and are planned and applied concurrently
(`workers` > 1). `down` deletes in reverse dependency order. Progress is
reported through a callback; nothing here prints.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from ecspipe.aws import translate
from ecspipe.errors import EcspipeError
from ecspipe.resources.base import Change, Context, Reader, Resource, SharedReads, Writer
from ecspipe.resources.bucket import Bucket
from ecspipe.resources.connection import Connection
from ecspipe.resources.log_group import LogGroup
from ecspipe.resources.notification_key import NotificationKey
from ecspipe.resources.notification_rule import NotificationRule
from ecspipe.resources.notification_topic import NotificationTopic
from ecspipe.resources.pipeline import Pipeline
from ecspipe.resources.project import Project
from ecspipe.resources.repository import Repository
from ecspipe.resources.roles import Role

Progress = Callable[[str, Change], None]


def delete_order() -> list[Resource]:
    """Reverse dependency order: what uses a resource goes before it. The notification
    resources are looked for whatever the config says now (they may be left from a
    config that had `notify:`)."""
    return [
        NotificationRule(),
        Pipeline(),
        Project(),
        LogGroup(),
        Role("codepipeline"),
        Role("codebuild"),
        Bucket(),
        Repository(),
        Connection(),
        NotificationTopic(),
        NotificationKey(),
    ]


def resources(ctx: Context | None = None) -> list[Resource]:
    """Every resource `up` manages, in the order plans show them (what is needed first).
    The notification resources join when the config has `notify:`."""
    notify = ctx is not None and ctx.config.notify is not None
    key: list[Resource] = [NotificationKey()] if notify else []
    later: list[Resource] = [NotificationTopic(), NotificationRule()] if notify else []
    return [
        Connection(),
        Repository(),
        Bucket(),
        LogGroup(),
        Role("codebuild"),
        Role("codepipeline"),
        *key,
        Project(),
        Pipeline(),
        *later,
    ]


def waves(items: Sequence[Resource]) -> list[list[Resource]]:
    """The resources in waves by their real dependencies (`Resource.needs`): a wave needs
    only what earlier waves made, and its members are applied at once, in list order.

    Today: everything that needs nothing (connection, repository, bucket, log group,
    both roles, so that the roles start propagating in IAM first, and the notification
    key), then the project (its role) and the topic (encrypted with the key), then the
    pipeline (everything), then the notification rule (on the pipeline, to the topic).
    """
    kinds = {r.kind for r in items}
    for r in items:
        unknown = set(r.needs) - kinds
        if unknown:
            raise ValueError(f"{r.kind} needs {sorted(unknown)}, which is not a resource")
    done: set[str] = set()
    left = list(items)
    out: list[list[Resource]] = []
    while left:
        wave = [r for r in left if set(r.needs) <= done]
        if not wave:
            raise ValueError(f"dependency cycle among {[r.kind for r in left]}")
        out.append(wave)
        done |= {r.kind for r in wave}
        left = [r for r in left if r not in wave]
    return out


def resource_groups(ctx: Context | None = None) -> list[list[Resource]]:
    """Dependency order: each group needs only what earlier groups made."""
    return waves(resources(ctx))


@dataclass
class Result:
    changes: list[Change] = field(default_factory=list)
    applied: bool = False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    @property
    def has_changes(self) -> bool:
        return any(c.writes for c in self.changes)

    def to_json(self, ctx: Context | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "applied": self.applied,
            "changes": [c.to_json() for c in self.changes],
            "summary": self.counts(),
        }
        if ctx is not None:
            data["pipeline"] = ctx.names.pipeline
            data["connection"] = {
                "arn": ctx.outputs.connection_arn,
                "status": ctx.outputs.connection_status,
            }
        return data


def about(label: str, fn: Callable[[], Any], ours_too: bool = False) -> Any:
    """Run fn; an AWS failure (and with `ours_too`, ecspipe's own errors) names `label`:
    the resource a step was for, or the config file of a pipeline."""
    try:
        return fn()
    except EcspipeError as exc:
        if ours_too:
            exc.message = f"{label}: {exc.message}"
        raise
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        error.message = f"{label}: {error.message}"
        raise error from exc


def _map(workers: int, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


@dataclass
class Planned:
    """Every resource's planned change, by dependency group, ready to apply."""

    groups: list[list[tuple[Resource, Change]]]

    @property
    def result(self) -> Result:
        return Result(changes=[c for group in self.groups for _, c in group])


class _NotYet:
    """What preflight will know, while it does not yet: any use of it stops a reads-first
    plan (start_reads) there."""

    def _stop(self, *_: Any) -> Any:
        raise _FactsNotYet

    __getattr__ = __bool__ = __iter__ = __len__ = __getitem__ = _stop


class _FactsNotYet(Exception):
    pass


def start_reads(ctx: Context, workers: int = 8) -> SharedReads:
    """Start planning's reads now, while preflight is still reading (no-op `up` and
    `plan` wait for fewer rounds): every resource's plan runs at once on a copy of `ctx`
    whose facts are not known yet, as far as it gets without them; whatever it read is
    then answered from these reads when plan() runs for real (pass the returned reads
    as Context.reads). Nothing is decided here: errors, refusals and changes all come
    from the real plan."""
    from dataclasses import replace

    from ecspipe.facts import Outputs

    reads = SharedReads(ctx.aws)
    early = replace(ctx, environments=cast(Any, _NotYet()), outputs=Outputs(), reads=None)

    def read_ahead(resource: Resource) -> None:
        # Whatever stops it (the facts, an error, a refusal), the real plan meets again.
        with contextlib.suppress(Exception):
            resource.plan(early, reads)

    items = [r for group in resource_groups(ctx) for r in group]
    # Every resource's plan at once (with notify: 11, more than `workers`: the last ones
    # would start their reads a round or two late, measured at 1 s per request).
    pool = ThreadPoolExecutor(max_workers=max(workers, len(items)),
                              thread_name_prefix="ecspipe-reads")
    reads.ahead = [pool.submit(read_ahead, resource) for resource in items]
    pool.shutdown(wait=False)  # its threads end with their reads
    return reads


def plan(ctx: Context, workers: int) -> Planned:
    """Plan every resource (reads only), all of them concurrently.

    Planning needs nothing a write makes, only the connection's ARN, which its own
    plan finds: resources that use it wait for that plan (Outputs.connection_known),
    after doing their reads. Any refusal (a resource ecspipe does not own, a missing
    connection) is raised here, before the first write of any resource. Reads begun
    before preflight ended (ctx.reads, from start_reads) are not sent again.
    """
    read = ctx.reads or Reader(ctx.aws)
    groups = resource_groups(ctx)
    flat = [r for group in groups for r in group]
    known = ctx.outputs.connection_known
    known.clear()

    def plan_one(resource: Resource) -> Change:
        try:
            return about(resource.kind, lambda: resource.plan(ctx, read))
        finally:
            if resource.kind == "connection":
                known.set()

    try:
        changes = iter(_map(workers, plan_one, flat))
    finally:
        known.set()  # never leave a waiter behind, whatever failed
        if ctx.reads is not None:
            ctx.reads.finish()
            ctx.reads = None  # answers of this planning only: never for a later one
    return Planned([[(r, next(changes)) for r in group] for group in groups])


def apply_planned(ctx: Context, planned: Planned, workers: int = 4, progress: Progress | None = None,
          after_group: Callable[[list[Resource]], None] | None = None) -> Result:
    """Make the planned changes group by group; the members of a group concurrently
    (all of them at once, or one at a time when `workers` <= 1).

    A member may wait inside its apply for another member of its group
    (Outputs.wait_applied): each kind's event is set once its apply has ended, and
    members run in list order, so what is waited for has always started.
    """
    write = Writer(ctx.aws)
    ctx.serial = workers <= 1
    applied = {r.kind: threading.Event() for group in planned.groups for r, _ in group}
    ctx.outputs.applied = applied

    def do(pair: tuple[Resource, Change]) -> None:
        resource, change = pair
        try:
            if change.writes:
                if progress:
                    progress("applying", change)
                about(f"{change.kind} {change.name}", partial(resource.apply, ctx, change, write))
        finally:
            applied[resource.kind].set()
        if progress:
            progress("done", change)

    try:
        for group in planned.groups:
            # Every member of a wave at once (one may wait inside for another, which
            # must then be running too); one at a time with workers <= 1 (--serial).
            _map(len(group) if workers > 1 else 1, do, group)
            if after_group:
                after_group([r for r, _ in group])
    finally:
        for event in applied.values():
            event.set()  # never leave a waiter behind, whatever failed
    result = planned.result
    result.applied = True
    return result


def run(ctx: Context, apply: bool, workers: int, plan_workers: int,
        progress: Progress | None = None,
        after_group: Callable[[list[Resource]], None] | None = None) -> Result:
    """Plan every resource (reads only), then, when `apply`, make the changes group by group.

    Everything is planned before the first write, so a refusal leaves the account
    untouched. A value that only exists after a write (a new connection's ARN) is
    planned as PENDING; apply builds its documents from the outputs then known.
    """
    planned = plan(ctx, workers=plan_workers)
    if not apply:
        result = planned.result
        if progress:
            for change in result.changes:
                progress("planned", change)
        return result
    return apply_planned(ctx, planned, workers, progress, after_group)


@dataclass
class PlannedTeardown:
    """Every resource's planned deletion (or keep), in reverse dependency order."""

    steps: list[tuple[Resource, Change]]

    @property
    def result(self) -> Result:
        return Result(changes=[c for _, c in self.steps], applied=False)


def plan_teardown(ctx: Context, workers: int = 4) -> PlannedTeardown:
    """What `down` would delete and keep: reads only, concurrently."""
    read = Reader(ctx.aws)
    order = delete_order()
    changes = _map(workers, lambda r: about(r.kind, lambda: r.plan_delete(ctx, read)), order)
    # Resources not every pipeline has (notifications) are not reported when absent.
    return PlannedTeardown([(r, c) for r, c in zip(order, changes, strict=True)
                            if not (c.action == "absent" and getattr(r, "optional", False))])


def apply_teardown(ctx: Context, planned: PlannedTeardown,
                   progress: Progress | None = None) -> Result:
    """Delete what the teardown plan marks `delete`, strictly in order."""
    write = Writer(ctx.aws)
    result = planned.result
    result.applied = True
    for resource, change in planned.steps:
        if change.action == "delete":
            if progress:
                progress("deleting", change)
            about(f"{change.kind} {change.name}", partial(resource.delete, ctx, change, write))
        if progress:
            progress("done", change)
    return result


def teardown(
    ctx: Context, apply: bool, workers: int = 4, progress: Progress | None = None,
    confirm: Callable[[Result], bool] | None = None,
) -> Result:
    """Plan deletion in reverse order; after `confirm`, delete what ecspipe owns."""
    # Planning only reads, so it may run concurrently; deleting may not.
    planned = plan_teardown(ctx, workers)
    result = planned.result
    if not apply or not result.has_changes:
        return result
    if confirm is not None and not confirm(result):
        return result
    return apply_teardown(ctx, planned, progress)
