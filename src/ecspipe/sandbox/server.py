"""`ecspipe sandbox`: moto's HTTP server plus ecspipe's extensions, in the foreground.

moto's own `moto_server` cannot load extensions, so this is our entry point: it
installs every extension (`ecspipe.sandbox.install()`), applies the behaviour
settings, binds moto's WSGI app (the `DomainDispatcherApplication` that routes a
request to a service by its SigV4 credential scope) with moto's request handler
on a threaded werkzeug server, waits until STS answers, seeds Part 1's
resources, and prints how to point the AWS CLI and SDKs at it:

    ecspipe sandbox: listening on http://127.0.0.1:4566
    export AWS_ENDPOINT_URL=http://127.0.0.1:4566
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

SIGINT (Ctrl-C) and SIGTERM stop it cleanly. The CLI command lives in cli.py and
calls `serve()` (this module never imports the CLI: imports go one way).

Every request passes through a request log (requestlog.py), and the server
answers three control endpoints of its own (JSON; never logged themselves; 405
for other methods):

    GET    /_ecspipe/requests  {"requests": [{"service", "operation",
                               "kind": "read"|"write", "status"}, ...]}, oldest first
    DELETE /_ecspipe/requests  clears the log
    POST   /_ecspipe/reset     back to the start state without a restart: every
                               moto backend (as /moto-api/reset) and with it every
                               extension's state, the behaviour settings the server
                               was started with, Part 1's resources if it seeded
                               them; then clears the log.
                               {"reset": true, "seeded": bool}; 500 with
                               {"reset": false, "error": ...} if re-seeding failed.

The log is empty when the server prints that it is listening.

Only requests addressed to this server are answered, never a web page's
(DNS rebinding, cross-site requests): hostguard.py says which, and answers 403
to the others, before the log or moto see them.
"""

from __future__ import annotations

import errno
import functools
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ecspipe.errors import UserError

REGION = "us-east-1"
READY_TIMEOUT = 30.0


