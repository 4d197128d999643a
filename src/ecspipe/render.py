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
        out(f"  {e['id'][:8]}  {e['status']:<11} {commit:<8} {_duration(e['duration_seconds']):>7}"
            f"  {_when(e['started_at'])}  {e['trigger'] or ''}  {message}",
            style=STATUS_STYLE.get(e["status"]))
    out("")
    out("stages", style="bold")
    newest = latest["id"] if latest else None
    for stage in data["stages"]:
        # Each stage shows its own latest run, which may belong to an older execution.
        other = stage["execution_id"] and stage["execution_id"] != newest
        origin = f"  (execution {stage['execution_id'][:8]})" if other else ""
        out(f"  {stage['name']:<8} {stage['status'] or 'not run'}{origin}",
            style=STATUS_STYLE.get(stage["status"] or ""))
        for action in stage["actions"]:
            if action["error"]:
                out(f"    {action['name']}: {action['error']}", style="red")
    out("")
    match = "matches" if s["matches_latest_success"] else "does NOT match"
    out(f"service    {s['cluster']}/{s['name']}: {s['running']}/{s['desired']} running, "
        f"rollout {s['rollout_state'] or '-'}", style="bold")
    out(f"  image    {s['image']}")
    if s["latest_success_commit"]:
        out(f"  the image {match} the latest successful execution "
            f"(commit {s['latest_success_commit'][:7]})",
            style="green" if s["matches_latest_success"] else "yellow")
    else:
        out("  no successful execution yet", style="dim")


# ---- release ---------------------------------------------------------------------


class Follower:
    """Shows a running execution: a live table on a terminal, plain lines otherwise."""

    def __init__(self, stderr: bool = False) -> None:
        self.console = console(stderr=stderr)
        self.write = err if stderr else out
        self.live: Any = None
        self.seen: dict[str, str] = {}

    def __call__(self, snap: Any) -> None:
        if self.console.is_terminal:
            from rich.live import Live

            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=4, transient=False)
                self.live.start()
            self.live.update(self._table(snap))
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
        if self.seen.get(key) != snap.status:
            self.seen[key] = snap.status
            self.write(f"{now} execution {snap.execution_id}: {snap.status} "
                       f"({_duration(snap.elapsed)})")

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
    if result.succeeded:
        svc = result.service or {}
        out(f"released: execution {result.execution_id} succeeded; the service runs "
            f"{svc.get('image')} (rollout {svc.get('rollout_state')})", style="bold green")
        if result.reason:
            out(f"  note: {result.reason}")
        return
    out(f"release failed: execution {result.execution_id} (pipeline: {result.status}): "
        f"{result.reason}", style="bold red")
    if result.failed_action:
        fa = result.failed_action
        out(f"  failed action: {fa['stage']}/{fa['action']}")
        if fa.get("error"):
            out(f"  error: {fa['error']}")
    if result.log_tail:
        out("  last lines of the build log:")
        for line in result.log_tail:
            out(f"    {line}")
