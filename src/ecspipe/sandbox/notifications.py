"""CodeStar Notifications for the sandbox (moto has none): rules that publish pipeline events to SNS.

The API (botocore model `codestar-notifications`, REST-JSON: POST
/createNotificationRule, /describeNotificationRule, ...) keeps notification rules:
a resource (the pipeline's ARN), event type ids, SNS targets, a detail type.
When the sandbox's pipeline simulation emits an event (executions.emit) that a
rule on that pipeline subscribes to, the event is published to each of the
rule's SNS topics through moto's SNS, so a test can read it (an SQS queue
subscribed to the topic, or moto's `Topic.sent_notifications`).

What AWS checks, the sandbox checks too ("Configure Amazon SNS topics for
notifications", Developer Tools console User Guide): a target topic is ACTIVE
only if its access policy lets `codestar-notifications.amazonaws.com` publish,
and, for an encrypted topic, if the KMS key's policy lets that service use the
key through SNS (the AWS managed key `alias/aws/sns` cannot: its policy cannot
be edited). Otherwise the target is UNREACHABLE and nothing is delivered.

Wired into moto like connections.py: a module object `moto.codestarnotifications`
with a BackendDict, and a URL pattern appended to moto's list; moto routes the
REST-JSON paths to operations with botocore's model and serializes the answers
with it.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import types
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from ecspipe.sandbox.errors import AwsJsonError
from ecspipe.sandbox.settings import SETTINGS

SERVICE = "codestar-notifications"
_MOTO_NAME = "codestarnotifications"
_URL_BASE = r"https?://codestar-notifications\.(.+)\.amazonaws\.com"
_PRINCIPAL = "codestar-notifications.amazonaws.com"
# "Notification concepts" (Developer Tools console User Guide): CodePipeline's event types.
PIPELINE_EVENT_TYPES = tuple(
    f"codepipeline-pipeline-{group}-{event}"
    for group, events in (
        ("action-execution", ("succeeded", "failed", "canceled", "started")),
        ("stage-execution", ("started", "succeeded", "resumed", "canceled", "failed")),
        ("pipeline-execution", ("failed", "canceled", "started", "resumed", "succeeded",
                                "superseded")),
        ("manual-approval", ("failed", "needed", "succeeded")),
    )
    for event in events
)
_NAME_RE = re.compile(r"[A-Za-z0-9\-_ ]{1,64}")
_lock = threading.Lock()


class ValidationException(AwsJsonError):
    pass


class ResourceAlreadyExistsException(AwsJsonError):
    pass


class ResourceNotFoundException(AwsJsonError):
    code = 404


@dataclass
class Rule:
    arn: str
    name: str
    resource: str
    event_type_ids: list[str]
    targets: list[dict[str, str]]
    detail_type: str
    status: str
    created_by: str
    created: float
    modified: float
    tags: dict[str, str] = field(default_factory=dict)


def _describe_event(event_type_id: str) -> dict[str, str]:
    words = event_type_id.removeprefix("codepipeline-pipeline-").split("-")
    return {"EventTypeId": event_type_id, "ServiceName": "CodePipeline",
            "EventTypeName": f"{' '.join(words[:-1]).capitalize()}: {words[-1].capitalize()}",
            "ResourceType": "Pipeline"}


class NotificationsBackend(BaseBackend):
    """Notification rules of one account in one region."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.rules: dict[str, Rule] = {}

    @property
    def _url_module(self) -> Any:  # type: ignore[override]
        return types.SimpleNamespace(url_bases=[_URL_BASE],
                                     url_paths={"{0}/.*$": NotificationsResponse.dispatch})

    def find(self, arn: str) -> Rule:
        rule = self.rules.get(arn)
        if rule is None:
            raise ResourceNotFoundException(f"Notification rule {arn} does not exist.")
        return rule

    def _check(self, name: str | None, events: list[str] | None,
               targets: list[dict[str, str]] | None, detail_type: str | None) -> None:
        if name is not None and not _NAME_RE.fullmatch(name):
            raise ValidationException(
                "Name must be 1-64 letters, digits, spaces, '-' and '_'.")
        for event in events or []:
            if event not in PIPELINE_EVENT_TYPES:
                raise ValidationException(f"Event type {event} is not valid.")
        for target in targets or []:
            if target.get("TargetType") != "SNS" or not str(
                    target.get("TargetAddress", "")).startswith("arn:"):
                raise ValidationException("Targets must be SNS topic ARNs (TargetType SNS).")
        if targets is not None and len(targets) > 10:
            raise ValidationException("A notification rule can have at most 10 targets.")
        if detail_type is not None and detail_type not in ("BASIC", "FULL"):
            raise ValidationException("DetailType must be BASIC or FULL.")

    def create(self, p: dict[str, Any]) -> Rule:
        self._check(p.get("Name", ""), p.get("EventTypeIds") or [], p.get("Targets") or [],
                    p.get("DetailType"))
        if not p.get("EventTypeIds"):
            raise ValidationException("EventTypeIds must not be empty.")
        resource = p.get("Resource", "")
        if not re.fullmatch(r"arn:aws[^:\s]*:[^:\s]*:[^:\s]*:[0-9]{12}:[^\s]+", resource):
            raise ValidationException(f"Resource {resource} is not a valid ARN.")
        with _lock:
            if any(r.name == p["Name"] for r in self.rules.values()):
                raise ResourceAlreadyExistsException(
                    f"A notification rule named {p['Name']} already exists in this account.")
            now = SETTINGS.clock.now()
            arn = f"arn:{self.partition}:codestar-notifications:{self.region_name}:" \
                f"{self.account_id}:notificationrule/{uuid.uuid4().hex}"
            rule = Rule(arn, p["Name"], resource, list(p["EventTypeIds"]),
                        list(p.get("Targets") or []), p.get("DetailType", "FULL"),
                        p.get("Status") or "ENABLED", f"arn:aws:sts::{self.account_id}:user/moto",
                        now, now, dict(p.get("Tags") or {}))
            self.rules[arn] = rule
        return rule

    def update(self, p: dict[str, Any]) -> None:
        rule = self.find(p.get("Arn", ""))
        self._check(p.get("Name"), p.get("EventTypeIds"), p.get("Targets"), p.get("DetailType"))
        for key, attribute in (("Name", "name"), ("EventTypeIds", "event_type_ids"),
                               ("Targets", "targets"), ("DetailType", "detail_type"),
                               ("Status", "status")):
            if p.get(key) is not None:
                setattr(rule, attribute, p[key])
        rule.modified = SETTINGS.clock.now()

    def matching(self, filters: list[dict[str, str]]) -> list[Rule]:
        """ListNotificationRules' filters: same name OR-ed, different names AND-ed."""
        by_name: dict[str, set[str]] = {}
        for f in filters:
            by_name.setdefault(f.get("Name", ""), set()).add(f.get("Value", ""))

        def keep(rule: Rule) -> bool:
            values = {
                "RESOURCE": {rule.resource},
                "EVENT_TYPE_ID": set(rule.event_type_ids),
                "CREATED_BY": {rule.created_by},
                "TARGET_ADDRESS": {t.get("TargetAddress", "") for t in rule.targets},
            }
            return all(values.get(name, set()) & wanted for name, wanted in by_name.items())

        return [r for r in self.rules.values() if keep(r)]


