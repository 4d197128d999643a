"""The awsJson protocol as AWS speaks it, for every JSON service the sandbox serves.

moto writes most JSON answers with `json.dumps` and no Content-Type (the
server then says `text/html`), or serializes with the first protocol a model
lists (CodeBuild's and CodePipeline's is CBOR, so it says `text`). Its answers
also carry `"nextToken": null` (AWS leaves an absent member out) and ISO 8601
strings where awsJson has epoch seconds (CodePipeline's GetPipeline and
ListPipelines, among others). botocore parses all of that, so nothing notices,
until a stricter client or real AWS does.

"Amazon Web Services JSON 1.0/1.1 protocol" (Smithy's aws.protocols#awsJson1_0
and awsJson1_1) is what this follows:
- a response's Content-Type is `application/x-amz-json-1.0` or `-1.1`, the
  version the request was sent with;
- a timestamp without a `timestampFormat` is epoch seconds, a JSON number;
- a member with no value is left out (botocore never sends, nor expects, null).

`install()` wraps moto's `BaseResponse.call_action`, the one place every JSON
request passes in mock mode and in server mode alike. It changes only what the
protocol fixes: the Content-Type, and, guided by the operation's output shape,
structure members that are null (dropped) and timestamps that are ISO strings
(made epoch numbers). Anything else in the body is left as the handler wrote it;
tests/sandbox/test_conformance.py checks the whole answer against the model.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

_MARK = "__ecspipe_protocol__"
_JSON_CONTENT_TYPE = "application/x-amz-json-"


@functools.cache
def _output_shape(service: str, operation: str) -> Any:
    from moto.core.utils import get_service_model

    try:
        return get_service_model(service).operation_model(operation).output_shape
    except Exception:  # noqa: BLE001 - not a botocore operation (the sandbox's own)
        return None


def _epoch(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # moto's naive datetimes are UTC
    return parsed.timestamp()


def conform(shape: Any, value: Any) -> Any:
    """`value` with null structure members dropped and ISO timestamps made epoch seconds."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        return {
            key: conform(members.get(key), item)
            for key, item in value.items()
            if not (item is None and key in members)
        }
    if kind == "list" and isinstance(value, list):
        return [conform(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: conform(shape.value, item) for key, item in value.items()}
    epoch_seconds = (shape.serialization.get("timestampFormat") or "unixTimestamp") == (
        "unixTimestamp"
    )
    if kind == "timestamp" and isinstance(value, str) and epoch_seconds:
        epoch = _epoch(value)
        return value if epoch is None else epoch
    return value


def _json_version(request_headers: Any) -> str | None:
    """The awsJson Content-Type of a JSON-protocol request, or None for other protocols."""
    if not request_headers.get("X-Amz-Target"):
        return None
    content_type = (request_headers.get("Content-Type") or "").split(";")[0].strip()
    return content_type if content_type.startswith(_JSON_CONTENT_TYPE) else None


def _set_content_type(headers: dict[str, Any], value: str) -> None:
    for key in [k for k in headers if k.lower() == "content-type"]:
        del headers[key]
    headers["Content-Type"] = value


def _call_action(original: Any) -> Any:
    def call_action(self: Any) -> Any:
        status, headers, body = original(self)
        content_type = _json_version(self.headers)
        if content_type is None:
            return status, headers, body
        _set_content_type(headers, content_type)
        if int(status) < 300 and isinstance(body, str | bytes) and body.strip():
            shape = _output_shape(self.boto3_service_name, self._get_action())
            if shape is not None:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    return status, headers, body
                body = json.dumps(conform(shape, parsed))
        return status, headers, body

    return call_action


def install() -> None:
    """Wrap moto's BaseResponse.call_action. Idempotent."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action
    if getattr(original, _MARK, False):
        return
    wrapper = functools.wraps(original)(_call_action(original))
    setattr(wrapper, _MARK, True)
    BaseResponse.call_action = wrapper  # type: ignore[method-assign]
