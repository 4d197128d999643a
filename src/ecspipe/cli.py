"""The `ecspipe` command line: parse options, call one core function, render, exit.

This layer never calls boto3 and never imports rich; heavy modules are imported
inside the commands, so `ecspipe --help` is instant. Exit codes: 0 success,
1 AWS/runtime failure, 2 user error (bad config or flag, missing resource, a
resource ecspipe does not own). A user error never shows a traceback unless -v.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ecspipe import __version__
from ecspipe.errors import EcspipeError

if TYPE_CHECKING:
    from ecspipe.app import App
    from ecspipe.resources.base import Context

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# The App of the running invocation, so `main` can honour -v when it reports an error.
_current: dict[str, App] = {}


def _config_files(values: tuple[str, ...]) -> tuple[str, ...]:
    """-c values as files: a directory stands for every *.yaml / *.yml in it, sorted."""
    from ecspipe.errors import UserError

    files: list[str] = []
    for value in values or ("ecspipe.yaml",):
        if os.path.isdir(value):
            try:
                names = os.listdir(value)
            except OSError as exc:
                raise UserError(f"-c {value}: cannot list the directory: "
                                f"{exc.strerror or exc}") from None
            # Every *.yaml entry but directories: a FIFO or a dangling link named
            # x.yaml is reported by loading (one line), not silently skipped.
            found = sorted(os.path.join(value, n) for n in names
                           if n.endswith((".yaml", ".yml"))
                           and not os.path.isdir(os.path.join(value, n)))
            if not found:
                raise UserError(f"-c {value}: the directory holds no *.yaml or *.yml file",
                                hint="pass config files, or a directory of them")
            files.extend(found)
        else:
            files.append(value)
    duplicates = sorted({f for f in files if files.count(f) > 1})
    if duplicates:
        raise UserError(f"-c: {', '.join(duplicates)} given more than once",
                        hint="pass each config file once")
    return tuple(files)


def _new_app(profile: str | None, region: str | None, endpoint_url: str | None,
             verbose: bool) -> App:
    """The invocation's App; `main` reports errors with its -v."""
    from ecspipe.app import App

    ctx = click.get_current_context()
    # An endpoint error names where the URL came from: the flag or AWS_ENDPOINT_URL.
    from_env = ctx.get_parameter_source("endpoint_url") == click.core.ParameterSource.ENVIRONMENT
    app = App(profile=profile, region=region, endpoint_url=endpoint_url, verbose=verbose,
              endpoint_source="AWS_ENDPOINT_URL" if from_env else "--endpoint-url")
    _current["app"] = app
    if isinstance(ctx.obj, dict):  # tests inject sleep/clock/hooks
        for key, value in ctx.obj.items():
            setattr(app, key, value)
    return app


def complete_environments(ctx: click.Context, param: click.Parameter,
                          incomplete: str) -> list[str]:
    """Shell completion of environment names: `environments[].name` of the config given
    by -c (or ECSPIPE_CONFIG, or ./ecspipe.yaml), read as raw YAML. Silent on any
    problem: a completion never prints an error (`approve --env`, `release --until`)."""
    try:
        import yaml

        paths = ctx.params.get("config_paths") or (
            os.environ.get("ECSPIPE_CONFIG", "").split(os.pathsep)[:1] or ["ecspipe.yaml"])
        names: list[str] = []
        for path in [p for p in paths if p] or ["ecspipe.yaml"]:
            if not os.path.isfile(path) or os.path.getsize(path) > 1_000_000:
                continue
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
            for env in (data or {}).get("environments") or []:
                name = env.get("name") if isinstance(env, dict) else None
                if isinstance(name, str) and name.startswith(incomplete) and name not in names:
                    names.append(name)
        return names
    except Exception:  # noqa: BLE001 - see the docstring
        return []


