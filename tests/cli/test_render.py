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
