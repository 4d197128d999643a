"""IAM and S3 policy documents, least privilege and scoped to exact ARNs.

Baseline: AWS's documented service-role policies for CodeBuild and CodePipeline,
narrowed (reference/aws-facts.md section 3). No wildcard action anywhere in the
roles' policies. `Resource: "*"` appears only where the action has no
resource-level permissions: ecr:GetAuthorizationToken, ecs:DescribeTaskDefinition,
ecs:RegisterTaskDefinition, and ecs:ListTasks (narrowed by an ecs:cluster condition).
A CODE_DEPLOY environment's service gets CodeDeployToECS's permissions instead of
the ECS action's (no UpdateService: CodeDeploy's own role changes the service).
A KMS key named by alias is granted on `key/*` of the account and region, narrowed
by kms:ResourceAliases and kms:ViaService (IAM cannot name a key by its alias).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ecspipe.config import Config, ParameterStoreRef, SecretsManagerRef
from ecspipe.config.references import kms_grant, parameter_arn, secret_arn
from ecspipe.documents.conditions import alarm_arns, alarm_statement
from ecspipe.documents.project import ecr_build_image
from ecspipe.facts import EnvironmentFacts, ServiceFacts
from ecspipe.names import Names

VERSION = "2012-10-17"

ECR_PUSH_PULL = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
]


def _trust(service: str, conditions: dict[str, Any] | None) -> dict[str, Any]:
    # Principal.Service as a string, not a list: moto's CreatePipeline rejects the list form.
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = conditions
    return {"Version": VERSION, "Statement": [statement]}


def codebuild_trust(names: Names) -> dict[str, Any]:
    return _trust(
        "codebuild.amazonaws.com",
        {
            "StringEquals": {"aws:SourceAccount": names.account},
            "ArnLike": {"aws:SourceArn": names.build_project_arn},
        },
    )


def pipeline_trust(names: Names) -> dict[str, Any]:
    # Exactly AWS's documented trust policy ("Create the CodePipeline service role
    # (CLI)", CodePipeline User Guide): no condition. AWS documents confused-deputy
    # keys for CodeBuild, not for CodePipeline's AssumeRole, and a condition on a
    # key the service does not send makes the role unassumable: every CreatePipeline
    # would fail (after two minutes of retries). The role's own policy is scoped to
    # this pipeline's resources, and only this account can attach the role (iam:PassRole).
    return _trust("codepipeline.amazonaws.com", None)


def _parameter_arn(names: Names, reference: str) -> str:
    return parameter_arn(reference, names.partition, names.region, names.account)


def _secret_arn(names: Names, reference: str) -> str:
    """The secret's ARN from a CodeBuild reference `secret-id[:json-key:stage:version]`;
    Secrets Manager appends "-" and 6 random characters to every secret's ARN."""
    return secret_arn(reference, names.partition, names.region, names.account)


