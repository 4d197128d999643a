"""The one place that creates AWS clients, and turns AWS failures into user errors.

Clients come from one session built from `--profile`, `--region` and
`--endpoint-url` (botocore also honours AWS_ENDPOINT_URL natively). botocore's
`standard` retry mode is set explicitly: its default changed between botocore
1.43 and 1.44, and it is what retries throttling, 5xx and connection errors.
IAM propagation errors are not retried here; see `retry.py`.

Clients are made with botocore directly: boto3 adds nothing ecspipe uses (no
resources, no transfer manager) and costs ~0.1-0.3 s of imports (s3transfer,
multiprocessing). botocore is imported lazily so that `ecspipe --help` never
pays for it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ecspipe.errors import AwsError, EcspipeError, UserError

# Attempts including the first one; botocore's standard mode backs off
# exponentially with jitter between them.
TOTAL_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Limits:
    """How long one AWS request may take, so that no command hangs on a silent endpoint.

    botocore's defaults (60 s connect, 60 s read, and standard mode retrying a read
    timeout up to TOTAL_MAX_ATTEMPTS times) made an endpoint that accepts the
    connection and never answers hang a command for 485 s. Here:

    - connect: TCP connect and TLS handshake; AWS's endpoints take well under a
      second, 10 s leaves room for a slow proxy.
    - read: AWS API calls answer in well under a second, control-plane writes that
      check a role (CreatePipeline, CreateProject) in a few seconds; 20 s, and 60 s
      for S3, whose DeleteObjects removes up to 1000 object versions in one request.
    - deadline: per operation, counted from its first attempt; once it has passed,
      botocore's retries stop (a `needs-retry` handler), so a silent endpoint
      fails after two 20 s attempts (~41 s), an unreachable one within ~45 s.

    Waits that are meant (`--wait`, `--wait-connection`) are loops of short calls,
    each bounded by these, with their own --timeout.
    """

    connect: float = 10.0
    read: float = 20.0
    read_by_service: Mapping[str, float] = field(default_factory=lambda: {"s3": 60.0})
    deadline: float = 40.0

    def read_for(self, service: str) -> float:
        return self.read_by_service.get(service, self.read)


# What botocore's own check (utils.is_valid_endpoint_url) accepts as a host name.
_HOSTNAME_RE = re.compile(r"(?:(?!-)[A-Za-z\d-]{1,63}(?<!-)\.)*(?!-)[A-Za-z\d-]{1,63}(?<!-)\.?")
_ENDPOINT_EXAMPLE = "e.g. http://127.0.0.1:4566 (`ecspipe sandbox`); unset it for AWS itself"


def _endpoint_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL (None: it is http(s)://host[:port][/])."""
    from urllib.parse import urlsplit

    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        return "must not contain spaces, control or non-ASCII characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # brackets, or not an IPv6 address in them
        return f"is not a URL ({exc})"
    try:
        port = parts.port  # ValueError for a port that is not a number in 0-65535
    except ValueError:
        return "has an invalid port (1-65535)"
    if "://" not in url or parts.scheme.lower() not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password"
    host = parts.hostname or ""
    if not host:
        return "has no host name"
    if port == 0 or parts.netloc.endswith(":"):
        return "has an invalid port (1-65535)"
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be only scheme, host and port (no path, query or fragment)"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 address"
    elif len(host) > 255 or not _HOSTNAME_RE.fullmatch(host):
        return "has an invalid host name"
    return None


def check_endpoint_url(url: str, source: str = "--endpoint-url") -> str:
    """UserError unless `url` is an http(s)://host[:port][/] URL; checked before any client."""
    problem = _endpoint_problem(url)
    if problem:
        raise UserError(f"{source} {url!r}: {problem}", hint=_ENDPOINT_EXAMPLE)
    return url


