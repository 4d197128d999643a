"""`up` and `down` converge despite transient AWS faults and interruptions at any write.

Three kinds of trouble, all against the in-process sandbox:

- Transient faults. `FaultInjector`, a botocore `before-send` hook, answers a
  seeded, deterministic share of the HTTP requests itself with 500/503 or
  throttling errors in the service's own protocol (JSON, query XML, S3 XML), and
  botocore's `standard` retry mode retries them (its backoff is recorded, not
  slept). The sandbox never sees a faulted request. `up`/`down` must exit 0 and
  leave the state a fault-free run leaves; a second `up` must write nothing.
- Interruptions. A hook raises KeyboardInterrupt (Ctrl-C) right after the k-th
  write of a serial run, for every k, and right before the first one. A plain
  rerun must exit 0 and leave the state a clean run leaves.
- Lost responses. AWS carries a write out but its response is lost (a 5xx
  instead), so botocore sends the write again. The run must still succeed.

"The state" is `snapshot()`: everything ecspipe manages, read back with boto3,
with only what differs between two identical runs masked (timestamps, the
connection ARN's random ID). The fault-free reference is computed once per
process in a sandbox of its own (`reference()`).

Why a before-send hook needs NOWHERE: botocore calls *every* before-send handler
(`emit`, not `emit_until_response`) and uses the first response. Ours, registered
for `before-send.*.*`, runs before moto's (registered for `before-send`), but
moto would still carry the request out unless the hook points it elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import threading
import time
import types
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
SEEDED_REPOSITORY = "demo-app"
READ_OPS = ("Get", "Describe", "List", "BatchGet", "Head")

# The writes of a fault-free `up --serial` / `down --yes` in a freshly seeded
# sandbox, in order. The interruption tests are parametrized over their indexes;
# test_a_clean_run_makes_exactly_the_writes_the_interruption_tests_cover fails
# when ecspipe's writes change, so that the parametrization follows.
UP_WRITES = [
    "CreateConnection",
    "CreateBucket",
    "PutPublicAccessBlock",
    "PutBucketOwnershipControls",
    "PutBucketEncryption",
    "PutBucketVersioning",
    "PutBucketLifecycleConfiguration",
    "PutBucketPolicy",
    "CreateLogGroup",
    "PutRetentionPolicy",
    "CreateRole",
    "PutRolePolicy",
    "CreateRole",
    "PutRolePolicy",
    "CreateProject",
    "CreatePipeline",
]
DOWN_WRITES = [
    "DeletePipeline",
    "DeleteProject",
    "DeleteLogGroup",
    "DeleteRolePolicy",
    "DeleteRole",
    "DeleteRolePolicy",
    "DeleteRole",
    "DeleteBucket",
    "DeleteConnection",
]


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_OPS)


# ---- the fault injector -----------------------------------------------------------

# (HTTP status, error code), per protocol. Every one is retryable in botocore's
# standard mode: 500/502/503/504 by status, the others by their throttling code.
JSON_FAULTS = (
    (500, "InternalFailure"),
    (503, "ServiceUnavailable"),
    (400, "ThrottlingException"),
    (400, "TooManyRequestsException"),
)
QUERY_FAULTS = ((500, "InternalFailure"), (503, "ServiceUnavailable"), (400, "Throttling"))
S3_FAULTS = ((500, "InternalError"), (503, "SlowDown"), (503, "ServiceUnavailable"))
QUERY_SERVICES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Where a faulted request is pointed instead: no sandbox route matches it, so
# moto's before-send handler (which runs after ours) leaves it alone, and the
# response botocore gets is ours. Nothing is sent there: botocore only sends a
# request no before-send handler answered.
NOWHERE = "https://fault-injected.invalid/"


class RawBody:
    """The raw body of an injected response, read the way botocore reads urllib3's."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, *_args: Any, **_kwargs: Any) -> bytes:
        data, self._data = self._data, b""
        return data

    def stream(self, **_kwargs: Any):
        data = self.read()
        if data:
            yield data


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name) or b""
    return value.decode() if isinstance(value, bytes) else str(value)


