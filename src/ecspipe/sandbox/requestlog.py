"""The sandbox server's request log: which AWS operations reached it, reads and writes.

`RequestLogMiddleware` wraps moto's WSGI app. For every request it records
`{"service", "operation", "kind", "status"}`, in the order the responses were
produced, before the response reaches the client (so a client that has its
answer always finds its request in the log). It also answers the sandbox's own
control endpoints, which are never logged:

    GET    /_ecspipe/requests   {"requests": [...]}, oldest first
    DELETE /_ecspipe/requests   clears the log
    POST   /_ecspipe/reset      calls the reset hook (server.py), then clears the log

How a request is named (`classify`):

  service    the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`
             in the Authorization header, or `X-Amz-Credential` of a presigned URL);
             "moto-api" for moto's own /moto-api/ endpoints; else "unknown".
  operation  JSON protocols: the `X-Amz-Target` header after its last '.';
             RPCv2 CBOR: the path `/service/<Service>/operation/<Operation>`;
             query protocols (IAM, STS, EC2): the `Action` parameter of the query
             string or of a form-encoded body (buffered and handed on intact);
             S3 (REST): from the method and the sub-resource in the query string
             (`S3_OPERATIONS`); else "METHOD ?subresource" or "METHOD".
  kind       "read" or "write". S3 and requests without an operation name: by
             method (GET and HEAD read). Others: by the operation's name (Get,
             Describe, List, BatchGet, Head read; everything else writes).

The log is thread-safe (the server is threaded) and bounded: past `MAXLEN`
entries the oldest are dropped.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote

MAXLEN = 100_000
READ, WRITE = "read", "write"
READ_PREFIXES = ("Get", "Describe", "List", "BatchGet", "Head")

REQUESTS_PATH = "/_ecspipe/requests"
RESET_PATH = "/_ecspipe/reset"
CONTROL_PREFIX = "/_ecspipe/"

Entry = dict[str, Any]
Environ = dict[str, Any]
StartResponse = Callable[..., Any]

_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")
_RPC_V2_PATH_RE = re.compile(r"/service/[^/]+/operation/([A-Za-z0-9]+)/?$")
# Virtual-hosted S3: <bucket>.s3.<region>.amazonaws.com, or <bucket>.localhost as
# SDKs send it to a localhost endpoint.
_S3_HOST_RE = re.compile(
    r"^(?P<bucket>.+)\.(?:s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com|localhost)(?::\d+)?$"
)

# --- S3 -------------------------------------------------------------------------------

BUCKET, OBJECT = "bucket", "object"

# (level, method, sub-resource) -> operation, after botocore's S3 model (requestUri).
# A sub-resource of None: no sub-resource in the query string.
S3_OPERATIONS: dict[tuple[str, str, str | None], str] = {
    (BUCKET, "HEAD", None): "HeadBucket",
    (BUCKET, "PUT", None): "CreateBucket",
    (BUCKET, "DELETE", None): "DeleteBucket",
    (BUCKET, "GET", None): "ListObjects",  # ListObjectsV2 with list-type=2
    (BUCKET, "GET", "versions"): "ListObjectVersions",
    (BUCKET, "GET", "uploads"): "ListMultipartUploads",
    (BUCKET, "GET", "location"): "GetBucketLocation",
    (BUCKET, "GET", "policyStatus"): "GetBucketPolicyStatus",
    (BUCKET, "POST", "delete"): "DeleteObjects",
    (BUCKET, "GET", "versioning"): "GetBucketVersioning",
    (BUCKET, "PUT", "versioning"): "PutBucketVersioning",
    (BUCKET, "GET", "lifecycle"): "GetBucketLifecycleConfiguration",
    (BUCKET, "PUT", "lifecycle"): "PutBucketLifecycleConfiguration",
    (BUCKET, "DELETE", "lifecycle"): "DeleteBucketLifecycle",
    (BUCKET, "GET", "notification"): "GetBucketNotificationConfiguration",
    (BUCKET, "PUT", "notification"): "PutBucketNotificationConfiguration",
    (BUCKET, "GET", "logging"): "GetBucketLogging",
    (BUCKET, "PUT", "logging"): "PutBucketLogging",
    (BUCKET, "GET", "object-lock"): "GetObjectLockConfiguration",
    (BUCKET, "PUT", "object-lock"): "PutObjectLockConfiguration",
    (OBJECT, "GET", None): "GetObject",
    (OBJECT, "PUT", None): "PutObject",  # CopyObject with x-amz-copy-source
    (OBJECT, "HEAD", None): "HeadObject",
    (OBJECT, "DELETE", None): "DeleteObject",
    (OBJECT, "POST", "uploads"): "CreateMultipartUpload",
    (OBJECT, "PUT", "uploadId"): "UploadPart",  # UploadPartCopy with x-amz-copy-source
    (OBJECT, "POST", "uploadId"): "CompleteMultipartUpload",
    (OBJECT, "DELETE", "uploadId"): "AbortMultipartUpload",
    (OBJECT, "GET", "uploadId"): "ListParts",
    (OBJECT, "GET", "attributes"): "GetObjectAttributes",
    (OBJECT, "POST", "restore"): "RestoreObject",
}
# Get/Put/Delete<Name> for bucket sub-resources that have all three (or two).
for _sub, _name, _methods in (
    ("tagging", "BucketTagging", ("GET", "PUT", "DELETE")),
    ("encryption", "BucketEncryption", ("GET", "PUT", "DELETE")),
    ("publicAccessBlock", "PublicAccessBlock", ("GET", "PUT", "DELETE")),
    ("ownershipControls", "BucketOwnershipControls", ("GET", "PUT", "DELETE")),
    ("policy", "BucketPolicy", ("GET", "PUT", "DELETE")),
    ("cors", "BucketCors", ("GET", "PUT", "DELETE")),
    ("website", "BucketWebsite", ("GET", "PUT", "DELETE")),
    ("replication", "BucketReplication", ("GET", "PUT", "DELETE")),
    ("acl", "BucketAcl", ("GET", "PUT")),
    ("accelerate", "BucketAccelerateConfiguration", ("GET", "PUT")),
    ("requestPayment", "BucketRequestPayment", ("GET", "PUT")),
):
    for _method in _methods:
        S3_OPERATIONS[(BUCKET, _method, _sub)] = _method.title() + _name
for _sub, _name, _methods in (
    ("tagging", "ObjectTagging", ("GET", "PUT", "DELETE")),
    ("acl", "ObjectAcl", ("GET", "PUT")),
    ("retention", "ObjectRetention", ("GET", "PUT")),
    ("legal-hold", "ObjectLegalHold", ("GET", "PUT")),
):
    for _method in _methods:
        S3_OPERATIONS[(OBJECT, _method, _sub)] = _method.title() + _name

_S3_SUBRESOURCES = {sub for (_, _, sub) in S3_OPERATIONS if sub is not None}
# Query parameters of S3 requests that are not sub-resources.
_S3_PARAMETERS = {
    "list-type",
    "prefix",
    "delimiter",
    "encoding-type",
    "max-keys",
    "marker",
    "continuation-token",
    "fetch-owner",
    "start-after",
    "key-marker",
    "version-id-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "partNumber",
    "versionId",
    "id",
    "x-id",
}


def _s3_operation(environ: Environ, query: list[tuple[str, str]]) -> str:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = _path(environ)
    keys = [k for k, _ in query]
    host_bucket = _S3_HOST_RE.match(environ.get("HTTP_HOST", ""))
    parts = [p for p in path.split("/", 2)[1:] if p] if path != "/" else []
    if host_bucket:
        level = OBJECT if path.strip("/") else BUCKET
    elif not parts:
        return "ListBuckets" if method == "GET" else method
    else:
        level = OBJECT if len(parts) > 1 else BUCKET
    sub = next((k for k in keys if k in _S3_SUBRESOURCES), None)
    if sub is None:
        sub = next(
            (
                k
                for k in keys
                if k not in _S3_PARAMETERS
                and not k.lower().startswith(("x-amz-", "response-"))
            ),
            None,
        )
    name = S3_OPERATIONS.get((level, method, sub))
    if name is None:
        return f"{method} ?{sub}" if sub else method
    copy = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if name == "ListObjects" and dict(query).get("list-type") == "2":
        return "ListObjectsV2"
    if name == "PutObject" and copy:
        return "CopyObject"
    if name == "UploadPart" and copy:
        return "UploadPartCopy"
    return name


# --- naming a request -------------------------------------------------------------------


def _path(environ: Environ) -> str:
    path = environ.get("PATH_INFO") or "/"
    if isinstance(path, bytes):  # pragma: no cover - werkzeug gives str
        path = path.decode("utf-8", "replace")
    return str(path)


def _service(environ: Environ, query: list[tuple[str, str]]) -> str:
    credential = None
    match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        credential = match.group(1)
    else:
        credential = next((v for k, v in query if k.lower() == "x-amz-credential"), None)
    if credential:
        scope = unquote(credential).split("/")
        # AKID/DATE/REGION/SERVICE/aws4_request
        if len(scope) >= 5 and scope[-1] == "aws4_request":
            return scope[-2]
    if _path(environ).startswith("/moto-api"):
        return "moto-api"
    return "unknown"


def _buffer_body(environ: Environ) -> bytes:
    """Read the body and hand the app a fresh stream with the same bytes."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            size = int(length)
        except ValueError:
            return b""
        body = stream.read(size) if size > 0 else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        return b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return bytes(body)


