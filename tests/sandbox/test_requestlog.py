"""The sandbox server's request log and control endpoints (requestlog.py, server.py).

Part one names requests from WSGI environs built by hand, one protocol at a
time, then from requests botocore itself serialized (so a name here is the name
the SDK called the operation). Part two runs a seeded sandbox server (a
subprocess, one per module and xdist worker, reset before every test) and checks
the log and `POST /_ecspipe/reset` over HTTP; part three runs `serve()` in a
thread to see what a reset restores inside the server's process.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_server import ServerProcess, _serve_in_a_thread

from ecspipe.sandbox.requestlog import (
    RequestLog,
    RequestLogMiddleware,
    classify,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"


# --- environs by hand -------------------------------------------------------------------


def _auth(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=testing/20261128/{REGION}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0"
    )


def environ(
    method: str,
    path: str = "/",
    query: str = "",
    *,
    service: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str = "",
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4566",
        "HTTP_HOST": "127.0.0.1:4566",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        env["CONTENT_TYPE"] = content_type
    if service:
        env["HTTP_AUTHORIZATION"] = _auth(service)
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def named(env: dict[str, Any]) -> tuple[str, str, str]:
    entry = classify(env)
    return entry["service"], entry["operation"], entry["kind"]


@pytest.mark.parametrize(
    ("service", "target", "expected"),
    [
        ("ecs", "AmazonEC2ContainerServiceV20141113.DescribeServices", ("DescribeServices", "read")),
        ("ecs", "AmazonEC2ContainerServiceV20141113.UpdateService", ("UpdateService", "write")),
        ("ecr", "AmazonEC2ContainerRegistry_V20150921.BatchGetImage", ("BatchGetImage", "read")),
        ("ecr", "AmazonEC2ContainerRegistry_V20150921.PutImage", ("PutImage", "write")),
        ("logs", "Logs_20140328.CreateLogGroup", ("CreateLogGroup", "write")),
        ("codebuild", "CodeBuild_20161006.BatchGetProjects", ("BatchGetProjects", "read")),
        ("codepipeline", "CodePipeline_20150709.GetPipelineState", ("GetPipelineState", "read")),
        (
            "codepipeline",
            "CodePipeline_20150709.StartPipelineExecution",
            ("StartPipelineExecution", "write"),
        ),
        (
            "codeconnections",
            "com.amazonaws.codeconnections.CodeConnections_20231201.CreateConnection",
            ("CreateConnection", "write"),
        ),
        (
            "codestar-connections",
            "com.amazonaws.codestar.connections.CodeStar_connections_20191201.ListConnections",
            ("ListConnections", "read"),
        ),
    ],
)
def test_a_json_protocol_request_is_named_by_its_target_header(service, target, expected):
    env = environ(
        "POST", service=service, headers={"X-Amz-Target": target}, body=b"{}",
        content_type="application/x-amz-json-1.1",
    )

    assert named(env) == (service, *expected)


def test_an_rpc_v2_cbor_request_is_named_by_its_path():
    env = environ(
        "POST", "/service/CodeBuild_20161006/operation/ListProjects", service="codebuild",
        headers={"Smithy-Protocol": "rpc-v2-cbor"}, body=b"\xa0",
        content_type="application/cbor",
    )

    assert named(env) == ("codebuild", "ListProjects", "read")


@pytest.mark.parametrize(
    ("service", "action", "kind"),
    [("iam", "GetRole", "read"), ("iam", "CreateRole", "write"),
     ("sts", "GetCallerIdentity", "read"), ("ec2", "DescribeSubnets", "read")],
)
def test_a_query_protocol_post_is_named_by_the_action_in_its_body(service, action, kind):
    body = f"Action={action}&Version=2010-05-08&RoleName=demo".encode()
    env = environ(
        "POST", service=service, body=body,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )

    assert named(env) == (service, action, kind)


def test_a_query_protocol_get_is_named_by_the_action_in_its_query_string():
    env = environ("GET", "/", "Action=ListRoles&Version=2010-05-08", service="iam")

    assert named(env) == ("iam", "ListRoles", "read")


def _echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """What a WSGI app reads of the body: CONTENT_LENGTH bytes of wsgi.input."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def test_the_wrapped_app_receives_a_query_protocol_body_intact():
    body = b"Action=CreateRole&RoleName=r%C3%A9le&AssumeRolePolicyDocument=%7B%7D"
    env = environ(
        "POST", service="iam", body=body, content_type="application/x-www-form-urlencoded"
    )
    middleware = RequestLogMiddleware(_echo_app)

    received = b"".join(middleware(env, lambda *_: None))

    assert received == body
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert middleware.log.entries() == [
        {"service": "iam", "operation": "CreateRole", "kind": "write", "status": 200}
    ]


