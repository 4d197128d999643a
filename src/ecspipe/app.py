"""The commands' core: one App per invocation, built from the global options.

The CLI parses options into an App and calls one function here; these functions
return data (results, plans) and raise EcspipeError; rendering is render.py's.
"""

from __future__ import annotations

import gc
import importlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from ecspipe.errors import ConfigError, EcspipeError, UserError

if TYPE_CHECKING:
    from ecspipe.aws import Aws, Limits
    from ecspipe.config import Config
    from ecspipe.names import Names
    from ecspipe.plan import Planned, PlannedTeardown, Progress, Result
    from ecspipe.resources.base import Context, Resource
    from ecspipe.retry import Retrier


def sleep_and_collect(seconds: float) -> None:
    """time.sleep, with the garbage collector back on (cli.main starts without it)."""
    if not gc.isenabled():
        gc.enable()
    time.sleep(seconds)


# Pipelines prepared and applied at once in a several-config run, and the
# concurrent planning steps of each: together they size the connection pool.
PIPELINES_AT_ONCE = 8
PLAN_WORKERS = 8
_SHARED_LOCK = threading.Lock()


@dataclass
class App:
    config_path: str = "ecspipe.yaml"
    config_paths: tuple[str, ...] = ()
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    endpoint_source: str = "--endpoint-url"  # or AWS_ENDPOINT_URL: named in its errors
    verbose: bool = False
    sleep: Callable[[float], None] = sleep_and_collect
    clock: Callable[[], float] = time.monotonic
    # Wall-clock time (a deploy window opens at a time of day; tests inject the sandbox's).
    wall: Callable[[], float] = time.time
    # Hooks registered on every boto3 client (tests count or fault requests with them).
    client_hooks: list[tuple[str, Callable]] = field(default_factory=list)
    # Timeouts and the per-operation deadline of AWS requests (aws.Limits; tests shorten them).
    aws_limits: Limits | None = None
    # Aws objects shared by the Apps of one several-config run, by region: one
    # client per service for the whole run.
    shared_aws: dict[tuple[str, str | None, str | None], Aws] | None = None

    @cached_property
    def config(self) -> Config:
        from ecspipe.config import load_config

        # --region replaces the file's region and is validated like it (ARNs too).
        return load_config(self.config_path, region=self.region)

    @cached_property
    def aws(self) -> Aws:
        if self.shared_aws is None:
            return self._new_aws()
        key = (self.config.region, self.profile, self.endpoint_url)
        with _SHARED_LOCK:
            if key not in self.shared_aws:
                self.shared_aws[key] = self._new_aws(PIPELINES_AT_ONCE * PLAN_WORKERS)
            return self.shared_aws[key]

    def _new_aws(self, max_concurrency: int = PLAN_WORKERS) -> Aws:
        return self.aws_for(self.config.region, max_concurrency)

    def aws_for(self, region: str, max_concurrency: int = PLAN_WORKERS) -> Aws:
        """An Aws in `region` with this App's profile, endpoint and hooks (also for
        commands that have no config yet, such as `init`)."""
        from ecspipe.aws import Aws

        aws = Aws(region, profile=self.profile, endpoint_url=self.endpoint_url,
                  max_concurrency=max_concurrency, limits=self.aws_limits,
                  endpoint_source=self.endpoint_source)
        for event, handler in self.client_hooks:
            aws.on(event, handler)
        return aws

    def per_config(self) -> list[App]:
        """One App per -c file, sharing AWS clients (and so the account lookup)."""
        shared: dict[tuple[str, str | None, str | None], Aws] = {}
        return [replace(self, config_path=path, config_paths=(path,), shared_aws=shared)
                for path in self.config_paths or (self.config_path,)]

    def offline_names(self) -> Names:
        from ecspipe.names import Names

        return Names.from_config(self.config)

    def check_account(self) -> str:
        """The caller's account, refused when it is not the config's `account_id`."""
        from ecspipe.preflight import check_account

        return check_account(self.config, self.aws)

    def retrier(self) -> Retrier:
        from ecspipe.retry import Retrier

        return Retrier(sleep=self.sleep, clock=self.clock)

    def context(self, preflight: bool = True, adopt: bool = False,
                delete_images: bool = False, check_caller: bool = True) -> Context:
        """Account check and (for plan/up) the ECS preflight: reads only.

        `check_caller=False` (read commands whose names need no account): no STS call
        here; the command runs `App.check_account` itself, with its first reads."""
        from ecspipe.facts import EnvironmentFacts, Outputs
        from ecspipe.names import Names
        from ecspipe.preflight import (
            check_account,
            check_placement,
            check_references,
            read_environments,
        )
        from ecspipe.resources.base import Context

        environments: list[EnvironmentFacts] = []
        account: str | None
        reads = None
        if preflight:
            # The account (STS) and the services (ECS) are read at the same time, and
            # the planning modules are imported while those requests are in flight.
            # Once the account is known (the names), planning's reads start too, while
            # preflight still reads the task definitions: only what needs the facts
            # waits (plan.start_reads; the plan answers its reads from them).
            from concurrent.futures import ThreadPoolExecutor

            from ecspipe import gates

            with ThreadPoolExecutor(max_workers=3) as pool:
                services = pool.submit(read_environments, self.config, self.aws)
                loaded = pool.submit(importlib.import_module, "ecspipe.plan")
                # The alarms the gates watch (CloudWatch), read with the services.
                alarm_check = pool.submit(gates.check_alarms, self.config, self.aws) \
                    if gates.has_alarms(self.config) else None
                # Wrong credentials or account, or an ARN of another account: said first
                # (ECS answers such an ARN as a missing cluster).
                account = check_account(self.config, self.aws)
                check_placement(self.config, account)
                ahead = Context(config=self.config, names=Names.from_config(self.config, account),
                                environments=(), aws=self.aws, outputs=Outputs(),
                                retry=self.retrier(), adopt=adopt)
                reads = loaded.result().start_reads(ahead, PLAN_WORKERS)
                try:
                    environments = services.result()
                    check_references(self.config, account)
                    kinds = alarm_check.result() if alarm_check else {}
                except BaseException:
                    reads.finish()  # no thread outlives a refused preflight
                    raise
            environments = [replace(e, composite_alarms=gates.composite_alarms(e.target, kinds))
                            for e in environments]
        elif check_caller:
            account = check_account(self.config, self.aws)
        else:
            account = self.config.account_id
        return Context(
            config=self.config,
            names=Names.from_config(self.config, account),
            environments=tuple(environments),
            aws=self.aws,
            outputs=Outputs(),
            retry=self.retrier(),
            adopt=adopt,
            delete_images=delete_images,
            reads=reads,
        )


