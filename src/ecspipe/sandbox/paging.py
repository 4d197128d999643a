"""Pages of a list answer, as AWS's List*/Describe* operations give them.

An AWS page token is opaque to the client and names where the next page starts;
a client that keeps paging sees every item once, even while new items arrive at
the head of a newest-first list (a new pipeline execution must not shift the
next page by one, as an offset would). So a token here is a cursor: the key of
the first item of the next page, base64url-encoded (it fits every token
pattern of the models, e.g. IAM's `[\\u0020-\\u00FF]+`). A token that names no
item (forged, or its item is gone) is refused with the operation's own error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_PREFIX = "ecspipe:"


def encode(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode()).decode()


def decode(token: str) -> str | None:
    """The cursor a token names, or None if it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text[len(_PREFIX):] if text.startswith(_PREFIX) else None


def page(
    items: Sequence[T],
    size: int,
    token: str | None,
    key: Callable[[T], str],
    invalid: Callable[[], Exception],
) -> tuple[list[T], str | None]:
    """(this page, the token of the next one or None); raises invalid() for a bad token."""
    start = 0
    if token:
        cursor = decode(token)
        start = next((i for i, item in enumerate(items) if key(item) == cursor), -1)
        if cursor is None or start < 0:
            raise invalid()
    end = start + max(int(size), 1)
    return list(items[start:end]), encode(key(items[end])) if end < len(items) else None