def test_a_chunked_query_protocol_body_is_buffered_whole_and_handed_on():
    body = b"Action=GetUser&Version=2010-05-08"
    env = environ("POST", service="iam", body=body, content_type="application/x-www-form-urlencoded")
    del env["CONTENT_LENGTH"]
    env["wsgi.input_terminated"] = True

    assert named(env)[1] == "GetUser"
    assert env["wsgi.input"].read(int(env["CONTENT_LENGTH"])) == body


S3_CASES = [
    # method, path, query, headers, operation, kind
    ("GET", "/", "", {}, "ListBuckets", "read"),
    ("HEAD", "/demo-bucket", "", {}, "HeadBucket", "read"),
    ("PUT", "/demo-bucket", "", {}, "CreateBucket", "write"),
    ("DELETE", "/demo-bucket", "", {}, "DeleteBucket", "write"),
    ("GET", "/demo-bucket", "", {}, "ListObjects", "read"),
    ("GET", "/demo-bucket", "list-type=2&encoding-type=url", {}, "ListObjectsV2", "read"),
    ("GET", "/demo-bucket", "versions&encoding-type=url", {}, "ListObjectVersions", "read"),
    ("POST", "/demo-bucket", "delete", {}, "DeleteObjects", "write"),
    ("GET", "/demo-bucket", "tagging", {}, "GetBucketTagging", "read"),
    ("PUT", "/demo-bucket", "tagging", {}, "PutBucketTagging", "write"),
    ("DELETE", "/demo-bucket", "tagging", {}, "DeleteBucketTagging", "write"),
    ("GET", "/demo-bucket", "encryption", {}, "GetBucketEncryption", "read"),
    ("PUT", "/demo-bucket", "encryption", {}, "PutBucketEncryption", "write"),
    ("DELETE", "/demo-bucket", "encryption", {}, "DeleteBucketEncryption", "write"),
    ("GET", "/demo-bucket", "publicAccessBlock", {}, "GetPublicAccessBlock", "read"),
    ("PUT", "/demo-bucket", "publicAccessBlock", {}, "PutPublicAccessBlock", "write"),
    ("DELETE", "/demo-bucket", "publicAccessBlock", {}, "DeletePublicAccessBlock", "write"),
    ("GET", "/demo-bucket", "ownershipControls", {}, "GetBucketOwnershipControls", "read"),
    ("PUT", "/demo-bucket", "ownershipControls", {}, "PutBucketOwnershipControls", "write"),
    ("DELETE", "/demo-bucket", "ownershipControls", {}, "DeleteBucketOwnershipControls", "write"),
    ("GET", "/demo-bucket", "policy", {}, "GetBucketPolicy", "read"),
    ("PUT", "/demo-bucket", "policy", {}, "PutBucketPolicy", "write"),
    ("DELETE", "/demo-bucket", "policy", {}, "DeleteBucketPolicy", "write"),
    ("GET", "/demo-bucket", "versioning", {}, "GetBucketVersioning", "read"),
    ("PUT", "/demo-bucket", "versioning", {}, "PutBucketVersioning", "write"),
    ("GET", "/demo-bucket", "lifecycle", {}, "GetBucketLifecycleConfiguration", "read"),
    ("PUT", "/demo-bucket", "lifecycle", {}, "PutBucketLifecycleConfiguration", "write"),
    ("DELETE", "/demo-bucket", "lifecycle", {}, "DeleteBucketLifecycle", "write"),
    ("GET", "/demo-bucket/app/build.zip", "", {}, "GetObject", "read"),
    ("PUT", "/demo-bucket/app/build.zip", "", {}, "PutObject", "write"),
    ("HEAD", "/demo-bucket/app/build.zip", "", {}, "HeadObject", "read"),
    ("DELETE", "/demo-bucket/app/build.zip", "", {}, "DeleteObject", "write"),
    ("DELETE", "/demo-bucket/key", "versionId=abc", {}, "DeleteObject", "write"),
    ("PUT", "/demo-bucket/copy", "", {"X-Amz-Copy-Source": "/demo-bucket/key"}, "CopyObject",
     "write"),
    ("GET", "/demo-bucket/key", "tagging", {}, "GetObjectTagging", "read"),
    ("POST", "/demo-bucket/key", "uploads", {}, "CreateMultipartUpload", "write"),
    ("PUT", "/demo-bucket/key", "partNumber=1&uploadId=u", {}, "UploadPart", "write"),
    ("PUT", "/demo-bucket", "inventory&id=x", {}, "PUT ?inventory", "write"),
    ("GET", "/demo-bucket/key", "torrent", {}, "GET ?torrent", "read"),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation", "kind"),
    S3_CASES,
    ids=[f"{c[0]} {c[1]}?{c[2]}".rstrip("?") for c in S3_CASES],
)
def test_an_s3_request_is_named_by_method_level_and_sub_resource(
    method, path, query, headers, operation, kind
):
    env = environ(method, path, query, service="s3", headers=headers)

    assert named(env) == ("s3", operation, kind)