def common_options(fn: Callable[..., Any] | None = None, *,
                   many: bool = False) -> Any:
    """-c/--profile/--region/--endpoint-url/-v, shared by every command that reads AWS.

    With `many`, -c may be repeated or name a directory (several pipelines in one run).
    """
    if fn is None:
        return functools.partial(common_options, many=many)

    config_help = ("Configuration file (env ECSPIPE_CONFIG); repeat -c, or pass a directory, "
                   "for several pipelines." if many else
                   "Configuration file (env ECSPIPE_CONFIG).")

    # click.Path: ECSPIPE_CONFIG is split on os.pathsep (a.yaml:b.yaml), not on
    # whitespace, so a path with spaces stays one path.
    @click.option("-c", "--config", "config_paths", default=("ecspipe.yaml",),
                  type=click.Path(), multiple=True, show_default=True, envvar="ECSPIPE_CONFIG",
                  metavar="FILE" + ("|DIR" if many else ""), help=config_help)
    @click.option("--profile", default=None, envvar="AWS_PROFILE", show_envvar=True,
                  help="AWS profile to use.")
    @click.option("--region", default=None, help="Override the config's region.")
    @click.option("--endpoint-url", default=None, envvar="AWS_ENDPOINT_URL", show_envvar=True,
                  metavar="URL", help="AWS endpoint, e.g. the sandbox's http://127.0.0.1:4566.")
    @click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and more detail.")
    @functools.wraps(fn)
    def wrapper(config_paths: tuple[str, ...], profile: str | None, region: str | None,
                endpoint_url: str | None, verbose: bool, **kwargs: Any) -> Any:
        app = _new_app(profile, region, endpoint_url, verbose)  # -v applies to -c errors too
        ctx = click.get_current_context()
        paths = _config_files(config_paths)
        if len(paths) > 1 and not many:
            from ecspipe.errors import UserError

            raise UserError(f"`{ctx.info_name}` works on one pipeline, but -c gives "
                            f"{len(paths)} config files",
                            hint="pass one config file (several are for validate, plan, up and down)")
        app.config_path, app.config_paths = paths[0], paths
        return fn(app, **kwargs)

    return wrapper


def output_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="Output format.")(fn)


class WorkflowOrder(click.Group):
    """List commands in the order a user meets them, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=WorkflowOrder, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="ecspipe")
def cli() -> None:
    """Give an existing Amazon ECS service a production CI/CD pipeline in one command.

    GitHub connection -> CodeBuild (docker build, test, push a unique tag to ECR)
    -> ECS rolling deploy, triggered by pushes to one branch; optionally through
    several environments (staging, an approval, production), one image for all.
    """


class _Prompter:
    """init's questions as numbered choices on stderr; a bad answer asks again."""

    def choose(self, question: str, options: Any, default: int = 0) -> int:
        from ecspipe import render

        render.err(question, style="bold")
        for number, option in enumerate(options, 1):
            render.err(f"  {number}) {option}")
        answer = click.prompt("Number", type=click.IntRange(1, len(options)), err=True,
                              default=default + 1)
        return int(answer) - 1

    def text(self, question: str, check: Callable[[str], str | None],
             default: str | None = None) -> str:
        from ecspipe import render

        while True:
            answer = str(click.prompt(question, default=default, err=True)).strip()
            problem = check(answer)
            if problem is None:
                return answer
            render.err(f"  {answer!r}: {problem}", style="yellow")


@cli.command()
@click.option("--cluster", default=None, help="ECS cluster of the service (default: ask, or "
              "the only one).")
@click.option("--service", default=None, help="ECS service that gets the pipeline.")
@click.option("--container", default=None, help="Container that gets the new image.")
@click.option("--repository", default=None, metavar="OWNER/REPO",
              help="Repository (default: from the git remote origin).")
@click.option("--provider", type=click.Choice(["GitHub", "GitHubEnterpriseServer", "Bitbucket",
                                               "GitLab"]),
              default=None, help="Source provider (default: from the remote's host).")
@click.option("--branch", default=None, help="Branch whose pushes start the pipeline "
              "(default: the remote's default branch, else the current one).")
@click.option("--name", default=None, help="Pipeline name (default: from the service name).")
@click.option("--repo-dir", default=".", type=click.Path(file_okay=False), show_default=True,
              help="The git checkout to read.")
