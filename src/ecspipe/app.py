"""The commands' core: one App per invocation, built from the global options.

The CLI parses options into an App and calls one function here; these functions
return data (results, plans) and raise EcspipeError; rendering is render.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from ecspipe.errors import UserError

if TYPE_CHECKING:
    from ecspipe.aws import Aws
    from ecspipe.config import Config
    from ecspipe.names import Names
    from ecspipe.plan import Progress, Result
    from ecspipe.resources.base import Context, Resource
    from ecspipe.retry import Retrier


@dataclass
class App:
    config_path: str = "ecspipe.yaml"
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    verbose: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # Hooks registered on every boto3 client (tests count or fault requests with them).
    client_hooks: list[tuple[str, Callable]] = field(default_factory=list)

    @cached_property
    def config(self) -> Config:
        from ecspipe.config import load_config

        config = load_config(self.config_path)
        if self.region and self.region != config.region:
            config = config.model_copy(update={"region": self.region})
        return config

    @cached_property
    def aws(self) -> Aws:
        from ecspipe.aws import Aws

        aws = Aws(self.config.region, profile=self.profile, endpoint_url=self.endpoint_url)
        for event, handler in self.client_hooks:
            aws.on(event, handler)
        return aws

    def offline_names(self) -> Names:
        from ecspipe.names import Names

        return Names.from_config(self.config)

    def retrier(self) -> Retrier:
        from ecspipe.retry import Retrier

        return Retrier(sleep=self.sleep, clock=self.clock)

    def context(self, preflight: bool = True, adopt: bool = False,
                delete_images: bool = False) -> Context:
        """Account check and (for plan/up) the ECS preflight: reads only."""
        from ecspipe.facts import Outputs
        from ecspipe.names import Names
        from ecspipe.preflight import check_account, read_service
        from ecspipe.resources.base import Context

        account = check_account(self.config, self.aws)
        facts = read_service(self.config, self.aws) if preflight else None
        return Context(
            config=self.config,
            names=Names.from_config(self.config, account),
            facts=facts,
            aws=self.aws,
            outputs=Outputs(),
            retry=self.retrier(),
            adopt=adopt,
            delete_images=delete_images,
        )


def plan_or_up(ctx: Context, apply: bool, workers: int,
               progress: Progress | None,
               on_pending: Callable[[Context], None] | None = None) -> Result:
    """Plan (and apply). `on_pending` runs right after the connection step when the
    connection is PENDING, before the pipeline exists: waiting there means the
    pipeline's first execution finds the connection AVAILABLE."""
    from ecspipe.plan import run

    def after_group(group: list[Resource]) -> None:
        made_connection = any(r.kind == "connection" for r in group)
        if made_connection and on_pending and ctx.outputs.connection_status == "PENDING":
            on_pending(ctx)

    return run(ctx, apply=apply, workers=workers, progress=progress, after_group=after_group)


def wait_connection(ctx: Context, timeout: float, sleep: Callable[[float], None],
                    clock: Callable[[], float], interval: float = 3.0,
                    on_poll: Callable[[str], None] | None = None) -> str:
    """Poll the connection until AVAILABLE; UserError after `timeout` seconds."""
    from ecspipe.resources.connection import api_for

    arn = ctx.outputs.connection_arn
    if not arn:
        raise UserError("no connection to wait for")
    client = ctx.aws.client(api_for(arn))
    deadline = clock() + timeout
    while True:
        status = client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
        ctx.outputs.connection_status = status
        if status == "AVAILABLE":
            return status
        if status == "ERROR":
            raise UserError(
                f"connection {arn} is in ERROR state",
                hint=f"delete and recreate it, or fix it at {ctx.names.connections_console_url}",
            )
        if on_poll:
            on_poll(status)
        if clock() + interval > deadline:
            raise UserError(
                f"connection {arn} is still {status} after {int(timeout)}s",
                hint=f"complete the handshake at {ctx.names.connections_console_url}, "
                "then run `ecspipe up` again",
            )
        sleep(interval)
