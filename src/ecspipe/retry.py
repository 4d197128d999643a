"""Retry exactly the errors that mean "IAM has not propagated yet", and nothing else.

botocore's standard retry mode already retries throttling, 5xx and connection
errors. What no retry mode covers (reference/aws-facts.md section 4) is AWS
refusing a role or principal it has just created elsewhere. Those are retried
with jittered exponential backoff for about two minutes, as
terraform-provider-aws does; every other error fails fast. Sleep, clock and
randomness are injected so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ecspipe.aws import error_code, error_message

T = TypeVar("T")

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

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        deadline = self.clock() + self.budget
        if self.deadline is not None:
            deadline = min(deadline, self.deadline)
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_propagation_error(exc) and error_code(exc) not in self.extra_codes:
                    raise
                attempt += 1
                # "full jitter" backoff, bounded by the remaining budget
                delay = self.rng.uniform(0, min(self.cap, self.base * 2**attempt))
                if self.clock() + delay > deadline:
                    raise
                self.sleep(delay)
