"""CodeStar Connections and CodeConnections for the sandbox (moto has neither).

AWS serves one kind of resource, the connection to a source provider such as
GitHub, under two APIs: the older `codestar-connections` (JSON target prefix
`CodeStar_connections_20191201`) and its successor `codeconnections`
(`CodeConnections_20231201`). Both read and write the same connections, so here
both are one moto backend with one store: a connection created through either
API is visible through the other, and an ARN with either service prefix finds
it. The ARN a connection is created with keeps its prefix
(`arn:aws:codestar-connections:...` or `arn:aws:codeconnections:...`).

A new connection is PENDING until a person completes the GitHub handshake in
the console. The sandbox stands in for that person: a connection becomes
AVAILABLE once `SETTINGS.clock.now() >= created + SETTINGS.handshake_delay`,
evaluated on every read. `handshake_delay = None` keeps it PENDING until
`complete_handshake()` is called (`ecspipe sandbox --manual-connections`);
`complete_handshake_remote()` does the same against a running sandbox server.

How this is wired into moto without forking it (see aws-facts.md section 6):
`install()` registers module objects `moto.codestarconnections` and
`moto.codeconnections` in `sys.modules`, each exposing `<name>_backends` (the
same `BackendDict`), and appends one URL pattern per API host to
`moto.backend_index.backend_url_patterns`. In mock mode botocore's stubber
matches the request URL against those patterns; in server mode moto maps the
SigV4 credential scope's service name to the host `<service>.<region>.amazonaws.com`
and matches that. The store is a `BaseBackend`, so moto's reset (`mock_aws`
exit, `POST /moto-api/reset`) wipes it.

Protocol note: botocore's codeconnections model lists `smithy-rpc-v2-cbor`
first, but botocore 1.44 still sends awsJson 1.0 (X-Amz-Target), which is what
this handler speaks. A botocore that switches to CBOR would need a route for
`/service/CodeConnections_20231201/operation/<Op>`; the self-tests would fail.

Other sandbox modules call `get_status(account, region, arn)`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import types
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from ecspipe.sandbox import paging
from ecspipe.sandbox.settings import SETTINGS

# Per API: moto's service name, the JSON target prefix, the endpoint host pattern.
# moto's service names are module names, so they cannot contain a hyphen
# (moto.backends.get_backend strips hyphens from the name it is given).
CODESTAR = "codestar-connections"
CODECONNECTIONS = "codeconnections"
_MOTO_NAMES = {CODESTAR: "codestarconnections", CODECONNECTIONS: "codeconnections"}
_TARGET_PREFIXES = {
    CODESTAR: "CodeStar_connections_20191201",
    CODECONNECTIONS: "CodeConnections_20231201",
}
_URL_BASES = {
    CODESTAR: r"https?://codestar-connections\.(.+)\.amazonaws\.com",
    CODECONNECTIONS: r"https?://codeconnections\.(.+)\.amazonaws\.com",
}

PENDING = "PENDING"
AVAILABLE = "AVAILABLE"

_ARN_RE = re.compile(
    r"^arn:aws(?:-[\w]+)*:(codestar-connections|codeconnections):([a-z0-9-]+):(\d{12}):connection/([\w-]+)$"
)
_NAME_MAX = 32
_TAGS_MAX = 200
_PAGE_DEFAULT = 100
# Non-AWS operation of the sandbox server: completes a handshake now.
_COMPLETE_ACTION = "EcspipeCompleteHandshake"

_lock = threading.Lock()


# --- errors (codes and shapes from the botocore models) --------------------------


class ResourceNotFoundException(ServiceException):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceException):
    # Not among CreateConnection's modelled errors, but its shape is in both
    # models and names are documented as unique per account.
    code = "ResourceAlreadyExistsException"


class LimitExceededException(ServiceException):
    code = "LimitExceededException"


class InvalidInputException(ServiceException):
    code = "InvalidInputException"


class ValidationException(ServiceException):
    code = "ValidationException"


# --- the store ---------------------------------------------------------------------


@dataclass
class Connection:
    arn: str
    name: str
    provider_type: str | None
    host_arn: str | None
    owner_account_id: str
    created: float
    handshake_completed: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.arn.rsplit("/", 1)[1]

    @property
    def status(self) -> str:
        if self.handshake_completed:
            return AVAILABLE
        delay = SETTINGS.handshake_delay
        if delay is not None and SETTINGS.clock.now() >= self.created + delay:
            return AVAILABLE
        return PENDING

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConnectionName": self.name,
            "ConnectionArn": self.arn,
            "OwnerAccountId": self.owner_account_id,
            "ConnectionStatus": self.status,
        }
        if self.provider_type:
            out["ProviderType"] = self.provider_type
        if self.host_arn:
            out["HostArn"] = self.host_arn
        return out

    def tag_list(self) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in self.tags.items()]


class ConnectionsBackend(BaseBackend):
    """Connections of one account in one region, shared by both APIs."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        # Keyed by the connection's resource id (the UUID), so an ARN with
        # either service prefix finds it.
        self.connections: dict[str, Connection] = {}

    @property
    def _url_module(self) -> Any:  # type: ignore[override]
        # moto derives this from the backend class's module (moto.<svc>.urls);
        # ours lives outside moto, so give both APIs' URL bases directly.
        return types.SimpleNamespace(
            url_bases=[_URL_BASES[CODESTAR], _URL_BASES[CODECONNECTIONS]],
            url_paths={"{0}/$": ConnectionsResponse.dispatch},
        )

    # lookups

    def find(self, arn: str) -> Connection:
        match = _ARN_RE.match(arn or "")
        if not match:
            raise ValidationException(
                f"1 validation error detected: Value '{arn}' at 'connectionArn' "
                "failed to satisfy constraint: Member must satisfy regular expression pattern"
            )
        _, region, account, resource_id = match.groups()
        conn = self.connections.get(resource_id)
        if conn is None or region != self.region_name or account != self.account_id:
            raise ResourceNotFoundException(f"Connection {arn} does not exist")
        return conn

    # operations

    def create_connection(
        self,
        service: str,
        name: str,
        provider_type: str | None,
        host_arn: str | None,
        tags: list[dict[str, str]] | None,
    ) -> Connection:
        if not name or len(name) > _NAME_MAX:
            raise ValidationException(
                f"1 validation error detected: Value '{name}' at 'connectionName' failed to "
                f"satisfy constraint: Member must have length less than or equal to {_NAME_MAX}"
            )
        if not provider_type and not host_arn:
            raise InvalidInputException("ProviderType or HostArn must be provided")
        tag_map = _tag_map(tags or [])
        with _lock:
            if any(c.name == name for c in self.connections.values()):
                raise ResourceAlreadyExistsException(f"Connection with name {name} already exists")
            resource_id = str(uuid.uuid4())
            conn = Connection(
                arn=f"arn:{self.partition}:{service}:{self.region_name}:{self.account_id}:connection/{resource_id}",
                name=name,
                provider_type=provider_type,
                host_arn=host_arn,
                owner_account_id=self.account_id,
                created=SETTINGS.clock.now(),
                tags=tag_map,
            )
            self.connections[resource_id] = conn
        return conn

    def list_connections(self, provider_type: str | None, host_arn: str | None) -> list[Connection]:
        return [
            c
            for c in self.connections.values()
            if (not provider_type or c.provider_type == provider_type)
            and (not host_arn or c.host_arn == host_arn)
        ]

    def delete_connection(self, arn: str) -> None:
        with _lock:
            conn = self.find(arn)
            del self.connections[conn.resource_id]

    def tag_resource(self, arn: str, tags: list[dict[str, str]]) -> None:
        conn = self.find(arn)
        merged = {**conn.tags, **_tag_map(tags)}
        if len(merged) > _TAGS_MAX:
            raise LimitExceededException(f"A resource can have at most {_TAGS_MAX} tags")
        conn.tags = merged

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        conn = self.find(arn)
        for key in keys:
            conn.tags.pop(key, None)


