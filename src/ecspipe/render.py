"""All output. Data goes to stdout, progress and messages to stderr; nothing else prints.

rich is imported here only, and only when something is printed, so importing
the CLI stays cheap. JSON output is plain `json.dumps`, never styled.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

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


def console(stderr: bool = False) -> Any:
    key = "err" if stderr else "out"
    if key not in _consoles:
        from rich.console import Console

        _consoles[key] = Console(stderr=stderr, highlight=False, soft_wrap=True)
    return _consoles[key]


def reset_consoles() -> None:
    """Forget cached consoles (their streams change under click's CliRunner)."""
    _consoles.clear()


def out(text: str = "", style: str | None = None) -> None:
    console().print(text, style=style, markup=False)


def err(text: str, style: str | None = None) -> None:
    console(stderr=True).print(text, style=style, markup=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
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
        "absent": "absent",
    }
    parts = [f"{counts[k]} {words[k]}" for k in order if counts.get(k)]
    head = "Result" if applied else ("Teardown plan" if teardown else "Plan")
    if not any(counts.get(k) for k in ("create", "update", "delete")):
        parts.insert(0, "no changes")
    out(f"{head}: " + ", ".join(parts) + ".", style="bold")


def progress(event: str, change: Change) -> None:
    if event in ("applying", "deleting"):
        verb = {"create": "creating", "update": "updating", "delete": "deleting"}[change.action]
        err(f"{verb} {change.kind} {change.name} …", style="dim")
