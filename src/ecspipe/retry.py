"""Retry exactly the errors that mean "IAM has not propagated yet", and nothing else.

botocore's standard retry mode already retries throttling, 5xx and connection
errors. What no retry mode covers (reference/aws-facts.md section 4) is AWS
refusing a role or principal it has just created elsewhere. Those are retried
for about two minutes, as terraform-provider-aws does; every other error fails
fast. Sleep, clock and randomness are injected so tests never wait.

How often: a refused role becomes usable at a moment nobody announces, typically
5-15 s after it was made. Exponential backoff would overshoot that moment by
about as long again (8 s of propagation cost ~15 s: bench/RESULTS.md, section
7), so such a wait is polled steadily, every POLL s (±10%), for its first
STEADY_FOR s, and only then backs off exponentially: ~20 refused calls per
role-using call in the typical window, few after it. Conflicts (another request
in progress: OperationAborted, ConcurrentModification) back off exponentially
with full jitter from the start, as contention wants.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ecspipe.aws import error_code, error_message

T = TypeVar("T")

# Errors of contention, not of propagation: backed off exponentially from the start.
CONTENTION = ("OperationAborted", "ConcurrentModification")
POLL = 1.0  # seconds between attempts while a new role or bucket propagates
STEADY_FOR = 20.0  # ... for this long, then exponential backoff

# (operation name or "*", error code, substring of the message or "")
PROPAGATION_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("CreateProject", "InvalidInputException", "ot authorized to perform"),
    ("UpdateProject", "InvalidInputException", "ot authorized to perform"),
    ("CreatePipeline", "InvalidStructureException", "not authorized"),
    ("UpdatePipeline", "InvalidStructureException", "not authorized"),
    ("UpdateAssumeRolePolicy", "MalformedPolicyDocument", "Invalid principal in policy"),
    # CodeStar Notifications on first use in an account, while it creates its
    # service-linked role ("... the service-linked role ... might not yet exist").
    ("CreateNotificationRule", "ConfigurationException", "service-linked role"),
    ("UpdateNotificationRule", "ConfigurationException", "service-linked role"),
    ("*", "OperationAborted", ""),
    ("*", "ConcurrentModification", ""),
)


def is_propagation_error(exc: BaseException) -> bool:
    code = error_code(exc)
    if not code:
        return False
    operation = getattr(exc, "operation_name", "")
    message = error_message(exc)
    return any(
        (op == "*" or op == operation) and code == c and sub in message
        for op, c, sub in PROPAGATION_ERRORS
    )


@dataclass
class Retrier:
    budget: float = 120.0  # seconds of retrying before giving up
    base: float = 1.0
    cap: float = 15.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    # Error codes retried too, for one caller that knows they are transient (see also()),
    # and the clock time after which no call of this retrier retries any more.
    extra_codes: tuple[str, ...] = ()
    deadline: float | None = None

    def also(self, *codes: str) -> Retrier:
        """This retrier, retrying these error codes as well, all its calls together
        within one budget from now (same sleep and clock)."""
        return replace(self, extra_codes=self.extra_codes + codes,
                       deadline=self.clock() + self.budget)

    def steady(self, waited: float, code: str) -> float | None:
        """Seconds before the next attempt while polling steadily, `waited` s after the
        first attempt failed; None once that phase is over (then: backoff())."""
        if code not in CONTENTION and waited < STEADY_FOR:
            return self.rng.uniform(0.9 * POLL, 1.1 * POLL)
        return None

    def backoff(self, n: int) -> float:
        """The n-th exponential backoff (n >= 1), "full jitter"."""
        return self.rng.uniform(0, min(self.cap, self.base * 2**n))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        deadline = self.clock() + self.budget
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        backoffs = 0
        first_failure: float | None = None
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_propagation_error(exc) and error_code(exc) not in self.extra_codes:
                    raise
                now = self.clock()
                first_failure = now if first_failure is None else first_failure
                delay = self.steady(now - first_failure, error_code(exc))
                if delay is None:
                    backoffs += 1
                    delay = self.backoff(backoffs)
                if now + delay > deadline:
                    raise
                self.sleep(delay)