@click.option("-o", "--output", "output_path", default="ecspipe.yaml", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
              help="Where to write the config; - prints it.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("-y", "--yes", is_flag=True, help="Ask nothing: take what is unique, else exit 2.")
@click.option("--profile", default=None, envvar="AWS_PROFILE", show_envvar=True,
              help="AWS profile to use.")
@click.option("--region", default=None,
              help="Region of the service (default: the profile's or AWS_REGION).")
@click.option("--endpoint-url", default=None, envvar="AWS_ENDPOINT_URL", show_envvar=True,
              metavar="URL", help="AWS endpoint, e.g. the sandbox's http://127.0.0.1:4566.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and more detail.")
def init(cluster: str | None, service: str | None, container: str | None,
         repository: str | None, provider: str | None, branch: str | None, name: str | None,
         repo_dir: str, output_path: str, force: bool, yes: bool, profile: str | None,
         region: str | None, endpoint_url: str | None, verbose: bool) -> None:
    """Write ecspipe.yaml from your ECS service and git checkout."""
    from ecspipe import init as core
    from ecspipe import render

    app = _new_app(profile, None, endpoint_url, verbose)
    options = core.Options(cluster=cluster, service=service, container=container,
                           repository=repository, provider=provider, branch=branch, name=name,
                           repo_dir=repo_dir, output=output_path, force=force)
    ask = None if yes or not sys.stdin.isatty() else _Prompter()
    outcome = core.run(app, options, ask, say=render.err, region=region)
    if outcome.path is None:
        render.raw(outcome.text)
    else:
        schema = (f" and {outcome.schema_path} (its JSON Schema, for editors; "
                  f"{outcome.schema_note})" if outcome.schema_path else "")
        render.err(f"wrote {outcome.path} (valid){schema}", style="bold green")
        if not outcome.schema_path and outcome.schema_note:
            render.err(f"  {outcome.schema_note}")
    for warning in outcome.warnings:
        render.err(f"warning: {warning}", style="yellow")
    render.err("next:", style="bold")
    width = max(len(command) for command, _ in outcome.next_steps)
    for command, why in outcome.next_steps:
        render.err(f"  {command:<{width}}  # {why}")


@cli.command()
@common_options(many=True)
@output_option
def validate(app: App, output: str) -> None:
    """Check the config(s) offline and print the resource names."""
    from ecspipe import render
    from ecspipe.app import load_all

    apps = app.per_config()
    load_all(apps)  # every problem of every file at once
    if output == "json":
        items = [{"config": a.config_path, "valid": True, "names": a.offline_names().summary()}
                 for a in apps]
        render.emit_json(items[0] if len(items) == 1 else {"valid": True, "configs": items})
        return
    for a in apps:
        render.out(f"{a.config_path}: valid", style="bold green")
        summary = a.offline_names().summary()
        width = max(16, *(len(key) + 1 for key in summary))
        for key, value in summary.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            render.out(f"  {key:<{width}} {shown}")
    if not all(a.config.account_id for a in apps):
        render.err("note: the bucket name includes the AWS account ID, resolved at `plan`/`up`")


def _action_required(*ctxs: Context) -> None:
    from ecspipe import render

    ctx = ctxs[0]
    if len(ctxs) == 1:
        what = f"connection {ctx.names.connection} is"
    else:
        what = f"connections {', '.join(c.names.connection for c in ctxs)} are"
    providers = sorted({c.config.source.provider for c in ctxs})
    render.action_required(
        f"{what} PENDING: a person must complete the {'/'.join(providers)} handshake in the "
        "console (until then, runs fail at the Source stage)",
        ctx.names.connections_console_url,
    )


def _waiter(app: App, timeout: float) -> Callable[[Context], None]:
    """What --wait-connection does once a pipeline's connection is PENDING."""
    from ecspipe import app as core
    from ecspipe import render

    def wait(ctx: Context) -> None:
        _action_required(ctx)
        render.err(f"waiting up to {int(timeout)}s for connection {ctx.names.connection} to "
                   "become AVAILABLE …")
        core.wait_connection(ctx, timeout, app.sleep, app.clock)
        render.err(f"connection {ctx.names.connection} is AVAILABLE", style="green")

    return wait


def _title(ctx: Context, apply: bool) -> str:
    title = "ecspipe up" if apply else "ecspipe plan (nothing is changed)"
    return f"{title}: pipeline {ctx.names.pipeline} in {ctx.names.region}, " \
        f"account {ctx.names.account}"


def _shown_counts(result: Any) -> dict[str, int]:
    return {k: v for k, v in result.counts().items() if k != "absent"}


def _plan_or_up(app: App, apply: bool, output: str, adopt: bool = False,
                wait_connection: bool = False, timeout: float = 2700.0,
                serial: bool = False) -> None:
    if len(app.config_paths) > 1:
        _plan_or_up_many(app, apply, output, adopt, wait_connection, timeout)
        return
    from ecspipe import app as core
    from ecspipe import render

    progress = render.progress if output == "text" else None
    ctx = app.context(preflight=True, adopt=adopt)
    result = core.plan_or_up(ctx, apply=apply, workers=1 if serial else 4,
                             progress=progress,
                             on_pending=_waiter(app, timeout) if wait_connection else None)
    from ecspipe.documents.deploy import choose

    choices = [(e.name, choose(e.service)) for e in ctx.environments]
    if output == "json":
        render.emit_json({**result.to_json(ctx), "deploy": [
            {"environment": name, **choice.to_json()} for name, choice in choices]})
    else:
        # "absent": a resource ecspipe would delete if it were there (say, its own
        # notification key once notify.sns_topic_arn is given); nothing to show.
        render.changes([c for c in result.changes if c.action != "absent"], _title(ctx, apply))
        render.deploy_choices(choices, _approve_command(app))
        render.summary(_shown_counts(result), applied=apply)
    if ctx.outputs.connection_status == "PENDING":
        _action_required(ctx)
        if apply:
            render.err("then run `ecspipe release --wait` (or push to the branch)")


def _plan_or_up_many(app: App, apply: bool, output: str, adopt: bool,
                     wait_connection: bool, timeout: float) -> None:
    """Several pipelines in one run; see app.plan_or_up_many."""
    from ecspipe import render
    from ecspipe.app import _raise_for, plan_or_up_many

    apps = app.per_config()
    names = {a.config_path: a for a in apps}

    def progress_for(path: str) -> Callable[..., None] | None:
        if output != "text":
            return None
        label = f"[{names[path].config.name}] "
        return lambda event, change: render.progress(event, change, prefix=label)

    runs = plan_or_up_many(apps, apply=apply, adopt=adopt, progress_for=progress_for,
                           on_pending=_waiter(app, timeout) if wait_connection else None)
    done = [r for r in runs if r.error is None and r.ctx is not None and r.result is not None]
    if output == "json":
        render.emit_json({"pipelines": [
            {"config": r.path, **r.result.to_json(r.ctx)} for r in done  # type: ignore[union-attr]
        ]})
    else:
        totals: dict[str, int] = {}
        for r in done:
            assert r.ctx is not None and r.result is not None
            render.changes([c for c in r.result.changes if c.action != "absent"],
                           _title(r.ctx, apply))
            for action, count in _shown_counts(r.result).items():
                totals[action] = totals.get(action, 0) + count
            render.out("")
        render.out(f"{len(done)} pipelines", style="bold")
        render.summary(totals, applied=apply)
        pending = [r.ctx for r in done if r.ctx and r.ctx.outputs.connection_status == "PENDING"]
        if pending:
            _action_required(*pending)
        if pending and apply:
            render.err("then run `ecspipe release --wait -c FILE` for each (or push to the branch)")
    _raise_for(runs, "failed (the others are done)")


@cli.command()
@common_options(many=True)
@output_option
@click.option("--serial", is_flag=True, help="Plan one resource at a time.")
def plan(app: App, output: str, serial: bool) -> None:
    """Show what `up` would change; changes nothing."""
    _plan_or_up(app, apply=False, output=output, serial=serial)


@cli.command()
@common_options(many=True)
@output_option
@click.option("--dry-run", is_flag=True, help="Only plan (same as `ecspipe plan`).")
@click.option("--adopt", is_flag=True,
              help="Take over same-name resources that ecspipe did not create.")
@click.option("--wait-connection", is_flag=True,
              help="Wait until the connection's handshake is completed (AVAILABLE).")
@click.option("--timeout", type=click.FloatRange(min=1), default=2700.0, show_default=True,
              help="Seconds to wait with --wait-connection.")
@click.option("--serial", is_flag=True, help="Create one resource at a time.")
def up(app: App, output: str, dry_run: bool, adopt: bool, wait_connection: bool,
       timeout: float, serial: bool) -> None:
    """Create or update the pipeline; a second run changes nothing."""
    _plan_or_up(app, apply=not dry_run, output=output, adopt=adopt,
                wait_connection=wait_connection, timeout=timeout, serial=serial)


@cli.command()
@common_options
@output_option
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True,
              help="How many executions to show.")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