notifications_backends: BackendDict[NotificationsBackend] = BackendDict(
    NotificationsBackend, "ecs")


def _epoch_view(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class NotificationsResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name=SERVICE)

    @property
    def backend(self) -> NotificationsBackend:
        return notifications_backends[self.current_account][self.region]

    def _params(self) -> dict[str, Any]:
        try:
            return json.loads(self.body or "{}")
        except ValueError:
            return {}

    def create_notification_rule(self) -> ActionResult:
        return ActionResult({"Arn": self.backend.create(self._params()).arn})

    def describe_notification_rule(self) -> ActionResult:
        rule = self.backend.find(self._params().get("Arn", ""))
        result: dict[str, Any] = {
            "Arn": rule.arn,
            "Name": rule.name,
            "EventTypes": [_describe_event(e) for e in rule.event_type_ids],
            "Resource": rule.resource,
            "Targets": [{**t, "TargetStatus": target_status(self.current_account, t)}
                        for t in rule.targets],
            "DetailType": rule.detail_type,
            "CreatedBy": rule.created_by,
            "Status": rule.status,
            "CreatedTimestamp": _epoch_view(rule.created),
            "LastModifiedTimestamp": _epoch_view(rule.modified),
        }
        if rule.tags:
            result["Tags"] = dict(rule.tags)
        return ActionResult(result)

    def update_notification_rule(self) -> EmptyResult:
        self.backend.update(self._params())
        return EmptyResult()

    def delete_notification_rule(self) -> ActionResult:
        arn = self._params().get("Arn", "")
        with _lock:
            self.backend.rules.pop(arn, None)  # deleting a missing rule succeeds, as on AWS
        return ActionResult({"Arn": arn})

    def list_notification_rules(self) -> ActionResult:
        p = self._params()
        found = self.backend.matching(p.get("Filters") or [])
        size = int(p.get("MaxResults") or 100)
        start = int(p["NextToken"]) if str(p.get("NextToken", "")).isdigit() else 0
        page = found[start:start + size]
        result: dict[str, Any] = {"NotificationRules": [
            {"Id": r.arn.rsplit("/", 1)[1], "Arn": r.arn} for r in page]}
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    def list_event_types(self) -> ActionResult:
        return ActionResult({"EventTypes": [_describe_event(e) for e in PIPELINE_EVENT_TYPES]})

    def tag_resource(self) -> ActionResult:
        p = self._params()
        rule = self.backend.find(p.get("Arn", ""))
        rule.tags.update(p.get("Tags") or {})
        return ActionResult({"Tags": dict(rule.tags)})

    def untag_resource(self) -> EmptyResult:
        # UntagResource's ARN is in the path, its keys in the query string.
        arn = (self.uri_match or {}).get("Arn") or self.path.split("/untagResource/", 1)[-1]
        from urllib.parse import unquote

        rule = self.backend.find(unquote(arn))
        for key in self.querystring.get("tagKeys", []):
            rule.tags.pop(key, None)
        return EmptyResult()

    def list_tags_for_resource(self) -> ActionResult:
        rule = self.backend.find(self._params().get("Arn", ""))
        return ActionResult({"Tags": dict(rule.tags)})


