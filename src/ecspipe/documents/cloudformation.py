"""CloudFormation from the requests `up` sends: a pure builder (`ecspipe export`).

Every resource module lists the API requests that create its resource
(`requests(ctx)`); this module turns those requests into template resources, in
one place, so the template can never say something `up` does not do.

- Shapes: API parameters become CloudFormation properties generically (a
  request's `camelCase` keys become `PascalCase`, action and rule
  `configuration` maps pass through as they are), with the few exceptions spelt
  out per resource type below (S3's put_* requests, a JSON policy text becoming a
  policy object, SNS attributes, KMS tags). A request member without a mapping
  raises, so a new field in a builder cannot be dropped silently.
- Values: the account, region and partition become the pseudo parameters
  `AWS::AccountId`, `AWS::Region`, `AWS::Partition` wherever they occur; the
  physical names and ARNs of the template's own resources become `Ref` /
  `Fn::GetAtt` of them (which also orders their creation), but only of resources
  declared before the one that uses them (the CodeBuild role's trust policy names
  the project's ARN, which stays an ARN: a reference would be a cycle). A string
  that gains a `${...}` becomes `Fn::Sub`, its own `${` written `${!` (the
  buildspec's bash expansions stay bash's).

What the property names rely on: the resource type schemas bundled with cfn-lint
1.58.0 (schema date 2026-10-20) and the "AWS resource and property types
reference" (CloudFormation User Guide): `AWS::S3::Bucket` `BucketEncryption` and
`LifecycleConfiguration.Rules[].Id/ExpirationInDays/Prefix`, `AWS::KMS::Key`
`KeyPolicy`/`EnableKeyRotation`, `AWS::CodeBuild::Project` `Source.BuildSpec`,
`AWS::CodeStarNotifications::NotificationRule.Tags` as a map (every other type's
Tags are `[{Key, Value}]`); `Ref` of a connection, topic or rule is its ARN, of an
alias its name, of a bucket, project, log group or pipeline its name
(GetAtt `Arn` for the ARN).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ecspipe.names import Names, tag_list

FORMAT_VERSION = "2010-09-09"
# What deleting the stack (or replacing the resource) does, said explicitly for every
# stateful resource. Kept: images production runs, artifacts, build logs (ecspipe's
# own `down` keeps images unless --delete-images; CloudFormation cannot be told that,
# so it keeps all three). The notification key goes, as with `down`: KMS schedules
# its deletion after a waiting period.
DELETION_POLICIES = {"Repository": "Retain", "ArtifactBucket": "Retain", "LogGroup": "Retain",
                     "NotificationKey": "Delete"}

Request = tuple[str, dict[str, Any]]


@dataclass
class Part:
    """One template resource."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)  # DeletionPolicy, Metadata


@dataclass(frozen=True)
class Reference:
    """A value of a template resource, written as a reference to it."""

    literal: str  # the physical value, as the builders write it
    text: str  # its Fn::Sub form, e.g. "${Repository.Arn}"
    provider: str  # the logical id it refers to
    whole: bool = False  # only a whole string: names that occur inside other names


@dataclass(frozen=True)
class Parameter:
    """A template parameter: `sentinel` stands for it in the builders' output."""

    name: str
    sentinel: str
    default: str
    description: str
    pattern: str


class NoMapping(ValueError):
    """A request member this module cannot render: the builders changed (a bug to fix here)."""


# ---- request shapes -> property shapes ------------------------------------------------

def pascal(value: Any, verbatim: Sequence[str] = (), renames: dict[str, str] | None = None) -> Any:
    """camelCase keys to PascalCase, recursively; keys in `verbatim` keep their value as is."""
    renames = renames or {}
    if isinstance(value, dict):
        return {renames.get(k, k[:1].upper() + k[1:]):
                v if k in verbatim else pascal(v, verbatim, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v, verbatim, renames) for v in value]
    return value


def _only(params: dict[str, Any], known: Sequence[str], what: str) -> None:
    extra = sorted(set(params) - set(known))
    if extra:
        raise NoMapping(f"{what}: no CloudFormation mapping for {', '.join(extra)}")


