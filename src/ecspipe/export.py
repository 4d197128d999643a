"""`ecspipe export`: the pipeline `up` would make, as a CloudFormation template.

Reads only: preflight (the services, their containers, architecture and the
roles to pass) and whether the ECR repository and the log group are ones ecspipe
uses as is (then the template refers to them instead of declaring them). Every
resource's properties are the requests its module's `requests(ctx)` lists,
which `apply` sends too; documents/cloudformation.py renders them. Nothing is
written to AWS.

With `parameterize`, the values that differ between accounts (each
environment's cluster, service and container, and the branch) become template
parameters whose defaults are the config's: the builders run with a sentinel
in their place, and the sentinel becomes `${Parameter}` in the template, so
every place a value reaches (the deploy action, the role policy's ARNs, the
buildspec, the project's description, the trigger) follows the parameter.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ecspipe.errors import UserError

if TYPE_CHECKING:
    from ecspipe.app import App
    from ecspipe.documents.cloudformation import Parameter
    from ecspipe.resources.base import Context

# Stands for the connection the stack creates (its ARN is known only then): the
# builders write it where the ARN goes, the template writes `Ref Connection`.
CONNECTION_PLACEHOLDER = "connection/ecspipe-export-connection"
ECS_NAME = r"^[A-Za-z0-9_-]{1,255}$"  # cluster, service and container names (ECS API Reference)
PLAIN_BRANCH = r"^[^*?\[\]{}!\\]{1,255}$"  # no glob character: the trigger takes it as is

# checkov checks that do not apply, per logical id (README: "As code").
SKIPS: dict[str, list[tuple[str, str]]] = {
    "ArtifactBucket": [
        ("CKV_AWS_18", "Pipeline artifacts only, expiring after 30 days; CloudTrail data "
         "events cover access auditing if needed, without a second bucket"),
    ],
    "Repository": [
        ("CKV_AWS_136", "AES256 (SSE with ECR-managed keys) as `up` creates it; a customer "
         "managed key adds cost and key administration for no access-control gain"),
    ],
    "LogGroup": [
        ("CKV_AWS_158", "Build logs, 30 days; CloudWatch Logs encrypts them at rest with its "
         "own keys"),
    ],
}


@dataclass
class Exported:
    text: str
    template: dict[str, Any]
    used_as_is: list[str]
    parameters: list[str]
    notes: list[str]


def _used_as_is(ctx: Context) -> list[str]:
    """Which of the repository and log group already exist and are not ecspipe's: `up`
    uses those as they are, so the template refers to them (reads only, at once)."""
    from ecspipe.plan import about
    from ecspipe.resources.base import Reader
    from ecspipe.resources.log_group import LogGroup
    from ecspipe.resources.repository import Repository

    read = Reader(ctx.aws)
    resources: list[Any] = [Repository(), LogGroup()]
    with ThreadPoolExecutor(max_workers=len(resources)) as pool:
        changes = list(pool.map(lambda r: about(r.kind, lambda: r.plan(ctx, read)), resources))
    return [r.kind for r, change in zip(resources, changes, strict=True) if change.action == "use"]


def _pascal(env: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", env))


def _renamed_arn(arn: str, resource: str, *path: str) -> str:
    """An ECS ARN with its resource path replaced: `...:cluster/<c>`, `...:service/<c>/<s>`."""
    head = arn.split(f":{resource}/", 1)[0]
    return f"{head}:{resource}/{'/'.join(path)}"


def _parameterized(ctx: Context) -> tuple[Context, list[Parameter]]:
    """The context with sentinels for cluster, service, container (each environment) and
    branch, and the parameters they stand for."""
    from ecspipe.config.rules import branch_pattern
    from ecspipe.documents.cloudformation import Parameter

    branch = ctx.config.source.branch
    if branch_pattern(branch) != branch:
        raise UserError(
            f"--parameterize: source.branch {branch!r} has glob characters, which the "
            "trigger needs escaped: a template parameter cannot escape them",
            hint="export without --parameterize, or use a branch without * ? [ ] { } ! \\",
        )
    parameters = [Parameter("Branch", "EcspipeSentinelBranchZ", branch,
                            "Branch whose pushes start the pipeline", PLAIN_BRANCH)]
    environments = []
    seen: set[str] = set()
    for number, env in enumerate(ctx.environments):
        prefix = "" if env.name is None else _pascal(env.name)
        if prefix in seen:
            prefix = f"{prefix}{number}"
        seen.add(prefix)
        where = "" if env.name is None else f" of environment {env.name}"
        s = env.service
        cluster, service, container = (f"EcspipeSentinel{number}{what}Z"
                                       for what in ("Cluster", "Service", "Container"))
        parameters += [
            Parameter(f"{prefix}Cluster", cluster, s.cluster_name, f"ECS cluster{where}",
                      ECS_NAME),
            Parameter(f"{prefix}Service", service, s.service_name, f"ECS service{where}",
                      ECS_NAME),
            Parameter(f"{prefix}Container", container, s.container,
                      f"Container that gets the new image{where}", ECS_NAME),
        ]
        facts = replace(s, cluster_name=cluster, service_name=service, container=container,
                        cluster_arn=_renamed_arn(s.cluster_arn, "cluster", cluster),
                        service_arn=_renamed_arn(s.service_arn, "service", cluster, service))
        environments.append(replace(env, service=facts))
    source = ctx.config.source.model_copy(update={"branch": parameters[0].sentinel})
    config = ctx.config.model_copy(update={"source": source})
    return replace(ctx, config=config, environments=tuple(environments)), parameters


def export(app: App, parameterize: bool = False) -> Exported:
    """The template for this config (reads only; writes nothing to AWS)."""
    from ecspipe import __version__
    from ecspipe.documents import cloudformation as cfn
    from ecspipe.facts import Outputs
    from ecspipe.plan import resource_groups

    ctx = app.context(preflight=True)
    if ctx.config.source.provider == "GitHubEnterpriseServer" and not ctx.config.source.connection_arn:
        # AWS::CodeConnections::Connection needs a HostArn for it, which ecspipe does not make.
        raise UserError(
            "source.provider: GitHubEnterpriseServer needs a host, which ecspipe does not create",
            hint="create the connection in the console and set source.connection_arn",
        )
    used = _used_as_is(ctx)
    environments = _where(ctx)
    parameters: list[Parameter] = []
    if parameterize:
        ctx, parameters = _parameterized(ctx)
    names = ctx.names
    given = ctx.config.source.connection_arn
    connection_arn = given or (f"arn:{names.partition}:codeconnections:{names.region}:"
                               f"{names.account}:{CONNECTION_PLACEHOLDER}")
    ctx = replace(ctx, outputs=Outputs(connection_arn=connection_arn))
    resources: list[tuple[str, Any]] = []
    notes: list[str] = []
    for resource in [r for group in resource_groups(ctx) for r in group]:
        if resource.kind in used:
            notes.append(f"{resource.kind} {_physical(ctx, resource.kind)}: exists and is not "
                         "ecspipe's; used as is, referred to, not declared")
            continue
        requests = getattr(resource, "requests", None)
        if requests is None:
            notes.append(f"{resource.kind}: not exported (no request builder yet); `ecspipe up` "
                         "makes it")
            continue
        resources.append((resource.kind, requests(ctx)))
    template = cfn.template(
        names, resources,
        description=f"ecspipe {__version__}: pipeline {names.pipeline} ({ctx.config.source.repository}"
        f" -> CodeBuild -> {environments}), as `ecspipe up` creates it",
        connection_arn=connection_arn, connection_declared=not given,
        provider=ctx.config.source.provider, parameters=parameters, skips=SKIPS, notes=notes)
    return Exported(text=cfn.to_yaml(template), template=template, used_as_is=used,
                    parameters=[p.name for p in parameters], notes=notes)


def _where(ctx: Context) -> str:
    return ", ".join(f"ECS {e.service.cluster_name}/{e.service.service_name}" if e.name is None
                     else f"{e.name}" for e in ctx.environments)


def _physical(ctx: Context, kind: str) -> str:
    return ctx.names.ecr_repository if kind == "ECR repository" else ctx.names.log_group


def write(text: str, path: str) -> None:
    """The template to a file (a user error, exit 2, when it cannot be written)."""
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UserError(f"-o {path}: cannot write the template: {exc.strerror or exc}",
                        hint="pass a writable path, or -o - for stdout") from None
