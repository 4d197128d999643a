"""Errors the sandbox's extensions answer with, as AWS's JSON protocols do.

moto's JsonRESTError serialises `{"__type": code, "message": ...}`; an error class
here is named like the AWS error code it stands for, so `class ConflictException
(AwsJsonError)` answers `__type: ConflictException` (HTTP 400 unless it says).
"""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError


class AwsJsonError(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__(type(self).__name__, message)