def test_an_s3_request_in_virtual_host_style_is_named_like_path_style():
    bucket = environ("GET", "/", "tagging", service="s3",
                     headers={"Host": "demo-bucket.s3.us-east-1.amazonaws.com"})
    obj = environ("HEAD", "/app/build.zip", service="s3",
                  headers={"Host": "demo-bucket.s3.amazonaws.com"})

    assert named(bucket) == ("s3", "GetBucketTagging", "read")
    assert named(obj) == ("s3", "HeadObject", "read")


def test_a_presigned_request_takes_its_service_from_the_query_string():
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=testing%2F20261128%2Fus-east-1"
        "%2Fs3%2Faws4_request&X-Amz-Date=20261128T000000Z&X-Amz-Expires=60"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature=0"
    )

    assert named(environ("GET", "/demo-bucket/key", query)) == ("s3", "GetObject", "read")


def test_requests_without_a_credential_scope_are_named_by_method_and_path():
    assert named(environ("POST", "/moto-api/reset")) == ("moto-api", "POST /moto-api/reset",
                                                         "write")
    assert named(environ("GET", "/favicon.ico")) == ("unknown", "GET /favicon.ico", "read")


# --- names of requests botocore serialized --------------------------------------------


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise _Sent(request)


def _environ_of(request: Any) -> dict[str, Any]:
    """The WSGI environ a server would build from botocore's prepared request."""
    from urllib.parse import urlsplit

    url = urlsplit(request.url)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read()
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    env = environ(request.method, url.path or "/", url.query, headers=headers, body=body,
                  content_type=headers.pop("Content-Type", ""))
    env.pop("HTTP_CONTENT_TYPE", None)
    return env