def fault_response(
    url: str, service: str, json_api: bool, status: int, code: str, body: bool = True
) -> AWSResponse:
    """An error response as the service would send it, in its protocol."""
    request_id = str(uuid.uuid4())
    message = "Rate exceeded" if status == 400 else "We encountered an internal error."
    if json_api:
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
        data = json.dumps({"__type": code, "message": message}).encode()
    elif service in QUERY_SERVICES:
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
        kind = "Sender" if status == 400 else "Receiver"
        data = (
            f'<ErrorResponse xmlns="{QUERY_SERVICES[service]}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    else:
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        data = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId>"
            "</Error>"
        ).encode()
    return AWSResponse(url, status, headers, RawBody(data if body else b""))


class FaultInjector:
    """A botocore `before-send` hook failing `rate` of the attempts, deterministically.

    Whether an attempt fails depends only on the seed, the operation, the request
    (URL and body, random IDs masked), how many times that same request was made
    before in this run, and the attempt number: not on thread timing. No request
    fails more than `max_in_a_row` attempts in a row, so with TOTAL_MAX_ATTEMPTS 8
    every request finally succeeds.

    A faulted request is sent to NOWHERE, so the sandbox never carries it out:
    like a throttled or refused request, it had no effect (LoseResponse is the
    other case).
    """

    def __init__(
        self,
        seed: int,
        rate: float = 0.4,
        max_in_a_row: int = 3,
        kinds: tuple[tuple[int, str], ...] | None = None,
    ) -> None:
        self.seed, self.rate, self.max_in_a_row = seed, rate, max_in_a_row
        self.kinds = kinds  # the faults to pick from; by default the protocol's
        self.lock = threading.Lock()
        self.requests = 0  # first attempts seen
        self.faults: list[tuple[str, str, int, int, str]] = []  # (id, op, attempt, status, code)
        self.last_attempt: dict[str, int] = {}
        self.problems: list[str] = []
        self._occurrences: Counter[bytes] = Counter()
        self._keys: dict[str, str] = {}

    def __call__(self, request: Any, event_name: str = "", **_kwargs: Any) -> AWSResponse | None:
        try:
            return self._handle(request, event_name)
        except Exception as exc:  # an injector bug must show, not become a retried error
            self.problems.append(f"{event_name}: {exc!r}")
            raise

    def _handle(self, request: Any, event_name: str) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        invocation = _header(request, "amz-sdk-invocation-id")
        attempt = int(re.search(r"attempt=(\d+)", _header(request, "amz-sdk-request"))[1])
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else b""
        with self.lock:
            self.last_attempt[invocation] = attempt
            if attempt == 1:
                self.requests += 1
                request_key = UUID_RE.sub(b"-", f"{event_name} {request.url} ".encode() + body)
                occurrence = self._occurrences[request_key]
                self._occurrences[request_key] += 1
                digest = hashlib.sha256(request_key).hexdigest()
                self._keys[invocation] = f"{self.seed}:{digest}:{occurrence}"
            rng = random.Random(f"{self._keys[invocation]}:{attempt}")
            if attempt > self.max_in_a_row or rng.random() >= self.rate:
                return None
            json_api = "X-Amz-Target" in request.headers
            if not json_api and service not in QUERY_SERVICES and service != "s3":
                raise AssertionError(f"unknown protocol of {service} (a new botocore?)")
            faults = S3_FAULTS if service == "s3" else QUERY_FAULTS if not json_api else JSON_FAULTS
            faults = self.kinds or faults
            if request.method == "HEAD":
                faults = tuple(f for f in faults if f[0] >= 500)  # no body to carry a code
            status, code = rng.choice(faults)
            self.faults.append((invocation, operation, attempt, status, code))
        response = fault_response(
            request.url, service, json_api, status, code, body=request.method != "HEAD"
        )
        request.url = NOWHERE
        return response

    @property
    def share(self) -> float:
        """Faulted first attempts / all first attempts."""
        first = sum(1 for f in self.faults if f[2] == 1)
        return first / self.requests if self.requests else 0.0

    def unretried(self) -> list[tuple[str, str, int, int, str]]:
        """Faults botocore did not follow with another attempt of the same request."""
        return [f for f in self.faults if self.last_attempt[f[0]] <= f[2]]

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-send.*.*", self)]