def status(app: App, output: str, limit: int, watch: bool) -> None:
    """Show executions, stages and what each environment runs."""
    from ecspipe import render
    from ecspipe.status import collect

    ctx = app.context(preflight=False, check_caller=False)
    check: Callable[[], object] | None = app.check_account  # once, with the first reads
    while True:
        data = collect(ctx, limit, check_account=check)
        check = None
        if output == "json":
            render.emit_json(data)
        else:
            render.status({**data, "approve_command": _approve_command(app)})
        if not watch:
            return
        app.sleep(5.0)
        if output == "text":
            render.out("")


def _approve_command(app: App) -> Callable[[str], str]:
    """The exact `ecspipe approve` command for an environment of this config."""
    import shlex

    config = "" if app.config_path == "ecspipe.yaml" else f" -c {shlex.quote(app.config_path)}"
    return lambda env: f"ecspipe approve{f' --env {env}' if env else ''}{config}"


@cli.command()
@common_options
@output_option
@click.option("--commit", default=None, help="Start on this commit SHA instead of the branch head.")
@click.option("--wait", is_flag=True, help="Follow the execution until it ends.")
@click.option("--until", "until", default=None, metavar="ENV", shell_complete=complete_environments,
              help="With --wait: end successfully once this environment is deployed and "
              "verified.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds to wait with --wait.")
