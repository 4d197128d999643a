"""Environments in the pure builders: the pipeline declaration, the pipeline role's policy, names.

A single `service:` config must produce exactly the declaration of before
environments (pinned below, byte for byte, so the next `up` updates nothing).
With environments, every environment gets its deploy stage (and its approval
stage) in order, reading its own image definitions file of the one build.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sample_facts import ACCOUNT, EXECUTION_ROLE, environments, seed_environments

from ecspipe.config import Gates, load_config, parse_config
from ecspipe.documents import policies
from ecspipe.documents.pipeline import approval_text, pipeline_declaration
from ecspipe.documents.project import project_request
from ecspipe.names import Names

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
CONNECTION = (f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/"
              "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
# CodePipeline's StageName / ActionName: 1-100 of [A-Za-z0-9.@\-_] (API model).
PIPELINE_NAME_RE = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")
INLINE_POLICY_LIMIT = 10_240

# The declaration of config.example.yaml as ecspipe made it before environments existed.
SINGLE_SERVICE_DECLARATION = (
    '{"name": "demo-app", "roleArn": "arn:aws:iam::123456789012:role/ecspipe/demo-app-us-east-1-'
    'codepipeline", "artifactStore": {"type": "S3", "location": "demo-app-artifacts-12345678901'
    '2-us-east-1"}, "stages": [{"name": "Source", "actions": [{"name": "Source", "actionTypeId":'
    ' {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": '
    '"1"}, "runOrder": 1, "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1'
    ':123456789012:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "FullRepositoryId": "acme/'
    'demo-app", "BranchName": "main", "OutputArtifactFormat": "CODE_ZIP", "DetectChanges": "fal'
    'se"}, "inputArtifacts": [], "outputArtifacts": [{"name": "SourceOutput"}]}]}, {"name": "Bu'
    'ild", "actions": [{"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", '
    '"provider": "CodeBuild", "version": "1"}, "runOrder": 1, "configuration": {"ProjectName": '
    '"demo-app-build"}, "inputArtifacts": [{"name": "SourceOutput"}], "outputArtifacts": [{"nam'
    'e": "BuildOutput"}]}]}, {"name": "Deploy", "actions": [{"name": "Deploy", "actionTypeId": '
    '{"category": "Deploy", "owner": "AWS", "provider": "ECS", "version": "1"}, "runOrder": 1, '
    '"configuration": {"ClusterName": "demo-cluster", "ServiceName": "demo-web-service", "FileNa'
    'me": "imagedefinitions.json"}, "inputArtifacts": [{"name": "BuildOutput"}], "outputArtifac'
    'ts": []}]}], "version": 1, "pipelineType": "V2", "executionMode": "SUPERSEDED", "triggers":'
    ' [{"providerType": "CodeStarSourceConnection", "gitConfiguration": {"sourceActionName": "So'
    'urce", "push": [{"branches": {"includes": ["main"]}}]}}]}'
)


def _names(count: int = 0) -> Names:
    config = load_config(EXAMPLE)
    names = Names.from_config(config, ACCOUNT)
    if count:
        envs = environments(count)
        names = Names(**{**names.__dict__,
                         "environments": tuple((e.name, e.approval) for e in envs)})
    return names


def _declaration(count: int, gates: Gates | None = None) -> dict:
    config = load_config(EXAMPLE)
    envs = environments(count) if count else seed_environments()
    if gates is not None:
        envs = tuple(replace(e, target=replace(e.target, gates=gates)) for e in envs)
    return pipeline_declaration(config, _names(count), envs, CONNECTION)


def test_a_single_service_config_with_on_failure_fail_makes_exactly_the_declaration_of_before(
) -> None:
    assert json.dumps(_declaration(0, Gates(on_failure="fail"))) == SINGLE_SERVICE_DECLARATION


def test_by_default_the_single_deploy_stage_gains_only_on_failure_rollback() -> None:
    before = json.loads(SINGLE_SERVICE_DECLARATION)
    before["stages"][2]["onFailure"] = {"result": "ROLLBACK"}
    assert json.dumps(_declaration(0)) == json.dumps(before)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_each_environment_gets_its_approval_and_deploy_stage_in_order(count: int) -> None:
    declaration = _declaration(count)
    envs = environments(count)
    expected = ["Source", "Build"]
    for env in envs:
        if env.approval:
            expected.append(f"Approve-{env.name}")
        expected.append(f"Deploy-{env.name}")
    assert [s["name"] for s in declaration["stages"]] == expected
    assert [s["name"] for s in declaration["stages"]] == _names(count).stages
    for stage in declaration["stages"]:
        assert PIPELINE_NAME_RE.fullmatch(stage["name"])
        assert len(stage["actions"]) == 1
        assert PIPELINE_NAME_RE.fullmatch(stage["actions"][0]["name"])


@pytest.mark.parametrize("count", [2, 5])
def test_every_deploy_stage_deploys_its_service_from_its_own_file_of_the_one_build(
        count: int) -> None:
    declaration = _declaration(count)
    stages = {s["name"]: s["actions"][0] for s in declaration["stages"]}
    build = stages["Build"]
    assert build["outputArtifacts"] == [{"name": "BuildOutput"}]
    assert sum(1 for a in stages.values() if a["actionTypeId"]["provider"] == "CodeBuild") == 1
    for env in environments(count):
        deploy = stages[f"Deploy-{env.name}"]
        assert deploy["name"] == "Deploy"
        assert deploy["actionTypeId"] == {"category": "Deploy", "owner": "AWS",
                                          "provider": "ECS", "version": "1"}
        assert deploy["inputArtifacts"] == [{"name": "BuildOutput"}]
        assert deploy["configuration"] == {
            "ClusterName": env.service.cluster_name,
            "ServiceName": env.service.service_name,
            "FileName": f"imagedefinitions-{env.name}.json",
        }


def test_an_approval_is_a_manual_action_of_its_own_stage_without_artifacts_or_topic() -> None:
    declaration = _declaration(2)
    (stage,) = [s for s in declaration["stages"] if s["name"] == "Approve-production"]
    (action,) = stage["actions"]
    assert action == {
        "name": "Approve",
        "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                         "version": "1"},
        "runOrder": 1,
        "configuration": {"CustomData": approval_text(environments(2)[1])},
        "inputArtifacts": [],
        "outputArtifacts": [],
    }
    assert "ecspipe approve --env production" in action["configuration"]["CustomData"]
    assert "NotificationArn" not in action["configuration"]
    assert not [s for s in declaration["stages"] if s["name"] == "Approve-staging"]


def test_the_approval_text_stays_within_an_action_configuration_value_for_the_longest_names(
        ) -> None:
    from dataclasses import replace

    env = environments(2)[1]
    long = replace(env, service=replace(env.service, cluster_name="c" * 255,
                                        service_name="s" * 255))
    long = replace(long, target=replace(env.target, name="p" * 20))
    assert len(approval_text(long)) <= 1000


def test_the_build_project_writes_every_environments_file_and_sets_no_single_container() -> None:
    config = load_config(EXAMPLE)
    envs = environments(2)
    request = project_request(config, _names(2), envs)
    buildspec = request["source"]["buildspec"]
    assert "imagedefinitions-staging.json" in buildspec
    assert "imagedefinitions-production.json" in buildspec
    assert '"name":"app-0"' in buildspec and '"name":"app-1"' in buildspec
    assert "imagedefinitions.json" not in buildspec
    variables = {v["name"] for v in request["environment"]["environmentVariables"]}
    assert "CONTAINER_NAME" not in variables and "IMAGE_REPO_URI" in variables
    assert "staging (staging-cluster/demo-web-staging)" in request["description"]


@pytest.mark.parametrize("count", [1, 2, 5, 10])
def test_the_pipeline_role_gets_exactly_each_environments_service_family_and_roles(
        count: int) -> None:
    envs = environments(count)
    policy = policies.pipeline_policy(_names(count), envs, CONNECTION)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}

    def listed(value: str | list[str]) -> list[str]:
        return [value] if isinstance(value, str) else value

    assert listed(by_sid["Service"]["Resource"]) == [e.service.service_arn for e in envs]
    assert listed(by_sid["ServiceTasks"]["Resource"]) == [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{e.service.cluster_name}/*" for e in envs]
    assert listed(by_sid["ListServiceTasks"]["Condition"]["ArnEquals"]["ecs:cluster"]) == [
        e.service.cluster_arn for e in envs]
    assert listed(by_sid["TagNewTaskDefinitions"]["Resource"]) == [
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{e.service.family}:*" for e in envs]
    assert by_sid["PassTaskRoles"]["Resource"] == sorted(
        {EXECUTION_ROLE, *(e.service.task_role_arn for e in envs)})
    # Nothing for approvals or notifications: a person and CodeStar Notifications act.
    actions = {a for s in policy["Statement"] for a in listed(s["Action"])}
    assert not {a for a in actions if a.startswith(("sns:", "kms:", "codestar-notifications:"))}
    assert "codepipeline:PutApprovalResult" not in actions


def test_the_pipeline_policy_at_the_most_environments_is_well_within_iams_limit() -> None:
    from ecspipe.config.rules import MAX_ENVIRONMENTS

    envs = environments(MAX_ENVIRONMENTS)
    size = len(re.sub(r"\s", "", json.dumps(policies.pipeline_policy(_names(10), envs,
                                                                      CONNECTION))))
    # 4,909 characters at 10 environments (2,051 at one, 2,403 at two): room for more.
    assert size < INLINE_POLICY_LIMIT / 2, size


def test_names_of_stages_files_and_notification_resources() -> None:
    config = parse_config(EXAMPLE.read_text().replace(
        "service:\n  cluster: demo-cluster       # ECS cluster name (or ARN) of the existing service\n"
        "  name: demo-web-service      # ECS service name (or ARN)\n"
        "  container: web ",
        "environments:\n  - name: staging\n    service: {cluster: demo-staging, name: "
        "demo-web-staging}\n  - name: production\n    approval: true\n    service:\n"
        "      cluster: demo-cluster\n      name: demo-web-service\n      container: web ")
        + "notify:\n  email: [ops@example.com]\n")
    names = Names.from_config(config, ACCOUNT)
    summary = names.summary()
    assert summary["stages"] == ["Source", "Build", "Deploy-staging", "Approve-production",
                                 "Deploy-production"]
    assert summary["imagedefinitions"] == ["imagedefinitions-staging.json",
                                           "imagedefinitions-production.json"]
    assert summary["notification_topic"] == "demo-app-us-east-1-notifications"
    assert summary["notification_key"] == "alias/ecspipe/demo-app-us-east-1-notifications"
    assert summary["notification_rule"] == "ecspipe-demo-app-us-east-1"
    assert names.notification_topic_arn == \
        f"arn:aws:sns:us-east-1:{ACCOUNT}:demo-app-us-east-1-notifications"
    single = Names.from_config(load_config(EXAMPLE), ACCOUNT).summary()
    assert "stages" not in single and "notification_rule" not in single


def test_a_notification_rule_name_fits_codestar_notifications_limit_for_the_longest_names(
        ) -> None:
    names = Names("a" * 24, "ap-southeast-5", "repo", ACCOUNT)
    assert len(names.notification_rule) <= 64
    assert re.fullmatch(r"[A-Za-z0-9\-_ ]{1,64}", names.notification_rule)
