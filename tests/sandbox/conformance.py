"""Does a raw AWS response match botocore's model of it? A validator for the sandbox.

botocore's parsers are lenient on purpose: they skip keys they do not know,
accept an ISO string where the JSON protocol has epoch seconds, and never look
at `required`, `enum`, `min`/`max` or `pattern` in an output. So a sandbox
answer can be wrong in ways no client notices until it meets real AWS, or a
stricter SDK. This module checks the raw body (bytes as they came off the wire,
before botocore parsed them) against the operation's output shape:

- required members present; no member the shape does not have (no unknown keys);
  no JSON `null` (AWS leaves an absent member out);
- types: string, boolean, integer/long (an int, within min/max), float/double,
  timestamp (JSON protocols: epoch seconds as a number, unless the member says
  `timestampFormat`; XML: ISO 8601), blob (base64), list, map, structure, union
  (exactly one member);
- strings: `enum` values, length `min`/`max`, `pattern` (matched against the
  whole string, as AWS applies it);
- lists and maps: length `min`/`max`;
- the Content-Type the protocol prescribes (`application/x-amz-json-1.0`/`1.1`
  for awsJson, XML for query and rest-xml);
- errors (status >= 300): a JSON error names a `__type` and, when the service
  models that error, carries only its members.

Protocols: json (awsJson 1.0/1.1), rest-json, query (IAM, STS) and rest-xml
(S3: header-located members are read from the headers, a streaming or string
payload is not parsed). The model is botocore's own (a fresh loader, not
ecspipe's compact cache), resolved to the protocol botocore actually speaks.

Use: register `Recorder().hook` on `before-parse.*.*` of any botocore client
(ecspipe's `client_hooks` do that for the CLI's clients), run something, then
`validate_all(recorder.responses)`; or call `validate()` on one response.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

try:  # AWS patterns are Java regexes: \p{L} etc. need the `regex` module
    import regex as _regex
except ImportError:  # pragma: no cover - depends on the environment
    _regex = None


@dataclass(frozen=True)
class Problem:
    service: str
    operation: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.path}: {self.message}"


@dataclass
class Response:
    """One raw response: what the validator needs, as botocore's before-parse saw it."""

    service: str  # botocore's service name: "codepipeline", "s3", ...
    operation: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    streaming: bool = False  # a streaming output: the body was not read

    @property
    def key(self) -> tuple[str, str]:
        return (self.service, self.operation)


class Recorder:
    """A botocore `before-parse.*.*` handler that keeps every raw response (thread-safe)."""

    EVENT = "before-parse.*.*"

    def __init__(self) -> None:
        self.responses: list[Response] = []
        self._lock = threading.Lock()

    def hook(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        body = response_dict.get("body")
        streaming = not isinstance(body, bytes | bytearray)
        response = Response(
            service=operation_model.service_model.service_name,
            operation=operation_model.name,
            status=int(response_dict.get("status_code") or 0),
            headers=dict(response_dict.get("headers") or {}),
            body=b"" if streaming else bytes(body or b""),
            streaming=streaming,
        )
        with self._lock:
            self.responses.append(response)

    def operations(self) -> set[tuple[str, str]]:
        with self._lock:
            return {r.key for r in self.responses}

    def clear(self) -> None:
        with self._lock:
            self.responses.clear()


# --- models -----------------------------------------------------------------------------


@functools.cache
def _session() -> Any:
    import botocore.session

    return botocore.session.Session()  # botocore's own loader: its files as shipped


@functools.cache
def service_model(service: str) -> Any:
    return _session().get_service_model(service)


def _protocol(model: Any) -> str:
    return getattr(model, "resolved_protocol", None) or model.protocol


# --- entry points -----------------------------------------------------------------------


def validate(response: Response, model: Any | None = None) -> list[Problem]:
    """Every way `response` departs from its operation's model (empty: it conforms)."""
    model = model or service_model(response.service)
    checker = _Checker(model, response)
    checker.run()
    return checker.problems


def validate_all(responses: Iterable[Response]) -> list[Problem]:
    """Problems of many responses, each distinct problem once."""
    seen: dict[Problem, None] = {}
    for response in responses:
        for problem in validate(response):
            seen.setdefault(problem, None)
    return list(seen)


# --- the checks -------------------------------------------------------------------------

_JSON_TYPES = {"json": None, "rest-json": "application/json"}
_ISO8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"
)