def release(app: App, output: str, commit: str | None, wait: bool, until: str | None,
            timeout: float) -> None:
    """Start the pipeline ("Release change"); --wait follows it."""
    from ecspipe import release as core
    from ecspipe import render
    from ecspipe.errors import UserError

    if until and not wait:
        raise UserError("--until works with --wait", hint="ecspipe release --wait --until ENV")
    ctx = app.context(preflight=False, check_caller=False)
    target = core.until_target(ctx, until)
    execution_id, pipeline = core.start(ctx, commit, check_account=app.check_account)
    if output == "text":
        render.out(f"started execution {execution_id}", style="bold")
        render.out(f"  {ctx.names.pipeline_console_url}", style="dim")
    if not wait:
        if output == "json":
            render.emit_json({"execution_id": execution_id,
                              "console_url": ctx.names.pipeline_console_url})
        return
    follower = render.Follower(stderr=output == "json", approve_command=_approve_command(app))
    try:
        result = core.follow(ctx, execution_id, pipeline, timeout, app.sleep, app.clock,
                             on_update=follower, until=target, wall=app.wall)
    finally:
        follower.close()
    if output == "json":
        render.emit_json(result.to_json())
    else:
        render.outcome(result)
    core.raise_for(result)


@cli.command()
@common_options
@output_option
@click.option("--env", "env", default=None, metavar="NAME", shell_complete=complete_environments,
              help="The environment whose approval to answer (default: the only one waiting).")
@click.option("--reject", is_flag=True, help="Reject: the execution stops, the environment "
              "keeps what it runs.")
@click.option("--comment", default=None, metavar="TEXT",
              help="The approval's summary, shown in the console and to `release --wait` "
              "(at most 512 characters).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def approve(app: App, output: str, env: str | None, reject: bool, comment: str | None,
            yes: bool) -> None:
    """Answer a waiting approval; shows what it promotes."""
    from ecspipe import approve as core
    from ecspipe import render
    from ecspipe.errors import UserError

    core.check_comment(comment)
    ctx = app.context(preflight=False, check_caller=False)
    if _answer_pause(app, ctx, output, env, reject, yes):
        return
    pending = core.find(ctx, env)  # the account was checked by _answer_pause
    verb = "reject" if reject else "approve"
    if output == "text":
        render.approval(pending)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"refusing to {verb} without confirmation (no terminal)",
                            hint="pass --yes to confirm non-interactively")
        question = (f"{verb.capitalize()} deploying execution {pending.execution['id'][:8]} "
                    f"to {pending.env}?" if not reject else
                    f"Reject execution {pending.execution['id'][:8]} for {pending.env}?")
        if not click.confirm(question, default=False, err=True):
            render.err("nothing answered", style="yellow")
            return
    result = core.answer(ctx, pending, approve=not reject, comment=comment)
    if output == "json":
        render.emit_json({**result, "pending": pending.to_json()})
    else:
        render.answered(result)


