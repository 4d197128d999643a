"""Which Host and Origin the sandbox server answers (hostguard.HostPolicy, no server here).

The server itself is checked with raw HTTP requests in test_server.py.
"""

from __future__ import annotations

import socket

import pytest

from ecspipe.sandbox.hostguard import HostPolicy, split_host

PORT = 4566


def _refused(policy: HostPolicy, host: str | None, origin: str | None = None) -> bool:
    environ = {}
    if host is not None:
        environ["HTTP_HOST"] = host
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    return policy.refusal(environ) is not None


@pytest.mark.parametrize("bound", ["127.0.0.1", "localhost", "::1"])
@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:4566", "localhost:4566", "[::1]:4566", "LOCALHOST:4566", "localhost.:4566",
     "demo-artifacts.localhost:4566"],
)
def test_bound_to_loopback_every_loopback_spelling_at_its_port_is_answered(bound, host):
    assert not _refused(HostPolicy(bound, PORT), host)


@pytest.mark.parametrize(
    "host",
    ["evil.example:4566", "evil.example", "127.0.0.1:8080", "localhost", "127.0.0.1",
     "10.0.0.7:4566", "localhost.evil.example:4566", "127.0.0.1.nip.io:4566", "::1:4566",
     "[::1:4566", "127.0.0.1:45x6", "", None],
)
def test_bound_to_loopback_other_names_ports_and_malformed_hosts_are_refused(host):
    assert _refused(HostPolicy("127.0.0.1", PORT), host)


def test_a_host_without_a_port_means_port_80():
    assert not _refused(HostPolicy("127.0.0.1", 80), "localhost")
    assert _refused(HostPolicy("127.0.0.1", 80), "localhost:8080")


def test_bound_to_one_address_only_that_address_is_answered():
    policy = HostPolicy("10.0.0.7", PORT)

    assert not _refused(policy, "10.0.0.7:4566")
    assert _refused(policy, "127.0.0.1:4566")
    assert _refused(policy, "10.0.0.8:4566")


@pytest.mark.parametrize("bound", ["0.0.0.0", "::"])
def test_bound_to_every_interface_ip_literals_loopback_and_this_machine_are_answered(bound):
    policy = HostPolicy(bound, PORT)

    for host in ("10.1.2.3:4566", "[fe80::1]:4566", "127.0.0.1:4566", "localhost:4566",
                 f"{socket.gethostname()}:4566"):
        assert not _refused(policy, host), host
    assert _refused(policy, "evil.example:4566")
    assert _refused(policy, "10.1.2.3:4567")


def test_bound_to_every_interface_names_given_are_answered_too():
    policy = HostPolicy("0.0.0.0", PORT, ["host.docker.internal", " Sandbox.Lan. "])

    assert not _refused(policy, "host.docker.internal:4566")
    assert not _refused(policy, "sandbox.lan:4566")
    assert _refused(policy, "other.lan:4566")


@pytest.mark.parametrize(
    ("origin", "refused"),
    [
        (None, False),
        ("http://127.0.0.1:4566", False),
        ("http://localhost:4566", False),
        ("http://evil.example", True),
        ("http://evil.example:4566", True),
        ("http://127.0.0.1:8080", True),
        ("https://localhost", True),
        ("null", True),
        ("file://", True),
    ],
)
def test_a_browser_origin_other_than_the_server_itself_is_refused(origin, refused):
    assert _refused(HostPolicy("127.0.0.1", PORT), "127.0.0.1:4566", origin) is refused


def test_bound_to_every_interface_an_ip_origin_is_the_server_only_when_it_is_the_host():
    # A page on another machine's IP at the same port must not reach the sandbox.
    policy = HostPolicy("0.0.0.0", PORT)

    assert _refused(policy, "10.0.0.5:4566", "http://203.0.113.9:4566")
    assert not _refused(policy, "10.0.0.5:4566", "http://10.0.0.5:4566")
    assert not _refused(policy, "10.0.0.5:4566", "http://127.0.0.1:4566")


def test_an_https_origin_without_a_port_means_port_443():
    policy = HostPolicy("127.0.0.1", 443)

    assert not _refused(policy, "localhost:443", "https://localhost")
    assert _refused(policy, "localhost:443", "http://localhost")


def test_the_refusal_says_what_the_server_answers():
    reason = HostPolicy("127.0.0.1", PORT).refusal({"HTTP_HOST": "evil.example:4566"})

    assert reason == (
        "Host 'evil.example:4566' is not this server, which answers 127.0.0.1, ::1, localhost "
        "at port 4566 (another name is how a web page reaches a local server: DNS rebinding)"
    )


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("Example.COM:80", ("example.com", 80)), ("[::1]:4566", ("::1", 4566)),
     ("[::1]", ("::1", None)), ("host", ("host", None)), ("[::1]x", None), ("a:b:c", None),
     ("host:", ("host", None))],
)
def test_split_host_reads_host_headers(value, parsed):
    assert split_host(value) == parsed
