"""Exported templates read back: their resources as the API requests they stand for.

The inverse of documents/cloudformation.py, written independently of it: each
template resource becomes the requests that would create it (`requests_of`),
with the template's intrinsics resolved the way CloudFormation resolves them
(`Resolver`). `deploy` sends those requests to the sandbox in template order,
filling in what each creation returns (ARNs, a key's id), as a small stand-in
for CloudFormation: moto 5.2.5's CloudFormation cannot create
AWS::CodeConnections::Connection, AWS::CodeBuild::Project,
AWS::CodePipeline::Pipeline, AWS::S3::BucketPolicy, AWS::SNS::TopicPolicy,
AWS::SNS::Subscription nor AWS::CodeStarNotifications::NotificationRule
(moto.cloudformation.parsing.get_model_map has none of them).
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

Request = tuple[str, str, dict[str, Any]]  # (service, operation, params)


class Resolver:
    """Ref / Fn::GetAtt / Fn::Sub with the pseudo parameters, the parameters' defaults and
    the values of resources created so far."""

    def __init__(self, template: dict, account: str, region: str, partition: str = "aws"):
        self.values: dict[str, str] = {"AWS::AccountId": account, "AWS::Region": region,
                                       "AWS::Partition": partition}
        for name, parameter in (template.get("Parameters") or {}).items():
            self.values[name] = parameter["Default"]

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return self.values[value["Ref"]]
            if set(value) == {"Fn::GetAtt"}:
                logical_id, attribute = value["Fn::GetAtt"]
                return self.values[f"{logical_id}.{attribute}"]
            if set(value) == {"Fn::Sub"}:
                text = value["Fn::Sub"]
                assert isinstance(text, str), "only the one-argument Fn::Sub is used"

                def one(m: re.Match[str]) -> str:
                    if m.group(1).startswith("!"):
                        return "${" + m.group(1)[1:] + "}"
                    return self.values[m.group(1)]

                return re.sub(r"\$\{([^}]*)\}", one, text)
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def _camel(value: Any, verbatim: tuple[str, ...] = (), renames: dict | None = None) -> Any:
    renames = renames or {}
    if isinstance(value, dict):
        return {renames.get(k, k[:1].lower() + k[1:]):
                v if k in verbatim else _camel(v, verbatim, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v, verbatim, renames) for v in value]
    return value


KEY_ID = "<the new key's id>"


def requests_of(logical_id: str, resource: dict, account: str) -> list[Request]:
    """The requests one (resolved) template resource stands for, as ecspipe's `up` sends them."""
    kind, props = resource["Type"], dict(resource["Properties"])
    if kind == "AWS::CodeConnections::Connection":
        return [("codeconnections", "create_connection", props)]
    if kind == "AWS::ECR::Repository":
        lifecycle = props.pop("LifecyclePolicy", None)
        out = [("ecr", "create_repository", {**_camel(props), "tags": props["Tags"]})]
        if lifecycle:
            out.append(("ecr", "put_lifecycle_policy", {
                "repositoryName": props["RepositoryName"],
                "lifecyclePolicyText": lifecycle["LifecyclePolicyText"]}))
        return out
    if kind == "AWS::S3::Bucket":
        bucket = props["BucketName"]
        kw = {"Bucket": bucket, "ExpectedBucketOwner": account}
        out = [("s3", "create_bucket", {"Bucket": bucket,
                                        "CreateBucketConfiguration": {"Tags": props["Tags"]}})]
        out.append(("s3", "put_public_access_block", {
            **kw, "PublicAccessBlockConfiguration": props["PublicAccessBlockConfiguration"]}))
        out.append(("s3", "put_bucket_ownership_controls",
                    {**kw, "OwnershipControls": props["OwnershipControls"]}))
        out.append(("s3", "put_bucket_encryption", {**kw, "ServerSideEncryptionConfiguration": {
            "Rules": [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                      for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]}}))
        out.append(("s3", "put_bucket_versioning",
                    {**kw, "VersioningConfiguration": props["VersioningConfiguration"]}))
        rules = []
        for r in props["LifecycleConfiguration"]["Rules"]:
            rules.append({
                "ID": r["Id"], "Status": r["Status"], "Filter": {"Prefix": r.get("Prefix", "")},
                "Expiration": {"Days": r["ExpirationInDays"]},
                "NoncurrentVersionExpiration": r["NoncurrentVersionExpiration"],
                "AbortIncompleteMultipartUpload": r["AbortIncompleteMultipartUpload"]})
        out.append(("s3", "put_bucket_lifecycle_configuration",
                    {**kw, "LifecycleConfiguration": {"Rules": rules}}))
        return out
    if kind == "AWS::S3::BucketPolicy":
        return [("s3", "put_bucket_policy", {"Bucket": props["Bucket"],
                                             "ExpectedBucketOwner": account,
                                             "Policy": json.dumps(props["PolicyDocument"])})]
    if kind == "AWS::Logs::LogGroup":
        name = props["LogGroupName"]
        return [("logs", "create_log_group", {
                    "logGroupName": name, "tags": {t["Key"]: t["Value"] for t in props["Tags"]}}),
                ("logs", "put_retention_policy",
                 {"logGroupName": name, "retentionInDays": props["RetentionInDays"]})]
    if kind == "AWS::IAM::Role":
        policies = props.pop("Policies", [])
        props["AssumeRolePolicyDocument"] = json.dumps(props["AssumeRolePolicyDocument"])
        return [("iam", "create_role", props)] + [
            ("iam", "put_role_policy", {"RoleName": props["RoleName"],
                                        "PolicyName": p["PolicyName"],
                                        "PolicyDocument": json.dumps(p["PolicyDocument"])})
            for p in policies]
    if kind == "AWS::CodeBuild::Project":
        return [("codebuild", "create_project", _camel(props, renames={"BuildSpec": "buildspec"}))]
    if kind == "AWS::CodePipeline::Pipeline":
        tags = props.pop("Tags", [])
        declaration = _camel(props, verbatim=("Configuration",))
        declaration["version"] = 1
        return [("codepipeline", "create_pipeline",
                 {"pipeline": declaration, "tags": _camel(tags)})]
    if kind == "AWS::KMS::Key":
        create = {k: props[k] for k in ("Description", "KeyUsage", "KeySpec")}
        create["Policy"] = json.dumps(props["KeyPolicy"])
        create["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props["Tags"]]
        out = [("kms", "create_key", create)]
        if props.get("EnableKeyRotation"):
            out.append(("kms", "enable_key_rotation", {"KeyId": KEY_ID}))
        return out
    if kind == "AWS::KMS::Alias":
        return [("kms", "create_alias", {"AliasName": props["AliasName"], "TargetKeyId": KEY_ID})]
    if kind == "AWS::SNS::Topic":
        return [("sns", "create_topic", {
            "Name": props["TopicName"], "Attributes": {"KmsMasterKeyId": props["KmsMasterKeyId"]},
            "Tags": props["Tags"]})]
    if kind == "AWS::SNS::TopicPolicy":
        # ecspipe sends the policy in CreateTopic's Attributes: merged by `merged` below.
        return [("sns", "topic_policy", {"TopicArn": props["Topics"][0],
                                         "Policy": json.dumps(props["PolicyDocument"])})]
    if kind == "AWS::SNS::Subscription":
        return [("sns", "subscribe", props)]
    if kind == "AWS::CodeStarNotifications::NotificationRule":
        return [("codestar-notifications", "create_notification_rule", props)]
    raise AssertionError(f"{logical_id}: unexpected resource type {kind}")


def merged(requests: list[Request]) -> list[Request]:
    """The topic policy folded into CreateTopic's Attributes, as ecspipe sends it."""
    policies = [r for r in requests if r[1] == "topic_policy"]
    out = [r for r in requests if r[1] != "topic_policy"]
    for _, _, params in policies:
        create = next(r for r in out if r[1] == "create_topic")
        create[2]["Attributes"]["Policy"] = params["Policy"]
    return out


def _attributes(kind: str, props: dict, response: dict, region: str, account: str) -> dict:
    """Ref and GetAtt values of a resource just created, from its requests' responses."""
    if kind == "AWS::CodeConnections::Connection":
        return {"": response["ConnectionArn"]}
    if kind == "AWS::ECR::Repository":
        repo = response["repository"]
        return {"": repo["repositoryName"], "Arn": repo["repositoryArn"],
                "RepositoryUri": repo["repositoryUri"]}
    if kind == "AWS::S3::Bucket":
        return {"": props["BucketName"], "Arn": f"arn:aws:s3:::{props['BucketName']}"}
    if kind == "AWS::Logs::LogGroup":
        return {"": props["LogGroupName"]}
    if kind == "AWS::IAM::Role":
        return {"": props["RoleName"], "Arn": response["Role"]["Arn"]}
    if kind == "AWS::CodeBuild::Project":
        return {"": props["Name"], "Arn": response["project"]["arn"]}
    if kind == "AWS::CodePipeline::Pipeline":
        name = response["pipeline"]["name"]
        return {"": name, "Arn": f"arn:aws:codepipeline:{region}:{account}:{name}"}
    if kind == "AWS::KMS::Key":
        return {"": response["KeyMetadata"]["KeyId"], "Arn": response["KeyMetadata"]["Arn"]}
    if kind == "AWS::KMS::Alias":
        return {"": props["AliasName"]}
    if kind == "AWS::SNS::Topic":
        return {"": response["TopicArn"]}
    return {}


def deploy(template: dict, account: str, region: str) -> list[Request]:
    """Create every template resource through the APIs, in template order; return the
    requests sent (with the new key's id as KEY_ID, for comparisons)."""
    resolve = Resolver(template, account, region)
    sent: list[Request] = []
    key_id = None
    for logical_id, resource in template["Resources"].items():
        props = resolve(resource["Properties"])
        requests = requests_of(logical_id, {**resource, "Properties": props}, account)
        first = None
        for service, operation, params in requests:
            sent.append((service, operation, params))
            client = boto3.client(service, region_name=region)
            if operation == "topic_policy":
                client.set_topic_attributes(TopicArn=params["TopicArn"], AttributeName="Policy",
                                            AttributeValue=params["Policy"])
                continue
            call = dict(params)
            if key_id and call.get("KeyId") == KEY_ID:
                call["KeyId"] = key_id
            if key_id and call.get("TargetKeyId") == KEY_ID:
                call["TargetKeyId"] = key_id
            response = getattr(client, operation)(**call)
            first = first or response
            if operation == "create_key":
                key_id = response["KeyMetadata"]["KeyId"]
        for attribute, value in _attributes(resource["Type"], props, first or {}, region,
                                            account).items():
            resolve.values[f"{logical_id}.{attribute}" if attribute else logical_id] = value
    return merged(sent)


def _static_attributes(kind: str, props: dict, region: str, account: str) -> dict:
    """Ref and GetAtt values computed from a resource's own properties, in AWS's ARN formats."""
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
    if kind == "AWS::ECR::Repository":
        name = props["RepositoryName"]
        return {"": name, "Arn": arn.format("ecr", f"repository/{name}"),
                "RepositoryUri": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"}
    if kind == "AWS::IAM::Role":
        return {"": props["RoleName"],
                "Arn": f"arn:aws:iam::{account}:role{props['Path']}{props['RoleName']}"}
    if kind == "AWS::CodeBuild::Project":
        return {"": props["Name"], "Arn": arn.format("codebuild", f"project/{props['Name']}")}
    if kind == "AWS::CodePipeline::Pipeline":
        return {"": props["Name"], "Arn": arn.format("codepipeline", props["Name"])}
    if kind == "AWS::SNS::Topic":
        return {"": arn.format("sns", props["TopicName"])}
    if kind == "AWS::KMS::Key":
        return {"": KEY_ID}
    return _attributes(kind, props, {}, region, account) if kind in (
        "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::KMS::Alias") else {}


def expected_requests(template: dict, account: str, region: str,
                      connection_arn: str | None) -> list[Request]:
    """The requests the template stands for, with the values `up` gave its resources."""
    resolve = Resolver(template, account, region)
    out: list[Request] = []
    for logical_id, resource in template["Resources"].items():
        props = resolve(resource["Properties"])
        out += requests_of(logical_id, {**resource, "Properties": props}, account)
        values = _static_attributes(resource["Type"], props, region, account)
        if resource["Type"] == "AWS::CodeConnections::Connection":
            values = {"": connection_arn}
        for attribute, value in values.items():
            resolve.values[f"{logical_id}.{attribute}" if attribute else logical_id] = value
    return merged(out)
