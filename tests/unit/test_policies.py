"""The IAM and S3 policy documents: parliament (core + community auditors) and our own guard.

Every document ecspipe generates is linted by parliament exactly as the
`parliament --include-community-auditors` CLI would (cli.py loads
community_auditors/config_override.yaml through `override_config` and passes
`include_community_auditors=True`). Any finding fails the test unless it is on
ALLOWED_FINDINGS, which matches the issue code AND the exact (statement, action)
pairs, so a new finding anywhere else still fails.

parliament does not flag `"Action": "*"` in its core checks, so a guard of our own
(`guard_problems`) enforces the least-privilege rules of aws-facts.md section 3.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sample_facts import (
    ACCOUNT,
    EXECUTION_ROLE,
    TASK_ROLE,
    codedeploy_environments,
    environments,
    seed_environments,
)

from ecspipe.config import Config, load_config, parse_config
from ecspipe.documents import policies
from ecspipe.names import Names

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
CONNECTIONS = {
    "codeconnections": (
        f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    ),
    "codestar-connections": (
        f"arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/"
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    ),
}

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab"

# IAM quotas: a role's inline policies together, and a role trust policy (default
# quota), both counted without whitespace.
INLINE_POLICY_LIMIT = 10240
TRUST_POLICY_LIMIT = 2048

# The only actions allowed on Resource "*": none of them supports resource-level permissions.
RESOURCE_STAR_ACTIONS = frozenset(
    {"ecr:getauthorizationtoken", "ecs:describetaskdefinition", "ecs:registertaskdefinition",
     # narrowed by an ecs:cluster condition instead (see the allow-list below)
     "ecs:listtasks"}
)


# --------------------------------------------------------------------------- inputs


def example_config() -> Config:
    return load_config(EXAMPLE)


def config_with_references() -> Config:
    """config.example.yaml plus build.env references, by name and by ARN."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["build"]["env"].update(
        {
            "DB_PASSWORD": {"parameter_store": "/demo-app/db-password"},
            "FEATURE_FLAGS": {"parameter_store": "demo-app-flags"},
            "LICENSE_KEY": {
                "parameter_store": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/shared/license"
            },
            "API_TOKEN": {"secrets_manager": "demo-app/api-token", "kms_key": KEY_ARN},
            "SIGNING_SECRET": {
                "secrets_manager": (
                    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo-app/signing-AbCdEf"
                ),
                "kms_key": "alias/demo-app-secrets",
            },
            "NPM_TOKEN": {"parameter_store": "/demo-app/npm-token", "kms_key": KEY_ID},
            "SENTRY_AUTH": {"parameter_store": "/demo-app/sentry",
                            "kms_key": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/demo-app-params"},
        }
    )
    return parse_config(yaml.safe_dump(data, sort_keys=False))


def names_for(config: Config) -> Names:
    return Names.from_config(config, ACCOUNT)




@dataclass(frozen=True)
class Document:
    """One generated policy document and what the checks need to know about it."""

    kind: str  # the builder's name: the key of ALLOWED_FINDINGS
    body: dict[str, Any]
    size_limit: int
    trusted_role_arn: str | None = None  # trust policies only: the role they are attached to
    pass_roles: frozenset[str] = frozenset()