@cli.command()
@common_options
@output_option
@click.option("--env", "env", default=None, metavar="NAME", shell_complete=complete_environments,
              help="The environment to roll back (needed when there are several).")
@click.option("--to", "to", default=None, metavar="EXECUTION_ID|COMMIT",
              help="Return to this execution (id or commit, a unique prefix); default: the "
              "newest earlier one that succeeded with another image.")
@click.option("--wait", is_flag=True, help="Follow the rollback and verify the service runs "
              "the target's image.")
@click.option("--timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds to wait with --wait.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def rollback(app: App, output: str, env: str | None, to: str | None, wait: bool,
             timeout: float, yes: bool) -> None:
    """Return an environment to an earlier execution's image."""
    from ecspipe import render
    from ecspipe import rollback as core
    from ecspipe.errors import UserError
    from ecspipe.release import raise_for

    ctx = app.context(preflight=False, check_caller=False)
    plan = core.prepare(ctx, env, to, check_account=app.check_account)
    if output == "text":
        render.rollback_plan(plan)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("refusing to roll back without confirmation (no terminal)",
                            hint="pass --yes to confirm non-interactively")
        question = (f"Roll {plan.env or 'the service'} back to execution {plan.to['id'][:8]} "
                    f"(commit {(plan.to.get('commit') or '-')[:7]})?")
        if not click.confirm(question, default=False, err=True):
            render.err("nothing rolled back", style="yellow")
            return
    execution_id = core.start(ctx, plan)
    if output == "text":
        render.out(f"started rollback execution {execution_id}", style="bold")
        render.out(f"  {ctx.names.pipeline_console_url}", style="dim")
    if not wait:
        if output == "json":
            render.emit_json({"execution_id": execution_id, **plan.to_json()})
        return
    follower = render.Follower(stderr=output == "json", approve_command=_approve_command(app))
    try:
        result = core.follow(ctx, plan, execution_id, timeout, app.sleep, app.clock,
                             on_update=follower)
    finally:
        follower.close()
    if output == "json":
        render.emit_json({**result.to_json(), **plan.to_json()})
    else:
        render.rolled_back(result, plan)
    raise_for(result)


def _answer_pause(app: App, ctx: Any, output: str, env: str | None, reject: bool,
                  yes: bool) -> bool:
    """A service deployment paused at a PAUSE hook, answered (pauses.py); False when none
    is paused. The same confirmation rules as an approval."""
    from ecspipe import pauses, render
    from ecspipe.errors import UserError

    paused = pauses.find(ctx, env, check_account=app.check_account)
    if paused is None:
        return False
    if output == "text":
        render.paused(paused)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"refusing to {'roll back' if reject else 'continue'} the service "
                            "deployment without confirmation (no terminal)",
                            hint="pass --yes to confirm non-interactively")
        question = ("Roll back this service deployment?" if reject else
                    "Continue this service deployment?")
        if not click.confirm(question, default=False, err=True):
            render.err("nothing answered", style="yellow")
            return True
    result = pauses.answer(ctx, paused, approve=not reject)
    if output == "json":
        render.emit_json({**result, "paused": paused.to_json()})
    else:
        render.out(f"{'rolled back' if reject else 'continued'}: service deployment "
                   f"{paused.deployment_arn.rsplit('/', 1)[-1]} of "
                   f"{paused.target.service.service_name} ({result['action']})",
                   style="bold green" if not reject else "bold yellow")
    return True


def _confirm_deletion(yes: bool) -> bool:
    """--yes, or a terminal's answer; without either, refuse (never hang, never assume)."""
    from ecspipe.errors import UserError

    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError("refusing to delete without confirmation (no terminal)",
                        hint="pass --yes to confirm non-interactively")
    return click.confirm("Delete the resources marked '-'?", default=False, err=True)


