"""`ecspipe init`: from an existing ECS service and a git checkout to a valid ecspipe.yaml.

Lifecycle (AWS Copilot's): validate the flags -> read (AWS and git) -> ask
where a choice is not unique -> write -> recommend the next commands. AWS is
only read: STS GetCallerIdentity, ECS ListClusters / ListServices (paginated,
100 a page) / DescribeServices (10 a call, the documented maximum) /
DescribeTaskDefinition, and CodeConnections ListConnections (no botocore
paginator: NextToken by hand). Independent reads run at once; no request is
made twice. When both --cluster and --service are given, one DescribeServices
finds the service; lists are read only where a choice is to be made.

Questions go through an `Asker` the caller passes in (the CLI's prompts on
stderr); this module never reads stdin and never prints: messages go to `say`.
Without an Asker (no terminal, or --yes) every choice that is not unique is a
UserError (exit 2) that lists the candidates and names the flag picking one.

The file itself (rendering, validation, writing, the config's rules for single
values) is initfile.py's. Values from flags, git or AWS are checked against
those rules as they are found, so a problem names its flag.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ecspipe import gitinfo
from ecspipe.errors import UserError
from ecspipe.initfile import (
    PROVIDERS,
    Found,
    derive_name,
    problem_with,
    render_config,
    validate_rendered,
    write_config,
    write_schema,
)

if TYPE_CHECKING:
    from ecspipe.app import App
    from ecspipe.aws import Aws
    from ecspipe.config import Config

STDOUT = "-"
READ_WORKERS = 8
LIST_LIMIT = 30  # candidates shown in one error message
DESCRIBE_BATCH = 10  # DescribeServices: "up to 10 services ... in a single operation"
PAGE_SIZE = 100  # ListClusters / ListServices / ListConnections: at most 100 a page
CONNECTIONS_URL = "https://console.aws.amazon.com/codesuite/settings/connections?region={region}"


class Asker(Protocol):
    """How init asks a person; only given when there is one to ask."""

    def choose(self, question: str, options: Sequence[str], default: int = 0) -> int:
        """The index of the option picked; asks again until the answer is one."""
        ...

    def text(self, question: str, check: Callable[[str], str | None],
             default: str | None = None) -> str:
        """An answer `check` accepts (it returns None, or the problem to show)."""
        ...


Say = Callable[[str], None]


@dataclass
class Options:
    cluster: str | None = None
    service: str | None = None
    container: str | None = None
    repository: str | None = None
    provider: str | None = None
    branch: str | None = None
    name: str | None = None
    repo_dir: str = "."
    output: str = "ecspipe.yaml"
    force: bool = False


@dataclass
class Outcome:
    """What `run` made: the text, where it went, and what the user should know."""

    text: str
    config: Config
    found: Found
    path: str | None  # None: the text is for stdout
    schema_path: str | None = None
    schema_note: str = ""
    warnings: list[str] = field(default_factory=list)
    next_steps: list[tuple[str, str]] = field(default_factory=list)  # (command, why)


def _checked(flag: str, path: tuple[str, ...], value: str | None) -> None:
    problem = value is not None and problem_with(path, value)
    if problem:
        raise UserError(f"{flag} {value!r}: {'.'.join(path)} {problem}",
                        hint=f"pass another {flag}")


# --- the run --------------------------------------------------------------------------


def run(app: App, options: Options, ask: Asker | None, say: Say,
        region: str | None = None) -> Outcome:
    """Discover, choose, render, validate and write (unless `options.output` is "-")."""
    target = _target(options)
    for flag, path, value in (("--name", ("name",), options.name),
                              ("--repository", ("source", "repository"), options.repository),
                              ("--branch", ("source", "branch"), options.branch),
                              ("--container", ("service", "container"), options.container)):
        _checked(flag, path, value)
    region = _region(app, region)
    aws = app.aws_for(region)
    ecs = aws.client("ecs")
    warnings: list[str] = []
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        account_f = pool.submit(aws.account_id)
        clusters_f = None if options.cluster else pool.submit(_cluster_names, ecs)
        git = gitinfo.discover(options.repo_dir)  # local, while those requests are out
        repository, provider, source_note = _source(options, git, ask, say, warnings)
        connections_f = pool.submit(_connections, aws, provider)
        branch, branch_note = _branch(options, git, ask, say)
        account = account_f.result()  # a credentials problem is reported first
        _tell(say, "account", f"{account}, region {region}")
        cluster, service = _service(options, ecs, pool, clusters_f, region, ask, say)
        task_definition = ecs.describe_task_definition(
            taskDefinition=service["taskDefinition"])["taskDefinition"]
        container, ecr_repository = _container(options, task_definition, account, region,
                                               ask, say)
        arch = (task_definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64"
        controller = (service.get("deploymentController") or {}).get("type") or "ECS"
        _tell(say, "platform", f"{arch}, deployment controller {controller}")
        warnings += _controller_warnings(controller, service["serviceName"])
        if options.name:
            name, name_note = options.name, "from --name"
        else:
            name = derive_name(service["serviceName"])
            name_note = "from the service name (--name picks another)"
        _tell(say, "name", f"{name}: {name_note}")
        connection_arn, connection_note = _connection(connections_f, provider, name, region,
                                                      ask, say, warnings)
    context, dockerfile, dockerfile_note = _dockerfile(git.root, ask, say, warnings)
    if ecr_repository:
        _tell(say, "ECR", f"{ecr_repository}: the repository the container's image comes from")
    else:
        _tell(say, "ECR", f"{name}: a new repository (the container's image is not in ECR in "
              "this account and region)")
    found = Found(
        name=name, name_note=name_note, region=region, account_id=account,
        repository=repository, provider=provider, branch=branch, source_note=source_note,
        branch_note=branch_note, cluster=cluster, service=service["serviceName"],
        container=container,
        task_definition=task_definition["taskDefinitionArn"].rsplit("/", 1)[-1],
        cpu_architecture=arch, connection_arn=connection_arn,
        connection_note=connection_note, context=context, dockerfile=dockerfile,
        dockerfile_note=dockerfile_note, ecr_repository=ecr_repository,
    )
    text = render_config(found, for_stdout=target is None)
    config = validate_rendered(text, target or "ecspipe.yaml")
    outcome = Outcome(text=text, config=config, found=found, path=target, warnings=warnings)
    if target is not None:
        write_config(target, text, options.force)
        outcome.schema_path, outcome.schema_note = write_schema(target, options.force)
    outcome.next_steps = next_steps(app, options, found)
    return outcome


def _target(options: Options) -> str | None:
    """The path to write (None for stdout); refused before anything is read."""
    if options.output == STDOUT:
        return None
    path = options.output
    if os.path.isdir(path):
        raise UserError(f"-o {path}: is a directory",
                        hint=f"name the file, e.g. -o {os.path.join(path, 'ecspipe.yaml')}")
    if os.path.lexists(path) and not options.force:
        raise UserError(f"{path} exists; ecspipe init never overwrites a file without --force",
                        hint="pass --force to replace it, -o FILE to write another file, "
                        "or -o - to print the config")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"-o {path}: the directory {parent} does not exist",
                        hint="create it first, or pass another -o FILE")
    return path


def _region(app: App, region: str | None) -> str:
    from ecspipe.aws import default_region

    region = region or default_region(app.profile)
    if not region:
        raise UserError("no AWS region: init reads the ECS services of one region",
                        hint="pass --region (e.g. --region eu-west-1), or set AWS_REGION "
                        "or the profile's region")
    _checked("--region", ("region",), region)
    return region


# --- source: repository, provider, branch -------------------------------------------


def _source(options: Options, git: gitinfo.GitInfo, ask: Asker | None, say: Say,
            warnings: list[str]) -> tuple[str, str, str]:
    remote = git.remote
    if options.repository:
        same = remote is not None and remote.path.lower() == options.repository.lower()
        provider = options.provider or (remote.provider if same and remote else "GitHub")
        why = "--provider" if options.provider else (
            f"{remote.host}" if same and remote else "the default; --provider picks another")
        _tell(say, "repository", f"{options.repository}, {provider} ({why})")
        return options.repository, provider, "from --repository"
    if remote is not None:
        problem = problem_with(("source", "repository"), remote.path)
        shown = gitinfo.display_url(git.remote_url or "")
        if problem:
            raise UserError(
                f"{git.remote_name}'s repository {remote.path!r} ({shown}) cannot be "
                f"source.repository: {problem}",
                hint="pass --repository owner/repo")
        provider = options.provider or remote.provider
        _tell(say, "repository", f"{remote.path}, {provider}: from {git.remote_name} {shown}")
        if remote.guessed and not options.provider:
            warnings.append(
                f"{remote.host} is not github.com, gitlab.com or bitbucket.org, so init guessed "
                "GitHub Enterprise Server; if it is not, pass --provider or edit source.provider")
        return remote.path, provider, f"from {git.remote_name}: {shown}"
    why = git.problem or git.remote_problem or "no remote"
    if ask is None:
        also = "" if options.branch or git.branch else " and --branch NAME"
        raise UserError(f"cannot tell the repository: {why}",
                        hint=f"pass --repository owner/repo{also} (and --provider unless it "
                        "is on GitHub)")
    _tell(say, "repository", f"cannot tell from git: {why}")
    repository = ask.text("Repository (owner/repo)",
                          lambda v: problem_with(("source", "repository"), v))
    provider = options.provider or PROVIDERS[ask.choose("Where is it hosted?", PROVIDERS)]
    return repository, provider, "as answered"


def _branch(options: Options, git: gitinfo.GitInfo, ask: Asker | None,
            say: Say) -> tuple[str, str]:
    def check(value: str) -> str | None:
        return problem_with(("source", "branch"), value)

    if options.branch:
        return options.branch, "from --branch"
    if git.branch:
        problem = check(git.branch)
        if problem:
            raise UserError(f"the branch {git.branch!r} ({git.branch_origin}) cannot be "
                            f"source.branch: {problem}", hint="pass --branch NAME")
        _tell(say, "branch", f"{git.branch}: {git.branch_origin}")
        return git.branch, (git.branch_origin or "").split(" (")[0]
    why = git.problem or "HEAD is not on a branch and the remote's default branch is not recorded"
    if ask is None:
        raise UserError(f"cannot tell the branch: {why}", hint="pass --branch NAME")
    return ask.text("Branch whose pushes start the pipeline", check, default="main"), "as answered"


# --- ECS: cluster, service, container --------------------------------------------------


def _short(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1]


def _cluster_names(ecs: Any) -> list[str]:
    arns: list[str] = []
    for page in ecs.get_paginator("list_clusters").paginate(
            PaginationConfig={"PageSize": PAGE_SIZE}):
        arns += page.get("clusterArns", [])
    return sorted(_short(a) for a in arns)


def _service_arns(ecs: Any, cluster: str, region: str) -> list[str]:
    from ecspipe.aws import is_error

    arns: list[str] = []
    try:
        for page in ecs.get_paginator("list_services").paginate(
                cluster=cluster, PaginationConfig={"PageSize": PAGE_SIZE}):
            arns += page.get("serviceArns", [])
    except Exception as exc:
        if is_error(exc, "ClusterNotFoundException"):
            raise UserError(f"--cluster: ECS cluster {cluster!r} does not exist in {region}",
                            hint="check the name and --region (`ecspipe init` without "
                            "--cluster lists the clusters)") from exc
        raise
    return arns


def _describe(ecs: Any, pool: ThreadPoolExecutor,
              wanted: Sequence[tuple[str, str]]) -> list[tuple[str, dict]]:
    """(cluster, service name or ARN) pairs -> (cluster, description) of the ACTIVE ones.

    A missing service is a `failures` entry (reason MISSING), not an error; a missing
    cluster is ClusterNotFoundException, which here means "not in this cluster".
    """
    from ecspipe.aws import is_error

    by_cluster: dict[str, list[str]] = {}
    for cluster, name in wanted:
        by_cluster.setdefault(cluster, []).append(name)
    batches = [(cluster, names[i:i + DESCRIBE_BATCH]) for cluster, names in by_cluster.items()
               for i in range(0, len(names), DESCRIBE_BATCH)]

    def one(batch: tuple[str, list[str]]) -> list[tuple[str, dict]]:
        cluster, names = batch
        try:
            page = ecs.describe_services(cluster=cluster, services=names)
        except Exception as exc:
            if is_error(exc, "ClusterNotFoundException"):
                return []
            raise
        return [(cluster, s) for s in page.get("services", []) if s.get("status") == "ACTIVE"]

    found = [pair for part in pool.map(one, batches) for pair in part]
    return sorted(found, key=lambda p: (p[0], p[1]["serviceName"]))


def _service(options: Options, ecs: Any, pool: ThreadPoolExecutor,
             clusters_f: Future | None, region: str, ask: Asker | None,
             say: Say) -> tuple[str, dict]:
    wanted = _short(options.service) if options.service else None
    cluster = _short(options.cluster) if options.cluster else None
    if cluster and wanted:
        found = _describe(ecs, pool, [(cluster, wanted)])
        if not found:
            others = _describe(ecs, pool, [(cluster, a) for a in
                                           _service_arns(ecs, cluster, region)])
            error = UserError(
                f"--service: no ACTIVE ECS service {wanted!r} in cluster {cluster!r} ({region})",
                hint="pass one of the cluster's services (above) with --service" if others else
                "this cluster has no ACTIVE service; check --cluster and --region")
            error.problems = _capped([f"--service {s['serviceName']}" for _, s in others])
            raise error
        return _taken(found[0], "given", say)
    if cluster:
        arns = _service_arns(ecs, cluster, region)
        candidates = _describe(ecs, pool, [(cluster, a) for a in arns])
        scope = f"in cluster {cluster}"
    else:
        assert clusters_f is not None
        clusters = clusters_f.result()
        if not clusters:
            raise UserError(f"no ECS cluster in {region}",
                            hint="ecspipe gives an existing ECS service a pipeline: check "
                            "--region and --profile")
        if wanted:
            candidates = _describe(ecs, pool, [(c, wanted) for c in clusters])
            scope = f"named {wanted} in {region}"
        else:
            arns_by_cluster = list(pool.map(lambda c: _service_arns(ecs, c, region), clusters))
            candidates = _describe(ecs, pool, [(c, a) for c, arns in
                                               zip(clusters, arns_by_cluster, strict=True)
                                               for a in arns])
            scope = (f"in {region}" if len(clusters) == 1 else
                     f"in {len(clusters)} clusters of {region}")
    if not candidates:
        what = f"no ACTIVE ECS service {scope}"
        raise UserError(what, hint="ecspipe gives an existing ECS service a pipeline: check "
                        "--cluster, --service, --region and --profile")
    if len(candidates) == 1:
        return _taken(candidates[0], f"the only ACTIVE service {scope}", say)
    wheres = [f"{c}/{s['serviceName']}" if not cluster else s["serviceName"]
              for c, s in candidates]
    width = max(len(w) for w in wheres)
    if ask is not None:
        labels = [f"{where:<{width}}  (task definition {_short(s.get('taskDefinition', '?'))}, "
                  f"{s.get('runningCount', 0)}/{s.get('desiredCount', 0)} running)"
                  for where, (_, s) in zip(wheres, candidates, strict=True)]
        index = ask.choose(f"Which ECS service gets the pipeline? ({len(candidates)} {scope})",
                           labels)
        return _taken(candidates[index], "chosen", say)
    flags = [f"--service {s['serviceName']}" if cluster else
             f"--cluster {c} --service {s['serviceName']}" for c, s in candidates]
    error = UserError(f"{len(candidates)} ECS services {scope}: say which one gets the pipeline",
                      hint=f"pass {'--service' if cluster else '--cluster and --service'}, "
                      f"e.g. {flags[0]}")
    error.problems = _capped(flags)
    raise error


def _tell(say: Say, what: str, text: str) -> None:
    """One finding, aligned: `  service     demo-cluster/web: the only ACTIVE service`."""
    say(f"  {what:<11} {text}")


def _taken(pair: tuple[str, dict], why: str, say: Say) -> tuple[str, dict]:
    cluster, service = pair
    _tell(say, "service", f"{cluster}/{service['serviceName']}: {why}")
    return cluster, service


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= LIST_LIMIT:
        return lines
    return [*lines[:LIST_LIMIT], f"... and {len(lines) - LIST_LIMIT} more"]


def ecr_repository_of(image: str | None, account: str, region: str) -> str | None:
    """The repository name when `image` is in ECR in this account and region."""
    from ecspipe.documents.project import ECR_IMAGE

    m = ECR_IMAGE.match(image or "")
    if not m or m["account"] != account or m["region"] != region:
        return None
    return m["repository"]


def _container(options: Options, task_definition: dict, account: str, region: str,
               ask: Asker | None, say: Say) -> tuple[str, str | None]:
    containers = task_definition.get("containerDefinitions", [])
    names = [c["name"] for c in containers]
    family = task_definition["taskDefinitionArn"].rsplit("/", 1)[-1]
    ecr = {c["name"]: ecr_repository_of(c.get("image"), account, region) for c in containers}
    # "If this parameter is omitted, a container is assumed to be essential."
    essential = {c["name"]: c.get("essential", True) for c in containers}

    def describe(c: dict) -> str:
        kind = "essential" if essential[c["name"]] else "not essential"
        return f"{c['name']}  (image {c.get('image', '?')}, {kind})"

    if options.container:
        if options.container not in names:
            raise UserError(f"--container: {options.container!r} is not a container of task "
                            f"definition {family} (its containers: {', '.join(names)})",
                            hint="pass one of those names")
        chosen, why = options.container, "given"
    elif len(names) == 1:
        chosen, why = names[0], "the task definition's only container"
    else:
        in_ecr = [n for n in names if essential[n] and ecr[n]]
        if len(in_ecr) == 1:
            chosen, why = in_ecr[0], "the only essential container whose image is in ECR here"
        elif ask is not None:
            index = ask.choose(f"Which container of {family} gets the image the pipeline builds?",
                               [describe(c) for c in containers])
            chosen, why = names[index], "chosen"
        else:
            error = UserError(
                f"task definition {family} has {len(names)} containers and "
                f"{'several' if in_ecr else 'none'} of the essential ones run an image from ECR "
                "in this account: say which one gets the image the pipeline builds",
                hint=f"pass --container NAME, e.g. --container {(in_ecr or names)[0]}")
            error.problems = _capped([f"--container {describe(c)}" for c in containers])
            raise error
    image = next((c.get("image") for c in containers if c["name"] == chosen), None)
    _tell(say, "container", f"{chosen}: {why} (task definition {family})")
    _tell(say, "image", str(image))
    return chosen, ecr[chosen]


def _controller_warnings(controller: str, service: str) -> list[str]:
    if controller == "CODE_DEPLOY":
        return [f"{service} uses the CODE_DEPLOY deployment controller: the pipeline deploys "
                "it with CodeDeployToECS through the CodeDeploy deployment group that names it, "
                "which must exist (`ecspipe plan` finds it, or refuses)"]
    if controller != "ECS":
        return [f"{service} uses the {controller} deployment controller, which CodePipeline's "
                "ECS action cannot deploy: `ecspipe plan` will refuse this service"]
    return []


# --- the connection ---------------------------------------------------------------------


USABLE = ("AVAILABLE", "PENDING")


@dataclass(frozen=True)
class Listed:
    """A connection worth offering (AVAILABLE or PENDING), with the ecspipe pipeline that
    created it (None: not ecspipe's, or its tags could not be read)."""

    name: str
    arn: str
    status: str
    pipeline: str | None = None


def _connections(aws: Aws, provider: str) -> list[Listed] | str:
    """The provider's usable connections, or why they could not be listed (init goes on
    without). Their tags are read, at once, to tell the ones an ecspipe pipeline made."""
    from ecspipe.aws import translate
    from ecspipe.names import MANAGED_TAG, MANAGED_VALUE, OWNER_TAG, tag_dict
    from ecspipe.resources.connection import api_for

    found: list[dict] = []
    kwargs: dict[str, Any] = {"ProviderTypeFilter": provider, "MaxResults": PAGE_SIZE}
    try:
        while True:
            page = aws.client("codeconnections").list_connections(**kwargs)
            found += page.get("Connections", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except Exception as exc:
        error = translate(exc)
        if error is None:
            raise
        return error.message
    usable = [c for c in found if c.get("ConnectionStatus") in USABLE][:LIST_LIMIT]

    def pipeline_of(c: dict) -> str | None:
        arn = c["ConnectionArn"]
        try:
            tags = tag_dict(aws.client(api_for(arn)).list_tags_for_resource(
                ResourceArn=arn).get("Tags"))
        except Exception as exc:
            if translate(exc) is None:
                raise
            return None  # unknown: offered like any other
        return tags.get(OWNER_TAG) if tags.get(MANAGED_TAG) == MANAGED_VALUE else None

    with ThreadPoolExecutor(max_workers=max(1, min(READ_WORKERS, len(usable)))) as pool:
        owners = list(pool.map(pipeline_of, usable))
    return [Listed(c["ConnectionName"], c["ConnectionArn"], c["ConnectionStatus"], owner)
            for c, owner in zip(usable, owners, strict=True)]


def _connection(connections_f: Future, provider: str, name: str, region: str,
                ask: Asker | None, say: Say, warnings: list[str]) -> tuple[str | None, str]:
    listed = connections_f.result()
    ghes = provider == "GitHubEnterpriseServer"
    needs_one = (f"GitHub Enterprise Server: ecspipe cannot create the connection (it needs a "
                 f"host). Create it in the console, {CONNECTIONS_URL.format(region=region)}, "
                 "and set source.connection_arn; `ecspipe plan` refuses until then")
    if isinstance(listed, str):
        warnings.append(f"could not list the {provider} connections ({listed})")
        if ghes:
            warnings.append(needs_one)
        return None, ""
    from ecspipe.names import connection_name

    own = connection_name(name, region)  # the one `ecspipe up` makes for this name and region
    if any(c.name == own and c.pipeline == name for c in listed):
        _tell(say, "connection", f"{own} exists, made by ecspipe for this pipeline name: "
              "`ecspipe up` uses it")
        return None, ""
    for other in (c for c in listed if c.pipeline):
        _tell(say, "connection", f"{other.name} is not offered: ecspipe made it for pipeline "
              f"{other.pipeline}, whose `ecspipe down` deletes it")
    usable = sorted((c for c in listed if not c.pipeline),
                    key=lambda c: (c.status != "AVAILABLE", c.name))
    available = [c for c in usable if c.status == "AVAILABLE"]
    new = (f"none: `ecspipe up` creates one named {own} (a person completes its handshake "
           "once)")
    chosen: Listed | None = None
    if usable and ask is not None:
        width = max(len(c.name) for c in usable)
        options = [f"{c.name:<{width}}  {c.status:<9}  {c.arn}" for c in usable]
        options.append("none for now (`ecspipe plan` refuses until source.connection_arn is set)"
                       if ghes else new)
        index = ask.choose(f"Reuse an existing {provider} connection?", options,
                           default=0 if available else len(usable))
        chosen = usable[index] if index < len(usable) else None
        why = "chosen"
    elif len(available) == 1:
        chosen, why = available[0], f"the only AVAILABLE {provider} connection"
    elif available:
        _tell(say, "connection", f"{len(available)} AVAILABLE {provider} connections "
              f"({', '.join(c.name for c in available)}): none is chosen without a terminal "
              "(source.connection_arn reuses one)")
    if chosen is None:
        if ghes:
            warnings.append(needs_one)
        else:
            _tell(say, "connection", new)
        return None, ""
    _tell(say, "connection", f"reuse {chosen.name} ({chosen.status}): {why}")
    if chosen.status == "PENDING":
        warnings.append(f"connection {chosen.name} is PENDING: runs fail at the Source stage "
                        "until its handshake is completed in the console")
    return chosen.arn, f"{chosen.name}, {chosen.status}"


# --- the Dockerfile --------------------------------------------------------------------


def _dockerfile(root: str, ask: Asker | None, say: Say,
                warnings: list[str]) -> tuple[str, str | None, str]:
    dirs = gitinfo.find_dockerfiles(root)
    if dirs == ["."]:
        _tell(say, "Dockerfile", "./Dockerfile")
        return ".", None, ""
    usable = [d for d in dirs if problem_with(("build", "context"), d) is None]
    for skipped in sorted(set(dirs) - set(usable)):
        warnings.append(f"{skipped}/Dockerfile: its directory cannot be build.context "
                        f"({problem_with(('build', 'context'), skipped)})")
    if len(usable) == 1 or (usable and ask is not None):
        index = 0 if len(usable) == 1 else ask.choose(  # type: ignore[union-attr]
            "Which Dockerfile builds the image?", [f"{d}/Dockerfile" for d in usable])
        context = usable[index]
        _tell(say, "Dockerfile", f"{context}/Dockerfile (build.context {context})")
        return context, f"{context}/{gitinfo.DOCKERFILE}", ""
    if usable:
        listed = ", ".join(f"{d}/Dockerfile" for d in usable)
        warnings.append(f"several Dockerfiles ({listed}) and none at the repository root: "
                        "set build.context and build.dockerfile to the one that builds the image")
        return ".", None, f"several Dockerfiles: {listed}"
    warnings.append(f"no Dockerfile in {root} (searched {gitinfo.SEARCH_DEPTH} levels down): "
                    "build.context is '.', where the build expects ./Dockerfile")
    return ".", None, "no Dockerfile found"


def next_steps(app: App, options: Options, f: Found) -> list[tuple[str, str]]:
    import shlex

    extra = ""
    if options.output != STDOUT and os.path.normpath(options.output) != "ecspipe.yaml":
        extra += f" -c {shlex.quote(options.output)}"
    if app.profile:
        extra += f" --profile {shlex.quote(app.profile)}"
    steps = []
    if options.output == STDOUT:
        steps.append(("save it as ecspipe.yaml", "init only printed it (-o FILE writes it)"))
    if f.provider == "GitHubEnterpriseServer" and not f.connection_arn:
        steps.append(("(console)", "create the GitHub Enterprise Server connection and set "
                      "source.connection_arn"))
    steps += [(f"ecspipe plan{extra}", "what `up` would create; changes nothing"),
              (f"ecspipe up{extra} --wait-connection",
               "creates the pipeline; waits for the connection's handshake if it is PENDING")]
    return steps