BOTOCORE_CASES = [
    ("sts", "get_caller_identity", {}),
    ("iam", "create_role", {"RoleName": "role", "AssumeRolePolicyDocument": "{}"}),
    ("iam", "get_role", {"RoleName": "role"}),
    ("ec2", "describe_subnets", {}),
    ("ecs", "describe_services", {"cluster": "c", "services": ["s"]}),
    ("ecr", "batch_get_image", {"repositoryName": "demo-app", "imageIds": [{"imageTag": "t"}]}),
    ("logs", "put_retention_policy", {"logGroupName": "g", "retentionInDays": 30}),
    ("codebuild", "batch_get_projects", {"names": ["p"]}),
    ("codepipeline", "get_pipeline_state", {"name": "p"}),
    ("codeconnections", "create_connection", {"ConnectionName": "c", "ProviderType": "GitHub"}),
    ("codestar-connections", "list_connections", {}),
    ("s3", "list_buckets", {}),
    ("s3", "head_bucket", {"Bucket": "demo-bucket"}),
    ("s3", "create_bucket", {"Bucket": "demo-bucket"}),
    ("s3", "delete_bucket", {"Bucket": "demo-bucket"}),
    ("s3", "list_objects", {"Bucket": "demo-bucket"}),
    ("s3", "list_objects_v2", {"Bucket": "demo-bucket", "Prefix": "app/"}),
    ("s3", "list_object_versions", {"Bucket": "demo-bucket"}),
    ("s3", "delete_objects", {"Bucket": "demo-bucket", "Delete": {"Objects": [{"Key": "k"}]}}),
    ("s3", "get_bucket_tagging", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_tagging", {"Bucket": "demo-bucket", "Tagging": {"TagSet": []}}),
    ("s3", "delete_bucket_tagging", {"Bucket": "demo-bucket"}),
    ("s3", "get_bucket_encryption", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_encryption", {
        "Bucket": "demo-bucket",
        "ServerSideEncryptionConfiguration": {
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    }),
    ("s3", "get_public_access_block", {"Bucket": "demo-bucket"}),
    ("s3", "put_public_access_block", {
        "Bucket": "demo-bucket",
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True},
    }),
    ("s3", "get_bucket_ownership_controls", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_ownership_controls", {
        "Bucket": "demo-bucket",
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    }),
    ("s3", "get_bucket_policy", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_policy", {"Bucket": "demo-bucket", "Policy": "{}"}),
    ("s3", "delete_bucket_policy", {"Bucket": "demo-bucket"}),
    ("s3", "get_bucket_versioning", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_versioning", {
        "Bucket": "demo-bucket", "VersioningConfiguration": {"Status": "Enabled"}
    }),
    ("s3", "get_bucket_lifecycle_configuration", {"Bucket": "demo-bucket"}),
    ("s3", "put_bucket_lifecycle_configuration", {
        "Bucket": "demo-bucket",
        "LifecycleConfiguration": {
            "Rules": [{"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""},
                       "Expiration": {"Days": 1}}]
        },
    }),
    ("s3", "delete_bucket_lifecycle", {"Bucket": "demo-bucket"}),
    ("s3", "get_object", {"Bucket": "demo-bucket", "Key": "app/build.zip"}),
    ("s3", "put_object", {"Bucket": "demo-bucket", "Key": "app/build.zip", "Body": b"zip"}),
    ("s3", "head_object", {"Bucket": "demo-bucket", "Key": "app/build.zip"}),
    ("s3", "delete_object", {"Bucket": "demo-bucket", "Key": "app/build.zip"}),
    ("s3", "copy_object", {
        "Bucket": "demo-bucket", "Key": "b", "CopySource": {"Bucket": "demo-bucket", "Key": "a"}
    }),
    ("s3", "get_object_tagging", {"Bucket": "demo-bucket", "Key": "k"}),
    ("s3", "create_multipart_upload", {"Bucket": "demo-bucket", "Key": "k"}),
    ("s3", "upload_part", {
        "Bucket": "demo-bucket", "Key": "k", "UploadId": "u", "PartNumber": 1, "Body": b"x"
    }),
    ("s3", "complete_multipart_upload", {"Bucket": "demo-bucket", "Key": "k", "UploadId": "u"}),
    ("s3", "abort_multipart_upload", {"Bucket": "demo-bucket", "Key": "k", "UploadId": "u"}),
    ("s3", "list_parts", {"Bucket": "demo-bucket", "Key": "k", "UploadId": "u"}),
]