def _down_many(app: App, output: str, yes: bool, delete_images: bool) -> None:
    """Several pipelines torn down in one run; see app.down_many."""
    from ecspipe import render
    from ecspipe.app import PipelineRun, _raise_for, down_many

    apps = app.per_config()
    names = {a.config_path: a for a in apps}

    def title(run: PipelineRun) -> str:
        assert run.ctx is not None
        return (f"ecspipe down: pipeline {run.ctx.names.pipeline} in {run.ctx.names.region}, "
                f"account {run.ctx.names.account} ({run.path})")

    def confirm(runs: list[PipelineRun]) -> bool:
        if output == "text":
            totals: dict[str, int] = {}
            for run in runs:
                assert run.result is not None
                render.changes([c for c in run.result.changes if c.action != "absent"],
                               title(run))
                for action, count in run.result.counts().items():
                    totals[action] = totals.get(action, 0) + count
                render.out("")
            render.out(f"{len(runs)} pipelines", style="bold")
            render.summary(totals, applied=False, teardown=True)
        return _confirm_deletion(yes)

    def progress_for(path: str) -> Callable[..., None] | None:
        if output != "text":
            return None
        label = f"[{names[path].config.name} {names[path].config.region}] "
        return lambda event, change: render.progress(event, change, prefix=label)

    runs = down_many(apps, delete_images, confirm, progress_for)
    done = [r for r in runs if r.error is None and r.ctx is not None and r.result is not None]
    if output == "json":
        render.emit_json({"pipelines": [
            {"config": r.path, **r.result.to_json(r.ctx)} for r in done  # type: ignore[union-attr]
        ]})
    elif not any(r.result and r.result.has_changes for r in runs):
        render.out("nothing to delete", style="bold")
    elif all(r.result and not r.result.applied for r in runs):
        render.out("nothing deleted", style="yellow")
    else:
        totals: dict[str, int] = {}
        for r in done:
            if r.result is not None and r.result.applied:
                for action, count in r.result.counts().items():
                    totals[action] = totals.get(action, 0) + count
        render.summary(totals, applied=True, teardown=True)
    _raise_for(runs, "failed (the others are deleted)")


@cli.command()
@common_options(many=True)
@output_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--delete-images", is_flag=True,
              help="Also delete the ECR repository ecspipe created, with its images.")
def down(app: App, output: str, yes: bool, delete_images: bool) -> None:
    """Delete what ecspipe created, and nothing else."""
    from ecspipe import render
    from ecspipe.plan import Result, teardown

    if len(app.config_paths) > 1:
        _down_many(app, output, yes, delete_images)
        return
    ctx = app.context(preflight=False, delete_images=delete_images)
    title = f"ecspipe down: pipeline {ctx.names.pipeline} in {ctx.names.region}, " \
        f"account {ctx.names.account}"

    def confirm(plan: Result) -> bool:
        if output == "text":
            render.changes([c for c in plan.changes if c.action != "absent"], title)
            render.summary(plan.counts(), applied=False, teardown=True)
        return _confirm_deletion(yes)

    result = teardown(ctx, apply=True, progress=render.progress if output == "text" else None,
                      confirm=confirm)
    if output == "json":
        render.emit_json(result.to_json(ctx))
        return
    if not result.has_changes:
        kept = [c for c in result.changes if c.action == "keep"]
        if kept:
            render.changes(kept, title)
        render.out("nothing to delete", style="bold")
    elif result.applied:
        render.summary(result.counts(), applied=True, teardown=True)
    else:
        render.out("nothing deleted", style="yellow")


@cli.command()
@common_options
@click.option("--format", "fmt", type=click.Choice(["cloudformation"]), default="cloudformation",
              show_default=True, help="Template format.")
@click.option("-o", "--output", "output_path", default="-", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True), metavar="FILE",
              help="Where to write the template; - prints it.")
@click.option("--parameterize", is_flag=True,
              help="Cluster, service, container and branch as template parameters (defaults: "
              "the config's), for one template across accounts (StackSets).")
def export(app: App, fmt: str, output_path: str, parameterize: bool) -> None:
    """Write the pipeline as a CloudFormation template.

    The resources `up` would create for this config, with the same properties.
    Reads like `plan` (preflight); writes nothing to AWS.
    """
    from ecspipe import export as core
    from ecspipe import render

    exported = core.export(app, parameterize=parameterize)
    if output_path == "-":
        render.raw(exported.text)
    else:
        core.write(exported.text, output_path)
        render.err(f"wrote {output_path} ({len(exported.template['Resources'])} resources)",
                   style="bold green")
    for note in exported.notes:
        render.err(f"note: {note}")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from ecspipe import render
    from ecspipe.config import config_json_schema

    render.emit_json(config_json_schema())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=4566, show_default=True)
