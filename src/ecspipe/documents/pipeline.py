"""The CodePipeline V2 declaration: Source (connection) -> Build (CodeBuild) -> each environment.

Each environment is an optional approval stage and a deploy stage, in the
config's order; the single `service:` form is the one stage `Deploy`, exactly
the declaration of before environments.

The pipeline type is set explicitly (V2 is the default only since December 2024,
and we compare it on read-back), and the trigger starts it only on pushes to the
configured branch, not on every push or pull request as the console's default.
The branch goes into the trigger as a glob, escaped so it matches that branch
only (config.rules.branch_pattern). With a push trigger, the source action's
DetectChanges is "false", as "Automate starting pipelines using triggers and
filtering" documents (the trigger, not change detection, starts the pipeline;
BranchName stays the branch a manual start uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecspipe.config import Config
from ecspipe.config.rules import branch_pattern
from ecspipe.documents.conditions import stage_conditions
from ecspipe.documents.deploy import deploy_action_configuration
from ecspipe.facts import EnvironmentFacts
from ecspipe.names import APPROVAL_ACTION, DEPLOY_ACTION, Names

SOURCE_ACTION = "Source"
SOURCE_ARTIFACT = "SourceOutput"
BUILD_ARTIFACT = "BuildOutput"


def _action(name: str, category: str, provider: str, configuration: dict[str, str],
            inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        "runOrder": 1,
        "configuration": configuration,
        "inputArtifacts": [{"name": n} for n in inputs],
        "outputArtifacts": [{"name": n} for n in outputs],
    }


def approval_text(env: EnvironmentFacts) -> str:
    """The approval's CustomData: shown in the console and in the approval notification.
    Static (it is part of the declaration); at most 1,000 characters (an action
    configuration value), which cluster and service names of 255 each respect."""
    service = env.service
    return (f"Deploy to {env.name} ({service.cluster_name}/{service.service_name}) the image "
            f"this execution built. Answer: ecspipe approve --env {env.name}")


def environment_stages(names: Names, environments: Sequence[EnvironmentFacts]) -> list[dict]:
    """Per environment, in order: `Approve-<env>` (when it asks for approval: a stage of
    its own, so rolling back a deploy stage never asks again), then `Deploy-<env>`.
    The single `service:` form is one stage, `Deploy`, as before environments.

    Manual approval ("Manual approval action", CodePipeline User Guide; the action
    type in the API model): category Approval, owner AWS, provider Manual, version 1,
    no artifacts; no NotificationArn: the notification rule covers "approval needed".
    The ECS deploy action ("Amazon Elastic Container Service deploy action reference"):
    ClusterName, ServiceName and FileName, the environment's own image definitions (and
    DeploymentTimeout for ECS blue/green, linear, canary); CodeDeployToECS for a
    CODE_DEPLOY service (documents/deploy.py). A deploy stage carries its environment's
    gates (documents/conditions.py); with `on_failure: fail` and no alarms or window it is
    exactly the stage of before them.
    """
    stages: list[dict[str, Any]] = []
    for env in environments:
        if env.approval and env.name:
            stages.append({"name": names.approval_stage(env.name), "actions": [
                _action(APPROVAL_ACTION, "Approval", "Manual", {"CustomData": approval_text(env)},
                        [], [])]})
        gates = env.target.gates
        conditions = stage_conditions(gates.on_failure, list(gates.alarms), gates.bake_minutes,
                                      gates.window)
        provider, configuration = deploy_action_configuration(
            env, names.imagedefinitions(env.name), BUILD_ARTIFACT)
        stages.append({"name": names.deploy_stage(env.name), "actions": [_action(
            DEPLOY_ACTION, "Deploy", provider, configuration, [BUILD_ARTIFACT], [])],
            **conditions})
    return stages


def pipeline_declaration(
    config: Config, names: Names, environments: Sequence[EnvironmentFacts], connection_arn: str
) -> dict[str, Any]:
    """The whole declaration; every environment's stages come from environment_stages."""
    source = _action(
        SOURCE_ACTION,
        "Source",
        "CodeStarSourceConnection",
        {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": config.source.repository,
            "BranchName": config.source.branch,
            "OutputArtifactFormat": "CODE_ZIP",
            "DetectChanges": "false",
        },
        [],
        [SOURCE_ARTIFACT],
    )
    build = _action(
        "Build", "Build", "CodeBuild", {"ProjectName": names.build_project},
        [SOURCE_ARTIFACT], [BUILD_ARTIFACT],
    )
    return {
        "name": names.pipeline,
        "roleArn": names.pipeline_role_arn,
        "artifactStore": {"type": "S3", "location": names.artifact_bucket},
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Build", "actions": [build]},
            *environment_stages(names, environments),
        ],
        "version": 1,
        "pipelineType": "V2",
        "executionMode": "SUPERSEDED",
        "triggers": [
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": SOURCE_ACTION,
                    "push": [{"branches": {"includes": [branch_pattern(config.source.branch)]}}],
                },
            }
        ],
    }
