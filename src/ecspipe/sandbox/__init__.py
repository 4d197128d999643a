"""The local AWS emulator: moto plus what moto lacks, for the demo and the tests.

moto (pinned, see pyproject) emulates ECR, S3, IAM, ECS, CloudWatch Logs, STS,
CodeBuild and most of CodePipeline. Each module here fills one gap, without
forking moto, through the two registries that both `mock_aws` and moto's server
read (see reference/aws-facts.md section 6):

  protocol.py      awsJson as AWS speaks it: Content-Type, no nulls, epoch timestamps
  connections.py   CodeStar Connections + CodeConnections (one shared store)
  codebuild.py     UpdateProject; no `location` required for CODEPIPELINE sources
  codepipeline.py  the API moto lacks: GetPipelineState, ListActionExecutions,
                   StopPipelineExecution, and executions routed to the simulator
  executions.py    the execution simulator: stages entered and ended on the clock
  actions.py       what Source, ECS and CodeDeployToECS actions do when they run
  builds.py        what a CodeBuild action does: build record, log, image in ECR
  ecs.py           service deployments that roll out (or roll back)
  ecs_deployments.py  service deployments as records: ROLLING, BLUE_GREEN, LINEAR, CANARY
  ecs_deployments_api.py  List/Describe/Continue/StopServiceDeployment(s), revisions
  codedeploy.py    CodeDeploy for ECS: deployment groups, deployments, targets, continue/stop
  codedeploy_ecs.py  a CodeDeploy blue/green deployment's lifecycle and the service's task sets
  conditions.py    stage conditions: deployment windows, alarm-watched bakes
  notifications.py CodeStar Notifications rules, publishing pipeline events to SNS
  ecr.py           DescribeImages pages (maxResults, nextToken)
  iam.py           ListRolePolicies pages (MaxItems, Marker)
  paging.py        page tokens (cursors) shared by the extensions that page
  s3.py            tags given in CreateBucket, applied with the bucket
  sns.py           email subscriptions pending until the recipient confirms
  propagation.py   IAM propagation: a role just created is refused for a while (off by default)
  seed.py          what the guide's Part 1 made: cluster, service, task definition, image
  server.py        `ecspipe sandbox`: the HTTP server in the foreground
  hostguard.py     the server answers only requests addressed to it (no DNS rebinding)
  requestlog.py    the server's request log (service, operation, read/write) for the bench

`install()` applies every extension; it is idempotent and used by the server
and by the tests' in-process (mock) mode alike, so both exercise one emulator.
Behaviour knobs (clock, handshake delay, stage timings, injected failures) live
in `settings.SETTINGS`.
"""

from __future__ import annotations

import os

from ecspipe.errors import UserError

_installed = False


def require_moto() -> None:
    """Fail with a clear message when the `sandbox` extra is not installed."""
    try:
        import moto  # noqa: F401
        import moto.moto_server.werkzeug_app  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise UserError(
            f"the sandbox needs moto with server support, which is not installed ({exc})",
            hint="pip install 'ecspipe[sandbox]'",
        ) from exc


def install() -> None:
    """Register every extension with moto. Safe to call more than once."""
    global _installed
    if _installed:
        return
    # moto makes an EC2 backend for ECS, and by default fills it with ~4000 AMIs:
    # 3 s of CPU after every start and every reset, for images nothing here uses.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    require_moto()
    from ecspipe.sandbox import (
        codebuild,
        codedeploy,
        codepipeline,
        connections,
        ecr,
        ecs,
        ecs_deployments_api,
        iam,
        notifications,
        propagation,
        protocol,
        s3,
        sns,
    )

    _cache_module_list()
    _serialise_mock_requests()

    protocol.install()
    connections.install()
    codebuild.install()
    codepipeline.install()
    ecs.install()
    ecs_deployments_api.install()
    codedeploy.install()
    notifications.install()
    ecr.install()
    iam.install()
    s3.install()
    sns.install()
    propagation.install()  # after codebuild and codepipeline: it wraps their handlers
    _installed = True



def _serialise_mock_requests() -> None:
    """One request at a time in mock mode, as moto's server does (its app holds a lock
    around every request): moto's backends are not thread-safe (IAM's dicts change
    size while another thread iterates them), and ecspipe sends requests from several
    threads at once."""
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    if getattr(original, "ecspipe_serialised", False):
        return
    lock = threading.RLock()

    def process_request(self, request):  # type: ignore[no-untyped-def]
        with lock:
            return original(self, request)

    process_request.ecspipe_serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def _cache_module_list() -> None:
    """moto's server lists its own package directory (~170 listdir/isdir calls) twice
    per request, under a lock that serialises every request, to route it. The list
    never changes while the process runs: compute it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "ecspipe_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.ecspipe_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules
