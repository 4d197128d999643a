"""What `release --wait` shows while it follows a run (no AWS needed)."""

from __future__ import annotations

from ecspipe import render
from ecspipe.release import Snapshot

LAYOUT = [("Source", "Source"), ("Build", "Build"), ("Deploy", "Deploy")]


def _snap(status: str, elapsed: float, *actions: tuple[str, str, float | None]) -> Snapshot:
    return Snapshot(
        "exec-1", status, elapsed,
        [{"stage": n, "action": n, "status": s, "elapsed": e, "error": None}
         for n, s, e in actions],
        layout=LAYOUT,
    )


def test_plain_lines_report_each_change_once_in_order_with_durations(capsys):
    follower = render.Follower()
    follower(_snap("InProgress", 0, ("Source", "InProgress", 0)))
    follower(_snap("InProgress", 3, ("Source", "InProgress", 0)))  # nothing new
    follower(_snap("InProgress", 6, ("Source", "Succeeded", 1), ("Build", "InProgress", 0)))
    follower(_snap("Failed", 9, ("Source", "Succeeded", 1), ("Build", "Failed", 3)))
    follower.close()
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "execution exec-1: InProgress",
        "  Source/Source: InProgress",
        "  Source/Source: Succeeded (1s)",
        "  Build/Build: InProgress",
        "  Build/Build: Failed (3s)",
        "execution exec-1: Failed (9s)",
    ]


def test_the_live_table_lists_stages_that_have_not_started():
    from rich.console import Console

    table = render.Follower()._table(
        _snap("InProgress", 4, ("Source", "Succeeded", 1), ("Build", "InProgress", 0)))
    console = Console(width=100, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "Deploy" in text and "waiting" in text
    assert "InProgress" in text and "…" in text


def test_literal_makes_controls_and_invisible_format_characters_visible():
    text = "a\x1b[31mb\x9bc\x00\x7f\u202e\u2066\u200b\ufeff\u2028\U000e0041\r\n\td"
    assert render.literal(text) == (
        "a\\x1b[31mb\\x9bc\\x00\\x7f\\u202e\\u2066\\u200b\\ufeff\\u2028\\U000e0041\n\td")
    assert render.literal("lone \udce9") == "lone \\udce9"
    assert render.literal("a\rb") == "a\\x0db"


def test_literal_keeps_every_printable_script_and_the_joiners():
    text = "日本語 Ελληνικά עברית العربية हिन्दी 👨\u200d👩\u200d👧 ‌ü\u0301 [bold]x[/] :smile:"
    assert render.literal(text) == text


def test_a_hostile_cell_in_the_live_table_is_shown_as_written():
    from rich.console import Console

    error = "[/x] [link=http://evil]y[/link] :warning: \x1b]8;;http://evil\x07z"
    snap = _snap("Failed", 4, ("Source", "Failed", 1))
    snap.actions[0]["error"] = error
    console = Console(width=200, record=True, force_terminal=True)
    console.print(render.Follower()._table(snap))
    text = console.export_text()
    assert "[/x] [link=http://evil]y[/link] :warning: \\x1b]8;;http://evil\\x07z" in text
