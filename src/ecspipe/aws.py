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

import threading
from collections.abc import Callable
from typing import Any

from ecspipe.errors import AwsError, EcspipeError, UserError

# Attempts including the first one; botocore's standard mode backs off
# exponentially with jitter between them.
TOTAL_MAX_ATTEMPTS = 8

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
    ) -> None:
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
            self._session = _botocore_session(self.profile)
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
                    connect_timeout=10,
                    read_timeout=60,
                    user_agent_extra="ecspipe",
                    max_pool_connections=self.max_concurrency,
                )
                client = self.session.create_client(
                    service, region_name=self.region, config=config,
                    endpoint_url=self.endpoint_url or None,
                )
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[service] = client
            return client

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


def translate(exc: BaseException) -> EcspipeError | None:
    """Map a botocore failure to an error a user can act on; None if it is not one."""
    try:
        import botocore.exceptions as bx
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, bx.ProfileNotFound):
        return UserError(
            f"AWS profile {exc.kwargs.get('profile')!r} is not configured",
            hint="check --profile / AWS_PROFILE against `aws configure list-profiles`",
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return UserError(
            "no AWS credentials found",
            hint="set AWS_PROFILE or pass --profile, run `aws configure`, or `aws sso login`",
        )
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return UserError(f"AWS SSO session is expired or invalid: {exc}", hint="run `aws sso login`")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "").rstrip("/")
        return UserError(
            f"cannot reach the AWS endpoint {url}".rstrip(),
            hint="check the network, --region and --endpoint-url / AWS_ENDPOINT_URL "
            "(is `ecspipe sandbox` running?)",
        )
    if isinstance(exc, bx.NoRegionError):
        return UserError("no AWS region", hint="set `region` in the config or pass --region")
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
        return AwsError(f"AWS SDK error: {exc}")
    return None
