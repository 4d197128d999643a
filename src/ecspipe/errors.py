"""One exception hierarchy for everything ecspipe reports to a user.

Each error carries its exit code and an optional hint (the fix). The CLI maps
them to output and exit codes at the boundary; library code only raises.
Exit codes: 1 = AWS/runtime failure, 2 = user error (config, flag, missing
resource the user must create, a resource ecspipe does not own).
"""

from __future__ import annotations


class EcspipeError(Exception):
    """Base of every error ecspipe expects and explains."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems: list[str] = []  # one line each, shown under the message


class UserError(EcspipeError):
    """The user must change something: config, flags, or their AWS account. Exit 2."""

    exit_code = 2


class ConfigError(UserError):
    """The configuration file is unreadable or invalid; `problems` lists every one."""

    def __init__(self, message: str, problems: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.problems = problems or []


class NotOwnedError(UserError):
    """A resource with ecspipe's name exists without ecspipe's ownership tags."""


class AwsError(EcspipeError):
    """AWS refused or failed a request ecspipe could not recover from. Exit 1."""


class RunFailed(EcspipeError):
    """A pipeline execution failed, was stopped, rolled back or timed out. Exit 1."""