def generated_documents() -> dict[str, Document]:
    facts = seed_environments()
    example = example_config()
    with_refs = config_with_references()
    names = names_for(example)
    docs = {
        "codebuild_trust": Document(
            "codebuild_trust",
            policies.codebuild_trust(names),
            TRUST_POLICY_LIMIT,
            trusted_role_arn=names.codebuild_role_arn,
        ),
        "pipeline_trust": Document(
            "pipeline_trust",
            policies.pipeline_trust(names),
            TRUST_POLICY_LIMIT,
            trusted_role_arn=names.pipeline_role_arn,
        ),
        "codebuild_policy": Document(
            "codebuild_policy", policies.codebuild_policy(example, names), INLINE_POLICY_LIMIT
        ),
        "codebuild_policy-with-references": Document(
            "codebuild_policy",
            policies.codebuild_policy(with_refs, names_for(with_refs)),
            INLINE_POLICY_LIMIT,
        ),
        "bucket_policy": Document(
            "bucket_policy", policies.bucket_policy(names), INLINE_POLICY_LIMIT
        ),
    }
    for prefix, arn in CONNECTIONS.items():
        docs[f"pipeline_policy-{prefix}"] = Document(
            "pipeline_policy",
            policies.pipeline_policy(names, facts, arn),
            INLINE_POLICY_LIMIT,
            pass_roles=frozenset({TASK_ROLE, EXECUTION_ROLE}),
        )
    # Several environments (MAX_ENVIRONMENTS is 10): the same rules, within IAM's size.
    for count in (2, 5, 10):
        envs = environments(count)
        docs[f"pipeline_policy-{count}-environments"] = Document(
            "pipeline_policy",
            policies.pipeline_policy(names, envs, CONNECTIONS["codeconnections"]),
            INLINE_POLICY_LIMIT,
            pass_roles=frozenset(r for e in envs for r in e.service.pass_role_arns),
        )
    # CODE_DEPLOY (CodeDeployToECS's permissions), alone and next to an ECS-action service.
    for label, envs in (("codedeploy", codedeploy_environments()),
                        ("codedeploy-untagged", codedeploy_environments(tags=False)),
                        ("mixed", (*environments(2), *codedeploy_environments()))):
        docs[f"pipeline_policy-{label}"] = Document(
            "pipeline_policy",
            policies.pipeline_policy(names, envs, CONNECTIONS["codeconnections"]),
            INLINE_POLICY_LIMIT,
            pass_roles=frozenset(r for e in envs for r in e.service.pass_role_arns),
        )
    return docs


DOCUMENTS = generated_documents()


# --------------------------------------------------------------------------- parliament


@functools.cache
def _parliament() -> Any:
    """parliament with its community auditors' config loaded, as cli.py does it.

    cli.py, for --include-community-auditors: override_config(<package>/community_auditors/
    config_override.yaml), then analyze_policy_string(..., include_community_auditors=True,
    config=config). Without the override, enhance_finding() raises on the auditors' issue
    codes ("Uknown finding issue").
    """
    import parliament

    override = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    assert override.is_file(), override
    parliament.override_config(str(override))
    return parliament


@dataclass(frozen=True)
class Finding:
    issue: str
    where: frozenset[tuple[str, str]]  # (statement label, lower-case action)
    detail: str


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _label(statement: dict[str, Any], index: int) -> str:
    return statement.get("Sid") or f"Statement[{index}]"


def _finding_actions(finding: Any) -> list[str]:
    if "actions" in finding.location:  # community auditors
        return list(finding.location["actions"])
    detail = finding.detail
    if isinstance(detail, list):
        # RESOURCE_STAR: ["svc:Action", ...]; RESOURCE_MISMATCH: [{"action": ...}, ...]
        return [d["action"] if isinstance(d, dict) else str(d) for d in detail]
    string = finding.location.get("string")
    return [string] if isinstance(string, str) and ":" in string else []


def parliament_findings(policy: dict[str, Any]) -> list[Finding]:
    """Every parliament finding (any severity, core and community auditors)."""
    return list(_parliament_findings(json.dumps(policy, indent=2)))


@functools.cache
def _parliament_findings(text: str) -> tuple[Finding, ...]:
    parliament = _parliament()
    policy = json.loads(text)
    result = parliament.analyze_policy_string(
        text, "policy.json", include_community_auditors=True, config=parliament.config
    )
    statements = _statements(policy)
    # With indent=2, each statement of the Statement list opens on a line that is exactly
    # "    {"; parliament's statement-level findings carry that line (1-based).
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "    {"]
    assert len(starts) == len(statements)
    findings = []
    for raw in result.findings:
        finding = parliament.enhance_finding(raw)  # raises on an issue code it does not know
        actions = [a.lower() for a in _finding_actions(finding)]
        line = finding.location.get("line")
        if isinstance(line, int) and starts and line >= starts[0]:
            # A statement-level finding: the statement that opens last before its line.
            index = max(i for i, start in enumerate(starts) if start <= line)
            label = _label(statements[index], index)
            where = frozenset((label, action) for action in actions or [""])
        else:
            # A policy-wide finding (community auditors): each action at every statement
            # that lists it, or at "<policy>" when none does (e.g. matched via a wildcard).
            pairs = set()
            for action in actions or [""]:
                labels = [
                    _label(s, i) for i, s in enumerate(statements) if action in _lower_actions(s)
                ]
                pairs |= {(label, action) for label in labels or ["<policy>"]}
            where = frozenset(pairs)
        findings.append(Finding(finding.issue, where, f"{finding.detail} {finding.location}"))
    return tuple(findings)


