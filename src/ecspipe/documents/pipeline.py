"""The CodePipeline V2 declaration: Source (connection) -> Build (CodeBuild) -> Deploy (ECS).

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

from typing import Any

from ecspipe.config import Config
from ecspipe.config.rules import branch_pattern
from ecspipe.documents.buildspec import IMAGEDEFINITIONS
from ecspipe.facts import ServiceFacts
from ecspipe.names import Names

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


def pipeline_declaration(
    config: Config, names: Names, facts: ServiceFacts, connection_arn: str
) -> dict[str, Any]:
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
    deploy = _action(
        "Deploy",
        "Deploy",
        "ECS",
        {
            "ClusterName": facts.cluster_name,
            "ServiceName": facts.service_name,
            "FileName": IMAGEDEFINITIONS,
        },
        [BUILD_ARTIFACT],
        [],
    )
    return {
        "name": names.pipeline,
        "roleArn": names.pipeline_role_arn,
        "artifactStore": {"type": "S3", "location": names.artifact_bucket},
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Build", "actions": [build]},
            {"name": "Deploy", "actions": [deploy]},
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