# --- delivery -------------------------------------------------------------------------


def _allows(policy: dict[str, Any], actions: tuple[str, ...]) -> bool:
    for statement in policy.get("Statement") or []:
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        services = principal.get("Service") if isinstance(principal, dict) else None
        if isinstance(services, str):
            services = [services]
        if _PRINCIPAL not in (services or []):
            continue
        granted = statement.get("Action") or []
        granted = [granted] if isinstance(granted, str) else granted
        lowered = {a.lower() for a in granted}
        if all(any(g == a.lower() or (g.endswith("*") and a.lower().startswith(g[:-1]))
                   for g in lowered) for a in actions):
            return True
    return False


def target_status(account_id: str, target: dict[str, str]) -> str:
    """ACTIVE when CodeStar Notifications may publish to the topic (and use its key)."""
    from moto.sns.models import sns_backends

    arn = target.get("TargetAddress", "")
    parts = arn.split(":")
    if len(parts) < 6:
        return "UNREACHABLE"
    topic = sns_backends[parts[4]][parts[3]].topics.get(arn)
    if topic is None:
        return "UNREACHABLE"
    if not _allows(json.loads(topic.policy), ("sns:Publish",)):
        return "UNREACHABLE"
    key = topic.kms_master_key_id
    if key and not _key_usable(parts[4], parts[3], key):
        return "UNREACHABLE"
    return "ACTIVE"