def _lower_actions(statement: dict[str, Any]) -> set[str]:
    return {str(a).lower() for a in _as_list(statement.get("Action"))}


def _by_label(statements: list[dict[str, Any]], label: str) -> dict[str, Any]:
    for i, statement in enumerate(statements):
        if _label(statement, i) == label:
            return statement
    return {}


def as_analyzable(doc: Document) -> dict[str, Any]:
    """The document as parliament can read it.

    parliament 1.6.4 has no trust-policy (or resource-policy) mode: a statement
    without Resource is reported MALFORMED and nothing else is checked (see
    test_parliament_cannot_read_a_trust_policy_as_is). A trust policy governs
    exactly one resource, the role it is attached to, so we add that role's ARN as
    the statement's Resource: parliament then checks the Principal, that
    sts:AssumeRole exists and that its condition keys and operators are valid and
    well typed. What it cannot know (that the principal is the right service and
    the confused-deputy conditions are present) is asserted in the trust tests below.
    """
    if doc.trusted_role_arn is None:
        return doc.body
    body = json.loads(json.dumps(doc.body))
    for statement in _statements(body):
        assert "Resource" not in statement, "a trust policy has no Resource"
        statement["Resource"] = doc.trusted_role_arn
    return body


# Findings we accept, each for a reason. Key: (document kind, issue code, the exact
# set of (statement, lower-case action) pairs the finding points at).
ALLOWED_FINDINGS: dict[tuple[str, str, frozenset[tuple[str, str]]], str] = {
    **{
        ("codebuild_policy", "UNKNOWN_CONDITION_FOR_ACTION", frozenset({(sid, "")})): (
            # parliament's IAM data predates kms:ResourceAliases. AWS KMS "Condition keys
            # for AWS KMS" (kms:ResourceAliases): it applies to every KMS key resource
            # operation, Decrypt among them; an alias cannot name a key in Resource
            # ("Specifying KMS keys in IAM policy statements").
            "kms:ResourceAliases is how IAM authorizes Decrypt on a key named by alias"
        )
        for sid in ("ParameterKeysByAlias", "SecretKeysByAlias")
    },
    (
        "codebuild_policy",
        "CREDENTIALS_EXPOSURE",
        frozenset({("EcrLogin", "ecr:getauthorizationtoken")}),
    ): (
        # `docker login` to ECR needs the token; what it can do is limited by the
        # role's ECR actions, which name the one repository. No resource-level
        # permissions exist for GetAuthorizationToken (hence Resource "*").
        "the build must log in to ECR to push its image"
    ),
    (
        "pipeline_policy",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        frozenset({("ArtifactObjects", "s3:putobjectacl"), ("PassTaskRoles", "iam:passrole")}),
    ): (
        # s3:PutObjectAcl is in AWS's documented CodePipeline service-role baseline, on
        # our artifact bucket's objects only, with aws:ResourceAccount. iam:PassRole is
        # what the ECS deploy action needs to register a task definition that names
        # the task and execution roles; it is limited to exactly those two role ARNs
        # and to iam:PassedToService = ecs-tasks.amazonaws.com (checked by the guard).
        "artifact ACLs per AWS's baseline; PassRole of the service's own two roles to ECS tasks"
    ),
    (
        "pipeline_policy",
        "RESOURCE_STAR",
        frozenset({("TaskDefinitions", "ecs:registertaskdefinition")}),
    ): (
        # parliament's IAM data lists a task-definition resource for
        # RegisterTaskDefinition, but a new revision's ARN does not exist before the
        # call and AWS documents the CodePipeline ECS action (and aws-facts.md
        # section 3) with Resource "*". ecs:DescribeTaskDefinition in the same
        # statement has no resource type at all, so parliament does not flag it.
        "RegisterTaskDefinition on '*' as AWS documents for the ECS deploy action"
    ),
    (
        "pipeline_policy",
        "RESOURCE_STAR",
        frozenset({("ListServiceTasks", "ecs:listtasks")}),
    ): (
        # ListTasks' only resource type is a container instance, optional and absent
        # for Fargate: a request without one is authorized against "*". The statement
        # is narrowed by the ecs:cluster condition to the service's cluster instead.
        "ListTasks on '*' with an ecs:cluster condition (no task resource type exists)"
    ),
    # sts:AssumeRole is the whole point of a trust policy; the principal is one AWS
    # service (CodeBuild's limited by aws:SourceAccount and aws:SourceArn; CodePipeline's
    # as AWS documents it, without a condition).
    (
        "codebuild_trust",
        "CREDENTIALS_EXPOSURE",
        frozenset({("Statement[0]", "sts:assumerole")}),
    ): "a trust policy exists to allow sts:AssumeRole",
    (
        "pipeline_trust",
        "CREDENTIALS_EXPOSURE",
        frozenset({("Statement[0]", "sts:assumerole")}),
    ): "a trust policy exists to allow sts:AssumeRole",
    # bucket_policy: nothing. Its only statement is a Deny of s3:* to Principal "*"
    # without TLS; the wildcard is deliberate there (deny everything insecure), and
    # parliament does not flag it. The guard below only restricts Allow statements.
}