def _query_action(environ: Environ, query: list[tuple[str, str]]) -> str | None:
    action = next((v for k, v in query if k == "Action"), None)
    if action:
        return action
    content_type = environ.get("CONTENT_TYPE", "")
    if environ.get("REQUEST_METHOD", "").upper() == "POST" and content_type.startswith(
        "application/x-www-form-urlencoded"
    ):
        body = _buffer_body(environ)
        values = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if values:
            return values[0]
    return None


def kind_of(operation: str) -> str:
    """"read" for Get*, Describe*, List*, BatchGet*, Head*; else "write"."""
    return READ if operation.startswith(READ_PREFIXES) else WRITE


def _kind_by_method(environ: Environ) -> str:
    return READ if environ.get("REQUEST_METHOD", "").upper() in ("GET", "HEAD") else WRITE


def classify(environ: Environ) -> Entry:
    """{"service", "operation", "kind"} of one request (see the module docstring).

    May buffer a form-encoded body: `environ["wsgi.input"]` is then replaced by
    a stream of the same bytes, and CONTENT_LENGTH set to their length.
    """
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    service = _service(environ, query)
    method = environ.get("REQUEST_METHOD", "GET").upper()

    if service == "s3":
        return {"service": service, "operation": _s3_operation(environ, query),
                "kind": _kind_by_method(environ)}

    operation: str | None = None
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rsplit(".", 1)[-1]
    if not operation:
        match = _RPC_V2_PATH_RE.search(_path(environ))
        operation = match.group(1) if match else None
    if not operation and service != "moto-api":
        operation = _query_action(environ, query)
    if operation:
        return {"service": service, "operation": operation, "kind": kind_of(operation)}
    return {"service": service, "operation": f"{method} {_path(environ)}",
            "kind": _kind_by_method(environ)}


