"""Independent AWS requests at once: one round trip for all of them, not one each.

On a real network every request costs a round trip (30-150 ms from a laptop to a
region); `status`, `approve` and each refresh of `release --wait` make their
independent reads in one round, then what needs their answers in a second. The
clients are thread-safe and their pools are sized for this (aws.Aws).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# A round is a handful of reads (pipeline, state, executions, one per cluster...).
MAX_AT_ONCE = 10


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run every call at once and return their results in order; the first call's error
    (in the order given) is raised once all have finished."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=min(MAX_AT_ONCE, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]