def plan_or_up(ctx: Context, apply: bool, workers: int,
               progress: Progress | None,
               on_pending: Callable[[Context], None] | None = None) -> Result:
    """Plan (and apply). `on_pending` runs right after the connection step when the
    connection is PENDING, before the pipeline exists: waiting there means the
    pipeline's first execution finds the connection AVAILABLE."""
    from ecspipe.plan import run

    return run(ctx, apply=apply, workers=workers, plan_workers=1 if workers <= 1 else PLAN_WORKERS,
               progress=progress, after_group=_waiting_for_connection(ctx, on_pending))


def _waiting_for_connection(
    ctx: Context, on_pending: Callable[[Context], None] | None
) -> Callable[[list[Resource]], None]:
    """After the group holding the connection: `on_pending` if it is PENDING."""

    def after_group(group: list[Resource]) -> None:
        made_connection = any(r.kind == "connection" for r in group)
        if made_connection and on_pending and ctx.outputs.connection_status == "PENDING":
            on_pending(ctx)

    return after_group


def wait_connection(ctx: Context, timeout: float, sleep: Callable[[float], None],
                    clock: Callable[[], float], interval: float = 3.0,
                    on_poll: Callable[[str], None] | None = None) -> str:
    """Poll the connection until AVAILABLE; UserError after `timeout` seconds."""
    from ecspipe.resources.connection import api_for

    arn = ctx.outputs.connection_arn
    if not arn:
        raise UserError("no connection to wait for")
    client = ctx.aws.client(api_for(arn))
    deadline = clock() + timeout
    while True:
        status = client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
        ctx.outputs.connection_status = status
        if status == "AVAILABLE":
            return status
        if status == "ERROR":
            raise UserError(
                f"connection {arn} is in ERROR state",
                hint=f"delete and recreate it, or fix it at {ctx.names.connections_console_url}",
            )
        if on_poll:
            on_poll(status)
        if clock() + interval > deadline:
            raise UserError(
                f"connection {arn} is still {status} after {int(timeout)}s",
                hint=f"complete the handshake at {ctx.names.connections_console_url}, "
                "then run `ecspipe up` again",
            )
        sleep(interval)


# ---- several pipelines in one run ----------------------------------------------------

@dataclass
class PipelineRun:
    """One config's part of a several-config `plan`/`up`."""

    path: str
    ctx: Context | None = None
    planned: Planned | None = None
    teardown: PlannedTeardown | None = None
    result: Result | None = None
    error: EcspipeError | None = None


def _gather(fn: Callable[[PipelineRun], None], runs: Sequence[PipelineRun]) -> None:
    """fn on every run, PIPELINES_AT_ONCE at a time; an EcspipeError is kept on its run."""
    from concurrent.futures import ThreadPoolExecutor

    from ecspipe.plan import about

    def one(run: PipelineRun) -> None:
        try:
            about(run.path, lambda: fn(run), ours_too=True)
        except EcspipeError as exc:
            run.error = exc

    with ThreadPoolExecutor(max_workers=min(PIPELINES_AT_ONCE, len(runs))) as pool:
        list(pool.map(one, runs))


