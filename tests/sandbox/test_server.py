"""The sandbox as a real HTTP server: `python -m ecspipe sandbox` in a subprocess.

One seeded server process is shared by the module (starting one takes seconds:
moto's EC2 models alone take a while to import). Each test uses names of its
own so none depends on another. Server mode routes requests differently from
mock mode (by the SigV4 credential scope's service name, not by URL), so the
extensions are checked here again through that path.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest
from botocore.exceptions import ClientError

from ecspipe.errors import UserError

STARTUP_TIMEOUT = 120.0  # seconds; a loaded CI machine needs far more than the usual 5
HANDSHAKE_DELAY = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class ServerProcess:
    """A sandbox server subprocess whose stdout is read line by line."""

    proc: subprocess.Popen
    url: str
    stderr_path: str
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, tmp_dir, *args: str) -> ServerProcess:
        port = _free_port()
        stderr_path = os.path.join(tmp_dir, f"server-{port}.stderr")
        proc = subprocess.Popen(
            [sys.executable, "-m", "ecspipe", "sandbox", "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=open(stderr_path, "w"),  # noqa: SIM115 (the child owns it)
            text=True,
            env=_env(),
        )
        server = cls(proc=proc, url=f"http://127.0.0.1:{port}", stderr_path=stderr_path)
        threading.Thread(target=server._read, daemon=True).start()
        server.wait_for_line("ecspipe sandbox: listening on", STARTUP_TIMEOUT)
        return server

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of output

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no line starting {prefix!r} within {timeout}s; {self.stderr()}")
            if line is None:
                pytest.fail(f"server exited before printing {prefix!r}; {self.stderr()}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr(self) -> str:
        with open(self.stderr_path) as fh:
            return "stderr:\n" + fh.read()[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = ServerProcess.start(
        str(tmp_path_factory.mktemp("server")), "--handshake-delay", str(HANDSHAKE_DELAY)
    )
    yield started
    started.stop()


@pytest.fixture
def client(server, aws):
    """A boto3 client of the shared server."""

    def make(service: str):
        return aws(service, endpoint_url=server.url)

    return make


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- startup ------------------------------------------------------------------------


def test_the_server_prints_where_it_listens_and_how_to_point_clients_at_it(server):
    assert server.lines[-1:] == [f"ecspipe sandbox: listening on {server.url}"]
    following = [server.wait_for_line("export", 5), server.wait_for_line("export", 5)]

    assert following == [
        f"export AWS_ENDPOINT_URL={server.url}",
        "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        "AWS_DEFAULT_REGION=us-east-1",
    ]


def test_sts_answers_with_the_default_account(client):
    assert client("sts").get_caller_identity()["Account"] == "123456789012"


def test_the_server_is_seeded_with_the_demo_service_and_its_image(client):
    service = client("ecs").describe_services(
        cluster="demo-cluster", services=["demo-web-service"]
    )["services"][0]
    images = client("ecr").describe_images(repositoryName="demo-app")["imageDetails"]

    assert (service["serviceName"], service["desiredCount"]) == ("demo-web-service", 2)
    assert images[0]["imageTags"] == ["20261101_120000-0a1b2c3"]


# --- connections ----------------------------------------------------------------------


@pytest.mark.parametrize("api", ["codestar-connections", "codeconnections"])
def test_a_connection_can_be_created_read_listed_and_deleted(client, api):
    connections = client(api)
    name = _name("crud")

    arn = connections.create_connection(ConnectionName=name, ProviderType="GitHub")["ConnectionArn"]
    got = connections.get_connection(ConnectionArn=arn)["Connection"]
    listed = [c["ConnectionArn"] for c in connections.list_connections()["Connections"]]
    connections.delete_connection(ConnectionArn=arn)
    with pytest.raises(ClientError) as excinfo:
        connections.get_connection(ConnectionArn=arn)

    assert arn.startswith(f"arn:aws:{api}:us-east-1:123456789012:connection/")
    assert got["ConnectionName"] == name
    assert arn in listed
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_connection_created_through_one_api_is_visible_through_the_other(client):
    arn = client("codestar-connections").create_connection(
        ConnectionName=_name("shared"), ProviderType="GitHub"
    )["ConnectionArn"]

    got = client("codeconnections").get_connection(ConnectionArn=arn)["Connection"]

    assert got["ConnectionArn"] == arn


def test_a_pending_connection_becomes_available_after_the_handshake_delay(client):
    connections = client("codeconnections")
    arn = connections.create_connection(ConnectionName=_name("wait"), ProviderType="GitHub")[
        "ConnectionArn"
    ]
    created = time.monotonic()
    first = connections.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]

    status = first
    while status != "AVAILABLE" and time.monotonic() - created < HANDSHAKE_DELAY + 1.0:
        time.sleep(0.1)
        status = connections.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]

    assert first == "PENDING"
    assert status == "AVAILABLE"


def test_complete_handshake_remote_makes_a_connection_available_at_once(client, server):
    from ecspipe.sandbox.connections import complete_handshake_remote

    connections = client("codestar-connections")
    arn = connections.create_connection(ConnectionName=_name("now"), ProviderType="GitHub")[
        "ConnectionArn"
    ]
    before = connections.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]

    answered = complete_handshake_remote(server.url, arn)
    after = connections.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]

    assert (before, answered, after) == ("PENDING", "AVAILABLE", "AVAILABLE")


def test_complete_handshake_remote_of_an_unknown_connection_raises_key_error(server):
    from ecspipe.sandbox.connections import complete_handshake_remote

    with pytest.raises(KeyError):
        complete_handshake_remote(
            server.url, "arn:aws:codeconnections:us-east-1:123456789012:connection/0000-missing"
        )


# --- codebuild ------------------------------------------------------------------------


def test_codebuild_creates_updates_and_reads_a_codepipeline_project(client):
    codebuild = client("codebuild")
    name = _name("build")
    environment = {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_SMALL",
        "privilegedMode": True,
        "environmentVariables": [{"name": "APP_ENV", "value": "production"}],
    }

    codebuild.create_project(
        name=name,
        source={"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"},
        artifacts={"type": "CODEPIPELINE"},
        environment=environment,
        serviceRole="arn:aws:iam::123456789012:role/service-role/demo-app-codebuild",
        tags=[{"key": "team", "value": "platform"}],
    )
    updated = codebuild.update_project(name=name, timeoutInMinutes=45)["project"]
    project = codebuild.batch_get_projects(names=[name])["projects"][0]

    assert updated["timeoutInMinutes"] == 45
    assert project["timeoutInMinutes"] == 45
    assert project["environment"] == environment
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"}
    assert project["tags"] == [{"key": "team", "value": "platform"}]


# --- stopping and failing to start ---------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_cleanly_with_exit_code_0(tmp_path, signum):
    own = ServerProcess.start(str(tmp_path), "--no-seed")

    code = own.stop(signum)
    last = own.wait_for_line("ecspipe sandbox: stopped", 5)

    assert code == 0
    assert last == "ecspipe sandbox: stopped"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(own.url.rsplit(":", 1)[1])), timeout=1)


def test_a_port_in_use_is_a_user_error_naming_the_port_and_the_flag():
    from ecspipe.sandbox.server import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(UserError) as excinfo:
            serve(port=port, seed=False)

    assert str(port) in excinfo.value.message
    assert "--port" in (excinfo.value.hint or "")


def test_the_sandbox_command_reports_a_port_in_use_with_exit_code_2(capsys):
    from ecspipe.cli import run

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        code = run(["sandbox", "--port", str(port), "--no-seed"])

    err = capsys.readouterr().err
    assert code == 2
    assert f"port {port} is already in use" in err
    assert "--port" in err
    assert "Traceback" not in err


@contextlib.contextmanager
def _serve_in_a_thread(**kwargs):
    """serve(port=0, **kwargs) in this process, unseeded unless asked; yields its URL,
    stops it after."""
    from ecspipe.sandbox import server as server_module

    urls: list[str] = []
    ready = threading.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=server_module.serve,
        kwargs={"port": 0, "seed": False, "ready": on_ready, **kwargs},
    )
    thread.start()
    try:
        assert ready.wait(STARTUP_TIMEOUT), "serve() never called ready"
        yield urls[0]
    finally:
        server_module.request_stop()
        thread.join(30)
    assert not thread.is_alive(), "serve() did not return after request_stop()"


def test_serve_in_a_thread_calls_ready_with_its_url_and_stops_on_request_stop(aws):
    with _serve_in_a_thread() as url:
        identity = aws("sts", endpoint_url=url).get_caller_identity()

    assert url.startswith("http://127.0.0.1:")
    assert identity["Account"] == "123456789012"


def test_moto_api_reset_wipes_connections_on_a_server(aws):
    with _serve_in_a_thread() as url:
        connections = aws("codeconnections", endpoint_url=url)
        connections.create_connection(ConnectionName="before-reset", ProviderType="GitHub")
        before = connections.list_connections()["Connections"]
        reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        after = connections.list_connections()["Connections"]

    assert [c["ConnectionName"] for c in before] == ["before-reset"]
    assert after == []


def test_the_sandbox_command_passes_commit_message_to_serve(monkeypatch):
    from ecspipe.cli import run
    from ecspipe.sandbox import server as server_module

    seen: dict = {}
    monkeypatch.setattr(server_module, "serve", lambda **kwargs: seen.update(kwargs))
    monkeypatch.setattr("os._exit", lambda code: seen.setdefault("exit", code))
    run(["sandbox", "--port", "1", "--no-seed", "--commit-message", "msg \x1b[2J"])
    assert seen["commit_message"] == "msg \x1b[2J" and seen["exit"] == 0


# --- only requests addressed to the server (DNS rebinding, cross-site requests) --------


def _raw(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """One HTTP request with exactly these headers (Host included): (status, body)."""
    import http.client

    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _log(url: str) -> list[dict]:
    import json

    with urllib.request.urlopen(f"{url}/_ecspipe/requests", timeout=10) as response:
        return json.loads(response.read())["requests"]


def test_a_request_for_another_host_is_refused_and_changes_nothing(server, client):
    port = server.url.rsplit(":", 1)[1]
    arn = client("codeconnections").create_connection(
        ConnectionName=_name("rebind"), ProviderType="GitHub")["ConnectionArn"]
    before = len(_log(server.url))

    reset = _raw(server.url, "POST", "/_ecspipe/reset", {"Host": f"evil.example:{port}"})
    state = _raw(server.url, "POST", "/moto-api/reset", {"Host": "evil.example"})
    requests = _raw(server.url, "GET", "/_ecspipe/requests", {"Host": f"evil.example:{port}"})
    no_host = _raw(server.url, "GET", "/_ecspipe/requests", {})

    for status, body in (reset, state, requests):
        assert status == 403
        assert body.startswith("ecspipe sandbox: refused: Host 'evil.example")
        assert "DNS rebinding" in body
    assert no_host == (403, "ecspipe sandbox: refused: the request has no Host header.\n")
    client("codeconnections").get_connection(ConnectionArn=arn)  # still there
    assert len(_log(server.url)) == before + 1  # the GetConnection; refusals are not logged


def test_a_browser_request_from_another_site_is_refused_preflight_included(server):
    port = server.url.rsplit(":", 1)[1]
    own = {"Host": f"127.0.0.1:{port}"}

    posted = _raw(server.url, "POST", "/_ecspipe/reset",
                  {**own, "Origin": "http://evil.example", "Content-Type": "text/plain"})
    preflight = _raw(server.url, "OPTIONS", "/", {
        **own, "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target"})
    same_origin = _raw(server.url, "GET", "/_ecspipe/requests",
                       {**own, "Origin": f"http://localhost:{port}"})

    assert posted[0] == preflight[0] == 403
    assert "Origin 'http://evil.example'" in posted[1]
    assert same_origin[0] == 200


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost", "[::1]"])
def test_every_loopback_spelling_of_the_server_is_answered(server, spelling):
    port = server.url.rsplit(":", 1)[1]

    status, _ = _raw(server.url, "GET", "/_ecspipe/requests", {"Host": f"{spelling}:{port}"})

    assert status == 200


def test_s3_clients_work_path_style_and_virtual_hosted_on_localhost(server, aws):
    from urllib.parse import urlsplit, urlunsplit

    from botocore.config import Config

    port = server.url.rsplit(":", 1)[1]
    bucket = _name("hosts")
    path_style = aws("s3", endpoint_url=f"http://localhost:{port}")
    path_style.create_bucket(Bucket=bucket)
    path_style.put_object(Bucket=bucket, Key="artifact.zip", Body=b"zip")
    virtual = aws("s3", endpoint_url=f"http://localhost:{port}",
                  config=Config(s3={"addressing_style": "virtual"}))
    hosts: list[str] = []

    def resolve(request, **_):
        # <bucket>.localhost is loopback (RFC 6761) but this machine's resolver may not
        # know it: connect to 127.0.0.1, and keep the Host header the client chose.
        parts = urlsplit(request.url)
        hosts.append(parts.netloc)
        request.headers["Host"] = parts.netloc
        request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{port}"))

    virtual.meta.events.register("before-send.s3.*", resolve)

    listed = virtual.list_objects_v2(Bucket=bucket)
    body = virtual.get_object(Bucket=bucket, Key="artifact.zip")["Body"].read()

    assert hosts == [f"{bucket}.localhost:{port}"] * 2
    assert [o["Key"] for o in listed["Contents"]] == ["artifact.zip"] and body == b"zip"
    operations = [e["operation"] for e in _log(server.url)[-2:]]
    assert operations == ["ListObjectsV2", "GetObject"]


def test_an_sdk_refused_by_host_sees_why(server, aws):
    sts = aws("sts", endpoint_url=server.url)
    sts.meta.events.register(
        "before-send.sts.*", lambda request, **_: request.headers.__setitem__("Host", "evil.example"))

    with pytest.raises(ClientError) as excinfo:
        sts.get_caller_identity()

    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    assert "is not this server" in excinfo.value.response["Error"]["Message"]


def test_bound_to_every_interface_ips_and_allowed_names_are_answered_others_refused(aws):
    with _serve_in_a_thread(host="0.0.0.0", allowed_hosts=("host.docker.internal",)) as url:
        port = url.rsplit(":", 1)[1]
        probe = url.replace("0.0.0.0", "127.0.0.1")
        answered = {
            host: _raw(probe, "GET", "/_ecspipe/requests", {"Host": f"{host}:{port}"})[0]
            for host in ("127.0.0.1", "10.20.30.40", "localhost", "host.docker.internal",
                         "evil.example")
        }
        identity = aws("sts", endpoint_url=probe).get_caller_identity()

    assert answered == {"127.0.0.1": 200, "10.20.30.40": 200, "localhost": 200,
                        "host.docker.internal": 200, "evil.example": 403}
    assert identity["Account"] == "123456789012"
