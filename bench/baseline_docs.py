"""The documents for bench/baseline_awscli.sh, the hand-written AWS CLI baseline.

The benchmark compares `ecspipe up` with a plain bash script that creates the
same resources with one AWS CLI call per request. That script needs the same
JSON documents ecspipe sends; this program writes them, using ecspipe's own
modules (config loader, Names, documents/*), so both send exactly the same
policies, project, pipeline and tags.

    python bench/baseline_docs.py CONFIG OUTDIR [--account 123456789012] [--endpoint-url URL]

The bench runs it once, outside the timed part, then times
`bench/baseline_awscli.sh OUTDIR`. It writes into OUTDIR:

  names.env                     NAME=value lines the script sources (names, region, account)
  tags.json                     [{"Key", "Value"}]: connection, ECR repository, IAM roles
  log-group-tags.json           {"key": "value"}: log group
  bucket-tagging.json           {"TagSet": [...]}: put-bucket-tagging
  bucket-public-access-block.json, bucket-ownership-controls.json, bucket-encryption.json,
  bucket-lifecycle.json, bucket-policy.json          the artifact bucket's settings
  ecr-lifecycle-policy.json     the ECR lifecycle policy
  codebuild-trust-policy.json, codebuild-role-policy.json          the CodeBuild role
  codepipeline-trust-policy.json, codepipeline-role-policy.json    the CodePipeline role (*)
  codebuild-project.json        create-project --cli-input-json
  pipeline.json                 create-pipeline --cli-input-json (*)

(*) The connection's ARN is known only after create-connection, so these two hold
the literal `__CONNECTION_ARN__`, which the script replaces with sed at run time.

The pipeline and project documents need what ecspipe's preflight reads from the
ECS service. With --endpoint-url (the sandbox) it is read exactly as `ecspipe up`
reads it (ecspipe.preflight.read_environments), and the account from STS; without it,
the sandbox's seed values are assumed (ecspipe/sandbox/seed.py) and the account
is --account (default: the config's account_id, else moto's 123456789012).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ecspipe.config import Config, load_config
from ecspipe.documents import policies
from ecspipe.documents.pipeline import pipeline_declaration
from ecspipe.documents.project import project_request
from ecspipe.errors import EcspipeError
from ecspipe.facts import EnvironmentFacts, ServiceFacts
from ecspipe.names import Names, tag_list
from ecspipe.resources.bucket import ENCRYPTION, PUBLIC_ACCESS_BLOCK
from ecspipe.resources.log_group import RETENTION_DAYS
from ecspipe.sandbox import seed

CONNECTION_PLACEHOLDER = "__CONNECTION_ARN__"
SANDBOX_ACCOUNT = "123456789012"  # moto's default account


def seed_facts(config: Config, names: Names) -> ServiceFacts:
    """What preflight would read from the sandbox's seeded service, without reading it."""
    ecs = f"arn:{names.partition}:ecs:{names.region}:{names.account}"
    iam = f"arn:{names.partition}:iam::{names.account}:role"
    cluster = config.targets[0].service.cluster_name
    service = config.targets[0].service.service_name
    return ServiceFacts(
        cluster_name=cluster,
        cluster_arn=f"{ecs}:cluster/{cluster}",
        service_name=service,
        service_arn=f"{ecs}:service/{cluster}/{service}",
        task_definition_arn=f"{ecs}:task-definition/{seed.FAMILY}:1",
        family=seed.FAMILY,
        containers=(seed.CONTAINER,),
        container=config.targets[0].service.container or seed.CONTAINER,
        cpu_architecture="X86_64",
        deployment_controller="ECS",
        task_role_arn=f"{iam}/{seed.TASK_ROLE}",
        execution_role_arn=f"{iam}/{seed.EXECUTION_ROLE}",
    )


