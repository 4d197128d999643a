"""What every resource module shares: the Change model, the read/write split, diffing.

A resource module has two halves, as in chalice's deployer:
- `plan(ctx, read) -> Change` only *reads* AWS. `read` hands out read-only
  clients: calling a write operation on one raises `PlanningWrite` (a bug), so a
  write during planning cannot slip in.
- `apply(ctx, change, write)` is the only code that *writes*, and reuses what
  `plan` read (kept in `change.current`), so nothing is read twice.
`plan` compares managed fields after normalising both sides, so an unchanged
resource produces no write at all.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ecspipe.aws import Aws
    from ecspipe.config import Config
    from ecspipe.facts import EnvironmentFacts, Outputs
    from ecspipe.names import Names
    from ecspipe.retry import Retrier

Action = Literal["create", "update", "unchanged", "use", "delete", "keep", "absent"]

# An API request as `apply` sends it: the client method and its parameters. Each resource's
# `requests(ctx)` lists those that create it; `export` renders the same requests as
# CloudFormation (documents/cloudformation.py), so the template cannot drift from `up`.
Request = tuple[str, dict[str, Any]]

READ_PREFIXES = ("get_", "describe_", "list_", "batch_get_", "head_", "can_paginate")
PENDING = "(known after apply)"


class PlanningWrite(RuntimeError):
    """A write operation was attempted through a read-only client: a bug in ecspipe."""


class ReadOnlyClient:
    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        # get_paginator is a read: paginators exist only for List*/Describe* operations.
        if name in ("exceptions", "meta") or name.startswith(READ_PREFIXES):
            return getattr(self._client, name)
        raise PlanningWrite(f"write operation {name!r} attempted while planning")


class Reader:
    """Read-only clients, for `plan`."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    def __call__(self, service: str) -> Any:
        return ReadOnlyClient(self._aws.client(service))