@click.option("--no-seed", is_flag=True, help="Start empty instead of with the demo service.")
@click.option("--manual-connections", is_flag=True,
              help="Keep new connections PENDING (no simulated handshake).")
@click.option("--handshake-delay", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Seconds until a new connection's simulated handshake completes.")
@click.option("--fail-stage", type=click.Choice(["Source", "Build", "Deploy"]), default=None,
              help="Make this stage fail in every execution (demos, tests).")
@click.option("--rollback", is_flag=True,
              help="Make every ECS deployment roll back (circuit breaker).")
@click.option("--commit-message", default=None, metavar="TEXT",
              help="Message of every commit the simulated source finds (demos, tests).")
@click.option("--role-propagation", type=click.FloatRange(min=0), default=0.0,
              show_default=True, metavar="SECONDS",
              help="Refuse a role in CodeBuild and CodePipeline for this long after it is "
              "created, as IAM propagation does on AWS (0: off).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="With --host 0.0.0.0: a host name clients may use besides IP addresses, "
              "localhost and this machine's name (e.g. host.docker.internal). Repeatable.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
def sandbox(host: str, port: int, no_seed: bool, manual_connections: bool,
            handshake_delay: float, fail_stage: str | None, rollback: bool,
            commit_message: str | None, role_propagation: float, allow_hosts: tuple[str, ...],
            verbose: bool) -> None:
    """Run the local AWS emulator (moto + extensions) until Ctrl-C."""
    from ecspipe.app import App

    gc.enable()  # a long-running server (main() turns it off for short commands)
    _current["app"] = App(verbose=verbose)
    from ecspipe.sandbox import require_moto

    require_moto()
    from ecspipe.sandbox.server import serve

    serve(host=host, port=port, seed=not no_seed, manual_connections=manual_connections,
          handshake_delay=handshake_delay, fail_stage=fail_stage, rollback=rollback,
          commit_message=commit_message, role_propagation=role_propagation,
          allowed_hosts=allow_hosts)
    sys.stdout.flush()
    sys.stderr.flush()
    # Tearing down an interpreter that loaded moto takes ~2 s and cleans up nothing
    # that matters: the emulator's state is in memory by design.
    os._exit(0)


def _report(exc: BaseException) -> int:
    from ecspipe import render

    app = _current.get("app")
    verbose = bool(app and app.verbose)
    if isinstance(exc, EcspipeError):
        error = exc
    else:
        from ecspipe.aws import translate

        translated = translate(exc)
        if translated is None:
            raise exc  # a bug: let the traceback out
        error = translated
    if verbose:
        import traceback

        render.trace("".join(traceback.format_exception(exc)))
    render.error(error.message, error.hint, error.problems)
    return error.exit_code


def run(argv: list[str] | None = None, obj: dict[str, Any] | None = None) -> int:
    """Run the CLI and return its exit code. `obj` lets tests inject sleep, clock and hooks."""
    _current.clear()
    try:
        rv = cli.main(args=argv, prog_name="ecspipe", standalone_mode=False, obj=obj)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        import io

        from ecspipe import render

        shown = io.StringIO()  # click's own message, which can quote any argument: literal
        exc.show(file=shown)
        render.trace(shown.getvalue())
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes here, at the boundary
        return _report(exc)
    return rv if isinstance(rv, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Exits with os._exit after flushing: a normal interpreter shutdown tears down
    every module botocore and pydantic loaded, which costs up to ~0.3 s and cleans
    up nothing that outlives the process (worker pools are joined by then).
    """
    # No cyclic GC while the command starts: importing pydantic and botocore and
    # making clients allocates a lot and frees little, and the collector's passes
    # cost ~20% of a short command. App.sleep turns it back on the first time a
    # command waits (a poll, a backoff), so long-running commands collect as usual.
    gc.disable()
    try:
        code = run(argv)
    except Exception:  # noqa: BLE001 - a bug: its traceback, printed literally (it may quote AWS)
        import traceback

        from ecspipe import render

        render.trace(traceback.format_exc())
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # `ecspipe status | head`, or a closed stream
        code = code or 1
    os._exit(code)