@pytest.mark.parametrize(
    ("service", "method", "params"),
    BOTOCORE_CASES,
    ids=[f"{c[0]}.{c[1]}" for c in BOTOCORE_CASES],
)
def test_a_request_botocore_serialized_gets_the_operation_name_botocore_gave_it(
    aws, service, method, params
):
    client = aws(service, endpoint_url="http://127.0.0.1:9")
    client.meta.events.register("before-send", _capture)
    with pytest.raises(_Sent) as sent:
        getattr(client, method)(**params)
    operation = client.meta.method_to_api_mapping[method]
    http_method = client.meta.service_model.operation_model(operation).http["method"]

    name, op, kind = named(_environ_of(sent.value.request))

    assert (name, op) == (service, operation)
    if service == "s3":
        assert kind == ("read" if http_method in ("GET", "HEAD") else "write")
    else:
        assert kind == ("read" if operation.startswith(
            ("Get", "Describe", "List", "BatchGet", "Head")) else "write")


# --- the middleware ------------------------------------------------------------------


def _call(app: Any, env: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"], started["headers"] = status, dict(headers)

    body = b"".join(app(env, start_response))
    return started["status"], started["headers"], body


def _teapot(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
    return [b"tea"]


def test_each_request_is_logged_with_its_status_and_control_requests_are_not():
    middleware = RequestLogMiddleware(_teapot)
    _call(middleware, environ("GET", "/", "Action=ListRoles", service="iam"))

    status, headers, body = _call(middleware, environ("GET", "/_ecspipe/requests"))
    again = json.loads(_call(middleware, environ("GET", "/_ecspipe/requests"))[2])

    assert status.startswith("200")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == again == {
        "requests": [{"service": "iam", "operation": "ListRoles", "kind": "read", "status": 418}]
    }


def test_delete_clears_the_log():
    middleware = RequestLogMiddleware(_teapot)
    _call(middleware, environ("GET", "/", "Action=ListRoles", service="iam"))

    status, _, _ = _call(middleware, environ("DELETE", "/_ecspipe/requests"))

    assert status.startswith("200")
    assert middleware.log.entries() == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/_ecspipe/requests", "GET, DELETE"), ("PUT", "/_ecspipe/requests", "GET, DELETE"),
     ("GET", "/_ecspipe/reset", "POST"), ("DELETE", "/_ecspipe/reset", "POST")],
)
def test_other_methods_on_the_control_endpoints_are_405(method, path, allow):
    middleware = RequestLogMiddleware(_teapot, reset=lambda: pytest.fail("reset called"))

    status, headers, _ = _call(middleware, environ(method, path))

    assert status.startswith("405")
    assert headers["Allow"] == allow
    assert middleware.log.entries() == []


def test_an_unknown_control_path_is_404_and_is_not_passed_on():
    middleware = RequestLogMiddleware(_teapot)

    status, _, _ = _call(middleware, environ("GET", "/_ecspipe/other"))

    assert status.startswith("404")
    assert middleware.log.entries() == []


def test_reset_calls_the_hook_then_clears_the_log_including_what_the_hook_sent():
    middleware = RequestLogMiddleware(_teapot)

    def hook() -> bool:
        # What a re-seed does: requests through the same middleware.
        _call(middleware, environ("POST", "/", "Action=CreateRole", service="iam"))
        return True

    middleware.reset = hook
    _call(middleware, environ("GET", "/", "Action=ListRoles", service="iam"))

    status, _, body = _call(middleware, environ("POST", "/_ecspipe/reset"))

    assert status.startswith("200")
    assert json.loads(body) == {"reset": True, "seeded": True}
    assert middleware.log.entries() == []


def test_a_failed_reset_is_a_500_naming_the_error():
    def hook() -> bool:
        raise RuntimeError("seed failed")

    middleware = RequestLogMiddleware(_teapot, reset=hook)

    status, _, body = _call(middleware, environ("POST", "/_ecspipe/reset"))

    assert status.startswith("500")
    assert json.loads(body) == {"reset": False, "error": "RuntimeError: seed failed"}


