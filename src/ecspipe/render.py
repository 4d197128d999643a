"""All output. Data goes to stdout, progress and messages to stderr; nothing else prints.

rich is imported here only, and only when something is printed, so importing
the CLI stays cheap. JSON output is plain `json.dumps`, never styled.

Text from AWS or from a repository (commit messages, error messages, build log
lines, names, ARNs) is written by whoever can push or controls the account, so
everything printed is literal text: `literal()` makes control characters
visible as escapes (`\\x1b`, `\\u202e`) instead of letting them reach the
terminal, and rich never reads markup or emoji codes (`[link=...]`, `:warning:`)
in it; ecspipe's own styling is passed separately, as a style. Both writers
(plain and rich) go through the same `literal()`, and the streams replace what
their encoding cannot show (`\\u4e2d`) instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ecspipe.resources.base import Change

_consoles: dict[str, Any] = {}

SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "unchanged": ("=", "dim"),
    "use": ("·", "cyan"),
    "delete": ("-", "red"),
    "keep": ("·", "cyan"),
    "absent": (" ", "dim"),
}
LABELS = {
    "create": "create",
    "update": "update",
    "unchanged": "unchanged",
    "use": "use as is",
    "delete": "delete",
    "keep": "keep",
    "absent": "absent",
}


# ZERO WIDTH NON-JOINER / JOINER are format characters too, but scripts (Persian,
# Indic) and emoji sequences need them, and they cannot reorder or hide text.
_JOINERS = frozenset("\u200c\u200d")


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def literal(text: object) -> str:
    """`text` with everything that could drive the terminal or hide text made visible.

    Escaped (as `\\x1b`, `\\x9b`, `\\u202e`, ...): C0 controls but tab and newline,
    DEL and C1 controls (ESC-, CSI-, OSC-sequences, `\\r` overwrites, NUL), the
    Unicode format characters (bidi embeddings, overrides and isolates, zero-width
    space, BOM, soft hyphen, tag characters; except the two joiners), line and
    paragraph separators, and lone surrogates. Everything else, including every
    printable character of any script, is kept. `\\r\\n` counts as a newline.
    """
    text = str(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    import unicodedata

    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    out = []
    for ch in text:
        if ch.isprintable() or ch in "\n\t" or ch in _JOINERS:
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        out.append(_visible(ch) if category in ("Cc", "Cf", "Zl", "Zp", "Cs") else ch)
    return "".join(out)


def _line(text: str) -> str:
    """One logical line: literal, and any newline in it (which only remote text brings:
    ecspipe's own lines are one per call) continues indented under the line's start,
    so it cannot pass for a line of ecspipe's own."""
    text = literal(text)
    if "\n" not in text:
        return text
    first, *rest = text.split("\n")
    indent = " " * (len(first) - len(first.lstrip(" ")) + 2)
    return "\n".join([first, *(indent + r for r in rest)])


def _writable(stream: TextIO) -> TextIO:
    """The stream, set to write `\\u4e2d` for what its encoding cannot show (LANG=C,
    PYTHONIOENCODING=ascii) instead of raising UnicodeEncodeError."""
    if getattr(stream, "errors", None) == "strict":
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[attr-defined]
    return stream


def console(stderr: bool = False) -> Any:
    key = "err" if stderr else "out"
    _writable(sys.stderr if stderr else sys.stdout)
    if key not in _consoles:
        from rich.console import Console

        # markup/emoji off: nothing printed is ever read as `[style]` or `:code:` (rich
        # replaces `:name:` codes even with markup=False; a branch `feat/:fire:` stays).
        _consoles[key] = Console(stderr=stderr, highlight=False, soft_wrap=True,
                                 markup=False, emoji=False)
    return _consoles[key]


def _plain(stream: Any) -> bool:
    """True when rich would print the text as is: not a terminal, no FORCE_COLOR.

    Then a plain write does the same without importing rich (~60 ms).
    """
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty and not os.environ.get("FORCE_COLOR")


def out(text: str = "", style: str | None = None) -> None:
    """One line to stdout (data), printed literally; `style` is ecspipe's own."""
    if _plain(sys.stdout):
        _writable(sys.stdout).write(_line(text) + "\n")
    else:
        console().print(_line(text), style=style, markup=False, emoji=False)


def err(text: str, style: str | None = None) -> None:
    """One line to stderr (messages, progress), printed literally."""
    if _plain(sys.stderr):
        stream = _writable(sys.stderr)
        stream.write(_line(text) + "\n")
        stream.flush()
    else:
        console(stderr=True).print(_line(text), style=style, markup=False, emoji=False)


def trace(text: str) -> None:
    """A traceback (-v) to stderr: its lines kept as they are, but literal."""
    stream = _writable(sys.stderr)
    stream.write("".join(literal(line) + "\n" for line in text.rstrip("\n").split("\n")))
    stream.flush()


def raw(text: str) -> None:
    """Data to stdout exactly as given (a generated file), never styled."""
    sys.stdout.write(text)
    sys.stdout.flush()


def emit_json(data: Any) -> None:
    """Exact data, as ASCII: json.dumps escapes every control and non-ASCII character
    but DEL, which is escaped here too, so no raw control character reaches a terminal."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str).replace("\x7f", "\\u007f")
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None, problems: list[str] | None = None) -> None:
    err(f"error: {message}", style="bold red")
    for line in problems or []:
        err(f"  {line}")
    if hint:
        err(f"hint: {hint}", style="yellow")


def action_required(message: str, url: str) -> None:
    err(f"ACTION REQUIRED: {message}", style="bold yellow")
    err(f"  {url}", style="yellow")


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_lines(change: Change) -> list[tuple[str, str | None]]:
    symbol, style = SYMBOLS.get(change.action, ("?", None))
    lines = [(f"  {symbol} {LABELS[change.action]:<10} {change.kind:<18} {change.name}", style)]
    for f in change.fields:
        lines.append((f"      {f.path}: {_short(f.before)} → {_short(f.after)}", None))
    for note in change.notes:
        lines.append((f"      ({note})", "dim"))
    return lines


def changes(items: list[Change], title: str) -> None:
    out(title, style="bold")
    for change in items:
        for text, style in change_lines(change):
            out(text, style=style)


def summary(counts: dict[str, int], applied: bool, teardown: bool = False) -> None:
    order = ["create", "update", "delete", "unchanged", "use", "keep", "absent"]
    words = {
        "create": "created" if applied else "to create",
        "update": "updated" if applied else "to update",
        "delete": "deleted" if applied else "to delete",
        "unchanged": "unchanged",
        "use": "used as is",
        "keep": "kept",
        "absent": "not present",
    }
    parts = [f"{counts[k]} {words[k]}" for k in order if counts.get(k)]
    head = "Result" if applied else ("Teardown plan" if teardown else "Plan")
    if not any(counts.get(k) for k in ("create", "update", "delete")):
        parts.insert(0, "no changes")
    out(f"{head}: " + ", ".join(parts) + ".", style="bold")


def progress(event: str, change: Change, prefix: str = "") -> None:
    if event in ("applying", "deleting"):
        verb = {"create": "creating", "update": "updating", "delete": "deleting"}[change.action]
        err(f"{prefix}{verb} {change.kind} {change.name} …", style="dim")


# ---- status ----------------------------------------------------------------------

STATUS_STYLE = {
    "Succeeded": "green", "InProgress": "cyan", "Failed": "bold red", "Stopped": "yellow",
    "Stopping": "yellow", "Superseded": "dim", "Abandoned": "dim", "AVAILABLE": "green",
    "PENDING": "bold yellow", "ERROR": "bold red", "COMPLETED": "green", "FAILED": "bold red",
    "IN_PROGRESS": "cyan",
}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _when(iso: str | None) -> str:
    """'2026-11-28T16:03:49.849899+00:00' -> '2026-11-28 16:03:49Z' (times are UTC)."""
    if not iso:
        return "-"
    return iso.replace("T", " ")[:19] + ("Z" if iso.endswith("+00:00") else "")


def status(data: dict) -> None:
    p, c, s = data["pipeline"], data["connection"], data["service"]
    out(f"pipeline   {p['name']} ({p['type']}), runs on pushes to {p['branch']}", style="bold")
    out(f"           {p['console_url']}", style="dim")
    out(f"connection {c['status'] or '-'}  {c['arn'] or ''}", style=STATUS_STYLE.get(c["status"]))
    if c.get("action_url"):
        action_required("the connection is PENDING: complete the handshake, or every run "
                        "fails at the Source stage", c["action_url"])
    latest = data["executions"][0] if data["executions"] else None
    if (c["status"] == "AVAILABLE" and latest and latest["status"] == "Failed"
            and "PENDING" in (latest.get("summary") or "")):
        err("hint: the latest run failed while the connection was PENDING; it is AVAILABLE "
            "now: run `ecspipe release --wait`", style="yellow")
    out("")
    out("executions", style="bold")
    if not data["executions"]:
        out("  (none yet)")
    for e in data["executions"]:
        commit = (e["commit"] or "")[:7] or "-"
        # The first line by "\n" only: a \r or another control in it is shown, escaped.
        message = (e["message"] or "").replace("\r\n", "\n").split("\n")[0][:50]
        # A rollback execution says which execution it returned to.
        kind = f"  rollback of {e['rollback_of'][:8]}" if e.get("rollback_of") else \
            ("  rollback" if e.get("execution_type") == "ROLLBACK" else "")
        out(f"  {e['id'][:8]}  {e['status']:<11} {commit:<8} {_duration(e['duration_seconds']):>7}"
            f"  {_when(e['started_at'])}  {e['trigger'] or ''}{kind}  {message}",
            style=STATUS_STYLE.get(e["status"]))
    out("")
    out("stages", style="bold")
    newest = latest["id"] if latest else None
    width = max([8, *(len(stage["name"]) for stage in data["stages"])])
    for stage in data["stages"]:
        # Each stage shows its own latest run, which may belong to an older execution.
        other = stage["execution_id"] and stage["execution_id"] != newest
        origin = f"  (execution {stage['execution_id'][:8]})" if other else ""
        out(f"  {stage['name']:<{width}} {stage['status'] or 'not run'}{origin}",
            style=STATUS_STYLE.get(stage["status"] or ""))
        for action in stage["actions"]:
            if action["error"]:
                out(f"    {action['name']}: {action['error']}", style="red")
        for line in _condition_lines(stage.get("conditions") or []):
            out(f"    {line}", style="dim")
    if not s["latest_success_commit"] and any(
            c["kind"] == "onFailure" and c["result"] == "ROLLBACK"
            for stage in data["stages"] for c in stage.get("conditions") or []):
        out("  no execution has succeeded yet: a failed deploy has nothing to roll back to "
            "(it simply fails)", style="dim")
    out("")
    if data.get("notifications"):
        notifications(data["notifications"])
        out("")
    if any(e["name"] for e in data.get("environments", [])):
        environments(data["environments"], data.get("approve_command"))
        return
    match = "matches" if s["matches_latest_success"] else "does NOT match"
    out(f"service    {s['cluster']}/{s['name']}: {s['running']}/{s['desired']} running, "
        f"rollout {s['rollout_state'] or '-'}", style="bold")
    out(f"  image    {s['image']}")
    if s.get("deploy"):
        out(f"  deploy   {deploy_line(s['deploy'])}")
    if s["latest_success_commit"]:
        out(f"  the image {match} the latest successful execution "
            f"(commit {s['latest_success_commit'][:7]})",
            style="green" if s["matches_latest_success"] else "yellow")
    else:
        out("  no successful execution yet", style="dim")


CONDITION_WORDS = {"beforeEntry": "entry", "onSuccess": "bake", "onFailure": "on failure"}


def _condition_lines(conditions: list[dict]) -> list[str]:
    """A stage's conditions in `status`: what each does, its state, what its rules say."""
    lines = []
    for c in conditions:
        rules = c.get("rules") or []
        if c["kind"] == "onFailure" and not rules:
            lines.append(f"on failure: {(c.get('result') or '-').lower()}")
            continue
        what = ", ".join(
            (r.get("configuration") or {}).get("AlarmName")
            or (r.get("configuration") or {}).get("Cron") or r["name"] for r in rules)
        lines.append(f"{CONDITION_WORDS.get(c['kind'], c['kind'])} ({what}; then "
                     f"{(c.get('result') or '-').lower()}): {c.get('status') or 'not run'}"
                     + (f" - {c['summary']}" if c.get("summary") else ""))
    return lines


def deploy_line(d: dict) -> str:
    """`status`: an environment's deploy provider, strategy and timeout, in one line."""
    text = f"{d['provider'] or '-'} ({d['strategy']}), timeout {d['timeout_minutes']} min " \
        f"({d['why']})"
    if d.get("deployment_group"):
        text += f", CodeDeploy {d['application']}/{d['deployment_group']}"
    if d.get("bake_minutes"):
        text += f", bake {d['bake_minutes']} min"
    for hook in d.get("pause_hooks") or []:
        text += (f", PAUSE hook at {'/'.join(hook['stages'])} (up to {hook['timeout_minutes']} "
                 f"min, then {hook['timeout_action']})")
    if d.get("problem"):
        text += f"; {d['problem']}"
    return text


def deploy_choices(items: list[tuple[str | None, Any]], approve_command: Any = None) -> None:
    """`plan`/`up`: per environment, the deploy action, strategy and timeout chosen, and why."""
    out("deploy", style="bold")
    for name, choice in items:
        label = name or "service"
        timeout = (f"DeploymentTimeout {choice.timeout_minutes} min" if choice.timeout_set else
                   f"timeout {choice.timeout_minutes} min")
        out(f"  {label}: {choice.provider} action, strategy {choice.strategy}, {timeout}")
        out(f"    why: {choice.why}", style="dim")
        if choice.outlasts_action:
            command = approve_command(name) if approve_command else "ecspipe approve"
            out(f"    note: this deployment can outlast the Deploy action's {ECS_WAIT} minutes: "
                "the action may fail while ECS goes on; `ecspipe release --wait` follows the "
                "service deployment itself to its end"
                + (f", and `{command}` answers its pause" if choice.pauses else ""),
                style="yellow")


ECS_WAIT = 60


def age(iso: str | None, now: Any = None) -> float | None:
    """Seconds since an ISO timestamp (None if unknown; never negative)."""
    from datetime import UTC, datetime

    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = int(seconds)
    if whole >= 86400:
        text = f"{whole // 86400}d{whole % 86400 // 3600}h"
    elif whole >= 3600:
        text = f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    else:
        text = _duration(whole)
    return f" ({text} ago)"


def _first_line(text: str | None, limit: int = 50) -> str:
    return (text or "").replace("\r\n", "\n").split("\n")[0][:limit]


def _behind(items: list[dict]) -> str:
    shown = ", ".join(f"{(b['commit'] or '')[:7] or '-'} {_first_line(b['message'], 40)!r}"
                      for b in items[:3])
    more = f", and {len(items) - 3} more" if len(items) > 3 else ""
    word = "execution" if len(items) == 1 else "executions"
    return f"{len(items)} {word} behind: {shown}{more}"


def notifications(n: dict) -> None:
    """`status`: the notification rule, its topic, and who is subscribed."""
    if not n["rule"]:
        out("notify     no notification rule on the pipeline yet: `ecspipe up` makes it",
            style="yellow")
        return
    reach = n["target_status"] or "-"
    out(f"notify     {', '.join(n['events'])} -> {n['topic']} ({n['status']}, topic {reach})",
        style="bold" if reach == "ACTIVE" else "bold yellow")
    for s in n["subscriptions"] or []:
        if s["confirmed"]:
            out(f"           {s['endpoint']}: subscribed")
        else:
            out(f"           {s['endpoint']}: pending: the recipient must follow the link in "
                "the confirmation email SNS sent", style="yellow")


def environments(items: list[dict], approve_command: Any = None) -> None:
    """`status`: per environment, what it runs, how far behind, an approval waiting."""
    out("environments", style="bold")
    width = max(len(e["name"] or "") for e in items)
    for e in items:
        pad = " " * (width + 2)
        out(f"  {e['name']:<{width}}  {e['cluster']}/{e['service']}: {e['running']}/"
            f"{e['desired']} running, rollout {e['rollout_state'] or '-'}", style="bold")
        commit = (e["commit"] or "")[:7]
        out(f"  {pad}image  {e['image']}" + (f"  (commit {commit})" if commit else ""))
        if e.get("deploy"):
            out(f"  {pad}deploy {deploy_line(e['deploy'])}")
        if e["behind"]:
            out(f"  {pad}{_behind(e['behind'])}", style="yellow")
        else:
            out(f"  {pad}runs the newest successful build", style="green")
        approval = e.get("approval")
        if approval:
            command = approve_command(e["name"]) if approve_command else \
                f"ecspipe approve --env {e['name']}"
            out(f"  {pad}approval waiting since {_when(approval['requested_at'])}"
                f"{_ago(age(approval['requested_at']))}: {command}", style="bold yellow")


def approval(pending: Any) -> None:
    """`approve`: what answering the approval would promote."""
    e = pending.execution
    out(f"approval for {pending.env} (stage {pending.stage}), waiting since "
        f"{_when(pending.requested_at)}{_ago(age(pending.requested_at))}", style="bold")
    out(f"  promotes       execution {e['id'][:8]}  commit {(e.get('commit') or '-')[:7]}  "
        f"{_first_line(e.get('message'))}")
    running = pending.running or {}
    origin = (f"execution {running['execution_id'][:8]}" if running.get("execution_id") else
              "not built by this pipeline" if running.get("image") else "nothing")
    out(f"  {pending.env} runs  {running.get('image') or '-'}")
    out(f"  {' ' * len(pending.env)}       commit {(running.get('commit') or '-')[:7]}  ({origin})"
        + (f"  {_first_line(running.get('message'))}" if running.get("message") else ""))
    if pending.between:
        out(f"  in between     {len(pending.between)} execution"
            f"{'s' if len(pending.between) != 1 else ''} (their commits come along):")
        for b in pending.between[:10]:
            out(f"    {b['execution_id'][:8]}  {b['status'] or '-':<10} "
                f"{(b['commit'] or '-')[:7]:<8} {_first_line(b['message'])}")
        if len(pending.between) > 10:
            out(f"    ... and {len(pending.between) - 10} more")
    for w in pending.waiting:
        out(f"  waiting behind it: execution {w['execution_id'][:8]} (commit "
            f"{(w['commit'] or '-')[:7]} {_first_line(w['message'], 40)}) enters {pending.stage}"
            " and asks for approval once this one is answered", style="dim")


def paused(p: Any) -> None:
    """`approve`: the service deployment waiting at a pause hook, before it is answered."""
    where = f"{p.env}: " if p.env else ""
    out(f"{where}service deployment of {p.target.service.cluster_name}/"
        f"{p.target.service.service_name} waits at a PAUSE hook in {p.stage}", style="bold")
    out(f"  {p.deployment_arn}")
    if p.test_traffic is not None or p.production_traffic is not None:
        out(f"  the new revision has {p.test_traffic or 0:g}% of test traffic and "
            f"{p.production_traffic or 0:g}% of production traffic")
    out(f"  waits until {p.expires_at or '-'}, then {p.timeout_action or 'ROLLBACK'}")
    out("  approve continues it (CONTINUE), --reject rolls it back (ROLLBACK)", style="dim")


def answered(result: dict) -> None:
    verb = "approved" if result["status"] == "Approved" else "rejected"
    then = (f"{result['environment']} will be deployed" if verb == "approved" else
            f"the execution stops; {result['environment']} keeps what it runs")
    out(f"{verb}: execution {result['execution_id'][:8]} (commit "
        f"{(result.get('commit') or '-')[:7]}) for {result['environment']}: {then}",
        style="bold green" if verb == "approved" else "bold yellow")


# ---- release ---------------------------------------------------------------------


class Follower:
    """Shows a running execution: a live table on a terminal, plain lines otherwise.

    An approval this execution waits for, or a stage another execution holds, is said
    once each, with the command that answers the approval (`approve_command(env)`)."""

    def __init__(self, stderr: bool = False,
                 approve_command: Any = None) -> None:
        self.console = console(stderr=stderr)
        self.write = err if stderr else out
        self.live: Any = None
        self.seen: dict[str, Any] = {}
        self.said: set[tuple[str, ...]] = set()
        self.approve_command = approve_command or (lambda env: f"ecspipe approve --env {env}")

    def _notices(self, snap: Any) -> list[tuple[tuple[str, ...], str]]:
        """What this execution waits for now, each with a key (to say it once)."""
        notices: list[tuple[tuple[str, ...], str]] = []
        env = getattr(snap, "approval", None)
        if env:
            notices.append((("approval", env), f"waiting for approval to deploy to {env}: "
                            f"{self.approve_command(env)} (or --reject)"))
        gate = getattr(snap, "gate", None)
        if gate and gate["kind"] == "bake":
            left = gate.get("remaining_seconds")
            minutes = None if left is None else int((left + 59) // 60)
            notices.append((("bake", gate["stage"], str(minutes)),
                            f"baking {gate['stage']}: watching {', '.join(gate['alarms'])}"
                            + (f", {minutes} min left" if minutes is not None else
                               f" for {gate['minutes']:g} min")
                            + " (an alarm in ALARM rolls the stage back)"))
        if gate and gate["kind"] == "window":
            from ecspipe.gates import when

            notices.append((("window", gate["stage"]),
                            f"outside the deploy window of {gate['stage']} ({gate['cron']}, "
                            f"{gate.get('timezone') or 'UTC'}): the execution waits there "
                            f"until it opens at {when(gate.get('opens_at'))}"))
        held = getattr(snap, "held_by", None)
        # Waiting for a stage another execution is in is ordinary; it is said only when
        # that one waits for a person.
        if held and held.get("approval"):
            notices.append((
                ("held", held["stage"], held["execution_id"]),
                f"waiting to enter {held['stage']}: older execution {held['execution_id'][:8]} "
                f"is in it, waiting for approval to deploy to {held['approval']} "
                f"({self.approve_command(held['approval'])} answers that one; this execution "
                "asks next)"))
        for d in getattr(snap, "deployments", []):
            if d.pause and d.pause.get("hook_id"):
                command = self.approve_command(d.target.name)
                where = f"{d.target.name}: " if d.target.name else ""
                notices.append((("pause", d.pause["hook_id"]),
                                f"{where}the service deployment waits at a PAUSE hook in "
                                f"{d.stage} (until {d.pause['expires_at']}, then "
                                f"{d.pause['timeout_action']}): `{command}` continues it, "
                                f"`{command} --reject` rolls it back"))
        return notices

    def _waits(self, snap: Any) -> list[str]:
        """The notices of this snapshot not said yet (plain lines say each once)."""
        fresh = [(key, text) for key, text in self._notices(snap) if key not in self.said]
        self.said.update(key for key, _ in fresh)
        return [text for _, text in fresh]

    def __call__(self, snap: Any) -> None:
        if self.console.is_terminal:
            from rich.live import Live

            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=4, transient=False)
                self.live.start()
            # The live view shows what it waits for now, under the table.
            self.notices = [text for _, text in self._notices(snap)]
            self.live.update(self._view(snap))
            return
        import time

        now = time.strftime("%H:%M:%S")
        key = f"execution {snap.execution_id}"
        if key not in self.seen:
            self.seen[key] = snap.status
            self.write(f"{now} execution {snap.execution_id}: {snap.status}")
        for a in snap.actions:
            name = f"{a['stage']}/{a['action']}"
            if self.seen.get(name) != a["status"]:
                self.seen[name] = a["status"]
                took = f" ({_duration(a['elapsed'])})" if a["status"] != "InProgress" else ""
                self.write(f"{now}   {name}: {a['status']}{took}",
                           style=STATUS_STYLE.get(a["status"]))
        for d in getattr(snap, "deployments", []):
            line = (f"{d.target.name}: " if d.target.name else "") + d.describe()
            if self.seen.get(f"deployment {d.label}") != d.key():
                self.seen[f"deployment {d.label}"] = d.key()
                self.write(f"{now}   {line}", style="dim")
        for notice in self._waits(snap):
            self.write(f"{now}   {notice}", style="bold yellow")
        if self.seen.get(key) != snap.status:
            self.seen[key] = snap.status
            self.write(f"{now} execution {snap.execution_id}: {snap.status} "
                       f"({_duration(snap.elapsed)})")

    notices: list[str] = []

    def _view(self, snap: Any) -> Any:
        from rich.console import Group
        from rich.text import Text

        table = self._table(snap)
        lines = [(f"{d.target.name}: " if d.target.name else "") + d.describe()
                 for d in getattr(snap, "deployments", [])]
        if not self.notices and not lines:
            return table
        return Group(table, *(Text(literal(n), overflow="fold") for n in lines),
                     *(Text(literal(n), style="bold yellow", overflow="fold")
                       for n in self.notices))

    def _table(self, snap: Any) -> Any:
        from rich.table import Table
        from rich.text import Text

        def cell(value: Any) -> Text:  # a Text is never read as markup
            return Text(literal("" if value is None else value))

        table = Table(title=cell(f"execution {snap.execution_id} — {snap.status} "
                                 f"({_duration(snap.elapsed)})"), title_justify="left")
        table.add_column("stage")
        table.add_column("action")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("error")
        by_name = {(a["stage"], a["action"]): a for a in snap.actions}
        for stage, action in snap.layout or list(by_name):
            a = by_name.get((stage, action))
            if a is None:
                table.add_row(cell(stage), cell(action), cell("waiting"), cell(""), cell(""),
                              style="dim")
                continue
            took = "…" if a["status"] == "InProgress" else _duration(a["elapsed"])
            table.add_row(cell(stage), cell(action), cell(a["status"]), cell(took),
                          cell(a.get("error")), style=STATUS_STYLE.get(a["status"] or ""))
        return table

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def outcome(result: Any) -> None:
    named = [e for e in getattr(result, "environments", []) if e.get("name")]
    if result.succeeded and named:
        done = [e for e in named if e["verified"]]
        head = ("released" if result.status == "Succeeded" else
                f"released to {done[-1]['name']}" if done else "released")
        out(f"{head}: execution {result.execution_id} "
            f"({'succeeded' if result.status == 'Succeeded' else result.status})",
            style="bold green")
        width = max(len(e["name"]) for e in named)
        for e in named:
            svc = e.get("service") or {}
            state = (f"runs {svc.get('image')} (rollout {svc.get('rollout_state')})"
                     if e["verified"] else "not deployed by this execution yet")
            out(f"  {e['name']:<{width}}  {state}")
        if result.reason:
            out(f"  note: {result.reason}")
        return
    if result.succeeded:
        svc = result.service or {}
        out(f"released: execution {result.execution_id} succeeded; the service runs "
            f"{svc.get('image')} (rollout {svc.get('rollout_state')})", style="bold green")
        if result.reason:
            out(f"  note: {result.reason}")
        return
    out(f"release failed: execution {result.execution_id} (pipeline: {result.status}): "
        f"{result.reason}", style="bold red")
    _failure_details(result)


def _failure_details(result: Any) -> None:
    """Under a failed release or rollback: the action that failed, its error, the log."""
    if result.failed_action:
        fa = result.failed_action
        out(f"  failed action: {fa['stage']}/{fa['action']}")
        if fa.get("error"):
            out(f"  error: {fa['error']}")
    if getattr(result, "log_tail", None):
        out("  last lines of the build log:")
        for line in result.log_tail:
            out(f"    {line}")


# ---- rollback --------------------------------------------------------------------


def rollback_plan(plan: Any) -> None:
    """`rollback`: what the environment runs now and what it returns to."""
    where = plan.env or "the service"
    running, to = plan.running, plan.to
    out(f"rollback of {where} (stage {plan.stage})", style="bold")
    origin = (f"execution {running['execution_id'][:8]}" if running.get("execution_id") else
              "no execution of this pipeline version")
    out(f"  runs now     commit {(running.get('commit') or '-')[:7]}  ({origin}, deployed "
        f"{_when(running.get('deployed_at'))})  {_first_line(running.get('message'))}")
    out(f"               {running.get('image') or '-'}")
    out(f"  returns to   commit {(to.get('commit') or '-')[:7]}  (execution {to['id'][:8]}, "
        f"deployed {_when(to.get('finished_at'))})  {_first_line(to.get('message'))}")
    # The image comes from ECR (rollback.py); without it, say what its tag ends with.
    image = to.get("image") or f"(an image tagged ...-{(to.get('commit') or '')[:7]})"
    out(f"               {image}")


def rolled_back(result: Any, plan: Any) -> None:
    where = plan.env or "the service"
    if result.succeeded:
        svc = result.service or {}
        out(f"rolled back: {where} runs {svc.get('image')} (commit "
            f"{(plan.to.get('commit') or '-')[:7]}, rollout {svc.get('rollout_state')}); "
            f"rollback execution {result.execution_id}", style="bold green")
        return
    out(f"rollback failed: execution {result.execution_id} (pipeline: {result.status}): "
        f"{result.reason}", style="bold red")
    _failure_details(result)
