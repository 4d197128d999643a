"""A loopback HTTP proxy that makes every request cost a round trip of a real network.

    proxy = LatencyProxy("http://127.0.0.1:4566", latency=0.060)
    proxy.start()            # proxy.url: point AWS_ENDPOINT_URL here
    ...
    proxy.latency = 0.0      # change it between commands
    proxy.take()             # the requests it passed since the last take()

The bench puts it between a measured command and the sandbox. Each request is
held for `latency` seconds once it has been received, then forwarded; so a
command that waits for its requests one after another pays `latency` per
request, and requests sent at once pay it once: extra time ÷ latency is the
number of request rounds the command waited for in sequence. Opening a TCP
connection costs nothing extra here (no TLS on loopback); how many a command
opens is counted instead, which shows whether botocore's pool reuses them.

Only what the bench needs of HTTP/1.1: keep-alive connections, bodies with
Content-Length or chunked, any method; one upstream connection per client
connection. The Host header is rewritten to the sandbox's, which answers only
requests addressed to it (sandbox/hostguard.py); nothing else is changed.
Each request is recorded with the times it arrived and was answered
(time.perf_counter), so the bench can also count the rounds directly: the
longest chain of requests each sent after the previous one was answered.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers of one hop, never forwarded (RFC 9110 section 7.6.1), plus what is recomputed.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
              "expect", "content-length", "host"}


@dataclass(frozen=True)
class Passed:
    """One request through the proxy: when it arrived and when its answer was sent."""

    start: float
    end: float
    method: str
    path: str
    status: int
    connection: int  # which client connection carried it (1, 2, ...)
    operation: str = ""  # the AWS operation, as far as the request shows it
    held: float = 0.0  # how long the proxy held it (the latency, plus any wait for a CPU)


def operation_of(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    """The operation a request calls: X-Amz-Target (JSON protocols), Action= (query
    protocol: IAM, STS), else the S3 method and subresource."""
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    if b"Action=" in body:
        for part in body.split(b"&"):
            if part.startswith(b"Action="):
                return part[7:].decode(errors="replace")
    query = urlsplit(path).query.split("&")[0].split("=")[0]
    return f"{method} {query or urlsplit(path).path.count('/') > 1 and 'object' or 'bucket'}"


def critical_path(requests: list[Passed]) -> list[Passed]:
    """The longest chain of requests each of which arrived after the previous one was
    answered: the rounds the client waited for one after another."""
    ordered = sorted(requests, key=lambda r: r.start)
    depth: list[int] = []
    previous: list[int | None] = []
    for i, request in enumerate(ordered):
        before = [j for j in range(i) if ordered[j].end <= request.start]
        best = max(before, key=lambda j: (depth[j], ordered[j].end), default=None)
        depth.append(1 + (depth[best] if best is not None else 0))
        previous.append(best)
    if not ordered:
        return []
    at: int | None = max(range(len(ordered)), key=lambda k: depth[k])
    chain = []
    while at is not None:
        chain.append(ordered[at])
        at = previous[at]
    return chain[::-1]


def rounds(requests: list[Passed]) -> int:
    return len(critical_path(requests))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 20 pipelines open ~80 connections at once
    proxy: LatencyProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small writes must not wait for delayed ACKs (Nagle): that would add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.number = self.server.proxy._opened()
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self._body()
        start = time.perf_counter()
        latency = proxy.latency
        if latency > 0:
            time.sleep(latency)
        held = time.perf_counter() - start
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = proxy.target_host
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            status, reason, answer, data = self._upstream_call(headers, body)
        except OSError as exc:
            status, reason, answer = 502, "Bad Gateway", [("Content-Type", "text/plain")]
            data = f"wanproxy: the upstream failed: {exc}".encode()
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in answer if k.lower() not in HOP_BY_HOP]
        if self.command == "HEAD":
            length = dict((k.lower(), v) for k, v in answer).get("content-length", "0")
        else:
            length = str(len(data))
        lines.append(f"Content-Length: {length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else data))
        self.wfile.flush()
        proxy._record(Passed(start, time.perf_counter(), self.command, self.path, status,
                             self.number, operation_of(self.command, self.path, headers, body),
                             held))

    def _upstream_call(self, headers: dict[str, str],
                       body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """One request to the sandbox, on this client connection's upstream connection
        (made again once if the sandbox closed it)."""
        proxy = self.server.proxy
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(proxy.target_host, timeout=120)
            try:
                self.upstream.request(self.command, self.path, body=body or None,
                                      headers=headers)
                response = self.upstream.getresponse()
                data = response.read()
                if response.will_close:
                    self.upstream.close()
                    self.upstream = None
                return response.status, response.reason, response.getheaders(), data
            except (http.client.HTTPException, OSError):
                if self.upstream is not None:
                    self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _forward


class LatencyProxy:
    """The proxy, served on its own threads in this process."""

    def __init__(self, target_url: str, latency: float = 0.0) -> None:
        parts = urlsplit(target_url)
        self.target_host = parts.netloc
        self.latency = latency
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._passed: list[Passed] = []
        self._connections = 0
        self._taken_connections = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="wanproxy")
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def _opened(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _record(self, passed: Passed) -> None:
        with self._lock:
            self._passed.append(passed)

    def take(self) -> tuple[list[Passed], int]:
        """The requests passed and the connections opened since the last take()."""
        with self._lock:
            passed, self._passed = self._passed, []
            opened = self._connections - self._taken_connections
            self._taken_connections = self._connections
        return passed, opened