def _by_operation(requests: Sequence[Request], what: str,
                  known: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for operation, params in requests:
        if operation not in known:
            raise NoMapping(f"{what}: no CloudFormation mapping for the request {operation}")
        out.setdefault(operation, []).append(params)
    return out


def _connection(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "connection", ["create_connection"])
    params = ops["create_connection"][0]
    _only(params, ["ProviderType", "ConnectionName", "Tags"], "CreateConnection")
    return [Part("Connection", "AWS::CodeConnections::Connection", dict(params))]


def _repository(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "ECR repository", ["create_repository", "put_lifecycle_policy"])
    props = pascal(ops["create_repository"][0])
    for put in ops.get("put_lifecycle_policy", []):
        props["LifecyclePolicy"] = {"LifecyclePolicyText": put["lifecyclePolicyText"]}
    return [Part("Repository", "AWS::ECR::Repository", props)]


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    _only(rule, ["ID", "Status", "Filter", "Expiration", "NoncurrentVersionExpiration",
                 "AbortIncompleteMultipartUpload"], "S3 lifecycle rule")
    out: dict[str, Any] = {"Id": rule["ID"], "Status": rule["Status"]}
    prefix = (rule.get("Filter") or {}).get("Prefix")
    _only(rule.get("Filter") or {}, ["Prefix"], "S3 lifecycle rule Filter")
    if prefix:
        out["Prefix"] = prefix
    if "Expiration" in rule:
        _only(rule["Expiration"], ["Days"], "S3 lifecycle rule Expiration")
        out["ExpirationInDays"] = rule["Expiration"]["Days"]
    for key in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if key in rule:
            out[key] = dict(rule[key])
    return out


def _bucket(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "artifact bucket", [
        "create_bucket", "put_public_access_block", "put_bucket_ownership_controls",
        "put_bucket_encryption", "put_bucket_versioning", "put_bucket_lifecycle_configuration",
        "put_bucket_policy", "put_bucket_tagging"])
    create = ops["create_bucket"][0]
    # The stack's region is the bucket's: LocationConstraint has no property.
    props: dict[str, Any] = {"BucketName": create["Bucket"]}
    one = {op: params[0] for op, params in ops.items()}
    if "put_public_access_block" in one:
        props["PublicAccessBlockConfiguration"] = one["put_public_access_block"][
            "PublicAccessBlockConfiguration"]
    if "put_bucket_ownership_controls" in one:
        props["OwnershipControls"] = one["put_bucket_ownership_controls"]["OwnershipControls"]
    if "put_bucket_encryption" in one:
        rules = one["put_bucket_encryption"]["ServerSideEncryptionConfiguration"]["Rules"]
        props["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": r["ApplyServerSideEncryptionByDefault"],
             **({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})}
            for r in rules]}
    if "put_bucket_versioning" in one:
        props["VersioningConfiguration"] = one["put_bucket_versioning"]["VersioningConfiguration"]
    if "put_bucket_lifecycle_configuration" in one:
        rules = one["put_bucket_lifecycle_configuration"]["LifecycleConfiguration"]["Rules"]
        props["LifecycleConfiguration"] = {"Rules": [_lifecycle_rule(r) for r in rules]}
    tags = (create.get("CreateBucketConfiguration") or {}).get("Tags")
    if "put_bucket_tagging" in one:
        tags = one["put_bucket_tagging"]["Tagging"]["TagSet"]
    if tags:
        props["Tags"] = tags
    parts = [Part("ArtifactBucket", "AWS::S3::Bucket", props)]
    if "put_bucket_policy" in one:
        parts.append(Part("ArtifactBucketPolicy", "AWS::S3::BucketPolicy", {
            "Bucket": create["Bucket"],
            "PolicyDocument": json.loads(one["put_bucket_policy"]["Policy"])}))
    return parts


def _log_group(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "log group", ["create_log_group", "put_retention_policy"])
    create = ops["create_log_group"][0]
    _only(create, ["logGroupName", "tags"], "CreateLogGroup")
    props: dict[str, Any] = {"LogGroupName": create["logGroupName"]}
    for put in ops.get("put_retention_policy", []):
        props["RetentionInDays"] = put["retentionInDays"]
    if create.get("tags"):
        props["Tags"] = tag_list(create["tags"])
    return [Part("LogGroup", "AWS::Logs::LogGroup", props)]


