"""Which requests the sandbox server answers: those addressed to it, never a browser's.

The sandbox has no authentication (moto checks no signature), and POST
/_ecspipe/reset wipes it. Two things a web page can do against a server on
127.0.0.1, and what refuses them:

- DNS rebinding: a page on evil.example re-points its own name at 127.0.0.1,
  then talks to the sandbox as "same origin". Its requests carry
  `Host: evil.example:PORT`. Only a Host naming the server is answered.
- A cross-site request: a page sends fetch("http://127.0.0.1:4566/...") (a
  POST with a simple content type needs no CORS preflight, and moto's server
  answers CORS with `Access-Control-Allow-Origin: *`, so the page may even read
  the answer). Browsers mark such a request with an `Origin` header. SDKs and
  the AWS CLI never send one, so a request whose Origin is not the server's
  own is refused, preflights (OPTIONS) included. An Origin is the server's own
  when it is the request's Host itself, or one of the names below; an IP
  address (other than loopback) is not, since it may be any machine's.

The hosts answered (`allowed_hosts()`), always at the port the server listens
on (a Host without a port means 80):

- bound to a loopback address (127.0.0.1, localhost, ::1): every loopback
  spelling, `127.0.0.1`, `localhost`, `[::1]`, and `<bucket>.localhost`, the
  virtual-hosted S3 style SDKs use with a localhost endpoint (`*.localhost`
  is loopback by definition, RFC 6761, and browsers never ask DNS for it);
- bound to one other address: that address;
- bound to every interface (0.0.0.0 or ::): any IP literal (an IP cannot be
  rebound: a page served from it is that IP's own origin), the loopback names,
  this machine's host name, and the names given to `serve(allowed_hosts=...)`
  (`ecspipe sandbox --allow-host NAME`, e.g. host.docker.internal). A name that
  is none of these is refused: that is what a rebinding attack would send.

Everything else gets 403 with a one-line explanation, before the request log
or moto see it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_ALL_INTERFACES = ("", "0.0.0.0", "::")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None] | None:
    """(host, port) of a Host header or netloc (IPv6 in brackets); None if malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = value.partition(":")
        if ":" in port_text:
            return None  # an unbracketed IPv6 address is not a valid Host
    if port_text and not port_text.isdigit():
        return None
    return host.rstrip("."), int(port_text) if port_text else None


class HostPolicy:
    """Decides whether a Host (and an Origin) names this server."""

    def __init__(self, bound_host: str, port: int, extra_hosts: Iterable[str] = ()) -> None:
        self.bound = bound_host.strip("[]").lower()
        self.port = port
        self.extra = {h.strip().strip("[]").lower().rstrip(".") for h in extra_hosts if h.strip()}
        self.all_interfaces = self.bound in _ALL_INTERFACES
        self.names = (set() if self.all_interfaces else {self.bound}) | self.extra
        if self.all_interfaces or _is_loopback(self.bound):
            self.names |= set(LOOPBACK_NAMES)
        if self.all_interfaces:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    self.names.add(name.lower())

    def host_allowed(self, host: str, port: int | None, any_ip: bool = True) -> bool:
        if (port or 80) != self.port:
            return False
        if host in self.names:
            return True
        if host.endswith(".localhost") and "localhost" in self.names:
            return True  # <bucket>.localhost: virtual-hosted S3 on a loopback endpoint
        if self.all_interfaces and _is_ip(host):
            # A Host that is an IP reached this server, so the IP is one of its own;
            # an Origin that is an IP is only the page's (maybe another machine's).
            return any_ip or _is_loopback(host)
        return False

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why this request is refused, or None if it is answered."""
        header = environ.get("HTTP_HOST")
        if not header:
            return "the request has no Host header"
        parsed = split_host(header)
        if parsed is None or not self.host_allowed(*parsed):
            return (
                f"Host {header!r} is not this server, which answers {self.describe()} "
                "(another name is how a web page reaches a local server: DNS rebinding)"
            )
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None:
            parts = urlsplit(origin)
            netloc = split_host(parts.netloc) if parts.scheme in ("http", "https") else None
            if netloc is not None and netloc[1] is None:
                netloc = (netloc[0], 443 if parts.scheme == "https" else 80)
            same_origin = netloc is not None and netloc == (parsed[0], parsed[1] or 80)
            if netloc is None or not (same_origin or self.host_allowed(*netloc, any_ip=False)):
                return (
                    f"Origin {origin!r}: the sandbox does not answer requests "
                    "that web pages of other sites make"
                )
        return None

    def describe(self) -> str:
        if self.all_interfaces:
            shown = ["any IP address", *sorted(self.names)]
        else:
            shown = sorted(self.names)
        return ", ".join(shown) + f" at port {self.port}"


class HostGuardMiddleware:
    """WSGI middleware: 403 for a request whose Host or Origin is not this server's."""

    def __init__(self, app: Callable[..., Any], policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        reason = self.policy.refusal(environ)
        if reason is None:
            return self.app(environ, start_response)
        message = f"ecspipe sandbox: refused: {reason}."
        content_type, body = _error_body(environ, message)
        start_response(
            "403 Forbidden",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]


def _error_body(environ: dict[str, Any], message: str) -> tuple[str, bytes]:
    """The refusal in a form the caller reads: an SDK shows an AWS error's message
    (awsJson for X-Amz-Target requests, else the XML every other protocol parses),
    anyone else gets the line as text."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        payload = json.dumps({"__type": "AccessDeniedException", "message": message})
        return "application/x-amz-json-1.1", payload.encode()
    if environ.get("HTTP_AUTHORIZATION") or "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{escape(message)}</Message></Error></ErrorResponse>"
        )
        return "text/xml", xml.encode()
    return "text/plain; charset=utf-8", (message + "\n").encode()