def _check_endpoint_environment() -> None:
    """The service-specific endpoint variables botocore reads (AWS_ENDPOINT_URL_S3, ...)."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return
    for name, value in sorted(os.environ.items()):
        if name.startswith("AWS_ENDPOINT_URL_") and value:
            check_endpoint_url(value, name)

# Error codes meaning "your credentials are the problem", not the request.
CREDENTIAL_ERRORS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestExpired",
}


# One botocore data loader for the whole process: it caches the parsed service
# models, which makes a client ~70 ms instead of ~450 ms after the first one
# (tests run many commands in one process). Sessions, and so credentials, are
# still made per Aws object.
_LOADER: list[Any] = []
_LOADER_LOCK = threading.Lock()


def _botocore_session(profile: str | None) -> Any:
    import botocore.session

    from ecspipe import modelcache

    session = botocore.session.Session(profile=profile)
    with _LOADER_LOCK:
        if not _LOADER:
            _LOADER.append(modelcache.install(session))  # compact models: see modelcache.py
        else:
            session.register_component("data_loader", _LOADER[0])
    return session


def default_region(profile: str | None) -> str | None:
    """The region botocore would use without one given: AWS_REGION / AWS_DEFAULT_REGION,
    else the profile's `region` (ProfileNotFound for an unknown profile)."""
    region = _botocore_session(profile).get_config_variable("region")
    return str(region) if region else None