def _role(logical_id: str) -> Callable[[Sequence[Request]], list[Part]]:
    def convert(requests: Sequence[Request]) -> list[Part]:
        ops = _by_operation(requests, logical_id, ["create_role", "put_role_policy"])
        create = dict(ops["create_role"][0])
        create["AssumeRolePolicyDocument"] = json.loads(create["AssumeRolePolicyDocument"])
        policies = [{"PolicyName": p["PolicyName"], "PolicyDocument": json.loads(p["PolicyDocument"])}
                    for p in ops.get("put_role_policy", [])]
        if policies:
            create["Policies"] = policies
        return [Part(logical_id, "AWS::IAM::Role", create)]

    return convert


def _project(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "CodeBuild project", ["create_project"])
    props = pascal(ops["create_project"][0], renames={"buildspec": "BuildSpec"})
    return [Part("BuildProject", "AWS::CodeBuild::Project", props)]


def _pipeline(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "pipeline", ["create_pipeline"])
    create = ops["create_pipeline"][0]
    _only(create, ["pipeline", "tags"], "CreatePipeline")
    # `version` is CodePipeline's counter of saves, not a property.
    declaration = {k: v for k, v in create["pipeline"].items() if k != "version"}
    props = pascal(declaration, verbatim=("configuration",))
    if create.get("tags"):
        props["Tags"] = pascal(create["tags"])
    return [Part("Pipeline", "AWS::CodePipeline::Pipeline", props)]


def _key(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "KMS key", ["create_key", "enable_key_rotation", "create_alias"])
    create = ops["create_key"][0]
    _only(create, ["Description", "KeyUsage", "KeySpec", "Policy", "Tags"], "CreateKey")
    props: dict[str, Any] = {k: create[k] for k in ("Description", "KeyUsage", "KeySpec")
                             if k in create}
    props["KeyPolicy"] = json.loads(create["Policy"])
    if "enable_key_rotation" in ops:
        props["EnableKeyRotation"] = True
    if create.get("Tags"):
        props["Tags"] = [{"Key": t["TagKey"], "Value": t["TagValue"]} for t in create["Tags"]]
    parts = [Part("NotificationKey", "AWS::KMS::Key", props)]
    for alias in ops.get("create_alias", []):
        parts.append(Part("NotificationKeyAlias", "AWS::KMS::Alias", {
            "AliasName": alias["AliasName"], "TargetKeyId": {"Ref": "NotificationKey"}}))
    return parts


def _topic(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "SNS topic", ["create_topic", "subscribe"])
    create = ops["create_topic"][0]
    _only(create, ["Name", "Attributes", "Tags"], "CreateTopic")
    attributes = dict(create.get("Attributes") or {})
    _only(attributes, ["Policy", "KmsMasterKeyId"], "CreateTopic Attributes")
    props: dict[str, Any] = {"TopicName": create["Name"]}
    if "KmsMasterKeyId" in attributes:
        props["KmsMasterKeyId"] = attributes["KmsMasterKeyId"]
    if create.get("Tags"):
        props["Tags"] = create["Tags"]
    parts = [Part("NotificationTopic", "AWS::SNS::Topic", props)]
    if "Policy" in attributes:
        parts.append(Part("NotificationTopicPolicy", "AWS::SNS::TopicPolicy", {
            "Topics": [{"Ref": "NotificationTopic"}],
            "PolicyDocument": json.loads(attributes["Policy"])}))
    for number, subscription in enumerate(ops.get("subscribe", []), 1):
        _only(subscription, ["TopicArn", "Protocol", "Endpoint"], "Subscribe")
        parts.append(Part(f"NotificationSubscription{number}", "AWS::SNS::Subscription",
                          dict(subscription)))
    return parts