@pytest.mark.parametrize("doc_id", sorted(DOCUMENTS))
def test_parliament_reports_nothing_beyond_the_allow_list(doc_id: str) -> None:
    doc = DOCUMENTS[doc_id]
    findings = parliament_findings(as_analyzable(doc))
    unexpected = [f for f in findings if (doc.kind, f.issue, f.where) not in ALLOWED_FINDINGS]
    assert unexpected == []


@pytest.mark.parametrize("kind", sorted({doc.kind for doc in DOCUMENTS.values()}))
def test_every_allow_list_entry_for_a_document_is_still_needed(kind: str) -> None:
    # Over every document the builder makes (with and without references, ...).
    seen = {(doc.kind, f.issue, f.where) for doc in DOCUMENTS.values() if doc.kind == kind
            for f in parliament_findings(as_analyzable(doc))}
    stale = [key for key in ALLOWED_FINDINGS if key[0] == kind and key not in seen]
    assert stale == []


def test_parliament_harness_reports_core_and_community_findings() -> None:
    # Proves the harness can fail: a core finding (RESOURCE_STAR) and two
    # community-auditor findings on a deliberately bad policy.
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Bad",
                "Effect": "Allow",
                "Action": ["iam:PassRole", "iam:PutRolePolicy", "ec2:RunInstances"],
                "Resource": "*",
            }
        ],
    }
    issues = {f.issue for f in parliament_findings(bad)}
    assert {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS", "PRIVILEGE_ESCALATION"} <= issues


def test_parliament_cannot_read_a_trust_policy_as_is() -> None:
    # Why as_analyzable() adds the role as Resource: without it parliament stops at
    # MALFORMED. If a future parliament learns trust policies, revisit as_analyzable.
    names = names_for(example_config())
    findings = parliament_findings(policies.codebuild_trust(names))
    assert [f.issue for f in findings] == ["MALFORMED"]


# --------------------------------------------------------------------------- our guard


def _principal_has_wildcard(principal: Any) -> bool:
    if principal is None:
        return False
    if isinstance(principal, dict):
        return any("*" in str(v) for value in principal.values() for v in _as_list(value))
    return any("*" in str(v) for v in _as_list(principal))


def policy_size(policy: dict[str, Any]) -> int:
    """Characters IAM counts against its size quotas (whitespace is not counted)."""
    return len(re.sub(r"\s", "", json.dumps(policy)))


def guard_problems(
    policy: dict[str, Any],
    *,
    size_limit: int = INLINE_POLICY_LIMIT,
    pass_roles: frozenset[str] = frozenset(),
) -> list[str]:
    """Least-privilege rules parliament does not enforce; [] when the policy is fine."""
    problems = []
    size = policy_size(policy)
    if size > size_limit:
        problems.append(f"policy is {size} characters, over the {size_limit} limit")
    for index, statement in enumerate(_statements(policy)):
        label = _label(statement, index)
        for element in ("NotAction", "NotResource", "NotPrincipal"):
            if element in statement:
                problems.append(f"{label}: uses {element}")
        if statement.get("Effect") != "Allow":
            continue  # a Deny may be as broad as it likes
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        lowered = {a.lower() for a in actions}
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        for action in actions:
            if "*" in action or "?" in action:
                problems.append(f"{label}: wildcard action {action!r}")
        if _principal_has_wildcard(statement.get("Principal")):
            problems.append(f"{label}: Allow to a wildcard Principal")
        if "*" in resources:
            others = sorted(lowered - RESOURCE_STAR_ACTIONS)
            if others:
                problems.append(f"{label}: Resource '*' for {', '.join(others)}")
        for resource in resources:
            if resource != "*" and any("*" in part for part in resource.split(":")[:5]):
                problems.append(f"{label}: wildcard in the ARN prefix of {resource!r}")
        if "iam:passrole" in lowered:
            if lowered != {"iam:passrole"}:
                problems.append(f"{label}: iam:PassRole shares a statement with other actions")
            if not pass_roles or set(resources) != pass_roles:
                problems.append(
                    f"{label}: iam:PassRole on {resources}, expected {sorted(pass_roles)}"
                )
            passed_to = (
                statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
            )
            if passed_to != "ecs-tasks.amazonaws.com":
                problems.append(f"{label}: iam:PassRole without iam:PassedToService to ECS tasks")
        for action in actions:
            if action.lower().endswith(":useconnection"):
                prefix = action.split(":")[0]
                for resource in resources:
                    service = resource.split(":")[2] if resource.count(":") >= 5 else None
                    if service != prefix:
                        problems.append(
                            f"{label}: {action} does not match the connection {resource!r}"
                        )
    return problems


@pytest.mark.parametrize("doc_id", sorted(DOCUMENTS))
def test_generated_documents_pass_the_wildcard_guard(doc_id: str) -> None:
    doc = DOCUMENTS[doc_id]
    assert guard_problems(doc.body, size_limit=doc.size_limit, pass_roles=doc.pass_roles) == []


def test_resource_star_is_used_for_exactly_the_actions_without_resource_level_permissions() -> None:
    # The converse of the guard's rule: every listed action is there, and only on "*".
    star_actions = set()
    for doc in DOCUMENTS.values():
        for statement in _statements(doc.body):
            if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource")):
                assert _as_list(statement["Resource"]) == ["*"]
                star_actions |= {a.lower() for a in _as_list(statement["Action"])}
    assert star_actions == RESOURCE_STAR_ACTIONS


@pytest.mark.parametrize("prefix", sorted(CONNECTIONS))
def test_use_connection_prefix_matches_the_connection_arns_service(prefix: str) -> None:
    statement = _by_label(
        _statements(DOCUMENTS[f"pipeline_policy-{prefix}"].body), "SourceConnection"
    )
    assert statement["Action"] == f"{prefix}:UseConnection"
    assert statement["Resource"] == CONNECTIONS[prefix]


def test_pass_role_names_only_the_task_and_execution_roles_and_only_for_ecs_tasks() -> None:
    for prefix in CONNECTIONS:
        statement = _by_label(
            _statements(DOCUMENTS[f"pipeline_policy-{prefix}"].body), "PassTaskRoles"
        )
        assert statement["Action"] == "iam:PassRole"
        assert sorted(statement["Resource"]) == sorted([TASK_ROLE, EXECUTION_ROLE])
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        }


