"""Knobs of the sandbox's behaviour, shared by every extension.

The clock is injected: the server uses wall time, the tests a ManualClock they
advance, so simulated progress (connection handshakes, pipeline stages) is
deterministic in tests and never needs a sleep.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass
class Settings:
    clock: SystemClock | ManualClock = field(default_factory=SystemClock)
    # Seconds after creation when a PENDING connection becomes AVAILABLE, as if a
    # person completed the GitHub handshake in the console. None: stays PENDING.
    handshake_delay: float | None = 3.0
    # Seconds each pipeline stage takes in a simulated execution.
    stage_seconds: dict[str, float] = field(
        default_factory=lambda: {"Source": 1.0, "Build": 3.0, "Deploy": 3.0}
    )
    # Name of a stage whose action fails in every execution ("Source", "Build",
    # "Deploy"), or None. Rollback executions (which redeploy an earlier success)
    # are spared, so a stage that rolls back on failure returns to the old image.
    fail_stage: str | None = None
    # When True, the ECS deployment started by the Deploy stage is rolled back by
    # the circuit breaker (the pipeline action still reports success, as in AWS).
    rollback: bool = False
    # The message of every commit the simulated source finds (None: "Update <repo>
    # (#N)"). Whoever can push writes it; tests and demos of hostile text set it,
    # and a failing build prints it as the name of its failing test.
    commit_message: str | None = None
    # Seconds after CreateRole (or UpdateAssumeRolePolicy) during which CodeBuild and
    # CodePipeline refuse the role, as IAM propagation makes AWS do (propagation.py).
    # 0: off, the default everywhere but the bench.
    role_propagation: float = 0.0


SETTINGS = Settings()


def reset(**overrides: object) -> Settings:
    """Restore defaults (then apply overrides) in place, so every importer sees them."""
    fresh = Settings(**overrides)  # type: ignore[arg-type]
    for name in fresh.__dataclass_fields__:
        setattr(SETTINGS, name, getattr(fresh, name))
    return SETTINGS