def _key_statements(config: Config, names: Names) -> list[dict[str, Any]]:
    """kms:Decrypt on each reference's customer managed key, only through its service.

    - "Specifying KMS keys in IAM policy statements" (KMS Developer Guide): a key is
      named in Resource by its key ARN only, never by an alias or alias ARN.
    - "Use aliases to control access to KMS keys" / "kms:ResourceAliases": a key
      named by alias is granted on `key/*` of the account and region with
      ForAnyValue:StringEquals kms:ResourceAliases (a resource condition: it holds
      however the request names the key, as SSM and Secrets Manager name it by key
      ID). kms:RequestAlias would not: it needs the alias in the request.
    - "kms:ViaService": `SERVICE.REGION.amazonaws.com`; the build may decrypt with
      these keys only through Parameter Store / Secrets Manager, not directly.
    """
    statements: list[dict[str, Any]] = []
    for sid, kind, service in (("ParameterKeys", ParameterStoreRef, "ssm"),
                               ("SecretKeys", SecretsManagerRef, "secretsmanager")):
        grants = [kms_grant(v.kms_key, names.partition, names.region, names.account)
                  for v in config.build.env.values() if isinstance(v, kind) and v.kms_key]
        via = {"kms:ViaService": f"{service}.{names.region}.amazonaws.com"}
        keys = sorted({g.key_arn for g in grants if g.key_arn})
        aliases = sorted({g.alias for g in grants if g.alias})
        if keys:
            statements.append({"Sid": sid, "Effect": "Allow", "Action": "kms:Decrypt",
                               "Resource": keys, "Condition": {"StringEquals": via}})
        if aliases:
            statements.append({
                "Sid": f"{sid}ByAlias",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": f"arn:{names.partition}:kms:{names.region}:{names.account}:key/*",
                "Condition": {"StringEquals": via,
                              "ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}},
            })
    return statements


def codebuild_policy(config: Config, names: Names) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [names.log_group_arn, f"{names.log_group_arn}:*"],
        },
        {
            "Sid": "ArtifactObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            "Resource": f"{names.artifact_bucket_arn}/*",
        },
        {
            "Sid": "ArtifactBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
            "Resource": names.artifact_bucket_arn,
        },
        {
            # GetAuthorizationToken has no resource-level permissions.
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "EcrPushPull",
            "Effect": "Allow",
            "Action": ECR_PUSH_PULL,
            "Resource": names.ecr_repository_arn,
        },
    ]
    image = ecr_build_image(config)
    if image:
        statements.append(
            {
                "Sid": "BuildImagePull",
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                           "ecr:GetDownloadUrlForLayer"],
                "Resource": f"arn:{names.partition}:ecr:{image['region']}:{image['account']}:"
                f"repository/{image['repository']}",
            }
        )
    parameters = sorted({
        _parameter_arn(names, v.parameter_store)
        for v in config.build.env.values()
        if isinstance(v, ParameterStoreRef)
    })
    if parameters:
        statements.append(
            {
                "Sid": "BuildParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameters",
                "Resource": parameters,
            }
        )
    secrets = sorted({
        _secret_arn(names, v.secrets_manager)
        for v in config.build.env.values()
        if isinstance(v, SecretsManagerRef)
    })
    if secrets:
        statements.append(
            {
                "Sid": "BuildSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secrets,
            }
        )
    statements += _key_statements(config, names)
    return {"Version": VERSION, "Statement": statements}


def connection_service_prefix(connection_arn: str) -> str:
    """`codeconnections` or `codestar-connections`: UseConnection's prefix must match the ARN."""
    parts = connection_arn.split(":")
    return parts[2] if len(parts) > 2 and parts[2] else "codeconnections"


def _one_or_all(values: list[str]) -> str | list[str]:
    """One resource as a string (the policy of a single service stays byte for byte what
    it was before environments), several as a list."""
    return values[0] if len(values) == 1 else values


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _ecs_action_statements(ecs_arn: str, services: list[ServiceFacts]) -> list[dict[str, Any]]:
    """What the ECS deploy action does for its services: describe and register task
    definitions, update the service, watch its tasks, tag the new revision."""
    if not services:
        return []
    return [
        {
            # Neither action supports resource-level permissions.
            "Sid": "TaskDefinitions",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
            "Resource": "*",
        },
        {
            "Sid": "Service",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
            "Resource": _one_or_all(_unique(s.service_arn for s in services)),
        },
        {
            # The ECS deploy action watches the new deployment's tasks.
            "Sid": "ServiceTasks",
            "Effect": "Allow",
            "Action": "ecs:DescribeTasks",
            "Resource": _one_or_all(_unique(f"{ecs_arn}:task/{s.cluster_name}/*"
                                            for s in services)),
        },
        {
            # ListTasks has no resource type for tasks; the cluster condition narrows it
            # (several values of one condition key are OR-ed).
            "Sid": "ListServiceTasks",
            "Effect": "Allow",
            "Action": "ecs:ListTasks",
            "Resource": "*",
            "Condition": {"ArnEquals": {
                "ecs:cluster": _one_or_all(_unique(s.cluster_arn for s in services))}},
        },
        {
            "Sid": "TagNewTaskDefinitions",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": _one_or_all(_unique(f"{ecs_arn}:task-definition/{s.family}:*"
                                            for s in services)),
            "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        },
    ]


def _codedeploy_statements(names: Names, ecs_arn: str, services: list[ServiceFacts],
                           register: bool) -> list[dict[str, Any]]:
    """What CodeDeployToECS does: register the taskdef (no resource-level permission),
    register the revision with the application, create and read the deployment in the
    group, read the deployment configuration. The least-privilege mapping of the AWS
    CDK's CodeDeployEcsDeployAction, scoped to these groups ("CodeDeploy permissions
    reference": CreateDeployment and GetDeployment on the deployment group;
    GetApplication, GetApplicationRevision and RegisterApplicationRevision on the
    application; GetDeploymentConfig on the deployment configuration). A taskdef with
    tags needs ecs:TagResource on the new revision, as for the ECS action. `register`:
    ecs:RegisterTaskDefinition is not granted already (for an ECS action's service)."""
    groups = [s.codedeploy for s in services if s.codedeploy is not None]
    if not groups:
        return []
    arn = f"arn:{names.partition}:codedeploy:{names.region}:{names.account}"
    statements: list[dict[str, Any]] = [{
        # No resource-level permissions.
        "Sid": "TaskDefinitions",  # as for the ECS action (it registers only)
        "Effect": "Allow",
        "Action": "ecs:RegisterTaskDefinition",
        "Resource": "*",
    }] if register else []
    statements += [
        {
            "Sid": "CodeDeployApplications",
            "Effect": "Allow",
            "Action": ["codedeploy:GetApplication", "codedeploy:GetApplicationRevision",
                       "codedeploy:RegisterApplicationRevision"],
            "Resource": _one_or_all(_unique(f"{arn}:application:{g.application}"
                                            for g in groups)),
        },
        {
            "Sid": "CodeDeployDeployments",
            "Effect": "Allow",
            "Action": ["codedeploy:CreateDeployment", "codedeploy:GetDeployment"],
            "Resource": _one_or_all(_unique(
                f"{arn}:deploymentgroup:{g.application}/{g.deployment_group}" for g in groups)),
        },
        {
            "Sid": "CodeDeployConfigs",
            "Effect": "Allow",
            "Action": "codedeploy:GetDeploymentConfig",
            "Resource": _one_or_all(_unique(f"{arn}:deploymentconfig:{g.deployment_config}"
                                            for g in groups)),
        },
    ]
    tagged = [s for s in services if (s.task_definition or {}).get("tags")]
    if tagged:
        statements.append({
            "Sid": "TagCodeDeployTaskDefinitions",
            "Effect": "Allow",
            "Action": "ecs:TagResource",
            "Resource": _one_or_all(_unique(f"{ecs_arn}:task-definition/{s.family}:*"
                                            for s in tagged)),
            "Condition": {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        })
    return statements


def pipeline_policy(
    names: Names, environments: Sequence[EnvironmentFacts], connection_arn: str
) -> dict[str, Any]:
    """The CodePipeline role: artifacts, the connection, the build, and for every
    environment exactly its service, its cluster's tasks, its task family and the roles
    its task definition passes. Approvals need no permission of the role (a person
    answers them); nor does the notification rule (CodeStar Notifications publishes
    with its own service principal)."""
    account = {"StringEquals": {"aws:ResourceAccount": names.account}}
    ecs_arn = f"arn:{names.partition}:ecs:{names.region}:{names.account}"
    services = [e.service for e in environments]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ArtifactBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning"],
            "Resource": names.artifact_bucket_arn,
            "Condition": account,
        },
        {
            "Sid": "ArtifactObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl"],
            "Resource": f"{names.artifact_bucket_arn}/*",
            "Condition": account,
        },
        {
            "Sid": "SourceConnection",
            "Effect": "Allow",
            "Action": f"{connection_service_prefix(connection_arn)}:UseConnection",
            "Resource": connection_arn,
        },
        {
            "Sid": "Build",
            "Effect": "Allow",
            "Action": ["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
            "Resource": names.build_project_arn,
        },
    ]
    by_ecs = [s for s in services if s.codedeploy is None]
    statements += _ecs_action_statements(ecs_arn, by_ecs)
    statements += _codedeploy_statements(names, ecs_arn,
                                         [s for s in services if s.codedeploy is not None],
                                         register=not by_ecs)
    pass_roles = sorted({arn for s in services for arn in s.pass_role_arns})
    if pass_roles:
        statements.append(
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": pass_roles,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            }
        )
    statements.extend(_alarm_statements(names, environments))
    return {"Version": VERSION, "Statement": statements}


def _alarm_statements(names: Names,
                      environments: Sequence[EnvironmentFacts]) -> list[dict[str, Any]]:
    """CloudWatchAlarm rules read their alarms with the pipeline role: DescribeAlarms on
    exactly those alarms. "DescribeAlarms" (CloudWatch API Reference): "To use this
    operation and return information about composite alarms, you must be signed on with
    the cloudwatch:DescribeAlarms permission that is scoped to *", so a composite alarm
    among them makes the resource `*` (the action reads, and only alarms)."""
    alarms = sorted({a for e in environments for a in e.target.gates.alarms})
    if not alarms:
        return []
    if any(e.composite_alarms for e in environments):
        return [{**alarm_statement([]), "Resource": "*"}]
    return [alarm_statement(alarm_arns(names.partition, names.region, names.account, alarms))]


def bucket_policy(names: Names) -> dict[str, Any]:
    """Deny every request that does not use TLS (a Deny, so `s3:*` is the point)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [names.artifact_bucket_arn, f"{names.artifact_bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


ARTIFACT_DAYS = 30
NONCURRENT_DAYS = 7


def bucket_lifecycle() -> dict[str, Any]:
    return {
        "Rules": [
            {
                "ID": "ecspipe-expire-artifacts",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": ARTIFACT_DAYS},
                "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }


def ecr_lifecycle(keep: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"ecspipe: keep the newest {keep} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        ]
    }