class Aws:
    """A botocore session plus a cache of clients (one per service, created once).

    One Aws serves every pipeline of a run in its region: clients are thread-safe,
    and the connection pool is sized for `max_concurrency` requests at once.
    """

    def __init__(
        self,
        region: str,
        profile: str | None = None,
        endpoint_url: str | None = None,
        max_concurrency: int = 10,
        limits: Limits | None = None,
        endpoint_source: str = "--endpoint-url",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if endpoint_url:
            check_endpoint_url(endpoint_url, endpoint_source)
        else:
            _check_endpoint_environment()
        self.limits = limits or Limits()
        self.clock = clock
        self.region = region
        self.max_concurrency = max(10, max_concurrency)
        self.profile = profile
        self.endpoint_url = endpoint_url
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._hooks: list[tuple[str, Callable[..., Any]]] = []
        self._account_id: str | None = None
        self._account_lock = threading.Lock()  # several pipelines ask at once: one call

    @property
    def session(self) -> Any:
        if self._session is None:
            # An unknown profile surfaces at the first client (see translate()).
            session = _botocore_session(self.profile)
            # The config and credentials files are parsed now, once: after a parse error
            # botocore keeps what it read so far and a second client would start without
            # the error (with concurrent first requests, the one reported was a race).
            # The session is kept only once they parsed, so every caller gets the error.
            _ = session.full_config
            self._session = session
        return self._session

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, made or to be made."""
        with self._lock:
            self._hooks.append((event, handler))
            for client in self._clients.values():
                client.meta.events.register(event, handler)

    def client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                from botocore.config import Config

                config = Config(
                    region_name=self.region,
                    retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
                    connect_timeout=self.limits.connect,
                    read_timeout=self.limits.read_for(service),
                    user_agent_extra="ecspipe",
                    max_pool_connections=self.max_concurrency,
                )
                try:
                    client = self.session.create_client(
                        service, region_name=self.region, config=config,
                        endpoint_url=self.endpoint_url or None,
                    )
                except ValueError as exc:
                    # botocore's own check of an endpoint from the AWS config file
                    # (endpoint_url, a services section) or AWS_ENDPOINT_URL_<SERVICE>.
                    if "endpoint" not in str(exc).lower():
                        raise
                    raise UserError(
                        f"cannot make the {service} client: {exc}",
                        hint="check endpoint_url in the AWS config file and the "
                        "AWS_ENDPOINT_URL_* variables",
                    ) from None
                self._bound(client, service)
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return client

    def _bound(self, client: Any, service: str) -> None:
        """Per-operation deadline and endpoint naming, on one client (see Limits)."""
        events, clock, limits = client.meta.events, self.clock, self.limits
        endpoint = client.meta.endpoint_url

        def started(context: dict, **_: Any) -> None:
            context.setdefault("ecspipe_started", clock())

        def stop_retrying(request_dict: dict, attempts: int, caught_exception: Any = None,
                          **_: Any) -> bool | None:
            begun = (request_dict.get("context") or {}).get("ecspipe_started")
            if begun is None or clock() - begun < limits.deadline:
                return None  # no opinion: botocore's retry handler decides
            if caught_exception is not None:
                caught_exception.ecspipe_gave_up = (attempts, clock() - begun)
            return False  # botocore's own veto: a non-None False means "do not retry"

        def name_endpoint(exception: BaseException, **_: Any) -> None:
            try:
                exception.ecspipe_endpoint = endpoint  # type: ignore[attr-defined]
                exception.ecspipe_read_timeout = limits.read_for(service)  # type: ignore[attr-defined]
            except AttributeError:
                pass

        # First, and on a node deeper than botocore's `needs-retry.<service>` handler,
        # so that this runs before it (botocore/hooks.py orders deeper nodes first).
        events.register_first("before-call.*.*", started)
        events.register_first("needs-retry.*.*", stop_retrying)
        events.register("after-call-error.*.*", name_endpoint)

    def account_id(self) -> str:
        """The caller's account (one STS call, cached)."""
        with self._account_lock:
            if self._account_id is None:
                self._account_id = self.client("sts").get_caller_identity()["Account"]
            return self._account_id


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


def is_error(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _endpoint_of(exc: BaseException) -> str:
    url = getattr(exc, "ecspipe_endpoint", None) or getattr(exc, "kwargs", {}).get(
        "endpoint_url", "")
    return str(url or "").rstrip("/") or "(unknown)"


_NETWORK_HINT = ("check the network, --region and --endpoint-url / AWS_ENDPOINT_URL "
                 "(is `ecspipe sandbox` running?)")
_NOT_AWS_HINT = ("is it an AWS API endpoint? check --endpoint-url / AWS_ENDPOINT_URL: "
                 "the scheme (http:// or https://), the host and the port")
_CONFIG_HINT = ("check the AWS config and credentials files (AWS_CONFIG_FILE, "
                "AWS_SHARED_CREDENTIALS_FILE) and the AWS_* environment variables")


def _network_error(exc: BaseException, bx: Any) -> EcspipeError | None:
    """A failure to talk to the endpoint at all: one line that names it."""
    url = _endpoint_of(exc)
    gave_up = getattr(exc, "ecspipe_gave_up", None)
    tried = f" (gave up after {gave_up[0]} attempts in {gave_up[1]:.0f}s)" if gave_up else ""
    if isinstance(exc, bx.ReadTimeoutError):
        wait = getattr(exc, "ecspipe_read_timeout", None)
        within = f" within {wait:g}s" if wait else ""
        return UserError(f"the AWS endpoint {url} accepted the connection but sent no "
                         f"answer{within}{tried}", hint=_NETWORK_HINT)
    if isinstance(exc, bx.SSLError):
        return UserError(f"TLS with the AWS endpoint {url} failed: "
                         f"{_one_line(getattr(exc, 'kwargs', {}).get('error', exc))}",
                         hint=_NOT_AWS_HINT + "; AWS_CA_BUNDLE")
    if isinstance(exc, bx.ProxyConnectionError):
        return UserError(f"cannot reach the proxy {exc.kwargs.get('proxy_url', '')}{tried}",
                         hint="check HTTPS_PROXY / HTTP_PROXY")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return UserError(f"cannot reach the AWS endpoint {url}{tried}", hint=_NETWORK_HINT)
    if isinstance(exc, bx.ConnectionClosedError):
        return UserError(f"the AWS endpoint {url} closed the connection without an HTTP "
                         f"answer{tried}", hint=_NOT_AWS_HINT)
    if isinstance(exc, bx.HTTPClientError | bx.ConnectionError):
        detail = str(getattr(exc, "kwargs", {}).get("error", exc))
        if "Invalid header value" in detail:
            # a newline or control character in a credential: never echo the header
            return UserError("the AWS credentials contain a character that cannot be sent "
                             "in an HTTP header (a newline?)",
                             hint="check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                             "AWS_SESSION_TOKEN and the credentials file")
        proxies = [v for k, v in os.environ.items()
                   if k.lower() in ("https_proxy", "http_proxy") and v and v in detail]
        return UserError(f"cannot talk to the AWS endpoint {url}: {_one_line(detail)}",
                         hint="check HTTPS_PROXY / HTTP_PROXY" if proxies else _NOT_AWS_HINT)
    return None


# Problems of the AWS configuration (files, variables, profiles): the user fixes them.
_CONFIG_ERRORS = (
    "ConfigParseError", "ConfigNotFound", "InvalidConfigError", "InvalidDefaultsMode",
    "InvalidRetryConfigurationError", "InvalidSTSRegionalEndpointsConfigError",
    "InvalidS3AddressingStyleError", "InvalidS3UsEast1RegionalEndpointConfigError",
    "InvalidIMDSEndpointError", "InvalidIMDSEndpointModeError", "InvalidProxiesConfigError",
    "InvalidChecksumConfigError", "InvalidEndpointDiscoveryConfigurationError",
    "InvalidEndpointConfigurationError", "UnknownSignatureVersionError",
    "UnknownCredentialError", "UnknownRegionError", "InvalidRegionError",
    "EndpointResolutionError", "UnknownEndpointError", "MissingDependencyException",
)


def translate(exc: BaseException) -> EcspipeError | None:
    """Map a botocore failure to an error a user can act on; None if it is not one."""
    try:
        import botocore.exceptions as bx
        from botocore.parsers import ResponseParserError
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, bx.ProfileNotFound):
        return UserError(
            f"AWS profile {exc.kwargs.get('profile')!r} is not configured",
            hint="check --profile / AWS_PROFILE against `aws configure list-profiles`",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return UserError(
            "no AWS credentials found" if isinstance(exc, bx.NoCredentialsError)
            else f"incomplete AWS credentials: {_one_line(exc)}",
            hint="set AWS_PROFILE or pass --profile, run `aws configure`, or `aws sso login`",
        )
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOError | bx.LoginError):
        return UserError(f"AWS SSO session is expired or invalid: {_one_line(exc)}",
                         hint="run `aws sso login`")
    if isinstance(exc, bx.CredentialRetrievalError | bx.RefreshWithMFAUnsupportedError):
        return UserError(f"cannot get AWS credentials: {_one_line(exc)}",
                         hint="check the profile's credential_process / role settings")
    if isinstance(exc, bx.ConfigParseError):
        return UserError(f"cannot parse the AWS config file {exc.kwargs.get('path')}",
                         hint="it is an INI file: [profile NAME] sections of `key = value` "
                         "lines; fix it, or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE "
                         "at another file")
    network = _network_error(exc, bx)
    if network is not None:
        return network
    if isinstance(exc, ResponseParserError):
        return UserError(f"the AWS endpoint {_endpoint_of(exc)} answered with something that "
                         f"is not an AWS API response: {_one_line(exc, 160)}", hint=_NOT_AWS_HINT)
    if isinstance(exc, bx.NoRegionError):
        return UserError("no AWS region", hint="set `region` in the config or pass --region")
    if isinstance(exc, bx.BotoCoreError) and any(
            t.__name__ in _CONFIG_ERRORS for t in type(exc).__mro__):
        return UserError(f"AWS configuration: {_one_line(exc)}", hint=_CONFIG_HINT)
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        op = getattr(exc, "operation_name", "")
        if code in CREDENTIAL_ERRORS:
            return UserError(
                f"AWS rejected the credentials ({code}): {error_message(exc)}",
                hint="refresh them (`aws sso login`, new session token) or pick another --profile",
            )
        if code == "LimitExceededException":
            return AwsError(
                f"{op}: a service quota was exceeded: {error_message(exc)}",
                hint="this is a quota, not throttling: delete unused resources or request a "
                "quota increase in Service Quotas",
            )
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            return AwsError(
                f"{op}: access denied: {error_message(exc)}",
                hint="the caller needs permission for this call",
            )
        return AwsError(f"{op} failed ({code}): {error_message(exc)}")
    if isinstance(exc, bx.BotoCoreError):
        return AwsError(f"AWS SDK error: {_one_line(exc)}")
    return None
