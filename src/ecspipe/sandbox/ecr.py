"""ECR in the sandbox: DescribeImages pages.

moto 5.2.5's DescribeImages answers every image of a repository at once and
ignores `maxResults` and `nextToken`, so a client that pages works by luck.
"Amazon ECR API Reference, DescribeImages": `maxResults` is 1-1000; without
it at most 100 images come back, with a `nextToken` if there are more; neither
may be combined with `imageIds` (InvalidParameterException).
"""

from __future__ import annotations

import hashlib
from typing import Any

_MARK = "__ecspipe_ecr__"
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def _invalid(message: str) -> Exception:
    from moto.ecr.exceptions import InvalidParameterException

    return InvalidParameterException(message)


def _describe_images(original: Any) -> Any:
    def describe_images(self: Any) -> Any:
        from moto.core.responses import ActionResult

        from ecspipe.sandbox import paging

        size, token = self._get_param("maxResults"), self._get_param("nextToken")
        if self._get_param("imageIds") and (size is not None or token):
            raise _invalid(
                "Invalid parameter: maxResults and nextToken cannot be used with imageIds"
            )
        if size is not None and not 1 <= int(size) <= MAX_PAGE:
            raise _invalid(f"Invalid parameter: maxResults must be between 1 and {MAX_PAGE}")
        result = original(self)
        if self._get_param("imageIds"):
            return result
        details = list(result.result["imageDetails"])
        found, next_token = paging.page(
            details,
            DEFAULT_PAGE if size is None else int(size),
            token,
            # Not the digest: moto derives it from the layers alone, so two images
            # can share one. moto keeps one image per distinct manifest.
            key=lambda image: hashlib.sha256(image.image_manifest.encode()).hexdigest(),
            invalid=lambda: _invalid("Invalid parameter: nextToken is not valid"),
        )
        out: dict[str, Any] = {"imageDetails": found}
        if next_token:
            out["nextToken"] = next_token
        return ActionResult(out)

    return describe_images


def install() -> None:
    """Wrap moto's ECRResponse.describe_images. Idempotent."""
    from moto.ecr.responses import ECRResponse

    original = ECRResponse.describe_images
    if getattr(original, _MARK, False):
        return
    wrapper = _describe_images(original)
    wrapper.__name__ = "describe_images"
    setattr(wrapper, _MARK, True)
    ECRResponse.describe_images = wrapper  # type: ignore[method-assign]