def _key_usable(account_id: str, region: str, key: str) -> bool:
    if key in ("alias/aws/sns", f"arn:aws:kms:{region}:{account_id}:alias/aws/sns"):
        return False  # its key policy cannot be changed to admit the service
    from moto.kms.models import kms_backends

    backend = kms_backends[account_id][region]
    try:
        found = backend.keys.get(backend.any_id_to_key_id(key))
    except Exception:  # noqa: BLE001 - an unknown key is unusable
        return False
    if found is None:
        return False
    return _allows(json.loads(found.policy), ("kms:GenerateDataKey*", "kms:Decrypt"))


def _deliver(ex: Any, event: str, detail: dict[str, Any]) -> None:
    from moto.sns.models import sns_backends

    pipeline_arn = f"arn:aws:codepipeline:{ex.region}:{ex.account_id}:{ex.pipeline_name}"
    try:
        backend = notifications_backends[ex.account_id][ex.region]
    except KeyError:
        return
    for rule in list(backend.rules.values()):
        if rule.status != "ENABLED" or rule.resource != pipeline_arn or \
                event not in rule.event_type_ids:
            continue
        when = datetime.fromtimestamp(detail.get("time", SETTINGS.clock.now()), tz=UTC)
        message = {
            "account": ex.account_id,
            "detailType": _detail_type(event),
            "region": ex.region,
            "source": "aws.codepipeline",
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "notificationRuleArn": rule.arn,
            "eventTypeId": event,
            "detail": {k: v for k, v in detail.items() if k != "time"},
            "resources": [pipeline_arn],
        }
        for target in rule.targets:
            if target_status(ex.account_id, target) != "ACTIVE":
                continue
            arn = target["TargetAddress"]
            parts = arn.split(":")
            sns_backends[parts[4]][parts[3]].publish(json.dumps(message), arn=arn)


def _detail_type(event: str) -> str:
    group = event.removeprefix("codepipeline-pipeline-").rsplit("-", 1)[0]
    return {
        "pipeline-execution": "CodePipeline Pipeline Execution State Change",
        "stage-execution": "CodePipeline Stage Execution State Change",
        "action-execution": "CodePipeline Action Execution State Change",
        "manual-approval": "CodePipeline Manual Approval",
    }.get(group, "CodePipeline Event")


def sent(account_id: str, region: str, topic_arn: str) -> list[dict[str, Any]]:
    """Messages published to a topic so far (in-process: mock mode or the server's process)."""
    from moto.sns.models import sns_backends

    topic = sns_backends[account_id][region].topics.get(topic_arn)
    return [json.loads(n[1]) for n in (topic.sent_notifications if topic else [])]


_installed = False


def install() -> None:
    """Register the API with moto and the delivery with the pipeline simulation."""
    global _installed
    if _installed:
        return
    import moto
    import moto.backend_index as backend_index

    from ecspipe.sandbox import executions

    module = types.ModuleType(f"moto.{_MOTO_NAME}")
    module.__doc__ = f"{SERVICE}, provided by {__name__}"
    setattr(module, f"{_MOTO_NAME}_backends", notifications_backends)
    sys.modules[f"moto.{_MOTO_NAME}"] = module
    setattr(moto, _MOTO_NAME, module)
    pattern = re.compile(_URL_BASE)
    if (_MOTO_NAME, pattern) not in backend_index.backend_url_patterns:
        backend_index.backend_url_patterns.append((_MOTO_NAME, pattern))
    if _deliver not in executions.LISTENERS:
        executions.LISTENERS.append(_deliver)
    _installed = True