def test_build_env_references_become_exact_read_grants() -> None:
    body = DOCUMENTS["codebuild_policy-with-references"].body
    by_sid = {s["Sid"]: s for s in _statements(body)}
    assert by_sid["BuildParameters"]["Action"] == "ssm:GetParameters"
    assert by_sid["BuildParameters"]["Resource"] == [
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/demo-app-flags",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/demo-app/db-password",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/demo-app/npm-token",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/demo-app/sentry",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/shared/license",
    ]
    assert by_sid["BuildSecrets"]["Action"] == "secretsmanager:GetSecretValue"
    assert by_sid["BuildSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo-app/api-token-??????",
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo-app/signing-AbCdEf",
    ]
    # The example config has no references, so no grant at all.
    plain = {s["Sid"] for s in _statements(DOCUMENTS["codebuild_policy"].body)}
    assert {"BuildParameters", "BuildSecrets", "ParameterKeys", "SecretKeys",
            "ParameterKeysByAlias", "SecretKeysByAlias"}.isdisjoint(plain)


def test_a_kms_key_grants_decrypt_on_that_key_only_through_its_service() -> None:
    by_sid = {s["Sid"]: s for s in _statements(DOCUMENTS["codebuild_policy-with-references"].body)}
    # By key ARN or key ID: the key ARN itself in Resource.
    assert by_sid["SecretKeys"] == {
        "Sid": "SecretKeys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": [KEY_ARN],
        "Condition": {"StringEquals": {
            "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
    }
    assert by_sid["ParameterKeys"] == {
        "Sid": "ParameterKeys", "Effect": "Allow", "Action": "kms:Decrypt",
        "Resource": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}"],
        "Condition": {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}},
    }
    # By alias (name or alias ARN): never the alias in Resource, which IAM would
    # read as the alias resource; the account's keys, narrowed to the one whose
    # aliases include it, and only through the service.
    for sid, alias, service in (("SecretKeysByAlias", "alias/demo-app-secrets", "secretsmanager"),
                                ("ParameterKeysByAlias", "alias/demo-app-params", "ssm")):
        assert by_sid[sid] == {
            "Sid": sid, "Effect": "Allow", "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"{service}.us-east-1.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [alias]},
            },
        }
    # No key is granted for anything else, and nothing but Decrypt.
    kms = [s for s in by_sid.values() if any(a.startswith("kms:") for a in _as_list(s["Action"]))]
    assert {s["Sid"] for s in kms} == {"SecretKeys", "ParameterKeys", "SecretKeysByAlias",
                                       "ParameterKeysByAlias"}
    assert all(s["Action"] == "kms:Decrypt" and "kms:ViaService" in s["Condition"]["StringEquals"]
               for s in kms)


