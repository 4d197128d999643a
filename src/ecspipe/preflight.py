"""Preflight: read every environment's existing ECS service before anything is written.

Everything `up` needs to know about the services is read here, once, and every
way one can be unusable is a user error (exit 2) raised before the first write:
missing or inactive cluster or service, an unknown or ambiguous container, a
deployment controller ecspipe cannot drive (EXTERNAL), a CODE_DEPLOY service no
deployment group (or several) deploys, another account than the config's,
environments on different CPU architectures. Each message names its environment
(`environments[1] (production): service.container: ...`; `service.container: ...`
for the single form).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ecspipe.aws import Aws, is_error
from ecspipe.config import Config, ParameterStoreRef, SecretsManagerRef, Target
from ecspipe.config.references import parse_arn, split_secret_reference
from ecspipe.config.rules import _ECS_NAME_RE, _arn_parts
from ecspipe.deploy_facts import codedeploy_facts, deployment_groups, strategy_of
from ecspipe.errors import ConfigError, UserError
from ecspipe.facts import EnvironmentFacts, ServiceFacts


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
                problems.append(_other_account(f"build.env.{name}.{field}", shown, arn.account,
                                               account))
    _refuse_other_account(
        problems, "secret references",
        "the build role may read only its own account's secrets: use references of this "
        "account, or the right --profile")


def _other_account(where: str, value: str, other: str, account: str) -> str:
    return f"{where}: {value} is in account {other}, but the credentials are for account {account}"


def _refuse_other_account(problems: list[str], what: str, hint: str) -> None:
    """One ConfigError for every config value found in another account (exit 2)."""
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else
            f"{len(problems)} {what} are in another account",
            problems=problems if len(problems) > 1 else None, hint=hint)


def check_placement(config: Config, account: str) -> None:
    """Every ARN naming an environment's cluster or service, or the notification topic,
    must be in the caller's account: ecspipe deploys within one account for now.

    With `account_id` in the config, `validate` checks this offline.
    """
    problems = []
    for target in config.targets:
        for field, value in (("cluster", target.service.cluster), ("name", target.service.name)):
            m = _arn_parts(value)
            if m and m["account"] != account:
                problems.append(_other_account(f"{target.where}.{field}", value, m["account"],
                                               account))
    given = (config.notify.sns_topic_arn if config.notify else None) or ""
    topic = parse_arn(given)
    if topic and topic.account != account:
        problems.append(_other_account("notify.sns_topic_arn", given, topic.account, account))
    _refuse_other_account(
        problems, "resources of the config",
        "ecspipe deploys within one account (the credentials'): use the right --profile, or "
        "resources of this account")


# DescribeServices takes at most 10 services per call (ECS API Reference).
SERVICES_PER_CALL = 10


def read_environments(config: Config, aws: Aws) -> list[EnvironmentFacts]:
    """Every environment's service and task definition, read concurrently: one
    DescribeServices per cluster, then one DescribeTaskDefinition per task definition.

    Each environment gets exactly the checks a single service always had; every
    problem names its environment, all of them are reported at once (exit 2), and
    all environments must run one CPU architecture (the image is built once).
    """
    targets = config.targets
    ecs = aws.client("ecs")
    clusters: dict[str, list[Target]] = {}
    for target in targets:
        clusters.setdefault(target.service.cluster_name, []).append(target)
    calls = [(name, group[i:i + SERVICES_PER_CALL]) for name, group in clusters.items()
             for i in range(0, len(group), SERVICES_PER_CALL)]

    def describe(call: tuple[str, list[Target]]) -> dict[str, Any] | Exception:
        _, group = call
        try:
            return dict(ecs.describe_services(cluster=group[0].service.cluster,
                                              services=[t.service.name for t in group]))
        except Exception as exc:
            if is_error(exc, "ClusterNotFoundException"):
                return exc
            raise

    answers = _concurrently(describe, calls)
    services: dict[int, dict[str, Any] | None] = {}
    problems: dict[int, UserError] = {}
    for (cluster_name, group), answer in zip(calls, answers, strict=True):
        for target in group:
            if isinstance(answer, Exception):
                problems[target.index] = UserError(
                    f"{target.where}.cluster: ECS cluster {cluster_name!r} does not exist (or "
                    f"is not ACTIVE) in {config.region}",
                    hint="check the cluster name and region (`aws ecs list-clusters`)",
                )
                continue
            found = next((s for s in answer.get("services", [])
                          if s.get("serviceName") == target.service.service_name), None)
            problem = _service_problem(target, cluster_name, found)
            if problem:
                problems[target.index] = problem
            else:
                services[target.index] = found

    wanted = sorted({str(s["taskDefinition"]) for s in services.values() if s})

    def definition(arn: str) -> dict[str, Any]:
        # With its tags: a CODE_DEPLOY service's taskdef.json keeps them.
        found = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        return {**found["taskDefinition"], "tags": found.get("tags") or []}

    codedeploy = [t for t in targets if ((services.get(t.index) or {}).get(
        "deploymentController") or {}).get("type") == "CODE_DEPLOY"]
    # The deployment groups are read with the task definitions, in the same round.
    groups_and_definitions = _concurrently(
        lambda call: call(), [lambda: _concurrently(definition, wanted),
                              lambda: deployment_groups(aws.client("codedeploy"))
                              if codedeploy else []])
    definitions = dict(zip(wanted, groups_and_definitions[0], strict=True))
    groups = groups_and_definitions[1]
    facts: list[EnvironmentFacts] = []
    for target in targets:
        service = services.get(target.index)
        if service is None:
            continue
        try:
            found = _service_facts(target, service, definitions[service["taskDefinition"]])
            if found.deployment_controller == "CODE_DEPLOY":
                found = replace(found, codedeploy=codedeploy_facts(
                    target.where, found.cluster_name, service, groups))
            facts.append(EnvironmentFacts(target, found))
        except UserError as exc:
            problems[target.index] = exc
    if problems:
        raise _all_of([problems[i] for i in sorted(problems)])
    _one_architecture(facts)
    return facts


def _concurrently(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(fn, items))


def _all_of(errors: list[UserError]) -> UserError:
    if len(errors) == 1:
        return errors[0]
    error = UserError(f"{len(errors)} environments cannot be deployed to",
                      hint=errors[0].hint)
    error.problems = [e.message for e in errors]
    return error


def _one_architecture(facts: list[EnvironmentFacts]) -> None:
    architectures = {f.service.cpu_architecture for f in facts}
    if len(architectures) > 1:
        error = UserError(
            "the environments run different CPU architectures: the image is built once, for "
            "one of them",
            hint="run every environment's task definition on the same architecture "
            "(runtimePlatform.cpuArchitecture), or give them separate pipelines",
        )
        error.problems = [f"{f.target.where}: {f.service.family} runs "
                          f"{f.service.cpu_architecture}" for f in facts]
        raise error


def _service_problem(target: Target, cluster_name: str,
                     service: dict[str, Any] | None) -> UserError | None:
    service_name = target.service.service_name
    # A missing service is reported in `failures` (reason MISSING), not raised.
    if service is None or service.get("status") != "ACTIVE":
        state = f"is {service.get('status')}" if service else "does not exist"
        return UserError(
            f"{target.where}.name: ECS service {service_name!r} {state} in cluster "
            f"{cluster_name!r}",
            hint="check the service name (`aws ecs list-services --cluster "
            f"{cluster_name}`); ecspipe sets up pipelines for existing services",
        )
    controller = service.get("deploymentController", {}).get("type", "ECS")
    if controller not in ("ECS", "CODE_DEPLOY"):
        return UserError(
            f"{target.where}.name: {service_name!r} uses the {controller} deployment controller; "
            "neither CodePipeline's ECS action nor CodeDeployToECS can deploy it",
            hint="use a service with the ECS or CODE_DEPLOY deployment controller",
        )
    return None


def _service_facts(target: Target, service: dict[str, Any],
                   task_definition: dict[str, Any]) -> ServiceFacts:
    containers = tuple(c["name"] for c in task_definition.get("containerDefinitions", []))
    wanted = target.service.container
    where = target.where
    if wanted:
        if wanted not in containers:
            raise UserError(
                f"{where}.container: container {wanted!r} is not in task definition "
                f"{task_definition['family']}:{task_definition['revision']} "
                f"(its containers: {', '.join(containers)})",
                hint=f"set {target.path}.container to one of those names; the "
                "deploy stage matches the image definitions file against container names, not "
                "the service name",
            )
        container = wanted
    elif len(containers) == 1:
        container = containers[0]
    else:
        raise UserError(
            f"{where}.container: task definition {task_definition['family']} has "
            f"{len(containers)} containers ({', '.join(containers)}); say which one gets "
            "the new image",
            hint=f"set {target.path}.container in the config",
        )
    if not _ECS_NAME_RE.fullmatch(container):
        # The name goes into the image definitions file: ECS itself allows only these
        # characters (ContainerDefinition.name, "Up to 255 letters (uppercase and
        # lowercase), numbers, underscores, and hyphens are allowed"), so a task
        # definition naming its container otherwise is not one ecspipe deploys to.
        raise UserError(
            f"{where}.container: the container name {container!r} in task definition "
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
        deployment_controller=str(service.get("deploymentController", {}).get("type", "ECS")),
        task_role_arn=task_definition.get("taskRoleArn"),
        execution_role_arn=task_definition.get("executionRoleArn"),
        image=image,
        strategy=strategy_of(service),
        task_definition=task_definition,
    )