class SharedReads(Reader):
    """Read-only clients whose answers are shared: the same read (service, operation,
    parameters) is sent once, and a second asker gets the first one's answer (or its
    error), waiting for it while it is in flight. For one planning of one pipeline
    (plan.start_reads): reads begun before preflight ended are not sent again."""

    def __init__(self, aws: Aws) -> None:
        super().__init__(aws)
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str, str], Future[Any]] = {}
        self.sent = 0  # distinct reads sent (the rest were answered from the first)
        self.ahead: list[Future[Any]] = []  # plans run ahead of preflight (plan.start_reads)

    def __call__(self, service: str) -> Any:
        return _SharedClient(self, service, self._aws.client(service))

    def finish(self) -> None:
        """Until every plan run ahead has ended: no thread outlives the planning."""
        for future in self.ahead:
            future.exception()

    def answer(self, key: tuple[str, str, str], send: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._answers.get(key)
            mine = future is None
            if future is None:
                future = self._answers[key] = Future()
                self.sent += 1
        if mine:
            try:
                future.set_result(send())
            except BaseException as exc:  # kept for whoever asks, and raised here too
                future.set_exception(exc)
        # A copy each: an asker may change what it got.
        return copy.deepcopy(future.result())


class _SharedClient(ReadOnlyClient):
    def __init__(self, reads: SharedReads, service: str, client: Any) -> None:
        super().__init__(client)
        self._reads, self._service = reads, service

    def __getattr__(self, name: str) -> Any:
        method = super().__getattr__(name)  # PlanningWrite for a write
        if name == "get_paginator":
            return lambda operation: _SharedPaginator(self, operation, method(operation))
        if name in ("exceptions", "meta", "get_waiter", "can_paginate"):
            return method

        def shared(**kwargs: Any) -> Any:
            key = (self._service, name, json.dumps(kwargs, sort_keys=True, default=str))
            return self._reads.answer(key, lambda: method(**kwargs))

        return shared


class _SharedPaginator:
    """A paged read shared like any other: every page read once, by the first asker (the
    plans iterate all the pages they ask for; none stops early)."""

    def __init__(self, client: _SharedClient, operation: str, paginator: Any) -> None:
        self._client, self._operation, self._paginator = client, operation, paginator

    def paginate(self, **kwargs: Any) -> list[Any]:
        key = (self._client._service, f"paginate {self._operation}",
               json.dumps(kwargs, sort_keys=True, default=str))
        return list(self._client._reads.answer(
            key, lambda: list(self._paginator.paginate(**kwargs))))


class Writer:
    """Full clients, for `apply` and `delete`."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws

    def __call__(self, service: str) -> Any:
        return self._aws.client(service)


@dataclass
class FieldChange:
    path: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.path, "before": self.before, "after": self.after}


@dataclass
class Change:
    kind: str  # what it is, in AWS's words: "artifact bucket", "CodeBuild role", ...
    name: str  # its physical name
    action: Action
    fields: list[FieldChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What `plan` read, for `apply` to reuse (private to the resource module).
    current: Any = None

    @property
    def writes(self) -> bool:
        return self.action in ("create", "update", "delete")

    def to_json(self) -> dict[str, Any]:
        return {
            "resource": self.kind,
            "name": self.name,
            "action": self.action,
            "changes": [f.to_json() for f in self.fields],
            "notes": list(self.notes),
        }


@dataclass
class Context:
    """Everything a resource module needs: config, names, what preflight found, AWS."""

    config: Config
    names: Names
    # What preflight read, one per environment in pipeline order (empty without preflight).
    environments: tuple[EnvironmentFacts, ...]
    aws: Aws
    outputs: Outputs
    retry: Retrier
    adopt: bool = False
    delete_images: bool = False
    # One request at a time, in a fixed order (`--serial`; the fault tests rely on it).
    serial: bool = False
    # Planning's reads, begun while preflight was still reading (plan.start_reads).
    reads: SharedReads | None = None


class Resource(Protocol):
    kind: str
    # The kinds of resource that must be applied before this one starts (plan.waves).
    needs: tuple[str, ...]

    def plan(self, ctx: Context, read: Reader) -> Change: ...

    def apply(self, ctx: Context, change: Change, write: Writer) -> None: ...

    def plan_delete(self, ctx: Context, read: Reader) -> Change: ...

    def delete(self, ctx: Context, change: Change, write: Writer) -> None: ...


# ---- normalising and diffing ---------------------------------------------------


def canonical(value: Any) -> Any:
    """A comparable form: JSON strings parsed, dict keys sorted, policy lists made sets.

    IAM and S3 return policies as (sometimes URL-encoded) JSON text with their own
    key order and single-element lists collapsed; compare meaning, not spelling.
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return canonical(json.loads(text))
            except ValueError:
                return value
        return value
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def canonical_policy(doc: Any) -> Any:
    """Policy documents: a single-element list and its element mean the same."""
    doc = canonical(doc)

    def fold(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: fold(v, k) for k, v in node.items()}
        if isinstance(node, list):
            items = [fold(v) for v in node]
            if key in ("Action", "Resource", "NotAction", "NotResource") or key.startswith("aws:"):
                items = sorted(items, key=json.dumps)
                return items[0] if len(items) == 1 else items
            return items
        return node

    return fold(doc)


def diff(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Field-level differences between two canonical values (dicts recurse)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[FieldChange] = []
        for key in sorted(set(before) | set(after)):
            sub = f"{path}.{key}" if path else str(key)
            changes += diff(before.get(key), after.get(key), sub)
        return changes
    if before != after:
        return [FieldChange(path or "(value)", before, after)]
    return []


def at_once(ctx: Context, *calls: Callable[[], Any] | None) -> list[Any]:
    """Independent requests of one resource, sent together (in order with ctx.serial);
    their results in order; None stands for a request not needed. The first failure is
    raised once all have ended."""
    todo = [c for c in calls if c is not None]  # None: a request not needed this time
    if ctx.serial or len(todo) <= 1:
        return [call() for call in todo]
    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        futures = [pool.submit(call) for call in todo]
        return [future.result() for future in futures]


def tags_diff(current: dict[str, str], desired: dict[str, str]) -> list[FieldChange]:
    return diff({"tags": dict(current)}, {"tags": dict(desired)})


def sync_tags(
    current: dict[str, str],
    desired: dict[str, str],
    untag: Callable[[list[str]], object],
    tag: Callable[[dict[str, str]], object],
) -> None:
    """Make a resource's tags `desired` with each service's own untag/tag calls."""
    to_remove = sorted(k for k in current if k not in desired)
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    if to_remove:
        untag(to_remove)
    if to_set:
        tag(to_set)


def deletion(
    ctx: Context, kind: str, name: str, tags: dict[str, str] | None, exists: bool = True,
    notes: list[str] | None = None,
) -> Change:
    """What `down` does with a resource: nothing if absent, keep it unless it is ours."""
    if not exists:
        return Change(kind, name, "absent")
    if not ctx.names.owns(tags):
        return Change(kind, name, "keep", notes=["not created by ecspipe (no ecspipe tags)"])
    return Change(kind, name, "delete", notes=list(notes or []))


def ownership(
    ctx: Context, kind: str, name: str, tags: dict[str, str]
) -> list[str]:
    """Refuse (exit 2) to touch a same-name resource ecspipe did not create, unless --adopt."""
    from ecspipe.errors import NotOwnedError

    if ctx.names.owns(tags):
        return []
    if ctx.adopt:
        return [f"adopted: ecspipe takes over this existing {kind} (--adopt)"]
    raise NotOwnedError(
        f"{kind} {name!r} already exists and was not created by ecspipe "
        f"(it lacks the tags ecspipe:pipeline={ctx.names.name}, managed-by=ecspipe)",
        hint="ecspipe never changes what it does not own: pick another `name`, delete it, "
        "or pass --adopt to let ecspipe take it over",
    )



def keyed(value: Any) -> Any:
    """Lists of named dicts become dicts keyed by name, so diffs say *which* one changed."""
    if isinstance(value, dict):
        return {k: keyed(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "name" in v for v in value):
            return {str(v["name"]): keyed(v) for v in value}
        return [keyed(v) for v in value]
    return value


def project_onto(current: Any, desired: Any) -> Any:
    """The part of `current` that `desired` manages: fields AWS adds are ignored."""
    if isinstance(desired, dict):
        if not isinstance(current, dict):
            return current
        return {k: project_onto(current.get(k), v) for k, v in desired.items()}
    if isinstance(desired, list) and isinstance(current, list) and len(desired) == len(current):
        return [project_onto(c, d) for c, d in zip(current, desired, strict=True)]
    return current