def _tag_map(tags: list[dict[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if key.lower().startswith("aws:"):
            raise InvalidInputException(f"Tag keys starting with 'aws:' are reserved: {key}")
        out[key] = value
    return out


# One BackendDict, registered under both service names: the shared store.
# Its service name only decides the regions moto allows (from botocore's endpoint
# data): that lists codestar-connections in fewer regions than ECS, and
# codeconnections in none. Connections must exist wherever an ECS service can.
connections_backends: BackendDict[ConnectionsBackend] = BackendDict(ConnectionsBackend, "ecs")


# --- the HTTP layer --------------------------------------------------------------


class ConnectionsResponse(BaseResponse):
    """JSON-protocol handler for both APIs; the target prefix tells them apart."""

    def __init__(self) -> None:
        super().__init__(service_name=CODESTAR)

    def setup_class(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().setup_class(request, *args, **kwargs)
        # service_name picks the botocore model moto serializes with, so it must
        # be the API actually called. In server mode every request arrives at
        # one host, so the X-Amz-Target prefix is the reliable discriminator.
        target = self.headers.get("X-Amz-Target") or ""
        if target.split(".")[-2:-1] == [_TARGET_PREFIXES[CODECONNECTIONS]] or (
            not target and "codeconnections." in (self.uri or "")
        ):
            self.service_name = CODECONNECTIONS
        else:
            self.service_name = CODESTAR
        # moto derives the content type from the model's first protocol, which for
        # codeconnections is CBOR; botocore 1.44 still sends (and parses) JSON.
        self.response_headers["Content-Type"] = "application/x-amz-json-1.0"

    @property
    def backend(self) -> ConnectionsBackend:
        return connections_backends[self.current_account][self.region]

    def _params(self) -> dict[str, Any]:
        try:
            return json.loads(self.body or "{}")
        except ValueError:
            return {}

    def create_connection(self) -> ActionResult:
        p = self._params()
        conn = self.backend.create_connection(
            service=self.service_name or CODESTAR,
            name=p.get("ConnectionName", ""),
            provider_type=p.get("ProviderType"),
            host_arn=p.get("HostArn"),
            tags=p.get("Tags"),
        )
        result: dict[str, Any] = {"ConnectionArn": conn.arn}
        if conn.tags:
            result["Tags"] = conn.tag_list()
        return ActionResult(result)

    def get_connection(self) -> ActionResult:
        conn = self.backend.find(self._params().get("ConnectionArn", ""))
        return ActionResult({"Connection": conn.describe()})

    def list_connections(self) -> ActionResult:
        p = self._params()
        found = self.backend.list_connections(p.get("ProviderTypeFilter"), p.get("HostArnFilter"))
        page, token = paging.page(
            found,
            p.get("MaxResults") or _PAGE_DEFAULT,
            p.get("NextToken"),
            key=lambda c: c.resource_id,
            invalid=lambda: ValidationException("Invalid NextToken"),
        )
        result: dict[str, Any] = {"Connections": [c.describe() for c in page]}
        if token:
            result["NextToken"] = token
        return ActionResult(result)

    def delete_connection(self) -> EmptyResult:
        self.backend.delete_connection(self._params().get("ConnectionArn", ""))
        return EmptyResult()

    def tag_resource(self) -> EmptyResult:
        p = self._params()
        self.backend.tag_resource(p.get("ResourceArn", ""), p.get("Tags") or [])
        return EmptyResult()

    def untag_resource(self) -> EmptyResult:
        p = self._params()
        self.backend.untag_resource(p.get("ResourceArn", ""), p.get("TagKeys") or [])
        return EmptyResult()

    def list_tags_for_resource(self) -> ActionResult:
        conn = self.backend.find(self._params().get("ResourceArn", ""))
        return ActionResult({"Tags": conn.tag_list()})

    def ecspipe_complete_handshake(self) -> str:
        # Not an AWS operation (absent from the botocore model, so moto cannot
        # serialize an ActionResult for it): answer with plain JSON.
        conn = self.backend.find(self._params().get("ConnectionArn", ""))
        conn.handshake_completed = True
        return json.dumps({"Connection": conn.describe()})


# --- what other modules call -----------------------------------------------------


def _lookup(account: str, region: str, arn: str) -> Connection | None:
    try:
        return connections_backends[account][region].find(arn)
    except (KeyError, ResourceNotFoundException, ValidationException):
        return None


def get_status(account: str, region: str, arn: str) -> str | None:
    """Status of a connection ("PENDING", "AVAILABLE"), or None if there is none."""
    conn = _lookup(account, region, arn)
    return conn.status if conn else None


def complete_handshake(arn: str) -> None:
    """Make a connection AVAILABLE now, as a person finishing the handshake would.

    In-process only (mock mode, or inside the server process). Raises KeyError
    for an unknown ARN.
    """
    match = _ARN_RE.match(arn or "")
    conn = _lookup(match.group(3), match.group(2), arn) if match else None
    if conn is None:
        raise KeyError(f"no such connection: {arn}")
    conn.handshake_completed = True


def complete_handshake_remote(endpoint_url: str, arn: str, timeout: float = 10.0) -> str:
    """Ask a running sandbox server to complete a connection's handshake now.

    Sends the sandbox-only `EcspipeCompleteHandshake` operation; returns the
    connection's status afterwards. Raises KeyError for an unknown ARN.
    """
    match = _ARN_RE.match(arn or "")
    if not match:
        raise KeyError(f"no such connection: {arn}")
    region = match.group(2)
    # moto routes by the SigV4 credential scope and does not check signatures,
    # and it takes the account from the access key (fake keys: the default
    # account), so only the scope has to be right.
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + "/",
        data=json.dumps({"ConnectionArn": arn}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{_TARGET_PREFIXES[CODESTAR]}.{_COMPLETE_ACTION}",
            "X-Moto-Account-Id": match.group(3),
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{CODESTAR}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["Connection"]["ConnectionStatus"]
    except urllib.error.HTTPError as exc:
        raise KeyError(f"no such connection: {arn} ({exc.code})") from exc


_installed = False


def install() -> None:
    """Register both APIs with moto (mock mode and server alike). Idempotent."""
    global _installed
    if _installed:
        return
    import moto
    import moto.backend_index as backend_index

    for service, moto_name in _MOTO_NAMES.items():
        module = types.ModuleType(f"moto.{moto_name}")
        module.__doc__ = f"{service}, provided by {__name__}"
        setattr(module, f"{moto_name}_backends", connections_backends)
        sys.modules[f"moto.{moto_name}"] = module
        setattr(moto, moto_name, module)
        pattern = re.compile(_URL_BASES[service])
        # In place: moto's server captured a reference to this very list.
        if (moto_name, pattern) not in backend_index.backend_url_patterns:
            backend_index.backend_url_patterns.append((moto_name, pattern))
    _installed = True