def test_an_app_that_starts_its_response_lazily_is_logged_before_its_first_chunk():
    middleware = RequestLogMiddleware(lambda env, sr: _lazy(sr))
    seen: list[int] = []

    for _ in middleware(environ("GET", "/", "Action=ListRoles", service="iam"), lambda *_: None):
        seen.append(len(middleware.log))

    assert seen == [1, 1]
    assert middleware.log.entries()[0]["status"] == 202


def _lazy(start_response: Any):
    start_response("202 Accepted", [])
    yield b"a"
    yield b"b"


def test_an_app_that_raises_is_logged_as_500():
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    middleware = RequestLogMiddleware(broken)

    with pytest.raises(RuntimeError):
        middleware(environ("GET", "/", "Action=ListRoles", service="iam"), lambda *_: None)

    assert [e["status"] for e in middleware.log.entries()] == [500]


def test_the_log_is_bounded_and_keeps_the_newest_entries():
    log = RequestLog(maxlen=3)

    for n in range(5):
        log.append({"n": n})

    assert [e["n"] for e in log.entries()] == [2, 3, 4]


def test_concurrent_requests_are_all_logged():
    middleware = RequestLogMiddleware(_teapot)

    def send() -> None:
        for _ in range(200):
            _call(middleware, environ("GET", "/", "Action=ListRoles", service="iam"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(middleware.log) == 1600


# --- against a seeded server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # --manual-connections: connection status never depends on the wall clock.
    started = ServerProcess.start(str(tmp_path_factory.mktemp("requestlog")),
                                  "--manual-connections")
    yield started
    started.stop()


def _control(url: str, method: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(url + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def fresh(server):
    """The shared server, reset: seeded, nothing else, an empty log."""
    status, body = _control(server.url, "POST", "/_ecspipe/reset")
    assert (status, body) == (200, {"reset": True, "seeded": True})
    return server


@pytest.fixture
def client(fresh, aws):
    return lambda service: aws(service, endpoint_url=fresh.url)


def _log(server: ServerProcess) -> list[dict[str, Any]]:
    return _log_of(server.url)


def _log_of(url: str) -> list[dict[str, Any]]:
    status, body = _control(url, "GET", "/_ecspipe/requests")
    assert status == 200
    return body["requests"]


def _bucket() -> str:
    return f"requestlog-{uuid.uuid4().hex[:8]}"


def test_the_server_logs_each_call_by_service_operation_and_kind(client, fresh):
    bucket = _bucket()
    client("sts").get_caller_identity()
    client("iam").create_role(RoleName="logged", AssumeRolePolicyDocument="{}")
    client("iam").get_role(RoleName="logged")
    client("s3").create_bucket(Bucket=bucket)
    client("s3").head_bucket(Bucket=bucket)
    client("s3").put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "app", "Value": "demo"}]}
    )
    client("s3").get_bucket_tagging(Bucket=bucket)
    client("s3").list_objects_v2(Bucket=bucket)
    client("ecs").describe_services(cluster="demo-cluster", services=["demo-web-service"])
    client("ecr").describe_images(repositoryName="demo-app")
    client("logs").describe_log_groups(logGroupNamePrefix="/ecs/")
    client("codeconnections").create_connection(ConnectionName="logged", ProviderType="GitHub")
    client("codestar-connections").list_connections()
    client("codebuild").batch_get_projects(names=["none"])
    client("codepipeline").list_pipelines()

    log = _log(fresh)

    assert [(e["service"], e["operation"], e["kind"]) for e in log] == [
        ("sts", "GetCallerIdentity", "read"),
        ("iam", "CreateRole", "write"),
        ("iam", "GetRole", "read"),
        ("s3", "CreateBucket", "write"),
        ("s3", "HeadBucket", "read"),
        ("s3", "PutBucketTagging", "write"),
        ("s3", "GetBucketTagging", "read"),
        ("s3", "ListObjectsV2", "read"),
        ("ecs", "DescribeServices", "read"),
        ("ecr", "DescribeImages", "read"),
        ("logs", "DescribeLogGroups", "read"),
        ("codeconnections", "CreateConnection", "write"),
        ("codestar-connections", "ListConnections", "read"),
        ("codebuild", "BatchGetProjects", "read"),
        ("codepipeline", "ListPipelines", "read"),
    ]
    assert [e["status"] for e in log] == [200] * 5 + [204] + [200] * 9