class LoseResponse:
    """A before-send hook losing the response of the k-th write (its first attempt).

    The request does reach the sandbox, which carries it out; botocore gets a 500
    instead of its response and retries it: what a real 5xx or a dropped
    connection after AWS committed a write looks like to a client.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.writes: list[str] = []
        self.lost: str | None = None

    def __call__(self, request: Any, event_name: str = "", **_kwargs: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".")
        if not is_write(operation) or "attempt=1;" not in _header(request, "amz-sdk-request"):
            return None
        self.writes.append(operation)
        if len(self.writes) != self.k:
            return None
        self.lost = operation
        code = "InternalError" if service == "s3" else "InternalFailure"
        return fault_response(request.url, service, "X-Amz-Target" in request.headers, 500, code)

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-send.*.*", self)]


class Operations:
    """The operations an invocation calls, once per API call (retries not repeated)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **_kwargs: Any) -> None:
        self.names.append(model.name)

    @property
    def writes(self) -> list[str]:
        return [op for op in self.names if is_write(op)]

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("before-call.*.*", self)]


class Interrupt:
    """Ctrl-C right after the k-th write completed ("after") or right before it is sent."""

    def __init__(self, k: int, when: str) -> None:
        assert when in ("after", "before")
        self.k, self.when = k, when
        self.writes: list[str] = []

    def __call__(self, model: Any, **_kwargs: Any) -> None:
        if not is_write(model.name):
            return
        if self.when == "before" and len(self.writes) + 1 == self.k:
            raise KeyboardInterrupt
        self.writes.append(model.name)
        if self.when == "after" and len(self.writes) == self.k:
            raise KeyboardInterrupt

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [(f"{self.when}-call.*.*", self)]


# ---- the state ecspipe manages ------------------------------------------------------


@functools.cache
def _client(service: str) -> Any:
    """A client for reading the state, made once per process (a new one costs ~100 ms)."""
    session = _session()
    return session.client(service, region_name=REGION)


@functools.cache
def _session() -> Any:
    return boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _plain(value: Any) -> Any:
    """Comparable: JSON text parsed, timestamps dropped, random IDs (UUIDs) masked."""
    if isinstance(value, dict):
        return {
            k: _plain(v)
            for k, v in value.items()
            if not isinstance(v, datetime) and k != "ResponseMetadata"
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return _plain(json.loads(text))
            except ValueError:
                pass
        return UUID_RE.sub(b"<id>", value.encode()).decode()
    return value


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))


