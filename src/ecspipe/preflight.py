"""Preflight: read the existing ECS service before anything is written.

Everything `up` needs to know about the service is read here, once, and every
way it can be unusable is a user error (exit 2) raised before the first write:
missing or inactive cluster or service, an unknown or ambiguous container, a
deployment controller ecspipe cannot drive, another account than the config's.
"""

from __future__ import annotations

from ecspipe.aws import Aws, is_error
from ecspipe.config import Config, ParameterStoreRef, SecretsManagerRef
from ecspipe.config.references import parse_arn, split_secret_reference
from ecspipe.config.rules import _ECS_NAME_RE
from ecspipe.errors import ConfigError, UserError
from ecspipe.facts import ServiceFacts


def check_account(config: Config, aws: Aws) -> str:
    account = aws.account_id()
    if config.account_id and config.account_id != account:
        raise UserError(
            f"account_id: the config is for account {config.account_id}, but the "
            f"credentials are for account {account}",
            hint="use the right --profile, or fix account_id",
        )
    return account


def check_references(config: Config, account: str) -> None:
    """Secret references and KMS keys given as ARNs must be in the caller's account.

    With `account_id` in the config, `validate` checks this offline; without it,
    the account is known only now, before anything is written.
    """
    problems = []
    for name, value in sorted(config.build.env.items()):
        if isinstance(value, ParameterStoreRef):
            refs = [("parameter_store", value.parameter_store, value.parameter_store)]
        elif isinstance(value, SecretsManagerRef):
            refs = [("secrets_manager", value.secrets_manager,
                     split_secret_reference(value.secrets_manager)[0])]
        else:
            continue
        if value.kms_key:
            refs.append(("kms_key", value.kms_key, value.kms_key))
        for field, shown, arn_text in refs:
            arn = parse_arn(arn_text)
            if arn and arn.account != account:
                problems.append(f"build.env.{name}.{field}: {shown} is in account {arn.account}, "
                                f"but the credentials are for account {account}")
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else
            f"{len(problems)} secret references are in another account",
            problems=problems if len(problems) > 1 else None,
            hint="the build role may read only its own account's secrets: use references of "
            "this account, or the right --profile",
        )


def read_service(config: Config, aws: Aws) -> ServiceFacts:
    ecs = aws.client("ecs")
    cluster_ref = config.service.cluster
    cluster_name = config.service.cluster_name
    service_name = config.service.service_name

    # No DescribeClusters: DescribeServices names the cluster's ARN, and answers
    # ClusterNotFoundException for a cluster that does not exist or is INACTIVE.
    try:
        services = ecs.describe_services(cluster=cluster_ref, services=[config.service.name])
    except Exception as exc:
        if is_error(exc, "ClusterNotFoundException"):
            raise UserError(
                f"service.cluster: ECS cluster {cluster_name!r} does not exist (or is not "
                f"ACTIVE) in {config.region}",
                hint="check the cluster name and region (`aws ecs list-clusters`)",
            ) from exc
        raise
    service = next(iter(services.get("services", [])), None)
    # A missing service is reported in `failures` (reason MISSING), not raised.
    if service is None or service.get("status") != "ACTIVE":
        state = f"is {service.get('status')}" if service else "does not exist"
        raise UserError(
            f"service.name: ECS service {service_name!r} {state} in cluster {cluster_name!r}",
            hint="check the service name (`aws ecs list-services --cluster "
            f"{cluster_name}`); ecspipe sets up pipelines for existing services",
        )
    controller = service.get("deploymentController", {}).get("type", "ECS")
    if controller == "CODE_DEPLOY":
        raise UserError(
            f"service.name: {service_name!r} uses the CODE_DEPLOY deployment controller: "
            "blue/green via CodeDeploy is not supported yet",
            hint="use a service with the rolling update (ECS) deployment controller",
        )
    if controller != "ECS":
        raise UserError(
            f"service.name: {service_name!r} uses the {controller} deployment controller; "
            "CodePipeline's ECS action cannot deploy it",
            hint="use a service with the rolling update (ECS) deployment controller",
        )
    task_definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
        "taskDefinition"
    ]
    containers = tuple(c["name"] for c in task_definition.get("containerDefinitions", []))
    wanted = config.service.container
    if wanted:
        if wanted not in containers:
            raise UserError(
                f"service.container: container {wanted!r} is not in task definition "
                f"{task_definition['family']}:{task_definition['revision']} "
                f"(its containers: {', '.join(containers)})",
                hint="set service.container to one of those names; the Deploy stage matches "
                "imagedefinitions.json against container names, not the service name",
            )
        container = wanted
    elif len(containers) == 1:
        container = containers[0]
    else:
        raise UserError(
            f"service.container: task definition {task_definition['family']} has "
            f"{len(containers)} containers ({', '.join(containers)}); say which one gets "
            "the new image",
            hint="set service.container in the config",
        )
    if not _ECS_NAME_RE.fullmatch(container):
        # The name goes into imagedefinitions.json: ECS itself allows only these
        # characters (ContainerDefinition.name, "Up to 255 letters (uppercase and
        # lowercase), numbers, underscores, and hyphens are allowed"), so a task
        # definition naming its container otherwise is not one ecspipe deploys to.
        raise UserError(
            f"service.container: the container name {container!r} in task definition "
            f"{task_definition['family']}:{task_definition['revision']} is not a valid ECS "
            "container name (1-255 letters, digits, '_' and '-')",
            hint="register a task definition whose container has a valid name",
        )
    image = next(
        (c.get("image") for c in task_definition["containerDefinitions"] if c["name"] == container),
        None,
    )
    return ServiceFacts(
        cluster_name=service["clusterArn"].rsplit("/", 1)[-1],
        cluster_arn=service["clusterArn"],
        service_name=service["serviceName"],
        service_arn=service["serviceArn"],
        task_definition_arn=task_definition["taskDefinitionArn"],
        family=task_definition["family"],
        containers=containers,
        container=container,
        cpu_architecture=(task_definition.get("runtimePlatform") or {}).get(
            "cpuArchitecture", "X86_64"
        ),
        deployment_controller=controller,
        task_role_arn=task_definition.get("taskRoleArn"),
        execution_role_arn=task_definition.get("executionRoleArn"),
        image=image,
    )