def _rule(requests: Sequence[Request]) -> list[Part]:
    ops = _by_operation(requests, "notification rule", ["create_notification_rule"])
    params = dict(ops["create_notification_rule"][0])
    params.pop("ClientRequestToken", None)
    return [Part("NotificationRule", "AWS::CodeStarNotifications::NotificationRule", params)]


# Each resource module's `kind` -> its converter.
CONVERTERS: dict[str, Callable[[Sequence[Request]], list[Part]]] = {
    "connection": _connection,
    "ECR repository": _repository,
    "artifact bucket": _bucket,
    "log group": _log_group,
    "KMS key": _key,
    "CodeBuild role": _role("CodeBuildRole"),
    "CodePipeline role": _role("PipelineRole"),
    "SNS topic": _topic,
    "CodeBuild project": _project,
    "pipeline": _pipeline,
    "notification rule": _rule,
}


def parts_of(kind: str, requests: Sequence[Request]) -> list[Part]:
    """The template resources of one ecspipe resource (none when it is not created)."""
    if not requests:
        return []
    if kind not in CONVERTERS:
        raise NoMapping(f"{kind}: no CloudFormation mapping for this resource")
    return CONVERTERS[kind](requests)


# ---- values -> pseudo parameters and references ---------------------------------------

def references(names: Names, connection_arn: str | None) -> list[Reference]:
    """The physical values of ecspipe's resources and how the template refers to them."""
    refs = [
        Reference(names.codebuild_role_arn, "${CodeBuildRole.Arn}", "CodeBuildRole"),
        Reference(names.pipeline_role_arn, "${PipelineRole.Arn}", "PipelineRole"),
        Reference(names.artifact_bucket_arn, "${ArtifactBucket.Arn}", "ArtifactBucket"),
        Reference(names.artifact_bucket, "${ArtifactBucket}", "ArtifactBucket"),
        Reference(names.ecr_repository_arn, "${Repository.Arn}", "Repository"),
        Reference(names.ecr_repository_uri, "${Repository.RepositoryUri}", "Repository"),
        Reference(names.build_project_arn, "${BuildProject.Arn}", "BuildProject"),
        Reference(names.build_project, "${BuildProject}", "BuildProject", whole=True),
        Reference(names.log_group, "${LogGroup}", "LogGroup", whole=True),
        Reference(names.pipeline_arn, "${Pipeline.Arn}", "Pipeline"),
        Reference(names.notification_topic_arn, "${NotificationTopic}", "NotificationTopic"),
        Reference(names.notification_key_alias, "${NotificationKeyAlias}",
                  "NotificationKeyAlias", whole=True),
    ]
    if connection_arn:
        refs.append(Reference(connection_arn, "${Connection}", "Connection"))
    return refs


class Substituter:
    """Rewrites the strings of one resource's properties (see the module docstring)."""

    def __init__(self, names: Names, refs: Sequence[Reference], parameters: Sequence[Parameter],
                 declared: set[str]) -> None:
        self.whole = {r.literal: r.text for r in refs if r.whole and r.provider in declared}
        inner = [(r.literal, r.text) for r in refs if not r.whole and r.provider in declared]
        inner += [(p.sentinel, "${" + p.name + "}") for p in parameters]
        inner.sort(key=lambda pair: -len(pair[0]))
        self.texts = dict(inner)
        pieces = [re.escape(literal) for literal, _ in inner]
        self.account, self.region, self.partition = names.account, names.region, names.partition
        pieces += [rf"(?<!\d){re.escape(self.account)}(?!\d)", re.escape(self.region),
                   rf"(?<=arn:){re.escape(self.partition)}(?=:)", r"\$\{"]
        self.pattern = re.compile("|".join(f"(?:{p})" for p in pieces))

    def _replace(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found == "${":
            return "${!"
        if found in self.texts:
            return self.texts[found]
        if found == self.account:
            return "${AWS::AccountId}"
        if found == self.region:
            return "${AWS::Region}"
        return "${AWS::Partition}"

    def string(self, text: str) -> Any:
        if text in self.whole:
            return intrinsic(self.whole[text])
        replaced = 0

        def count(match: re.Match[str]) -> str:
            nonlocal replaced
            out = self._replace(match)
            replaced += match.group(0) != "${"
            return out

        sub = self.pattern.sub(count, text)
        return intrinsic(sub) if replaced else text

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                return value  # already an intrinsic of ours
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def intrinsic(text: str) -> Any:
    """An Fn::Sub text as its simplest intrinsic: `Ref`, `Fn::GetAtt`, or `Fn::Sub`."""
    m = re.fullmatch(r"\$\{([A-Za-z0-9]+(?:::[A-Za-z]+)?)\}", text)
    if m:
        return {"Ref": m.group(1)}
    m = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}", text)
    if m:
        return {"Fn::GetAtt": [m.group(1), m.group(2)]}
    return {"Fn::Sub": text}