def write_json(outdir: Path, filename: str, document: Any) -> None:
    (outdir / filename).write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the ecspipe config file (e.g. config.example.yaml)")
    parser.add_argument("outdir", help="directory to write the documents and names.env into")
    parser.add_argument("--account", help="AWS account id (default: from STS with "
                        "--endpoint-url, else the config's account_id, else 123456789012)")
    parser.add_argument("--endpoint-url", help="read the ECS service (and the account) from "
                        "this endpoint, e.g. the sandbox's http://127.0.0.1:4566")
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
        if config.source.connection_arn:
            raise EcspipeError("source.connection_arn: the baseline script always creates "
                               "its own connection; remove connection_arn from the config")
        if args.endpoint_url:
            from ecspipe.aws import Aws
            from ecspipe.preflight import read_environments

            aws = Aws(config.region, endpoint_url=args.endpoint_url)
            account = args.account or aws.account_id()
            names = Names.from_config(config, account)
            facts = tuple(read_environments(config, aws))
        else:
            account = args.account or config.account_id or SANDBOX_ACCOUNT
            names = Names.from_config(config, account)
            facts = (EnvironmentFacts(config.targets[0], seed_facts(config, names)),)
    except EcspipeError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for problem in getattr(exc, "problems", []):
            print(f"  {problem}", file=sys.stderr)
        return exc.exit_code

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    # The script uses the codestar-connections API, whose ARNs start with
    # arn:aws:codestar-connections:, and ecspipe's pipeline policy takes the
    # UseConnection action's prefix from the ARN. So build the policy from an ARN
    # of that shape, then put the placeholder where the ARN goes.
    stand_in_arn = (f"arn:{names.partition}:codestar-connections:{names.region}:"
                    f"{names.account}:connection/{CONNECTION_PLACEHOLDER}")

    def with_placeholder(document: dict[str, Any]) -> dict[str, Any]:
        return json.loads(json.dumps(document).replace(stand_in_arn, CONNECTION_PLACEHOLDER))

    tags = names.tags
    write_json(outdir, "tags.json", tag_list(tags))
    write_json(outdir, "log-group-tags.json", tags)
    write_json(outdir, "bucket-tagging.json", {"TagSet": tag_list(tags)})
    write_json(outdir, "bucket-public-access-block.json", PUBLIC_ACCESS_BLOCK)
    write_json(outdir, "bucket-ownership-controls.json",
               {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    write_json(outdir, "bucket-encryption.json", ENCRYPTION)
    write_json(outdir, "bucket-lifecycle.json", policies.bucket_lifecycle())
    write_json(outdir, "bucket-policy.json", policies.bucket_policy(names))
    write_json(outdir, "ecr-lifecycle-policy.json", policies.ecr_lifecycle(config.image.keep))
    write_json(outdir, "codebuild-trust-policy.json", policies.codebuild_trust(names))
    write_json(outdir, "codebuild-role-policy.json", policies.codebuild_policy(config, names))
    write_json(outdir, "codepipeline-trust-policy.json", policies.pipeline_trust(names))
    write_json(outdir, "codepipeline-role-policy.json",
               with_placeholder(policies.pipeline_policy(names, facts, stand_in_arn)))
    write_json(outdir, "codebuild-project.json", project_request(config, names, facts))
    write_json(outdir, "pipeline.json", with_placeholder({
        "pipeline": pipeline_declaration(config, names, facts, stand_in_arn),
        "tags": tag_list(tags, "key", "value"),
    }))

    env = {
        "REGION": names.region,
        "ACCOUNT_ID": names.account,
        "ECS_CLUSTER": config.service.cluster,
        "ECS_SERVICE": config.service.name,
        "CONNECTION_NAME": names.connection,
        "CONNECTION_PROVIDER": config.source.provider,
        "ECR_REPOSITORY": names.ecr_repository,
        "BUCKET": names.artifact_bucket,
        "LOG_GROUP": names.log_group,
        "LOG_RETENTION_DAYS": str(RETENTION_DAYS),
        "ROLE_PATH": names.role_path,
        "CODEBUILD_ROLE": names.codebuild_role,
        "CODEBUILD_POLICY": names.codebuild_policy,
        "CODEBUILD_ROLE_DESCRIPTION": f"ecspipe: codebuild service role of pipeline "
                                      f"{names.pipeline}",
        "PIPELINE_ROLE": names.pipeline_role,
        "PIPELINE_POLICY": names.pipeline_policy,
        "PIPELINE_ROLE_DESCRIPTION": f"ecspipe: codepipeline service role of pipeline "
                                     f"{names.pipeline}",
        "PROJECT_NAME": names.build_project,
        "PIPELINE_NAME": names.pipeline,
        "CONNECTION_PLACEHOLDER": CONNECTION_PLACEHOLDER,
    }
    (outdir / "names.env").write_text(
        "# Generated by bench/baseline_docs.py from " + args.config + "\n"
        + "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())
    )
    print(f"wrote {len(list(outdir.iterdir()))} files to {outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