def test_a_secret_reference_with_a_json_key_grants_the_secret_itself() -> None:
    # CodeBuild's SECRETS_MANAGER value is `secret-id:json-key:version-stage:version-id`
    # (config.py documents "name or ARN (optionally :json-key:...)"); IAM evaluates
    # GetSecretValue against the secret's ARN, which never contains the json key.
    data = yaml.safe_load(EXAMPLE.read_text())
    data["build"]["env"]["DB_SECRET"] = {"secrets_manager": "demo-app/db:password"}
    config = parse_config(yaml.safe_dump(data))
    by_sid = {
        s["Sid"]: s for s in _statements(policies.codebuild_policy(config, names_for(config)))
    }
    assert by_sid["BuildSecrets"]["Resource"] == [
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:demo-app/db-??????"
    ]


def test_codebuild_trust_has_confused_deputy_conditions_and_codepipeline_trust_is_awss() -> None:
    names = names_for(example_config())
    (codebuild,) = _statements(DOCUMENTS["codebuild_trust"].body)
    assert codebuild["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert codebuild["Action"] == "sts:AssumeRole"
    assert codebuild["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": names.build_project_arn},
    }
    assert (
        names.build_project_arn == f"arn:aws:codebuild:us-east-1:{ACCOUNT}:project/demo-app-build"
    )
    (pipeline,) = _statements(DOCUMENTS["pipeline_trust"].body)
    # A string, not a list: moto's CreatePipeline rejects the list form.
    assert pipeline["Principal"] == {"Service": "codepipeline.amazonaws.com"}
    assert pipeline["Action"] == "sts:AssumeRole"
    # Exactly "Create the CodePipeline service role (CLI)": a condition on a key
    # CodePipeline does not send would make every CreatePipeline fail.
    assert DOCUMENTS["pipeline_trust"].body == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }


# --------------------------------------------------------------------------- the guard can fail


def _one(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "Bad", **statement}]}