@functools.cache
def _pattern(pattern: str) -> Any:
    if _regex is not None:
        return _regex.compile(pattern)
    # Approximate the Unicode classes `re` lacks (letters, numbers, separators).
    approximated = pattern.replace(r"\p{L}", r"\w").replace(r"\p{N}", r"\d")
    return re.compile(approximated.replace(r"\p{Z}", r"\s"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


class _Checker:
    def __init__(self, model: Any, response: Response) -> None:
        self.model = model
        self.response = response
        self.protocol = _protocol(model)
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(
            Problem(self.response.service, self.response.operation, path or "$", message)
        )

    # --- dispatch

    def run(self) -> None:
        try:
            operation = self.model.operation_model(self.response.operation)
        except Exception:  # noqa: BLE001
            self.problem("$", "no such operation in the botocore model")
            return
        if self.response.status >= 300:
            self.check_error(operation)
            return
        shape = operation.output_shape
        self.check_content_type(shape)
        if self.protocol in _JSON_TYPES:
            self.check_json_response(shape)
        elif self.protocol in ("query", "ec2"):
            self.check_query_response(operation, shape)
        elif self.protocol == "rest-xml":
            self.check_rest_xml_response(shape)
        else:
            self.problem("$", f"protocol {self.protocol} is not supported by the validator")

    def check_content_type(self, shape: Any) -> None:
        if not self.response.body or self.response.streaming or shape is None:
            return  # (a body where no output is due is reported on its own)
        if self._raw_payload(shape):
            return  # a payload the operation itself types (a policy, an object)
        got = (_header(self.response.headers, "Content-Type") or "").split(";")[0].strip()
        if self.protocol == "json":
            want = f"application/x-amz-json-{self.model.metadata.get('jsonVersion', '1.0')}"
            if got != want:
                self.problem("Content-Type", f"is {got or 'absent'!r}; the protocol says {want!r}")
        elif self.protocol == "rest-json":
            if got != "application/json":
                self.problem("Content-Type", f"is {got or 'absent'!r}; want 'application/json'")
        elif got not in ("text/xml", "application/xml"):
            self.problem("Content-Type", f"is {got or 'absent'!r}; want XML")

    def _raw_payload(self, shape: Any) -> bool:
        payload = shape.serialization.get("payload")
        return bool(payload) and shape.members[payload].type_name in ("blob", "string")

    # --- JSON

    def _json_body(self) -> Any:
        body = self.response.body
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except ValueError as exc:
            self.problem("$", f"body is not JSON ({exc}): {body[:120]!r}")
            return None

    def check_json_response(self, shape: Any) -> None:
        body = self._json_body()
        if body is None:
            return
        if shape is None:
            if body not in ({}, None):
                self.problem("$", f"the operation has no output, yet the body is {body!r:.120}")
            return
        payload = shape.serialization.get("payload")
        if payload:
            if not self._raw_payload(shape):
                self.json_value(shape.members[payload], body, payload)
            return
        body_members = {
            name: member
            for name, member in shape.members.items()
            if member.serialization.get("location") is None
        }
        self.check_header_members(shape)
        self.json_structure(shape, body, "", members=body_members)

    def json_value(self, shape: Any, value: Any, path: str) -> None:
        if value is None:
            self.problem(path, "is null (AWS omits an absent member)")
            return
        kind = shape.type_name
        if kind == "structure":
            self.json_structure(shape, value, path)
        elif kind == "list":
            if not isinstance(value, list):
                self.problem(path, f"is {type(value).__name__}, want a list")
                return
            self.check_size(shape, len(value), path, "items")
            for index, item in enumerate(value):
                self.json_value(shape.member, item, f"{path}[{index}]")
        elif kind == "map":
            if not isinstance(value, dict):
                self.problem(path, f"is {type(value).__name__}, want a map")
                return
            self.check_size(shape, len(value), path, "entries")
            for key, item in value.items():
                self.json_value(shape.key, key, f"{path}.<key {key!r}>")
                self.json_value(shape.value, item, f"{path}[{key!r}]")
        elif kind == "timestamp":
            self.json_timestamp(shape, value, path)
        elif kind == "blob":
            if not isinstance(value, str):
                self.problem(path, f"is {type(value).__name__}, want base64 text")
            else:
                try:
                    base64.b64decode(value, validate=True)
                except ValueError:
                    self.problem(path, "is not base64")
        else:
            self.scalar(shape, value, path)

    def json_structure(
        self, shape: Any, value: Any, path: str, members: dict[str, Any] | None = None
    ) -> None:
        if not isinstance(value, dict):
            self.problem(path, f"is {type(value).__name__}, want an object ({shape.name})")
            return
        members = shape.members if members is None else members
        by_wire = {m.serialization.get("name", name): (name, m) for name, m in members.items()}
        if shape.metadata.get("union"):
            present = [k for k, v in value.items() if v is not None]
            if len(present) != 1:
                self.problem(path, f"union {shape.name} has {len(present)} members set, want 1")
        for required in shape.required_members:
            member = shape.members[required]
            if required in members and member.serialization.get("name", required) not in value:
                self.problem(_join(path, required), f"required member of {shape.name} is missing")
        for key, item in value.items():
            if key not in by_wire:
                self.problem(_join(path, key), f"is not a member of {shape.name}")
                continue
            self.json_value(by_wire[key][1], item, _join(path, key))

    def json_timestamp(self, shape: Any, value: Any, path: str) -> None:
        fmt = shape.serialization.get("timestampFormat") or "unixTimestamp"
        if fmt == "unixTimestamp":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problem(
                    path, f"is {value!r:.40}: the JSON protocol sends timestamps as epoch seconds"
                )
            elif not math.isfinite(value):
                self.problem(path, f"is {value!r}, not a finite number")
        elif fmt == "iso8601":
            if not isinstance(value, str) or not _ISO8601.fullmatch(value):
                self.problem(path, f"is {value!r:.40}, want an ISO 8601 timestamp")
        elif not isinstance(value, str):  # rfc822
            self.problem(path, f"is {value!r:.40}, want an RFC 822 timestamp")

    # --- scalars and sizes (both protocols)

    def scalar(self, shape: Any, value: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "string":
            if not isinstance(value, str):
                self.problem(path, f"is {type(value).__name__} {value!r:.40}, want a string")
                return
            enum = shape.metadata.get("enum")
            if enum and value not in enum:
                self.problem(path, f"{value!r} is not one of {shape.name}'s values {enum}")
            self.check_size(shape, len(value), path, "characters")
            pattern = shape.metadata.get("pattern")
            if pattern and not _pattern(pattern).fullmatch(value):
                self.problem(path, f"{value!r:.80} does not match {shape.name}'s pattern {pattern}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.problem(path, f"is {value!r:.40}, want true or false")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem(path, f"is {value!r:.40}, want an integer")
                return
            self.check_range(shape, value, path)
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problem(path, f"is {value!r:.40}, want a number")
                return
            self.check_range(shape, value, path)
        elif kind == "document":
            return
        else:
            self.problem(path, f"has a type the validator does not know: {kind}")

    def check_size(self, shape: Any, size: int, path: str, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.problem(path, f"has {size} {unit}; {shape.name} has at least {low}")
        if high is not None and size > high:
            self.problem(path, f"has {size} {unit}; {shape.name} has at most {high}")

    def check_range(self, shape: Any, value: float, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.problem(path, f"is {value}; {shape.name} is at least {low}")
        if high is not None and value > high:
            self.problem(path, f"is {value}; {shape.name} is at most {high}")

    # --- headers (rest protocols)

    def check_header_members(self, shape: Any) -> None:
        for name, member in shape.members.items():
            if member.serialization.get("location") != "header":
                continue
            value = _header(self.response.headers, member.serialization.get("name", name))
            if value is None:
                if name in shape.required_members:
                    self.problem(f"<header {name}>", "required header member is missing")
                continue
            self.text_value(member, value, f"<header {name}>", header=True)

    # --- XML

    def _xml_root(self) -> Any:
        try:
            return ElementTree.fromstring(self.response.body)
        except ElementTree.ParseError as exc:
            self.problem("$", f"body is not XML ({exc}): {self.response.body[:120]!r}")
            return None

    def check_query_response(self, operation: Any, shape: Any) -> None:
        root = self._xml_root()
        if root is None:
            return
        name = operation.name
        if _tag(root) != f"{name}Response":
            self.problem("$", f"root element is <{_tag(root)}>, want <{name}Response>")
        wrapper = operation.output_shape.serialization.get("resultWrapper") if shape else None
        result = None
        for child in root:
            tag = _tag(child)
            if tag == "ResponseMetadata":
                continue
            if wrapper and tag == wrapper:
                result = child
                continue
            self.problem(tag, f"unexpected element in <{name}Response>")
        if shape is None or not shape.members:
            return
        if result is None:
            if shape.required_members:
                self.problem(wrapper or "$", f"missing <{wrapper}>, which holds required members")
            return
        self.xml_structure(shape, result, "")

    def check_rest_xml_response(self, shape: Any) -> None:
        if shape is None:
            if self.response.body.strip():
                self.problem("$", "the operation has no output, yet there is a body")
            return
        self.check_header_members(shape)
        payload = shape.serialization.get("payload")
        if payload and self._raw_payload(shape):
            return  # the body is the member itself (a policy document, an object's bytes)
        if not self.response.body.strip():
            body_members = [
                n for n, m in shape.members.items() if m.serialization.get("location") is None
            ]
            missing = [n for n in shape.required_members if n in body_members]
            if missing:
                self.problem("$", f"no body, yet required members {missing} belong in it")
            return
        root = self._xml_root()
        if root is None:
            return
        if payload:
            self.xml_value(shape.members[payload], root, payload)
        else:
            self.xml_structure(shape, root, "", body_only=True)

    def xml_structure(self, shape: Any, node: Any, path: str, body_only: bool = False) -> None:
        members = {
            name: member
            for name, member in shape.members.items()
            if not (body_only and member.serialization.get("location"))
            and not member.serialization.get("xmlAttribute")
        }
        by_tag = {_xml_name(m, name): (name, m) for name, m in members.items()}
        groups: dict[str, list[Any]] = {}
        for child in node:
            groups.setdefault(_tag(child), []).append(child)
        for required in shape.required_members:
            if required in members and _xml_name(members[required], required) not in groups:
                self.problem(_join(path, required), f"required member of {shape.name} is missing")
        for tag, children in groups.items():
            if tag not in by_tag:
                self.problem(_join(path, tag), f"is not a member of {shape.name}")
                continue
            name, member = by_tag[tag]
            flattened = member.serialization.get("flattened")
            if flattened and member.type_name in ("list", "map"):
                self.xml_flattened(member, children, _join(path, name))
                continue
            if len(children) > 1:
                self.problem(_join(path, name), f"appears {len(children)} times")
            self.xml_value(member, children[0], _join(path, name))

    def xml_flattened(self, shape: Any, nodes: list[Any], path: str) -> None:
        self.check_size(shape, len(nodes), path, "items")
        for index, node in enumerate(nodes):
            if shape.type_name == "list":
                self.xml_value(shape.member, node, f"{path}[{index}]")
            else:
                self.xml_entry(shape, node, f"{path}[{index}]")

    def xml_entry(self, shape: Any, node: Any, path: str) -> None:
        key_name = shape.key.serialization.get("name") or "key"
        value_name = shape.value.serialization.get("name") or "value"
        tags = [_tag(c) for c in node]
        if sorted(tags) != sorted([key_name, value_name]):
            self.problem(path, f"map entry has {tags}, want <{key_name}> and <{value_name}>")
        for child in node:
            if _tag(child) == key_name:
                self.xml_value(shape.key, child, f"{path}.<key>")
            elif _tag(child) == value_name:
                self.xml_value(shape.value, child, f"{path}.<value>")

    def xml_value(self, shape: Any, node: Any, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.xml_structure(shape, node, path)
        elif kind == "list":
            member_tag = shape.member.serialization.get("name") or "member"
            items = list(node)
            self.check_size(shape, len(items), path, "items")
            for index, item in enumerate(items):
                if _tag(item) != member_tag:
                    self.problem(f"{path}[{index}]", f"is <{_tag(item)}>, want <{member_tag}>")
                self.xml_value(shape.member, item, f"{path}[{index}]")
        elif kind == "map":
            entries = list(node)
            self.check_size(shape, len(entries), path, "entries")
            for index, entry in enumerate(entries):
                if _tag(entry) != "entry":
                    self.problem(f"{path}[{index}]", f"is <{_tag(entry)}>, want <entry>")
                self.xml_entry(shape, entry, f"{path}[{index}]")
        else:
            if len(node):
                self.problem(path, f"has child elements, want a {kind}")
                return
            self.text_value(shape, node.text or "", path)

    def text_value(self, shape: Any, text: str, path: str, header: bool = False) -> None:
        """A scalar written as text (XML element or HTTP header)."""
        kind = shape.type_name
        if kind == "string":
            self.scalar(shape, text, path)
        elif kind == "boolean":
            if text not in ("true", "false"):
                self.problem(path, f"is {text!r:.40}, want true or false")
        elif kind in ("integer", "long"):
            if not re.fullmatch(r"-?\d+", text.strip()):
                self.problem(path, f"is {text!r:.40}, want an integer")
            else:
                self.check_range(shape, int(text), path)
        elif kind in ("float", "double"):
            try:
                self.check_range(shape, float(text), path)
            except ValueError:
                self.problem(path, f"is {text!r:.40}, want a number")
        elif kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat") or ("rfc822" if header else "iso8601")
            if fmt == "iso8601" and not _ISO8601.fullmatch(text.strip()):
                self.problem(path, f"is {text!r:.40}, want an ISO 8601 timestamp")
            elif fmt == "unixTimestamp" and not re.fullmatch(r"\d+(\.\d+)?", text.strip()):
                self.problem(path, f"is {text!r:.40}, want epoch seconds")
        elif kind == "blob":
            try:
                base64.b64decode(text, validate=True)
            except ValueError:
                self.problem(path, "is not base64")
        else:
            self.problem(path, f"has a type the validator does not know: {kind}")

    # --- errors

    def check_error(self, operation: Any) -> None:
        if self.protocol in _JSON_TYPES:
            self.check_json_error()
        elif self.response.body.strip():
            root = self._xml_root()
            if root is not None and root.find(".//{*}Code") is None and root.find(".//Code") is None:
                self.problem("$", "an XML error without <Code>")

    def check_json_error(self) -> None:
        body = self._json_body()
        if not isinstance(body, dict):
            if body is not None:
                self.problem("$", f"an error body that is not an object: {body!r:.80}")
            return
        code = body.get("__type") or _header(self.response.headers, "x-amzn-ErrorType") or ""
        code = str(code).split(":")[0].rsplit("#", 1)[-1]
        if not code:
            self.problem("__type", "an error without __type (nor x-amzn-ErrorType)")
            return
        try:
            shape = self.model.shape_for(code)
        except Exception:  # noqa: BLE001 - not modelled: no members to check against
            shape = None
        if shape is None or not shape.metadata.get("exception"):
            return
        # Every awsJson error carries its message, modelled or not (botocore reads
        # `message` and `Message`); anything else must be a member of the error.
        members = {n.lower() for n in shape.members} | {"message"}
        for key in body:
            if key != "__type" and key.lower() not in members:
                self.problem(key, f"is not a member of the error {code}")


def _tag(node: Any) -> str:
    return re.sub(r"^\{.*?\}", "", node.tag)


def _xml_name(shape: Any, member_name: str) -> str:
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        name = shape.member.serialization.get("name")
        if name:
            return str(name)
    return str(shape.serialization.get("name") or member_name)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