def test_failed_calls_are_logged_with_their_status(client, fresh):
    with pytest.raises(ClientError):
        client("iam").get_role(RoleName="missing")
    with pytest.raises(ClientError):
        client("s3").head_bucket(Bucket=_bucket())

    assert [(e["operation"], e["status"]) for e in _log(fresh)] == [
        ("GetRole", 404),
        ("HeadBucket", 404),
    ]


def test_delete_clears_the_servers_log_and_reading_it_is_not_logged(client, fresh):
    client("sts").get_caller_identity()
    first = _log(fresh)
    second = _log(fresh)

    status, _ = _control(fresh.url, "DELETE", "/_ecspipe/requests")

    assert first == second == [
        {"service": "sts", "operation": "GetCallerIdentity", "kind": "read", "status": 200}
    ]
    assert status == 200
    assert _log(fresh) == []


def test_the_servers_control_endpoints_answer_other_methods_with_405(fresh):
    assert _control(fresh.url, "PUT", "/_ecspipe/requests")[0] == 405
    assert _control(fresh.url, "GET", "/_ecspipe/reset")[0] == 405
    assert _log(fresh) == []


def _pipeline(client: Any, connection_arn: str) -> None:
    trust = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "codepipeline.amazonaws.com"}}],
    })
    role = client("iam").create_role(RoleName="pipeline-role", AssumeRolePolicyDocument=trust)
    source = {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS",
                         "provider": "CodeStarSourceConnection", "version": "1"},
        "configuration": {"ConnectionArn": connection_arn, "FullRepositoryId": "acme/demo-app",
                          "BranchName": "main"},
        "outputArtifacts": [{"name": "SourceOutput"}],
    }
    approve = {
        "name": "Approve",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                         "version": "1"},
    }
    client("codepipeline").create_pipeline(pipeline={
        "name": "demo-pipeline",
        "roleArn": role["Role"]["Arn"],
        "artifactStore": {"type": "S3", "location": "demo-artifacts"},
        "pipelineType": "V2",
        "stages": [{"name": "Source", "actions": [source]},
                   {"name": "Approve", "actions": [approve]}],
    })


def _resources(client: Any) -> dict[str, Any]:
    iam = client("iam")
    ecs = client("ecs")
    service = ecs.describe_services(cluster="demo-cluster", services=["demo-web-service"])
    return {
        "buckets": [b["Name"] for b in client("s3").list_buckets()["Buckets"]],
        "roles": sorted(r["RoleName"] for r in iam.list_roles()["Roles"]),
        "connections": client("codeconnections").list_connections()["Connections"],
        "pipelines": [p["name"] for p in client("codepipeline").list_pipelines()["pipelines"]],
        "service": [(s["serviceName"], s["status"], s["desiredCount"])
                    for s in service["services"]],
        "images": [i["imageTags"] for i in
                   client("ecr").describe_images(repositoryName="demo-app")["imageDetails"]],
    }


SEEDED = {
    "buckets": [],
    "roles": ["demo-web-task-role", "ecsCodeDeployRole", "ecsInfrastructureRoleForLoadBalancers",
              "ecsTaskExecutionRole"],
    "connections": [],
    "pipelines": [],
    "service": [("demo-web-service", "ACTIVE", 2)],
    "images": [["20261101_120000-0a1b2c3"]],
}