ARN = "arn:aws:ecs:us-east-1:123456789012:service/demo-cluster/demo-web-service"
BAD_POLICIES = {
    "service wildcard": (
        _one({"Effect": "Allow", "Action": "ecs:*", "Resource": ARN}),
        "wildcard action 'ecs:*'",
    ),
    "action-name wildcard": (
        _one({"Effect": "Allow", "Action": ["ecs:Describe*"], "Resource": ARN}),
        "wildcard action 'ecs:Describe*'",
    ),
    "bare star": (
        _one({"Effect": "Allow", "Action": "*", "Resource": ARN}),
        "wildcard action '*'",
    ),
    "NotAction": (
        _one({"Effect": "Allow", "NotAction": "iam:CreateUser", "Resource": ARN}),
        "uses NotAction",
    ),
    "Principal star": (
        _one(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": ARN,
            }
        ),
        "Allow to a wildcard Principal",
    ),
    "Resource star for a scoped action": (
        _one({"Effect": "Allow", "Action": ["ecs:UpdateService"], "Resource": "*"}),
        "Resource '*' for ecs:updateservice",
    ),
    "PassRole on star": (
        _one(
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            }
        ),
        "iam:PassRole on ['*']",
    ),
    "PassRole without PassedToService": (
        _one(
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": [TASK_ROLE, EXECUTION_ROLE]}
        ),
        "iam:PassRole without iam:PassedToService",
    ),
    "UseConnection prefix mismatch": (
        _one(
            {
                "Effect": "Allow",
                "Action": "codestar-connections:UseConnection",
                "Resource": CONNECTIONS["codeconnections"],
            }
        ),
        "does not match the connection",
    ),
    "wildcard account": (
        _one(
            {
                "Effect": "Allow",
                "Action": "ecs:UpdateService",
                "Resource": ARN.replace(ACCOUNT, "*"),
            }
        ),
        "wildcard in the ARN prefix",
    ),
    "too large": (
        _one(
            {
                "Effect": "Allow",
                "Action": "ssm:GetParameters",
                "Resource": [
                    f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/p{i:04d}" for i in range(250)
                ],
            }
        ),
        "over the 10240 limit",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_the_guard_reports_a_policy_that_breaks_a_rule(case: str) -> None:
    policy, expected = BAD_POLICIES[case]
    problems = guard_problems(policy, pass_roles=frozenset({TASK_ROLE, EXECUTION_ROLE}))
    assert any(expected in p for p in problems), problems


def test_the_guard_reports_ecs_star() -> None:
    policy = _one({"Effect": "Allow", "Action": "ecs:*", "Resource": ARN})
    assert guard_problems(policy) == ["Bad: wildcard action 'ecs:*'"]


def test_the_guard_ignores_a_deny_with_a_wildcard() -> None:
    # The bucket policy's Deny s3:* to Principal "*" is allowed on purpose.
    policy = _one({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"})
    assert guard_problems(policy) == []


def test_a_code_deploy_service_gets_exactly_codedeploy_to_ecs_permissions() -> None:
    names = names_for(example_config())
    policy = policies.pipeline_policy(names, codedeploy_environments(),
                                      CONNECTIONS["codeconnections"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    arn = f"arn:aws:codedeploy:us-east-1:{ACCOUNT}"
    assert by_sid["CodeDeployApplications"]["Resource"] == f"{arn}:application:demo-app-cd"
    assert sorted(by_sid["CodeDeployApplications"]["Action"]) == [
        "codedeploy:GetApplication", "codedeploy:GetApplicationRevision",
        "codedeploy:RegisterApplicationRevision"]
    assert by_sid["CodeDeployDeployments"] == {
        "Sid": "CodeDeployDeployments", "Effect": "Allow",
        "Action": ["codedeploy:CreateDeployment", "codedeploy:GetDeployment"],
        "Resource": f"{arn}:deploymentgroup:demo-app-cd/demo-web-cd-dg"}
    assert by_sid["CodeDeployConfigs"]["Resource"] == (
        f"{arn}:deploymentconfig:CodeDeployDefault.ECSLinear10PercentEvery1Minutes")
    assert by_sid["TaskDefinitions"]["Action"] == "ecs:RegisterTaskDefinition"
    # The task definition has tags: the new revision is tagged on registration.
    assert by_sid["TagCodeDeployTaskDefinitions"]["Resource"] == (
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/demo-web-cd:*")
    assert by_sid["PassTaskRoles"]["Resource"] == sorted({TASK_ROLE, EXECUTION_ROLE})
    # CodeDeploy's own role changes the service: the pipeline role never does.
    actions = {a for s in policy["Statement"] for a in _as_list(s["Action"])}
    assert not {"ecs:UpdateService", "ecs:DescribeServices", "ecs:DescribeTasks",
                "ecs:ListTasks", "ecs:DescribeTaskDefinition"} & actions
    untagged = policies.pipeline_policy(names, codedeploy_environments(tags=False),
                                        CONNECTIONS["codeconnections"])
    assert "ecs:TagResource" not in {a for s in untagged["Statement"]
                                     for a in _as_list(s["Action"])}


def test_next_to_an_ecs_action_service_register_task_definition_is_granted_once() -> None:
    names = names_for(example_config())
    policy = policies.pipeline_policy(names, (*environments(1), *codedeploy_environments()),
                                      CONNECTIONS["codeconnections"])
    granted = [s["Sid"] for s in policy["Statement"]
               if "ecs:RegisterTaskDefinition" in _as_list(s["Action"])]
    assert granted == ["TaskDefinitions"]
    service = next(s for s in policy["Statement"] if s["Sid"] == "Service")
    assert service["Resource"].endswith(":service/staging-cluster/demo-web-staging")