# ---- the template --------------------------------------------------------------------

def template(names: Names, resources: Sequence[tuple[str, Sequence[Request]]], *,
             description: str, connection_arn: str | None, connection_declared: bool,
             provider: str, parameters: Sequence[Parameter] = (),
             skips: dict[str, list[tuple[str, str]]] | None = None,
             notes: Sequence[str] = ()) -> dict[str, Any]:
    """The whole template: parameters, resources in `up`'s order, outputs.

    `resources` are (kind, requests) in dependency order; `skips` are checkov checks
    that do not apply, per logical id, with the reason; `notes` go to the
    template's Metadata (what the template does not hold)."""
    parts = [part for kind, requests in resources for part in parts_of(kind, requests)]
    refs = references(names, connection_arn if connection_declared else None)
    declared: set[str] = set()
    body: dict[str, Any] = {}
    for part in parts:
        substitute = Substituter(names, refs, parameters, declared)
        entry: dict[str, Any] = {"Type": part.type}
        if part.logical_id in DELETION_POLICIES:
            entry["DeletionPolicy"] = DELETION_POLICIES[part.logical_id]
            entry["UpdateReplacePolicy"] = DELETION_POLICIES[part.logical_id]
        checks = (skips or {}).get(part.logical_id)
        if checks:
            entry["Metadata"] = {"checkov": {"skip": [{"id": i, "comment": c} for i, c in checks]}}
        entry["Properties"] = substitute(part.properties)
        body[part.logical_id] = entry
        declared.add(part.logical_id)
    out: dict[str, Any] = {"AWSTemplateFormatVersion": FORMAT_VERSION, "Description": description}
    if notes:
        out["Metadata"] = {"ecspipe": {"notes": list(notes)}}
    if parameters:
        out["Parameters"] = {p.name: {"Type": "String", "Default": p.default,
                                      "Description": p.description, "AllowedPattern": p.pattern}
                             for p in parameters}
    out["Resources"] = body
    out["Outputs"] = outputs(names, connection_arn, connection_declared, provider,
                             Substituter(names, refs, parameters, declared))
    return out


def outputs(names: Names, connection_arn: str | None, declared: bool, provider: str,
            substitute: Substituter) -> dict[str, Any]:
    """Name and console URL of the pipeline, and the connection. "Update a pending
    connection" (Developer Tools console User Guide): a connection created by
    CloudFormation is PENDING until completed in the console, which only the console can do."""
    out: dict[str, Any] = {
        "PipelineName": {"Description": "The pipeline's name: ecspipe status and release "
                         "work on it by name", "Value": {"Ref": "Pipeline"}},
        "PipelineConsoleUrl": {
            "Description": "The pipeline in the CodePipeline console",
            "Value": {"Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/codesuite/"
                      "codepipeline/pipelines/${Pipeline}/view?region=${AWS::Region}"}},
    }
    if connection_arn:
        out["ConnectionArn"] = {
            "Description": (
                f"A new connection starts PENDING: a person completes the {provider} handshake "
                "once per account, at https://console.aws.amazon.com/codesuite/settings/"
                "connections in the stack's region (Update a pending connection); runs fail at "
                "the Source stage until then" if declared else
                "The existing connection the pipeline uses (source.connection_arn)"),
            "Value": {"Ref": "Connection"} if declared else substitute(connection_arn),
        }
    return out


# ---- YAML ----------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # builders share dicts: never `&id001` anchors in a template


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100,
                     default_flow_style=False, allow_unicode=False)
