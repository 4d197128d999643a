"""S3: honour tags given in CreateBucket (CreateBucketConfiguration.Tags).

AWS applies them atomically with the bucket; moto 5.2.5 ignores them. ecspipe
relies on that atomicity (an interrupted `up` must never leave an untagged
bucket that the next run would take for someone else's), so the sandbox
implements it: after moto creates the bucket, the tags in the request body are
stored as the bucket's tags.
"""

from __future__ import annotations

from typing import Any

_MARK = "_ecspipe_create_bucket_tags"


def _tags_from_body(body: bytes | str | None) -> dict[str, str]:
    if not body:
        return {}
    import xmltodict

    try:
        config = xmltodict.parse(body).get("CreateBucketConfiguration") or {}
    except Exception:  # noqa: BLE001 - not a CreateBucketConfiguration body
        return {}
    tags = (config.get("Tags") or {}).get("Tag") or []
    if isinstance(tags, dict):
        tags = [tags]
    return {t["Key"]: t.get("Value") or "" for t in tags}


def install() -> None:
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_put
    if getattr(original, _MARK, False):
        return

    def _bucket_response_put(self: Any, request: Any, bucket_name: str,
                             querystring: dict[str, Any]) -> Any:
        response = original(self, request, bucket_name, querystring)
        if not querystring:
            tags = _tags_from_body(self.body)
            # Only a new bucket takes them (us-east-1 re-creation is a silent no-op).
            if tags and not self.backend.get_bucket_tagging(bucket_name)["Tags"]:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return response

    setattr(_bucket_response_put, _MARK, True)
    S3Response._bucket_response_put = _bucket_response_put
