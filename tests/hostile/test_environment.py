"""Hostile-input corpus, issue 10 sections 2 and 3: the environment and the terminal.

Every input goes through the real CLI: in-process with the `ecspipe` fixture
(the sandbox in mock mode where AWS is involved, a local TCP server on 127.0.0.1
where the endpoint itself is the hostile part), and as a subprocess with a
timeout where the stream's real encoding matters. Each case checks what a user
would see: the exit code, the field or resource named, no traceback, nothing
written to AWS before the error, no hang, and no raw control character from
remote text on the screen. Helpers live in this file on purpose (no shared
harness: other corpora are written in parallel).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config.example.yaml").read_text()
SUBPROCESS_TIMEOUT = 45  # seconds; a subprocess case that takes longer is a hang
# The encoding case runs up, two releases and two statuses in one process (about 11 s of
# CPU): on a loaded 2-core machine that alone can pass 45 s of wall time.
STORY_TIMEOUT = 180

# Characters that must never reach the terminal raw from remote text: C0 but \t \n,
# DEL, C1, bidi embeddings/overrides/isolates and marks, zero-width and BOM, tags.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e"
                 "\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")
# What rich itself writes on a terminal: SGR colours and cursor/erase moves (CSI),
# carriage returns of the live display. Hostile sequences are checked by payload.
RICH_OWN = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def no_traceback(result) -> None:
    assert "Traceback" not in result.err + result.out, result


def inert(text: str, terminal: bool = False) -> None:
    """No raw control character in `text` (beyond rich's own styling on a terminal)."""
    if terminal:
        assert "\x1b]" not in text, "an OSC sequence reached the terminal"
        text = RICH_OWN.sub("", text)
    found = RAW.search(text)
    assert found is None, f"raw {found.group()!r} in output: {text[max(0, found.start() - 60):found.end() + 20]!r}"


def user_error(result, *named: str, code: int = 2) -> None:
    """One clear error: the exit code, every name in `named` on stderr, no traceback."""
    assert result.code == code, result
    no_traceback(result)
    for text in named:
        assert text in result.err, (text, result)
    assert result.err.startswith("error: ") or "\nerror: " in result.err, result
    inert(result.err)
    inert(result.out)


def write(tmp_path: Path, text: str | bytes, name: str = "ecspipe.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def example(*replacements: tuple[str, str]) -> str:
    text = EXAMPLE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


# --- 1. YAML and files -----------------------------------------------------------------


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return str(path)


def _socket_file(tmp_path: Path) -> str:
    path = tmp_path / "sock.yaml"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return str(path)


def _loop(tmp_path: Path) -> str:
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    return str(tmp_path / "a.yaml")


def _dangling(tmp_path: Path) -> str:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    return str(tmp_path / "gone.yaml")


def _sparse_huge(tmp_path: Path) -> str:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(4 << 30)  # 4 GiB, sparse: reading it would exhaust memory
    return str(path)


def _just_over(tmp_path: Path) -> str:
    return write(tmp_path, EXAMPLE + "#" * (1 << 20))


def _alias_bomb(under: str) -> str:
    """Billion laughs: 10^9 elements by reference, under an unknown key (first, so the
    anchors exist), and optionally aliased where a list is allowed."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "x-anchors:\n" + "\n".join("  " + line for line in lines) + "\n"
    if under == "unknown key":
        return bomb + EXAMPLE
    return bomb + example(("test_commands: []", "test_commands: *l8"))


# (case id, how to make the path, what the one-line error must say)
FILE_CASES = [
    ("dev-null", lambda _: "/dev/null", ["/dev/null: not a regular file"]),
    ("unix-socket", _socket_file, ["sock.yaml: not a regular file", "socket"]),
    ("symlink-loop", _loop, ["a.yaml", "symbolic links"]),
    ("dangling-symlink", _dangling, ["gone.yaml: a symbolic link to a file that does not exist"]),
    ("just-over-1MiB", _just_over, ["too large", "1 MiB"]),
    ("directory", lambda p: str(p), ["the directory holds no *.yaml"]),
    ("missing", lambda p: str(p / "nope.yaml"), ["nope.yaml: no such file"]),
    ("not-a-directory", lambda p: write(p, EXAMPLE, "f") + "/x.yaml",
     ["no such file", "not a directory"]),
    ("escape-in-name", lambda p: str(p / "\x1b]52;c;ZXZpbA==\x07\x1b[2J.yaml"),
     ["\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J.yaml: no such file"]),
    ("undecodable-name", lambda p: str(p / "caf\udce9.yaml"), ["caf\\udce9.yaml: no such file"]),
    ("proc-file-size-0", lambda _: "/proc/self/environ", ["/proc/self/environ", "invalid YAML"]),
    ("binary", lambda p: write(p, b"\x00\x01\x02\xff\xfe\x9b[2J"), ["is not UTF-8 text"]),
    ("utf16-bom", lambda p: write(p, EXAMPLE.encode("utf-16")), ["is UTF-16 text"]),
    ("utf32-bom", lambda p: write(p, EXAMPLE.encode("utf-32")), ["is UTF-32 text"]),
    ("nul-in-yaml", lambda p: write(p, EXAMPLE.replace("name: demo-app", "name: demo\x00app")),
     ["#x0000 is not allowed"]),
    ("alias-bomb", lambda p: write(p, _alias_bomb("unknown key")), ["unknown key 'x-anchors'"]),
    ("alias-bomb-in-list", lambda p: write(p, _alias_bomb("list")),
     ["build.test_commands.0: must be a string, not a list"]),
    ("recursive-alias", lambda p: write(p, EXAMPLE + "\nx: &r [*r]\n"), ["unknown key 'x'"]),
    ("deep-flow-nesting", lambda p: write(p, EXAMPLE + "\nx: " + "[" * 20000 + "]" * 20000),
     ["invalid YAML", "nesting depth"]),
    ("deep-block-nesting",
     lambda p: write(p, EXAMPLE + "\nx:\n" + "".join(" " * i + "k:\n" for i in range(1, 1200))),
     ["x"]),
    ("duplicate-key", lambda p: write(p, EXAMPLE + "\nname: other\n"),
     ["name: duplicate key 'name' (first at line"]),
    ("tab-indent", lambda p: write(p, example(("  repository: acme", "\trepository: acme"))),
     ["invalid YAML", "indent with spaces"]),
    ("two-documents", lambda p: write(p, EXAMPLE + "\n---\nname: x\n"), ["2 YAML documents"]),
    ("empty", lambda p: write(p, ""), ["the file is empty"]),
    ("only-comments", lambda p: write(p, "# nothing\n"), ["has only comments"]),
    ("top-level-list", lambda p: write(p, "- a\n- b\n"), ["the top level must be a mapping"]),
    ("bidi-in-value", lambda p: write(p, example(("name: demo-app", "name: demo\u202eppa"))),
     ["name: may contain only", "\\u202e"]),
]


# Cases that block forever or read until memory runs out when a reader trusts open():
# run as subprocesses with a timeout and an address-space cap, so they fail, not hang.
DANGEROUS_FILE_CASES = [
    ("fifo", _fifo, ["pipe.yaml: not a regular file", "named pipe"]),
    ("dev-zero", lambda _: "/dev/zero", ["/dev/zero: not a regular file", "character device"]),
    ("dev-urandom", lambda _: "/dev/urandom", ["/dev/urandom: not a regular file"]),
    ("sparse-4GiB", _sparse_huge, ["huge.yaml: too large", "4294967296 bytes", "1 MiB"]),
]


def _capped() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # 2 GiB


@pytest.mark.parametrize("make, named", [c[1:] for c in DANGEROUS_FILE_CASES],
                         ids=[c[0] for c in DANGEROUS_FILE_CASES])
@pytest.mark.parametrize("command", ["validate", "up"])
def test_a_file_that_never_ends_is_refused_at_once(make, named, command, tmp_path):
    path = make(tmp_path)
    started = time.monotonic()
    result = _run_cli([command, "-c", path, "--endpoint-url", _closed_port_url()]
                      if command == "up" else [command, "-c", path], preexec_fn=_capped)
    assert time.monotonic() - started < SUBPROCESS_TIMEOUT
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    for text in named:
        assert text in result.stderr, (text, result.stderr)
    assert "cannot reach" not in result.stderr  # refused before any AWS client


def test_a_fifo_with_a_silent_writer_is_refused_without_reading(tmp_path):
    path = _fifo(tmp_path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer exists, but sends nothing
    try:
        result = _run_cli(["validate", "-c", path])
    finally:
        os.close(fd)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result


def test_stdin_as_the_config_path_never_blocks():
    """`-c /dev/stdin` on a pipe whose writer stays open: refused at once (it used to wait)."""
    read, write_end = os.pipe()
    try:
        result = _run_cli(["validate", "-c", "/dev/stdin"], stdin=read)
    finally:
        os.close(read)
        os.close(write_end)
    assert result.returncode == 2, result
    assert "/dev/stdin: not a regular file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("make, named", [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_a_bad_config_file_is_one_line_at_once_and_nothing_touches_aws(
        make, named, tmp_path, ecspipe, calls, sandbox):
    path = make(tmp_path)
    started = time.monotonic()
    result = ecspipe("up", "-c", path)
    assert time.monotonic() - started < 10, "a config file must be refused at once"
    user_error(result, *named)
    assert calls.ops == [], "nothing may reach AWS before the config is valid"
    if "problem" not in result.err:  # whole-file errors are one line (+ a hint)
        assert len([line for line in result.err.splitlines()
                    if not line.startswith("hint:")]) == 1, result


def test_a_utf8_bom_and_a_symlink_to_a_config_are_fine(tmp_path, ecspipe):
    real = write(tmp_path, b"\xef\xbb\xbf" + EXAMPLE.encode(), "real.yaml")
    (tmp_path / "link.yaml").symlink_to(real)
    result = ecspipe("validate", "-c", str(tmp_path / "link.yaml"))
    assert result.code == 0, result


def test_a_directory_reports_a_fifo_named_yaml_instead_of_skipping_it(tmp_path, ecspipe):
    write(tmp_path, EXAMPLE, "web.yaml")
    os.mkfifo(tmp_path / "worker.yaml")
    result = ecspipe("validate", "-c", str(tmp_path))
    user_error(result, "worker.yaml: not a regular file")


# --- 2. environment and endpoints ------------------------------------------------------


class _Server:
    """A TCP server on 127.0.0.1 that misbehaves in one way, on a thread, bounded."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        self.held: list[socket.socket] = []
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(1.0)
            try:
                if self.mode == "silent":  # accepts, reads, never answers
                    self.held.append(conn)
                    continue
                if self.mode != "close":
                    conn.recv(65536)
                if self.mode == "garbage":  # another protocol entirely
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\x1b[2J not http\r\n")
                elif self.mode == "not-aws":  # HTTP, but not an AWS API
                    body = b"<html>\x1b]8;;http://evil\x07hi</html>"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextmanager
def server(mode: str) -> Iterator[_Server]:
    srv = _Server(mode)
    try:
        yield srv
    finally:
        srv.close()


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def _limits(**overrides: float):
    from ecspipe.aws import Limits

    values = {"connect": 1.0, "read": 0.5, "read_by_service": {}, "deadline": 1.0, **overrides}
    return Limits(**values)


@pytest.fixture
def example_path(tmp_path) -> str:
    return write(tmp_path, EXAMPLE)


BAD_ENDPOINTS = [
    ("ftp-scheme", "ftp://127.0.0.1:21", "must be an http:// or https:// URL"),
    ("no-scheme", "127.0.0.1:4566", "must be an http:// or https:// URL"),
    ("scheme-only", "http://", "has no host name"),
    ("space", "http://local host:4566", "must not contain spaces"),
    ("escape", "http://127.0.0.1:4566/\x1b[2J", "control"),
    ("path", "http://127.0.0.1:4566/aws/", "no path, query or fragment"),
    ("query", "http://127.0.0.1:4566?x=1", "no path, query or fragment"),
    ("userinfo", "http://user:secret@127.0.0.1:4566", "must not contain a user name"),
    ("port-too-big", "http://127.0.0.1:99999", "invalid port"),
    ("port-zero", "http://127.0.0.1:0", "invalid port"),
    ("port-not-a-number", "http://127.0.0.1:http", "invalid port"),
    ("unbalanced-ipv6", "http://[::1:4566", "is not a URL"),
    ("bad-ipv6", "http://[::zz]:4566", "is not a URL"),
    ("underscore-host", "http://local_stack:4566", "invalid host name"),
    ("unicode-host", "http://ex\u0430mple.com", "non-ASCII"),
]


@pytest.mark.parametrize("url, problem", [c[1:] for c in BAD_ENDPOINTS],
                         ids=[c[0] for c in BAD_ENDPOINTS])
def test_a_bad_endpoint_url_is_refused_before_any_client(url, problem, example_path, ecspipe,
                                                         calls):
    result = ecspipe("up", "-c", example_path, "--endpoint-url", url)
    user_error(result, "--endpoint-url", problem)
    assert calls.ops == []


def test_a_bad_aws_endpoint_url_variable_is_named(example_path, ecspipe, calls, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:4566")
    user_error(ecspipe("status", "-c", example_path), "AWS_ENDPOINT_URL 'localhost:4566'")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "not a url")
    user_error(ecspipe("status", "-c", example_path), "AWS_ENDPOINT_URL_S3")
    assert calls.ops == []


@pytest.mark.parametrize("mode, said", [
    ("closed", "cannot reach the AWS endpoint"),
    ("garbage", "closed the connection without an HTTP answer"),
    ("close", "closed the connection without an HTTP answer"),
    ("not-aws", "is not an AWS API response"),
    ("silent", "accepted the connection but sent no answer within 0.5s"),
])
def test_a_broken_endpoint_is_one_line_naming_it_within_the_deadline(mode, said, example_path,
                                                                    ecspipe, calls):
    with server(mode if mode != "closed" else "close") as srv:
        url = _closed_port_url() if mode == "closed" else srv.url
        started = time.monotonic()
        result = ecspipe("up", "-c", example_path, "--endpoint-url", url,
                         obj={"aws_limits": _limits()})
        took = time.monotonic() - started
    user_error(result, said, url)
    assert calls.writes == []
    assert took < 15, f"took {took:.1f}s with a 1 s deadline"
    if mode == "silent":
        # botocore's standard mode would make TOTAL_MAX_ATTEMPTS (8) attempts; the
        # deadline stopped it after the first ones.
        attempts = int(re.search(r"after (\d+) attempts", result.err)[1])
        assert 2 <= attempts <= 3, result


def test_without_the_deadline_a_silent_endpoint_is_retried(example_path, ecspipe):
    """The deadline is what stops the retries (a long deadline lets botocore go on)."""
    with server("silent") as srv:
        result = ecspipe("status", "-c", example_path, "--endpoint-url", srv.url,
                         obj={"aws_limits": _limits(read=0.2, deadline=2.5)})
    user_error(result, "sent no answer")
    assert int(re.search(r"after (\d+) attempts", result.err)[1]) >= 3, result


def test_every_client_gets_the_limits_timeouts():
    from ecspipe.aws import Aws, Limits

    aws = Aws("us-east-1", endpoint_url="http://127.0.0.1:9")
    for service in ("sts", "ecs", "s3"):
        config = aws.client(service).meta.config
        assert config.connect_timeout == Limits().connect == 10
        assert config.read_timeout == (60 if service == "s3" else 20)
    # a retry starts only before the deadline and takes at most one read timeout,
    # so a silent endpoint fails within about a minute (S3: one 60 s attempt)
    assert Limits().deadline + Limits().read <= 60


def test_a_config_parse_error_reaches_every_client_not_only_the_first(tmp_path, monkeypatch):
    """botocore keeps a half-read config after a parse error: without parsing up front,
    the second client (another thread's first request) started without the error."""
    import botocore.exceptions

    from ecspipe.aws import Aws

    Aws("us-east-1", endpoint_url="http://127.0.0.1:9").client("sts")  # as earlier runs do
    path = tmp_path / "credentials"
    path.write_text("\x00\x1b[2J[[[\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    aws = Aws("us-east-1", endpoint_url="http://127.0.0.1:9")
    for service in ("sts", "ecs"):
        with pytest.raises(botocore.exceptions.ConfigParseError):
            aws.client(service)


CONFIG_FILES = [
    ("config-no-bracket", "AWS_CONFIG_FILE", "[default\nregion = us-east-1\n",
     "cannot parse the AWS config file"),
    ("config-no-equals", "AWS_CONFIG_FILE", "[default]\nregion us-east-1\n",
     "cannot parse the AWS config file"),
    ("credentials-garbage", "AWS_SHARED_CREDENTIALS_FILE", "\x00\x1b[2J[[[\n",
     "cannot parse the AWS config file"),
    ("config-bad-endpoint", "AWS_CONFIG_FILE", "[default]\nendpoint_url = not a url\n",
     "Invalid endpoint"),
    ("config-bad-sts-setting", "AWS_CONFIG_FILE", "[default]\nsts_regional_endpoints = nope\n",
     "AWS configuration"),
    ("config-bad-defaults-mode", "AWS_CONFIG_FILE", "[default]\ndefaults_mode = turbo\n",
     "AWS configuration"),
    ("failing-credential-process", "AWS_CONFIG_FILE",
     "[profile broken]\ncredential_process = /bin/false\n", "cannot get AWS credentials"),
]


@pytest.mark.parametrize("variable, content, said", [c[1:] for c in CONFIG_FILES],
                         ids=[c[0] for c in CONFIG_FILES])
def test_a_broken_aws_config_is_a_user_error(variable, content, said, example_path, tmp_path,
                                             ecspipe, calls, monkeypatch):
    path = tmp_path / "aws-file"
    path.write_text(content)
    monkeypatch.setenv(variable, str(path))
    args = ["up", "-c", example_path]
    if "endpoint_url" not in content:  # a flag would override the file's endpoint
        args += ["--endpoint-url", _closed_port_url()]
    if "[profile broken]" in content:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(var)
        args += ["--profile", "broken"]
    result = ecspipe(*args, obj={"aws_limits": _limits()})
    user_error(result, said)
    assert calls.writes == []


ENVIRONMENT = [
    ("proxy-garbage", {"HTTPS_PROXY": "::garbage", "HTTP_PROXY": "::garbage"},
     "check HTTPS_PROXY / HTTP_PROXY"),
    ("proxy-closed", {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
     "cannot reach the proxy"),
    ("newline-in-key", {"AWS_ACCESS_KEY_ID": "AKIA\nEVIL"}, "cannot be sent in an HTTP header"),
    ("escape-in-token", {"AWS_SESSION_TOKEN": "tok\r\nX-Evil: 1"}, "cannot be sent in an HTTP"),
    ("defaults-mode", {"AWS_DEFAULTS_MODE": "turbo"}, "AWS configuration: "),
    ("checksum-setting", {"AWS_REQUEST_CHECKSUM_CALCULATION": "bogus"}, "AWS configuration: "),
    ("missing-secret", {"AWS_SECRET_ACCESS_KEY": ""}, "incomplete AWS credentials"),
]


@pytest.mark.parametrize("variables, said", [c[1:] for c in ENVIRONMENT],
                         ids=[c[0] for c in ENVIRONMENT])
def test_a_bad_aws_environment_variable_is_a_user_error(variables, said, example_path, ecspipe,
                                                        calls, monkeypatch):
    for name, value in variables.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    endpoint = "https://127.0.0.1:9" if "HTTPS_PROXY" in variables else _closed_port_url()
    result = ecspipe("up", "-c", example_path, "--endpoint-url", endpoint,
                     obj={"aws_limits": _limits()})
    user_error(result, said)
    assert "EVIL" not in result.err  # a credential is never echoed
    assert calls.writes == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_unknown_profile_is_a_user_error(how, example_path, ecspipe, monkeypatch):
    args = ["status", "-c", example_path, "--endpoint-url", _closed_port_url()]
    if how == "flag":
        args += ["--profile", "no-such-profile"]
    else:
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    user_error(ecspipe(*args), "'no-such-profile' is not configured")


# --- 3. regions, ARN partitions, tags ---------------------------------------------------

REGION = "region: us-east-1"
CLUSTER = "cluster: demo-cluster"
SERVICE = "name: demo-web-service"

CONFIG_CASES = [
    ("region-typo", [(REGION, "region: us-est-1")], "region: is not an AWS region (did you mean"),
    ("region-az", [(REGION, "region: us-east-1a")], "is an availability zone"),
    ("region-upper", [(REGION, "region: US-EAST-1")], "in lowercase"),
    ("region-space", [(REGION, "region: ' us-east-1'")], "in lowercase, without spaces"),
    ("region-unknown", [(REGION, "region: mars-north-1")], "region: is not an AWS region"),
    ("region-too-new", [(REGION, "region: eu-central-9")], "region: is not an AWS region"),
    ("region-pseudo", [(REGION, "region: aws-global")], "region: is not an AWS region"),
    ("region-control", [(REGION, 'region: "us-east-1\\e[2J"')], "region:"),
    ("cluster-arn-cn", [(CLUSTER, "cluster: arn:aws-cn:ecs:us-east-1:123456789012:cluster/c")],
     "service.cluster: the cluster is in partition 'aws-cn', but region us-east-1 is in "
     "partition 'aws'"),
    ("service-arn-gov", [(SERVICE, "name: arn:aws-us-gov:ecs:us-east-1:123456789012:service/"
                                   "demo-cluster/s")], "partition 'aws-us-gov'"),
    ("cluster-arn-unknown-partition",
     [(CLUSTER, "cluster: arn:aws-mars:ecs:us-east-1:123456789012:cluster/c")],
     "unknown partition 'aws-mars'"),
    ("gov-region-aws-arn", [(REGION, "region: us-gov-west-1"),
                            (CLUSTER, "cluster: arn:aws:ecs:us-gov-west-1:123456789012:cluster/c")],
     "is in partition 'aws', but region us-gov-west-1 is in partition 'aws-us-gov'"),
    ("iso-region-aws-arn", [(REGION, "region: us-iso-east-1"),
                            (CLUSTER, "cluster: arn:aws:ecs:us-iso-east-1:123456789012:cluster/c")],
     "partition 'aws-iso'"),
    ("connection-arn-partition",
     [("  # connection_arn: arn:aws:codeconnections:us-east-1:123456789012:connection/abcd-...",
       "  connection_arn: arn:aws-cn:codeconnections:us-east-1:123456789012:connection/abcd")],
     "source.connection_arn: the connection is in partition 'aws-cn'"),
    ("tag-key-info-separator", [("  team: platform", '  "team\\x1c": platform')],
     "tag keys may contain only Unicode letters, digits, spaces", ),
    ("tag-value-nel", [("  team: platform", '  team: "plat\\x85form"')], "'\\x85'"),
    ("tag-value-unit-separator", [("  team: platform", '  team: "a\\x1fb"')], "'\\x1f'"),
    ("tag-key-combining-mark", [("  team: platform", "  te\u0301am: platform")], "'\\u0301'"),
    ("tag-key-connector", [("  team: platform", "  te\u203fam: platform")], "'\\u203f'"),
    ("tag-key-emoji", [("  team: platform", "  team\U0001f600: platform")], "'\\U0001f600'"),
    ("tag-value-bidi", [("  team: platform", "  team: 'a\u202eb'")], "'\\u202e'"),
    ("tag-key-128", [("  team: platform", "  " + "k" * 128 + ": v")], "1-127 characters, not 128"),
    ("tag-value-256", [("  team: platform", "  team: " + "v" * 256)],
     "at most 255 characters, not 256"),
    ("tag-key-empty", [("  team: platform", "  '': v")], "1-127 characters, not 0"),
    ("tag-key-aws", [("  team: platform", "  AwS:team: v")], "reserved by AWS"),
    ("tag-value-aws", [("  team: platform", "  team: 'aws:platform'")],
     "tag values starting with 'aws:' are reserved"),
    ("tag-key-ecspipe", [("  team: platform", "  managed-by: me")], "reserved"),
]


@pytest.mark.parametrize("replacements, said", [c[1:] for c in CONFIG_CASES],
                         ids=[c[0] for c in CONFIG_CASES])
def test_a_bad_region_arn_or_tag_is_exit_2_at_validate_and_before_any_write(
        replacements, said, tmp_path, ecspipe, calls, sandbox):
    path = write(tmp_path, example(*replacements))
    user_error(ecspipe("validate", "-c", path), said)
    user_error(ecspipe("up", "-c", path), said)
    assert calls.ops == []


def test_aws_tag_characters_beyond_ascii_are_accepted(tmp_path, ecspipe):
    path = write(tmp_path, example(("  team: platform",
                                    "  Kostenstelle: 'Müller 日本 ٣ Ⅻ _.:/=+-@'\n"
                                    "  \"équipe\u00a0x\": v")))
    result = ecspipe("validate", "-c", path)
    assert result.code == 0, result


def test_the_strictest_tag_limits_are_codebuilds(tmp_path):
    """The limits used are the strictest of the services ecspipe tags (their models)."""
    import botocore.session

    from ecspipe.config.rules import TAG_KEY_MAX, TAG_VALUE_MAX

    session = botocore.session.get_session()
    maxima = []
    for service in ("iam", "s3", "ecr", "codebuild", "codepipeline", "logs", "codeconnections"):
        model = session.get_service_model(service)
        shapes = model.shape_for("Tag").members if "Tag" in model.shape_names else {}
        key = next((shapes[k] for k in shapes if k.lower() == "key"), None)
        value = next((shapes[k] for k in shapes if k.lower() == "value"), None)
        maxima.append((key.metadata.get("max", 10**6) if key else 10**6,
                       value.metadata.get("max", 10**6) if value else 10**6))
    assert TAG_KEY_MAX == min(k for k, _ in maxima) == 127
    assert TAG_VALUE_MAX == min(v for _, v in maxima) == 255


@pytest.mark.parametrize("region, said", [
    ("us-est-1", "--region 'us-est-1': is not an AWS region (did you mean 'us-east-1' or "
                 "'us-west-1'?)"),
    ("eu-west-1a", "--region 'eu-west-1a': is an availability zone"),
    ("", "--region '': is not an AWS region"),
    ("\x1b[31mus-east-1", "--region '\\x1b[31mus-east-1'"),
])
def test_the_region_flag_is_validated_like_the_config(region, said, example_path, ecspipe,
                                                      calls, sandbox):
    user_error(ecspipe("validate", "-c", example_path, "--region", region), said)
    user_error(ecspipe("plan", "-c", example_path, "--region", region), said)
    assert calls.ops == []


def test_the_region_flag_is_checked_against_the_arns_of_the_config(tmp_path, ecspipe, sandbox,
                                                                   calls):
    path = write(tmp_path, example(
        (CLUSTER, "cluster: arn:aws:ecs:us-east-1:123456789012:cluster/demo-cluster")))
    assert ecspipe("validate", "-c", path).code == 0
    user_error(ecspipe("validate", "-c", path, "--region", "eu-west-1"),
               "service.cluster: the cluster is in region us-east-1, but --region is eu-west-1")
    user_error(ecspipe("up", "-c", path, "--region", "cn-north-1"),
               "but --region cn-north-1 is in partition 'aws-cn'")
    assert calls.ops == []
    result = ecspipe("validate", "-c", path, "--region", "us-east-1", "-o", "json")
    assert result.code == 0, result


def test_partitions_come_from_botocores_data():
    import botocore.session

    from ecspipe.names import partition_of
    from ecspipe.regions import known_regions

    session = botocore.session.get_session()
    regions = known_regions()
    assert {"us-east-1", "cn-north-1", "us-gov-west-1", "us-isob-east-1", "eusc-de-east-1"} <= set(
        regions)
    for partition in session.get_available_partitions():
        for region in session.get_available_regions("ecs", partition_name=partition):
            assert partition_of(region) == partition, region
    assert partition_of("eu-isoe-west-1") == "aws-iso-e"
    assert partition_of("us-isof-south-1") == "aws-iso-f"


# --- 4. terminal injection: remote text through every command that prints it ----------

# (name, raw payload, how it must appear): each short enough for `status`'s 50 columns.
PAYLOADS = [
    ("sgr-colour", "\x1b[38;5;196mPWNED\x1b[0m", "\\x1b[38;5;196mPWNED\\x1b[0m"),
    ("osc8-link", "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07",
     "\\x1b]8;;http://evil.example/\\x07click"),
    ("osc52-clipboard", "\x1b]52;c;Y3VybCBldmlsfHNo\x07", "\\x1b]52;c;Y3VybCBldmlsfHNo\\x07"),
    ("csi-cursor", "\x1b[3A\x1b[2KFAKE LINE", "\\x1b[3A\\x1b[2KFAKE LINE"),
    ("cr-overwrite", "harmless\rOVERWRITTEN", "harmless\\x0dOVERWRITTEN"),
    ("nul-bel-del", "nul\x00bel\x07del\x7f", "nul\\x00bel\\x07del\\x7f"),
    ("c1-csi", "\x9b31mC1RED \x85NEL", "\\x9b31mC1RED \\x85NEL"),
    ("bidi-override", "invoice\u202egpj.exe\u202c", "invoice\\u202egpj.exe\\u202c"),
    ("bidi-isolate", "\u2067RTL\u2069 \u200fmark", "\\u2067RTL\\u2069 \\u200fmark"),
    ("zero-width", "zero\u200bwidth\ufeffbom\U000e0041", "zero\\u200bwidth\\ufeffbom\\U000e0041"),
    ("rich-markup", "[bold red]MARKUP[/] [link=http://evil]L[/link]",
     "[bold red]MARKUP[/] [link=http://evil]L[/link]"),
    ("rich-unbalanced", "[/x] [main] [/] :warning: :smile:", "[/x] [main] [/] :warning: :smile:"),
]


def _terminal(monkeypatch) -> None:
    """A forced terminal for rich: colours, the live table (consoles made afresh)."""
    from ecspipe import render

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(render, "_consoles", {})


def _plain(monkeypatch) -> None:
    from ecspipe import render

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(render, "_consoles", {})


def _shown(text: str, payload: str, visible: str, terminal: bool) -> None:
    inert(text, terminal=terminal)
    if payload != visible:  # markup is shown as written; control characters never raw
        assert payload not in text
    assert visible in (RICH_OWN.sub("", text) if terminal else text), (visible, text)


@pytest.fixture
def pipeline(seeded, ecspipe, write_config):
    path = write_config()
    result = ecspipe("up", "-c", path, "--wait-connection")
    assert result.code == 0, result
    return path


def test_commit_messages_and_build_logs_are_literal_in_release_and_status(
        pipeline, ecspipe, sandbox, monkeypatch):
    sandbox.fail_stage = "Build"  # the failing test prints the commit message in the log
    for name, payload, visible in PAYLOADS:
        sandbox.commit_message = payload + "\nsecond line: released: ok"
        result = ecspipe("release", "-c", pipeline, "--wait")
        assert result.code == 1, (name, result)
        no_traceback(result)
        _shown(result.out, payload, visible, terminal=False)
        # a newline in remote text continues indented: never a line of ecspipe's own
        assert "\nsecond line" not in result.out and "  second line: released" in result.out
    for terminal in (False, True):
        (_terminal if terminal else _plain)(monkeypatch)
        result = ecspipe("status", "-c", pipeline, "--limit", str(len(PAYLOADS) + 1))
        assert result.code == 0, result
        for _name, payload, visible in PAYLOADS:
            _shown(result.out, payload, visible, terminal)
    _terminal(monkeypatch)
    result = ecspipe("release", "-c", pipeline, "--wait")  # the live table, then the log tail
    assert result.code == 1, result
    no_traceback(result)
    _shown(result.out, PAYLOADS[-1][1], PAYLOADS[-1][2], terminal=True)


def test_json_output_is_exact_data_with_no_raw_control_characters(pipeline, ecspipe, sandbox):
    message = "".join(p for _, p, _ in PAYLOADS)
    sandbox.commit_message = message
    sandbox.fail_stage = "Build"
    result = ecspipe("release", "-c", pipeline, "--wait", "-o", "json")
    assert result.code == 1, result
    inert(result.out)
    inert(result.err)
    assert any(message in line for line in result.json()["log_tail"])
    result = ecspipe("status", "-c", pipeline, "-o", "json")
    assert result.code == 0, result
    inert(result.out)
    assert result.out.isascii()
    assert result.json()["executions"][0]["message"] == message


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "terminal"])
def test_action_errors_with_markup_never_crash_the_live_table(terminal, pipeline, ecspipe,
                                                              sandbox, monkeypatch):
    """A Source error reads `[GitHub] No Branch [main] found`; an action error is AWS's text."""
    (_terminal if terminal else _plain)(monkeypatch)
    sandbox.fail_stage = "Source"
    result = ecspipe("release", "-c", pipeline, "--wait")
    assert result.code == 1, result
    no_traceback(result)
    assert "[GitHub] No Branch [main] found" in RICH_OWN.sub("", result.out)
    hostile = "".join(p for _, p, _ in PAYLOADS[:4] + PAYLOADS[-2:])

    def poison(parsed, model, **_):  # what a buildspec's failing command puts in the error
        if model.name != "ListActionExecutions":
            return
        for detail in parsed.get("actionExecutionDetails", []):
            result_ = (detail.get("output") or {}).get("executionResult") or {}
            if result_.get("errorDetails"):
                result_["errorDetails"]["message"] = hostile

    hooks = [("after-call.*.*", poison)]
    result = ecspipe("release", "-c", pipeline, "--wait", obj={"client_hooks": hooks})
    assert result.code == 1, result
    no_traceback(result)
    for _, payload, visible in PAYLOADS[:4] + PAYLOADS[-2:]:
        _shown(result.out, payload, visible, terminal)


def test_aws_error_messages_are_literal(pipeline, ecspipe, monkeypatch):
    hostile = "".join(p for _, p, _ in PAYLOADS)

    def refuse(model, **_):
        if model.name == "GetPipeline":
            return _Http(), {"Error": {"Code": "Boom\x1b[2J", "Message": hostile},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    for terminal in (False, True):
        (_terminal if terminal else _plain)(monkeypatch)
        result = ecspipe("status", "-c", pipeline, obj={"client_hooks": [
            ("before-call.*.*", refuse)]})
        assert result.code == 1, result
        no_traceback(result)
        for _, payload, visible in PAYLOADS:
            _shown(result.err, payload, visible, terminal)
        assert "GetPipeline failed (Boom\\x1b[2J)" in RICH_OWN.sub("", result.err)


class _Http:
    status_code = 400


def test_service_events_and_rollout_reasons_are_literal(pipeline, ecspipe, sandbox):
    sandbox.rollback = True
    hostile = PAYLOADS[2][1] + PAYLOADS[7][1] + PAYLOADS[-1][1]

    def poison(parsed, model, **_):  # events and reasons quote names anyone can choose
        if model.name != "DescribeServices":
            return
        for svc in parsed.get("services", []):
            for deployment in svc.get("deployments", []):
                if deployment.get("rolloutState") == "FAILED":
                    deployment["rolloutStateReason"] = hostile
            svc["events"] = [{"id": "e-1", "message": hostile}]

    hooks = [("after-call.*.*", poison)]
    result = ecspipe("release", "-c", pipeline, "--wait", obj={"client_hooks": hooks})
    assert result.code == 1, result
    no_traceback(result)
    assert "rolled back" in result.out
    for _, payload, visible in (PAYLOADS[2], PAYLOADS[7], PAYLOADS[-1]):
        _shown(result.out + result.err, payload, visible, terminal=False)
    result = ecspipe("status", "-c", pipeline, "-o", "json", obj={"client_hooks": hooks})
    assert result.code == 0, result
    inert(result.out)
    assert result.json()["service"]["events"][0] == hostile


def test_a_plan_diff_of_a_value_from_aws_is_literal(pipeline, ecspipe, monkeypatch):
    import botocore.session

    client = botocore.session.get_session().create_client("codebuild", region_name="us-east-1")
    hostile = PAYLOADS[0][1] + PAYLOADS[7][1] + PAYLOADS[-2][1]
    client.update_project(name="demo-app-build", description=hostile)
    for terminal in (False, True):
        (_terminal if terminal else _plain)(monkeypatch)
        result = ecspipe("plan", "-c", pipeline)
        assert result.code == 0, result
        assert "description:" in result.out
        inert(result.out, terminal=terminal)
        assert PAYLOADS[0][1] not in result.out and "\u202e" not in result.out


def test_click_usage_errors_quote_arguments_literally(ecspipe):
    result = ecspipe("validate", "--\x1b]52;c;ZXZpbA==\x07")
    assert result.code == 2, result
    no_traceback(result)
    inert(result.err)
    assert "No such option '--\\x1b]52;c;ZXZpbA" in result.err  # click cuts at "="


# --- 5. streams that cannot show every character (subprocesses) ------------------------


def _run_cli(args: list[str], env: dict[str, str] | None = None, **kwargs):
    script = Path(sys.executable).with_name("ecspipe")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ecspipe"]
    return subprocess.run(command + args, capture_output=True, text=True, errors="replace",
                          timeout=SUBPROCESS_TIMEOUT, env={**os.environ, **(env or {})},
                          cwd=ROOT, **kwargs)


# The sandbox in mock mode inside the subprocess (no server to start): up, then a
# failing release whose log and commit carry the message, then status; once plain,
# once on a forced terminal (rich: the live table), between the two marker lines.
DRIVER = r"""
import os, sys
from moto import mock_aws
from ecspipe import render, sandbox
from ecspipe.cli import run
from ecspipe.sandbox import settings
from ecspipe.sandbox.seed import seed
from ecspipe.sandbox.settings import ManualClock

clock = ManualClock()
sandbox.install()
settings.reset(clock=clock)
obj = {"sleep": clock.advance, "clock": clock.now}
with mock_aws():
    seed(region="us-east-1")
    assert run(["up", "-c", sys.argv[1], "--wait-connection"], obj=dict(obj)) == 0
    settings.SETTINGS.commit_message = sys.argv[2]
    settings.SETTINGS.fail_stage = "Build"
    codes = []
    for mode in ("plain", "terminal"):
        if mode == "terminal":
            os.environ.pop("NO_COLOR", None)
            os.environ["FORCE_COLOR"] = "1"
            render._consoles.clear()
        print(f"=== {mode}", flush=True)
        codes += [run(["release", "-c", sys.argv[1], "--wait"], obj=dict(obj)),
                  run(["status", "-c", sys.argv[1]], obj=dict(obj))]
        sys.stdout.flush()
sys.stderr.write(f"exit codes {codes}\n")
"""


def test_output_never_crashes_on_characters_the_encoding_cannot_show(tmp_path):
    """PYTHONIOENCODING=ascii (and LANG=C): plain and rich writers backslash-replace."""
    config = write(tmp_path, EXAMPLE)
    message = "修复 bug 🚀 ünïcödé \u202eevil"
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C",
           "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    result = subprocess.run([sys.executable, "-c", DRIVER, config, message], capture_output=True,
                            text=True, errors="strict", encoding="ascii",
                            timeout=STORY_TIMEOUT, env=env, cwd=ROOT)
    assert "exit codes [1, 0, 1, 0]" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "UnicodeEncodeError" not in result.stderr
    plain, terminal = result.stdout.split("=== terminal")
    assert "\x1b[" not in plain and "\x1b[" in terminal  # the second one is rich's
    for shown in (plain, RICH_OWN.sub("", terminal)):
        assert "\\u4fee\\u590d bug \\U0001f680" in shown  # 修复 ... 🚀, backslash-replaced
        assert "\\u202eevil" in shown


@pytest.mark.parametrize("command", [["validate"], ["validate", "-o", "json"], ["schema"]])
def test_a_path_in_chinese_is_shown_on_an_ascii_stream(command, tmp_path):
    path = write(tmp_path, EXAMPLE, "配置.yaml")
    args = command + (["-c", path] if command[0] == "validate" else [])
    result = _run_cli(args, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    if command == ["validate"]:
        assert "\\u914d\\u7f6e.yaml: valid" in result.stdout  # backslash-replaced
    else:
        assert result.stdout.isascii()