def _raise_for(runs: Sequence[PipelineRun], what: str) -> None:
    errors = [r.error for r in runs if r.error is not None]
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    worst = max(errors, key=lambda e: e.exit_code)
    error = type(worst)(f"{len(errors)} of {len(runs)} pipelines {what}", hint=worst.hint)
    error.problems = [e.message for e in errors]
    raise error


def check_distinct(apps: Sequence[App]) -> None:
    """Two configs must not name the same resources (they would fight over them).

    Every name ecspipe makes is per region (account-wide ones include the region:
    names.py), so one `name` may be used in two regions; within a region, `name`
    and the ECR repository must differ.
    """
    seen: dict[tuple[str, str, str], str] = {}
    clashes: list[str] = []
    for app in apps:
        config = app.config
        for what, value in (("name", config.name),
                            ("image.repository", config.image.repository or config.name)):
            key = (config.region, what, value)
            if key in seen:
                clashes.append(f"{app.config_path}: {what} {value!r} in {config.region} is "
                               f"also in {seen[key]}")
            seen.setdefault(key, app.config_path)
    if clashes:
        raise ConfigError(f"the config files clash in {len(clashes)} place(s)", problems=clashes,
                          hint="each pipeline of a region needs its own `name` and ECR "
                          "repository")


def load_all(apps: Sequence[App]) -> None:
    """Every config, every problem of every file at once (ConfigError)."""
    problems: list[str] = []
    bad = 0
    for app in apps:
        try:
            _ = app.config  # loads and validates (cached)
        except ConfigError as exc:
            if len(apps) == 1:
                raise
            bad += 1
            problems.append(exc.message)
            problems.extend(f"  {line}" for line in exc.problems)
    if problems:
        raise ConfigError(f"{bad} of {len(apps)} config files are invalid", problems=problems)
    check_distinct(apps)


def plan_or_up_many(apps: Sequence[App], apply: bool, adopt: bool = False,
                    progress_for: Callable[[str], Progress | None] | None = None,
                    on_pending: Callable[[Context], None] | None = None) -> list[PipelineRun]:
    """Several pipelines in one run: every one planned before any is changed.

    Configs are all validated first (exit 2 on any problem). Preflight and planning
    run for up to PIPELINES_AT_ONCE pipelines at once, sharing one client per AWS
    service; a refusal in any of them stops the run before the first write. Then
    each pipeline is applied on its own (the same group order as one `up`), and a
    failure in one does not stop the others: all are reported at the end.
    """
    from ecspipe.plan import apply_planned, plan

    load_all(apps)
    runs = [PipelineRun(app.config_path) for app in apps]
    by_path = {app.config_path: app for app in apps}

    def prepare(run: PipelineRun) -> None:
        run.ctx = by_path[run.path].context(preflight=True, adopt=adopt)
        run.planned = plan(run.ctx, workers=PLAN_WORKERS)
        run.result = run.planned.result

    _gather(prepare, runs)
    _raise_for(runs, "cannot be planned; nothing was changed")
    if not apply:
        return runs

    def make(run: PipelineRun) -> None:
        assert run.ctx is not None and run.planned is not None
        progress = progress_for(run.path) if progress_for else None
        run.result = apply_planned(run.ctx, run.planned, progress=progress,
                                   after_group=_waiting_for_connection(run.ctx, on_pending))

    _gather(make, runs)
    return runs


def down_many(apps: Sequence[App], delete_images: bool,
              confirm: Callable[[list[PipelineRun]], bool],
              progress_for: Callable[[str], Progress | None] | None = None) -> list[PipelineRun]:
    """`down` of several pipelines: every teardown planned and shown before anything is deleted.

    Configs are all validated first (exit 2 on any problem); every pipeline's
    teardown is planned (reads only); `confirm` sees them all and is asked once.
    Then each pipeline is torn down on its own, in its own order; a failure in one
    does not stop the others, and is kept on its run (reported with its file).
    """
    from ecspipe.plan import apply_teardown, plan_teardown

    load_all(apps)
    runs = [PipelineRun(app.config_path) for app in apps]
    by_path = {app.config_path: app for app in apps}

    def prepare(run: PipelineRun) -> None:
        run.ctx = by_path[run.path].context(preflight=False, delete_images=delete_images)
        run.teardown = plan_teardown(run.ctx)
        run.result = run.teardown.result

    _gather(prepare, runs)
    _raise_for(runs, "cannot be planned; nothing was deleted")
    if not any(r.result and r.result.has_changes for r in runs) or not confirm(runs):
        return runs

    def delete(run: PipelineRun) -> None:
        assert run.ctx is not None and run.teardown is not None
        if not run.teardown.result.has_changes:
            return
        progress = progress_for(run.path) if progress_for else None
        run.result = apply_teardown(run.ctx, run.teardown, progress)

    _gather(delete, runs)
    return runs
