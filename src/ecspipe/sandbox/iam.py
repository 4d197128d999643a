"""IAM in the sandbox: ListRolePolicies pages.

moto 5.2.5's ListRolePolicies ignores `MaxItems` and `Marker` and always says
`IsTruncated: false` (its ListAttachedRolePolicies does page). "IAM API
Reference, ListRolePolicies": MaxItems 1-1000, default 100; when more remain,
`IsTruncated` is true and `Marker` is where the next call starts.
"""

from __future__ import annotations

from typing import Any

_MARK = "__ecspipe_iam__"
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def list_role_policies(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import ValidationError

    from ecspipe.sandbox import paging

    names = self.backend.list_role_policies(self._get_param("RoleName"))  # NoSuchEntity
    size = self._get_int_param("MaxItems", DEFAULT_PAGE)
    if not 1 <= size <= MAX_PAGE:
        raise ValidationError(
            f"1 validation error detected: Value '{size}' at 'maxItems' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_PAGE}"
        )
    found, marker = paging.page(
        names,
        size,
        self._get_param("Marker"),
        key=str,
        invalid=lambda: ValidationError("Invalid Marker"),
    )
    result: dict[str, Any] = {"PolicyNames": found, "IsTruncated": marker is not None}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def install() -> None:
    """Replace moto's IamResponse.list_role_policies. Idempotent."""
    from moto.iam.responses import IamResponse

    if getattr(IamResponse.list_role_policies, _MARK, False):
        return
    setattr(list_role_policies, _MARK, True)
    IamResponse.list_role_policies = list_role_policies  # type: ignore[method-assign]
