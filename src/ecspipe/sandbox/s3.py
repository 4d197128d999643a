"""S3: tags in CreateBucket, and bucket policies with conditions evaluated like AWS.

1. CreateBucketConfiguration.Tags: AWS applies them atomically with the bucket;
   moto 5.2.5 ignores them. ecspipe relies on that atomicity (an interrupted
   `up` must never leave an untagged bucket that the next run would take for
   someone else's), so after moto creates a bucket the request's tags are stored.
2. Conditions in bucket policies: moto ignores the `Bool` operator (so the
   standard "deny when aws:SecureTransport is false" statement denies every
   request) and treats a statement whose condition does not hold as a Deny
   instead of not applying. The sandbox stands in for AWS's HTTPS endpoints, so
   requests carry aws:SecureTransport=true, and an unmet condition makes the
   statement not apply, as in IAM's evaluation logic.
3. PutBucketPolicy answers 200 with an empty body, not the body "True".
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


def _bool_operation(expected: list[str] | str, actual: str) -> bool:
    values = expected if isinstance(expected, list) else [expected]
    return str(actual).lower() in [str(v).lower() for v in values]


def _install_conditions() -> None:
    from moto.iam import access_control, policy_conditions

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", _bool_operation)  # type: ignore[arg-type]
    statement = access_control.IAMPolicyStatement
    original = statement.is_action_permitted
    if getattr(original, _MARK, False):
        return

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        values = {"aws:SecureTransport": "true", **(incoming_condition_values or {})}
        if self._statement.get("Condition") and not self._check_conditions(values):
            return access_control.PermissionResult.NEUTRAL
        return original(self, action, resource, principal, values)

    setattr(is_action_permitted, _MARK, True)
    statement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def install() -> None:
    from moto.s3.responses import S3Response

    _install_conditions()

    original = S3Response._bucket_response_put
    if getattr(original, _MARK, False):
        return

    def _bucket_response_put(
        self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]
    ) -> Any:
        response = original(self, request, bucket_name, querystring)
        if "policy" in querystring and response == "True":
            # moto answers PutBucketPolicy with the body "True"; the operation has no
            # output: "the service sends back an HTTP 200 response with an empty HTTP
            # body" (Amazon S3 API Reference, PutBucketPolicy; the model's code is 200).
            return 200, {}, ""
        if not querystring:
            tags = _tags_from_body(self.body)
            # Only a new bucket takes them (us-east-1 re-creation is a silent no-op).
            if tags and not self.backend.get_bucket_tagging(bucket_name)["Tags"]:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return response

    setattr(_bucket_response_put, _MARK, True)
    S3Response._bucket_response_put = _bucket_response_put  # type: ignore[method-assign]