def _probe_host(host: str) -> str:
    # A server bound to every interface is reached on loopback.
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _wait_until_answering(endpoint_url: str, timeout: float = READY_TIMEOUT) -> None:
    """Until STS GetCallerIdentity succeeds against the server (bounded)."""
    import boto3
    from botocore.config import Config

    sts = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client(
        "sts",
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            sts.get_caller_identity()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, or UserError naming the port.

    Bound here rather than by werkzeug, whose server prints its own message and
    calls sys.exit(1) when the port is taken.
    """
    from werkzeug.serving import LISTEN_QUEUE, get_sockaddr, select_address_family

    family = select_address_family(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(get_sockaddr(host, port, family))
        sock.listen(LISTEN_QUEUE)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"cannot listen on {host}:{port}: port {port} is already in use",
                hint=f"stop whatever uses port {port}, or choose another one with --port",
            ) from exc
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="check --host, or choose another port with --port",
        ) from exc
    return sock


def _make_server(host: str, port: int, allowed_hosts: tuple[str, ...] = ()) -> Any:
    """A threaded werkzeug server of moto's app behind the request log
    (`server.request_log`), behind the host guard (hostguard.py: only requests
    addressed to this server are answered).

    The log's reset hook is unset: the caller sets `server.request_log.reset`
    once it knows what a reset must restore (see `reset_sandbox`).
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from ecspipe.sandbox.hostguard import HostGuardMiddleware, HostPolicy
    from ecspipe.sandbox.requestlog import RequestLogMiddleware

    sock = _bind(host, port)
    try:
        log = RequestLogMiddleware(DomainDispatcherApplication(create_backend_app))
        policy = HostPolicy(host, sock.getsockname()[1], allowed_hosts)
        # werkzeug duplicates the descriptor.
        server: Any = make_server(
            host,
            port,
            HostGuardMiddleware(log, policy),
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=sock.fileno(),
        )
    finally:
        sock.close()
    server.request_log = log  # not `log`: werkzeug's server has a log() method
    return server


def reset_sandbox(*, seed: bool, endpoint_url: str, behaviour: dict[str, Any]) -> bool:
    """Back to the state `serve()` started in; returns whether Part 1 was re-seeded.

    moto's reset (what `POST /moto-api/reset` does) resets and drops every
    `BackendDict`, and every extension keeps its state in one: connections in
    their own backend, pipeline executions and simulated builds on moto's
    CodePipeline and CodeBuild backends, ECS rollouts on moto's services. The
    behaviour settings go back to `behaviour` (what the server started with).
    The re-seed talks to the server over HTTP, like the first one: it must run
    on a request thread of a threaded server, never while that server is held.
    """
    from moto.moto_api._internal.models import moto_api_backend

    from ecspipe.sandbox import settings

    moto_api_backend.reset()
    settings.reset(**behaviour)
    if seed:
        from ecspipe.sandbox.seed import seed as seed_resources

        seed_resources(region=REGION, endpoint_url=endpoint_url)
    return seed


def serve(
    host: str = "127.0.0.1",
    port: int = 4566,
    seed: bool = True,
    manual_connections: bool = False,
    handshake_delay: float | None = 3.0,
    fail_stage: str | None = None,
    rollback: bool = False,
    commit_message: str | None = None,
    role_propagation: float = 0.0,
    ready: Callable[[str], Any] | threading.Event | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM.

    `ready`, if given, is called with the endpoint URL (or set, if it is an
    Event) once the server answers and is seeded. Port 0 picks a free port;
    the printed URL shows the one chosen. Raises UserError when the port is
    taken. SIGINT/SIGTERM handlers are installed only when called on the main
    thread; run on another thread, it stops on `request_stop()`. Requests are
    answered only when addressed to this server (hostguard.py); bound to every
    interface, `allowed_hosts` names the host names clients may use besides
    IP addresses, localhost and this machine's name.
    """
    from ecspipe import sandbox
    from ecspipe.sandbox import settings

    sandbox.require_moto()
    sandbox.install()
    server = _make_server(host, port, allowed_hosts)  # UserError if the port is taken
    port = server.port  # the one chosen, for port 0
    url = _url(host, port)
    probe = _url(_probe_host(host), port)
    behaviour: dict[str, Any] = {
        "handshake_delay": None if manual_connections else handshake_delay,
        "fail_stage": fail_stage,
        "rollback": rollback,
        "commit_message": commit_message,
        "role_propagation": role_propagation,
    }
    settings.reset(**behaviour)
    server.request_log.reset = functools.partial(
        reset_sandbox, seed=seed, endpoint_url=probe, behaviour=behaviour
    )
    # werkzeug logs every request to stderr; the sandbox prints only its own lines.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    stop = threading.Event()
    _stops.append(stop)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())

    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},  # how soon shutdown() is noticed
        name="ecspipe-sandbox",
        daemon=True,
    )
    thread.start()
    try:
        _wait_until_answering(probe)
        if seed and not stop.is_set():
            from ecspipe.sandbox.seed import seed as seed_resources

            seed_resources(region=REGION, endpoint_url=probe)
        # The log starts empty, as after a reset: the probe and the seed are not a client's.
        server.request_log.log.clear()
        if not stop.is_set():
            print(f"ecspipe sandbox: listening on {url}")
            print(f"export AWS_ENDPOINT_URL={url}")
            print(
                "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
                f"AWS_DEFAULT_REGION={REGION}"
            )
            sys.stdout.flush()
            if isinstance(ready, threading.Event):
                ready.set()
            elif ready is not None:
                ready(url)
        # Wait in short slices: the main thread stays responsive to signals.
        while not stop.wait(0.1):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # restore what the caller had
        _stops.remove(stop)
        settings.reset()
        print("ecspipe sandbox: stopped")
        sys.stdout.flush()


_stops: list[threading.Event] = []


def request_stop() -> None:
    """Stop every `serve()` running in this process (for in-process use)."""
    for stop in list(_stops):
        stop.set()