def _or_none(fn: Callable[..., Any], *missing: str, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in missing:
            return None
        raise


def _tags(items: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict:
    return {t[key]: t[value] for t in items or []}


def _connections() -> list[dict]:
    client = _client("codeconnections")
    out, token = [], None
    while True:
        page = client.list_connections(**({"NextToken": token} if token else {}))
        for conn in page["Connections"]:
            out.append(
                {
                    "name": conn["ConnectionName"],
                    "provider": conn.get("ProviderType"),
                    "tags": _tags(
                        client.list_tags_for_resource(ResourceArn=conn["ConnectionArn"]).get("Tags")
                    ),
                }
            )
        token = page.get("NextToken")
        if not token:
            return _sorted(out)


def _repositories() -> list[dict]:
    ecr = _client("ecr")
    out = []
    for repo in ecr.describe_repositories()["repositories"]:
        name = repo["repositoryName"]
        lifecycle = _or_none(
            ecr.get_lifecycle_policy, "LifecyclePolicyNotFoundException", repositoryName=name
        )
        out.append(
            {
                "name": name,
                "mutability": repo.get("imageTagMutability"),
                "scan": repo.get("imageScanningConfiguration"),
                "encryption": repo.get("encryptionConfiguration"),
                "lifecycle": _plain(lifecycle["lifecyclePolicyText"]) if lifecycle else None,
                "tags": _tags(
                    ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags")
                ),
                "images": _sorted(ecr.list_images(repositoryName=name)["imageIds"]),
            }
        )
    return _sorted(out)


def _buckets() -> list[dict]:
    s3 = _client("s3")
    out = []
    for bucket in s3.list_buckets()["Buckets"]:
        kw = {"Bucket": bucket["Name"]}
        versions = s3.list_object_versions(**kw)
        out.append(
            _plain(
                {
                    "name": bucket["Name"],
                    "encryption": _or_none(
                        s3.get_bucket_encryption,
                        "ServerSideEncryptionConfigurationNotFoundError",
                        **kw,
                    ),
                    "public_access_block": _or_none(
                        s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", **kw
                    ),
                    "ownership": _or_none(
                        s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError", **kw
                    ),
                    "policy": _or_none(s3.get_bucket_policy, "NoSuchBucketPolicy", **kw),
                    "versioning": s3.get_bucket_versioning(**kw).get("Status"),
                    "lifecycle": _or_none(
                        s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", **kw
                    ),
                    "tags": _tags(
                        (_or_none(s3.get_bucket_tagging, "NoSuchTagSet", **kw) or {}).get("TagSet")
                    ),
                    "objects": len(
                        versions.get("Versions", []) + versions.get("DeleteMarkers", [])
                    ),
                }
            )
        )
    return _sorted(out)


def _log_groups() -> list[dict]:
    logs = _client("logs")
    out = []
    for group in logs.describe_log_groups()["logGroups"]:
        arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
        out.append(
            {
                "name": group["logGroupName"],
                "retention": group.get("retentionInDays"),
                "tags": logs.list_tags_for_resource(resourceArn=arn).get("tags", {}),
            }
        )
    return _sorted(out)


def _roles() -> list[dict]:
    # One call returns every role with its inline and attached policies and tags.
    details = _client("iam").get_account_authorization_details(Filter=["Role"])
    assert not details.get("IsTruncated")
    return _sorted(
        [
            _plain(
                {
                    "name": role["RoleName"],
                    "path": role["Path"],
                    "trust": role["AssumeRolePolicyDocument"],
                    "inline_policies": {
                        p["PolicyName"]: p["PolicyDocument"] for p in role["RolePolicyList"]
                    },
                    "attached_policies": sorted(
                        p["PolicyArn"] for p in role["AttachedManagedPolicies"]
                    ),
                    "tags": _tags(role.get("Tags")),
                }
            )
            for role in details["RoleDetailList"]
        ]
    )


def _projects() -> list[dict]:
    codebuild = _client("codebuild")
    names = codebuild.list_projects()["projects"]
    if not names:
        return []
    projects = codebuild.batch_get_projects(names=names)["projects"]
    return _sorted(
        [
            _plain({k: v for k, v in p.items() if k not in ("created", "lastModified")})
            for p in projects
        ]
    )


def _pipelines() -> list[dict]:
    codepipeline = _client("codepipeline")
    out = []
    for summary in codepipeline.list_pipelines()["pipelines"]:
        name = summary["name"]
        arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}"
        out.append(
            _plain(
                {
                    "declaration": codepipeline.get_pipeline(name=name)["pipeline"],
                    "tags": _tags(
                        codepipeline.list_tags_for_resource(resourceArn=arn).get("tags"),
                        "key",
                        "value",
                    ),
                }
            )
        )
    return _sorted(out)


def snapshot() -> dict[str, Any]:
    """Everything ecspipe creates or uses, as comparable data, with counts per kind."""
    state = {
        "connections": _connections(),
        "repositories": _repositories(),
        "buckets": _buckets(),
        "log_groups": _log_groups(),
        "roles": _roles(),
        "projects": _projects(),
        "pipelines": _pipelines(),
    }
    state["counts"] = {kind: len(items) for kind, items in state.items()}
    return state


def state_diff(got: dict[str, Any], want: dict[str, Any]) -> str:
    """What differs, kind by kind: the items only one side has."""
    lines = []
    for kind, wanted in want.items():
        have = got.get(kind)
        if have == wanted:
            continue
        if isinstance(wanted, list) and isinstance(have, list):
            extra = [i for i in have if i not in wanted]
            missing = [i for i in wanted if i not in have]
        else:
            extra, missing = have, wanted
        lines.append(
            f"{kind}:\n  only in the result: {json.dumps(extra, default=str)}\n"
            f"  only in the clean run's: {json.dumps(missing, default=str)}"
        )
    return "\n".join(lines)


# ---- fixtures and helpers ----------------------------------------------------------


def fresh_sandbox() -> None:
    """Wipe every moto backend (the sandbox's extensions are backends too) and reseed."""
    from moto.core.base_backend import BackendDict

    from ecspipe.sandbox.seed import seed

    BackendDict.reset()
    seed(region=REGION)


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry backoff, recorded instead of slept.

    botocore's standard retry mode computes the delay (botocore.retries.standard)
    and botocore.endpoint.Endpoint._needs_retry sleeps it with `time.sleep`; the
    `time` that module sees is replaced, and nothing else is.
    """
    slept: list[float] = []
    fake_time = types.SimpleNamespace(
        **{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}
    )
    fake_time.sleep = slept.append
    monkeypatch.setattr(botocore.endpoint, "time", fake_time)
    return slept


@pytest.fixture
def run(seeded, ecspipe, write_config, backoffs):
    """run("up", "--serial", hooks=[...]) -> Invocation, with the example config."""
    config = write_config()

    def invoke(*args: str, hooks: list[tuple[str, Callable[..., Any]]] = ()) -> Any:
        return ecspipe(*args, "-c", config, obj={"client_hooks": list(hooks)})

    return invoke


_REFERENCE: dict[str, Any] = {}


def reference(run: Callable[..., Any]) -> dict[str, Any]:
    """The writes and end states of a fault-free `up --serial` and `down --yes`.

    Computed once per process, in a sandbox of its own: the sandbox is reset and
    reseeded before and after, so the calling test starts from a fresh one.
    """
    if not _REFERENCE:
        fresh_sandbox()
        ops = Operations()
        up = run("up", "--serial", hooks=ops.hooks())
        assert up.code == 0, up
        up_writes, up_state = list(ops.writes), snapshot()
        ops.names.clear()
        down = run("down", "--yes", hooks=ops.hooks())
        assert down.code == 0, down
        _REFERENCE.update(
            up_writes=up_writes, up=up_state, down_writes=list(ops.writes), down=snapshot()
        )
        fresh_sandbox()
    return _REFERENCE


def assert_state(want: dict[str, Any], context: str) -> None:
    got = snapshot()
    assert got == want, f"{context}: the state differs from a clean run's\n" + state_diff(got, want)


# ---- the reference and the snapshot themselves -----------------------------------------


def test_a_clean_run_makes_exactly_the_writes_the_interruption_tests_cover(run):
    ref = reference(run)
    assert ref["up_writes"] == UP_WRITES
    assert ref["down_writes"] == DOWN_WRITES


def test_the_snapshot_is_reproducible_and_tells_a_missing_or_duplicate_resource(run):
    ref = reference(run)
    assert ref["up"]["counts"] == {
        "connections": 1,
        "repositories": 1,
        "buckets": 1,
        "log_groups": 2,
        "roles": 6,  # the seed's 4 (task, execution, ECS infrastructure, CodeDeploy) and 2
        "projects": 1,
        "pipelines": 1,
    }
    assert ref["down"]["counts"] == {
        "connections": 0,
        "repositories": 1,
        "buckets": 0,
        "log_groups": 1,
        "roles": 4,
        "projects": 0,
        "pipelines": 0,
    }
    assert run("up").code == 0
    assert_state(ref["up"], "a second sandbox, same clean up")

    iam = _client("iam")
    iam.delete_role_policy(RoleName="demo-app-us-east-1-codebuild", PolicyName="ecspipe-codebuild")
    iam.delete_role(RoleName="demo-app-us-east-1-codebuild")
    missing = snapshot()
    assert missing != ref["up"]
    assert "roles" in state_diff(missing, ref["up"])

    assert run("up").code == 0, "up recreates the role"
    assert_state(ref["up"], "after up recreated the role")
    _client("codeconnections").create_connection(
        ProviderType="GitHub",
        ConnectionName="demo-app-2",
        Tags=[{"Key": "managed-by", "Value": "ecspipe"}],
    )
    extra = snapshot()
    assert extra["counts"]["connections"] == 2 and extra != ref["up"]


# ---- the injector: short-circuited, retryable, in every protocol ----------------------

# One call per service ecspipe uses, creating something where that is cheap (to
# see that the sandbox carried out the call once, not once per faulted attempt).
CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "sts": ("sts", lambda c: c.get_caller_identity()),
    "iam": ("iam", lambda c: c.create_role(RoleName="r", AssumeRolePolicyDocument="{}")),
    "s3": ("s3", lambda c: c.create_bucket(Bucket="fault-test-bucket")),
    "s3-head": ("s3", lambda c: c.head_bucket(Bucket="fault-test-missing-bucket")),
    "logs": ("logs", lambda c: c.create_log_group(logGroupName="/fault/test")),
    "codebuild": ("codebuild", lambda c: c.list_projects()),
    "codepipeline": ("codepipeline", lambda c: c.list_pipelines()),
    "codeconnections": (
        "codeconnections",
        lambda c: c.create_connection(ProviderType="GitHub", ConnectionName="fault-test"),
    ),
    "ecs": ("ecs", lambda c: c.list_clusters()),
    "ecr": ("ecr", lambda c: c.describe_repositories()),
}


def _protocol_faults(name: str) -> tuple[tuple[int, str], ...]:
    if name == "s3-head":  # a HEAD response has no body: only its status counts
        return tuple(f for f in S3_FAULTS if f[0] >= 500)
    service = CALLS[name][0]
    return (
        S3_FAULTS if service == "s3" else QUERY_FAULTS if service in QUERY_SERVICES else JSON_FAULTS
    )


@pytest.mark.parametrize(
    "name,fault",
    [
        pytest.param(name, fault, id=f"{name}-{fault[0]}-{fault[1]}")
        for name in CALLS
        for fault in _protocol_faults(name)
    ],
)
def test_each_injected_fault_is_retried_by_botocore_and_never_reaches_the_sandbox(
    sandbox, backoffs, name, fault
):
    from ecspipe.aws import Aws

    service, call = CALLS[name]
    aws = Aws(REGION)  # ecspipe's client configuration: standard retry mode
    injector = FaultInjector(seed=1, rate=1.0, max_in_a_row=3, kinds=(fault,))
    sent: list[str] = []
    for event, handler in injector.hooks():
        aws.on(event, handler)
    aws.on("before-call.*.*", lambda model, **_: sent.append(model.name))
    try:
        response = call(aws.client(service))
    except ClientError as exc:  # head_bucket of a missing bucket: a 404, after the faults
        assert name == "s3-head" and exc.response["Error"]["Code"] == "404", exc
        response = exc.response
    assert injector.problems == []
    assert len(sent) == 1, "one API call"
    assert [(f[2], f[3], f[4]) for f in injector.faults] == [(n, *fault) for n in (1, 2, 3)]
    assert response["ResponseMetadata"]["RetryAttempts"] == 3, "botocore retried each fault"
    assert len(backoffs) == 3 and all(0 < s <= 20 for s in backoffs)
    assert injector.unretried() == []
    # The sandbox saw the fourth attempt only: a create made exactly one resource.
    if service == "codeconnections":
        assert len(_client("codeconnections").list_connections()["Connections"]) == 1
    if service == "iam":
        assert [r["RoleName"] for r in _client("iam").list_roles()["Roles"]] == ["r"]


def test_a_fault_that_never_stops_fails_the_call_after_the_attempts_budget(sandbox, backoffs):
    from ecspipe.aws import TOTAL_MAX_ATTEMPTS, Aws

    aws = Aws(REGION)
    injector = FaultInjector(seed=1, rate=1.0, max_in_a_row=99)
    for event, handler in injector.hooks():
        aws.on(event, handler)
    with pytest.raises(ClientError) as caught:
        aws.client("codebuild").list_projects()
    assert caught.value.response["Error"]["Code"] in {code for _, code in JSON_FAULTS}
    assert len(injector.faults) == TOTAL_MAX_ATTEMPTS
    assert len(backoffs) == TOTAL_MAX_ATTEMPTS - 1


# ---- up and down under transient faults ----------------------------------------------


def assert_many_retried_faults(
    injector: FaultInjector, backoffs: list[float], at_least: int
) -> None:
    assert injector.problems == []
    assert len(injector.faults) >= at_least, injector.faults
    assert injector.share >= 0.25, (injector.share, injector.requests)
    assert injector.unretried() == [], "every fault was retried by botocore"
    assert len(backoffs) == len(injector.faults)
    assert max(f[2] for f in injector.faults) <= injector.max_in_a_row


@pytest.mark.parametrize(
    "seed,serial",
    [(1, False), (2, False), (3, True)],
    ids=["seed-1-concurrent", "seed-2-concurrent", "seed-3-serial"],
)
def test_up_under_transient_faults_leaves_the_state_of_a_fault_free_up(run, backoffs, seed, serial):
    want = reference(run)["up"]
    injector = FaultInjector(seed=seed)
    result = run("up", *(["--serial"] if serial else []), hooks=injector.hooks())
    assert result.code == 0, result
    assert_many_retried_faults(injector, backoffs, at_least=10)
    assert_state(want, f"up with faults (seed {seed})")


@pytest.mark.parametrize("seed", [1, 2], ids=["seed-1", "seed-2"])
def test_down_under_transient_faults_deletes_what_ecspipe_created_and_only_that(
    run, backoffs, seed
):
    want = reference(run)["down"]
    assert run("up").code == 0
    backoffs.clear()
    injector = FaultInjector(seed=seed)
    result = run("down", "--yes", hooks=injector.hooks())
    assert result.code == 0, result
    assert_many_retried_faults(injector, backoffs, at_least=10)
    assert_state(want, f"down with faults (seed {seed})")
    images = _client("ecr").list_images(repositoryName=SEEDED_REPOSITORY)["imageIds"]
    assert len(images) == 1, "the seeded repository keeps its image"


@pytest.mark.parametrize("seed", [1, 2], ids=["seed-1", "seed-2"])
def test_a_second_up_under_transient_faults_writes_nothing(run, backoffs, seed):
    want = reference(run)["up"]
    assert run("up").code == 0
    backoffs.clear()
    injector, ops = FaultInjector(seed=seed), Operations()
    result = run("up", hooks=injector.hooks() + ops.hooks())
    assert result.code == 0, result
    assert_many_retried_faults(injector, backoffs, at_least=5)
    assert ops.names, "it did read"
    assert ops.writes == []
    assert_state(want, f"second up with faults (seed {seed})")


# ---- interrupted at every write -----------------------------------------------------------
# Interrupting right before write k leaves what interrupting right after write
# k-1 leaves; only "before the first write" (planned, nothing written) is new.


def _interruptions(writes: list[str], command: str) -> list[Any]:
    cases = [pytest.param(1, "before", id=f"{command}-before-write-1-{writes[0]}")]
    return cases + [
        pytest.param(k, "after", id=f"{command}-after-write-{k}-{op}")
        for k, op in enumerate(writes, start=1)
    ]


@pytest.mark.parametrize("k,when", _interruptions(UP_WRITES, "up"))
def test_up_interrupted_at_any_write_converges_on_the_next_up(run, k, when):
    want = reference(run)["up"]
    interrupt = Interrupt(k, when)
    half = run("up", "--serial", hooks=interrupt.hooks())
    assert half.code == 130, half
    assert interrupt.writes == UP_WRITES[: k if when == "after" else k - 1]
    again = run("up")
    assert again.code == 0, again
    assert_state(want, f"up interrupted {when} write {k} ({UP_WRITES[k - 1]}), then up")


@pytest.mark.parametrize("k,when", _interruptions(DOWN_WRITES, "down"))
def test_down_interrupted_at_any_write_converges_on_the_next_down(run, k, when):
    want = reference(run)["down"]
    assert run("up").code == 0
    interrupt = Interrupt(k, when)
    half = run("down", "--yes", hooks=interrupt.hooks())
    assert half.code == 130, half
    assert interrupt.writes == DOWN_WRITES[: k if when == "after" else k - 1]
    again = run("down", "--yes")
    assert again.code == 0, again
    assert_state(want, f"down interrupted {when} write {k} ({DOWN_WRITES[k - 1]}), then down")


# ---- a write's response lost after AWS carried it out --------------------------------------
# botocore retries the write, which now meets what the first attempt made. The
# run must still succeed and leave the clean state. Known failures are strict
# xfails: when one is fixed, its XPASS fails the suite until the mark goes.

LOST_UP_BUGS: dict[int, str] = {}
LOST_DOWN_BUGS: dict[int, str] = {}


def _losses(writes: list[str], command: str, bugs: dict[int, str]) -> list[Any]:
    return [
        pytest.param(
            k,
            id=f"{command}-lost-response-{k}-{op}",
            marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=bugs[k])]
            if k in bugs
            else [],
        )
        for k, op in enumerate(writes, start=1)
        # A Put* sets a whole configuration: doing it twice is doing it once.
        if not op.startswith("Put")
    ]


def _same_declaration(state: dict[str, Any]) -> dict[str, Any]:
    """The state, less the pipeline's version: a create retried as an update bumps it."""
    state = json.loads(json.dumps(state))
    for pipeline in state["pipelines"]:
        pipeline["declaration"].pop("version", None)
    return state


@pytest.mark.parametrize("k", _losses(UP_WRITES, "up", LOST_UP_BUGS))
def test_up_whose_write_response_is_lost_still_succeeds_with_the_clean_state(run, k):
    want = reference(run)["up"]
    lose = LoseResponse(k)
    result = run("up", "--serial", hooks=lose.hooks())
    assert lose.lost == UP_WRITES[k - 1]
    assert result.code == 0, result
    got = snapshot()
    assert _same_declaration(got) == _same_declaration(want), state_diff(got, want)


@pytest.mark.parametrize("k", _losses(DOWN_WRITES, "down", LOST_DOWN_BUGS))
def test_down_whose_write_response_is_lost_still_deletes_everything(run, k):
    want = reference(run)["down"]
    assert run("up").code == 0
    lose = LoseResponse(k)
    result = run("down", "--yes", hooks=lose.hooks())
    assert lose.lost == DOWN_WRITES[k - 1]
    assert result.code == 0, result
    assert_state(want, f"down losing the response of write {k} ({DOWN_WRITES[k - 1]})")
