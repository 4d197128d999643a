"""More than the sandbox's seed, for `ecspipe init`: two clusters and three services.

The seed (cluster `demo-cluster`, service `demo-web-service`, container `web`;
newer seeds also `demo-staging/demo-web-staging`, and the blue/green services in
clusters of their own, listed after these) is left as it is;
`add_services` adds what it lacks, through any boto3 client factory (mock mode
or a server's endpoint):

  demo-cluster / demo-worker        containers worker (ECR, essential) and
                                    log-router (public image, not essential)
  demo-staging / demo-web-staging   container web (ECR)

so that `--cluster demo-cluster` alone is a choice between two services, and no
flags at all a choice between three in two clusters. `make_repo` makes the git
checkout init reads.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

STAGING = "demo-staging"
WORKER = "demo-worker"
WEB_STAGING = "demo-web-staging"
FLUENT_BIT = "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"
ORIGIN = "git@github.com:acme/demo-app.git"


@functools.cache
def _session() -> Any:
    # One session for the run: mock_aws resets boto3's default session, and a fresh
    # one reloads every service model (~0.3 s a client). moto's stubber is a botocore
    # built-in handler, so clients of this session work in mock mode and, given an
    # endpoint_url, against a server.
    import boto3
    import moto  # noqa: F401 (registers the stubber before the session exists)

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name="us-east-1")


def aws(service: str, **kwargs: Any) -> Any:
    """A boto3 client (mock mode; pass endpoint_url for a server)."""
    return _session().client(service, **kwargs)


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env,
                   timeout=30)


def make_repo(path: Path, origin: str | None = ORIGIN) -> Path:
    """A git repository on branch main with a root Dockerfile, and origin unless None."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if origin:
        git(path, "remote", "add", "origin", origin)
    (path / "Dockerfile").write_text("FROM nginx\n")
    return path


def register(ecs: Any, family: str, containers: list[dict], **kwargs: Any) -> str:
    return ecs.register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=containers, **kwargs,
    )["taskDefinition"]["taskDefinitionArn"]


def add_services(client: Callable[[str], Any], seeded: dict) -> dict:
    """Add what the seed lacks of the two clusters and three services (a seed that
    already has the staging service keeps its own)."""
    ecs = client("ecs")
    image = seeded["image_uri"]
    worker = register(ecs, "demo-worker", [
        {"name": "worker", "image": image, "essential": True},
        {"name": "log-router", "image": FLUENT_BIT, "essential": False},
    ], runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
    ecs.create_service(cluster="demo-cluster", serviceName=WORKER, taskDefinition=worker,
                       desiredCount=1)
    if not any(arn.endswith(f"/{STAGING}") for arn in ecs.list_clusters()["clusterArns"]):
        ecs.create_cluster(clusterName=STAGING)
    if not ecs.describe_services(cluster=STAGING, services=[WEB_STAGING])["services"]:
        staging = register(ecs, "demo-web-staging", [{"name": "web", "image": image}])
        ecs.create_service(cluster=STAGING, serviceName=WEB_STAGING, taskDefinition=staging,
                           desiredCount=1)
    return {**seeded, "staging": STAGING, "worker": WORKER, "web_staging": WEB_STAGING}