# --- the log and the middleware -------------------------------------------------------------


class RequestLog:
    """A bounded, thread-safe list of request entries."""

    def __init__(self, maxlen: int = MAXLEN) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[Entry]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


ResetHook = Callable[[], bool]  # resets the emulator; returns whether it re-seeded


class RequestLogMiddleware:
    """WSGI middleware: logs every request to `app`, serves the control endpoints."""

    def __init__(
        self, app: Callable[..., Any], log: RequestLog | None = None,
        reset: ResetHook | None = None,
    ) -> None:
        self.app = app
        self.log = log if log is not None else RequestLog()
        # Set by the server once it knows its own URL (the re-seed talks to it).
        self.reset = reset
        self._reset_lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = _path(environ)
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path.rstrip("/"))

        entry = classify(environ)
        recorded: list[bool] = []

        def record(status: int) -> None:
            if not recorded:
                recorded.append(True)
                self.log.append({**entry, "status": status})

        def logging_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            entry["status"] = _status_code(status)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, logging_start_response)
        except BaseException:
            record(500)
            raise
        if "status" in entry:
            # The usual case (Flask calls start_response before returning): the
            # entry is in the log before the client gets a byte of the response.
            record(entry["status"])
            return body
        return _Recording(body, lambda: record(entry.get("status", 500)))

    # --- control endpoints ---

    def _control(self, environ: Environ, start_response: StartResponse, path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == REQUESTS_PATH:
            if method == "GET":
                return _json(start_response, 200, {"requests": self.log.entries()})
            if method == "DELETE":
                self.log.clear()
                return _json(start_response, 200, {"cleared": True})
            return _not_allowed(start_response, "GET, DELETE")
        if path == RESET_PATH:
            if method != "POST":
                return _not_allowed(start_response, "POST")
            return self._reset(start_response)
        return _json(start_response, 404, {"error": f"no such sandbox endpoint: {path}"})

    def _reset(self, start_response: StartResponse) -> list[bytes]:
        if self.reset is None:
            return _json(start_response, 501, {"error": "this server cannot reset"})
        with self._reset_lock:  # one reset at a time
            try:
                seeded = self.reset()
            except Exception as exc:  # noqa: BLE001 - reported to the caller
                self.log.clear()
                return _json(
                    start_response, 500, {"reset": False, "error": f"{type(exc).__name__}: {exc}"}
                )
            # The re-seed's own requests went through this middleware: drop them.
            self.log.clear()
        return _json(start_response, 200, {"reset": True, "seeded": bool(seeded)})


class _Recording:
    """A response iterable that records its entry on first chunk (or close) at the latest."""

    def __init__(self, body: Iterable[bytes], record: Callable[[], None]) -> None:
        self._body = body
        self._record = record

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._record()
            yield chunk
        self._record()

    def close(self) -> None:
        self._record()
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _status_code(status: str) -> int:
    try:
        return int(status.split(" ", 1)[0])
    except ValueError:
        return 0


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
            501: "Not Implemented"}


def _json(
    start_response: StartResponse, status: int, payload: Any,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {_REASONS.get(status, '')}".rstrip(),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
         *(headers or [])],
    )
    return [body]


def _not_allowed(start_response: StartResponse, allow: str) -> list[bytes]:
    return _json(start_response, 405, {"error": "method not allowed", "allow": allow},
                 [("Allow", allow)])
