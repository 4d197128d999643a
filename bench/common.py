"""What every part of the bench shares: paths, the demo's names, errors, formatting."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CONFIG = ROOT / "config.example.yaml"
DEFAULT_RESULTS = BENCH / "RESULTS.md"
WORK = ROOT / ".bench"  # scratch: configs, documents, cache dirs, the sandbox's log
REGION = "us-east-1"
CLUSTER = "demo-cluster"  # what the sandbox seeds (ecspipe/sandbox/seed.py)
SEEDED_SERVICE = "demo-web-service"
TASK_FAMILY = "demo-web"

READY_TIMEOUT = 90.0  # seconds for the sandbox to print its "listening" line
COMMAND_TIMEOUT = 900.0


class BenchError(Exception):
    """Something the bench cannot turn into a figure (a failed command, no sandbox)."""


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.2f} s"


def pct_over(value: float, limit: float) -> str:
    return f"{(value / limit - 1) * 100:.0f}% over"