def test_reset_removes_what_was_created_and_restores_the_seeded_service(client, fresh):
    before = _resources(client)
    client("s3").create_bucket(Bucket=_bucket())
    client("iam").create_role(RoleName="created-role", AssumeRolePolicyDocument="{}")
    arn = client("codeconnections").create_connection(
        ConnectionName="created", ProviderType="GitHub"
    )["ConnectionArn"]
    _pipeline(client, arn)
    client("ecs").update_service(cluster="demo-cluster", service="demo-web-service",
                                 desiredCount=0)
    client("ecs").delete_service(cluster="demo-cluster", service="demo-web-service")
    changed = _resources(client)

    status, body = _control(fresh.url, "POST", "/_ecspipe/reset")
    log = _log(fresh)
    after = _resources(client)

    assert before == SEEDED
    assert changed != SEEDED
    assert (status, body) == (200, {"reset": True, "seeded": True})
    assert log == []
    assert after == SEEDED


def test_reset_works_again_and_again(client, fresh):
    buckets = []
    for _ in range(3):
        bucket = _bucket()
        client("s3").create_bucket(Bucket=bucket)
        buckets.append([b["Name"] for b in client("s3").list_buckets()["Buckets"]])
        assert _control(fresh.url, "POST", "/_ecspipe/reset") == (
            200, {"reset": True, "seeded": True}
        )

    assert [len(b) for b in buckets] == [1, 1, 1]
    assert client("s3").list_buckets()["Buckets"] == []


def test_a_pipeline_created_again_after_a_reset_has_only_its_new_execution(client, fresh):
    arn = client("codestar-connections").create_connection(
        ConnectionName="again", ProviderType="GitHub"
    )["ConnectionArn"]
    _pipeline(client, arn)
    client("codepipeline").start_pipeline_execution(name="demo-pipeline")
    executions_before = client("codepipeline").list_pipeline_executions(
        pipelineName="demo-pipeline")["pipelineExecutionSummaries"]

    _control(fresh.url, "POST", "/_ecspipe/reset")
    arn = client("codestar-connections").create_connection(
        ConnectionName="again", ProviderType="GitHub"
    )["ConnectionArn"]
    _pipeline(client, arn)
    executions_after = client("codepipeline").list_pipeline_executions(
        pipelineName="demo-pipeline")["pipelineExecutionSummaries"]

    assert len(executions_before) == 2
    assert len(executions_after) == 1


# --- in the server's process ------------------------------------------------------------


def test_reset_restores_the_settings_the_server_started_with_and_wipes_extension_state(aws):
    from moto.codebuild.models import codebuild_backends

    from ecspipe.sandbox import settings
    from ecspipe.sandbox.builds import _simulated_builds
    from ecspipe.sandbox.settings import ManualClock, SystemClock

    with _serve_in_a_thread(seed=False, manual_connections=True, fail_stage="Build",
                            rollback=True) as url:
        log_at_start = _log_of(url)
        connections = aws("codeconnections", endpoint_url=url)
        connections.create_connection(ConnectionName="wiped", ProviderType="GitHub")
        _simulated_builds(codebuild_backends[ACCOUNT][REGION])["build-1"] = {"id": "build-1"}
        settings.SETTINGS.fail_stage = None
        settings.SETTINGS.rollback = False
        settings.SETTINGS.handshake_delay = 0.0
        settings.SETTINGS.stage_seconds["Build"] = 99.0
        settings.SETTINGS.clock = ManualClock()

        status, body = _control(url, "POST", "/_ecspipe/reset")
        restored = copy.deepcopy(settings.SETTINGS)  # serve() resets it again on its way out
        listed = connections.list_connections()["Connections"]
        builds = _simulated_builds(codebuild_backends[ACCOUNT][REGION])
        clusters = aws("ecs", endpoint_url=url).list_clusters()["clusterArns"]
        log = _log_of(url)

    assert log_at_start == []
    assert (status, body) == (200, {"reset": True, "seeded": False})
    assert (restored.fail_stage, restored.rollback, restored.handshake_delay) == (
        "Build", True, None
    )
    assert restored.stage_seconds == settings.Settings().stage_seconds
    assert isinstance(restored.clock, SystemClock)
    assert listed == []
    assert builds == {}
    assert clusters == []
    assert [e["operation"] for e in log] == ["ListConnections", "ListClusters"]

