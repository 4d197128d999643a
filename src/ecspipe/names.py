"""Every physical name, ARN and tag ecspipe uses, derived from the config in one place.

No other module invents a name. Names are deterministic, so AWS plus these names
is the whole state: there is no local state file, and any interrupted run can be
repeated. The artifact bucket name includes the account and region, which makes
it unique per account and region; offline (`validate`) the account is unknown and
shown as a placeholder.

Names that are account-wide include the region, so one `name` in two regions
makes two independent pipelines: IAM role names (IAM is global) and the
connection name ("Global resources in AWS CodeConnections": connections are
replicated to every region, ListConnections lists them all, and names are unique
per account). Everything else (pipeline, project, log group, ECR repository) is
regional already.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecspipe.config import Config

OWNER_TAG = "ecspipe:pipeline"
MANAGED_TAG = "managed-by"
MANAGED_VALUE = "ecspipe"
# On a pipeline saved while its connection was not AVAILABLE: CodePipeline may never
# have registered the webhook, so the next run that sees the connection AVAILABLE
# saves the pipeline once more (resources/pipeline.py) and removes the tag.
WEBHOOK_TAG = "ecspipe:webhook"
WEBHOOK_PENDING = "pending"
ACCOUNT_PLACEHOLDER = "<account-id>"
BUCKET_MAX = 63
ROLE_MAX = 64  # IAM role names
CONNECTION_MAX = 32  # CodeConnections ConnectionName
NOTIFICATION_RULE_MAX = 64  # CodeStar Notifications rule Name (unique per account)
# The single `service:` form keeps the stage and file names of before environments.
DEPLOY_STAGE = "Deploy"
DEPLOY_ACTION = "Deploy"
APPROVAL_ACTION = "Approve"
IMAGEDEFINITIONS = "imagedefinitions.json"


def partition_of(region: str) -> str:
    """The ARN partition of a region, from botocore's partition data (regions.py)."""
    from ecspipe.regions import partition_of as from_data

    return from_data(region)


def connection_name(name: str, region: str) -> str:
    """The connection a pipeline `name` in `region` makes (connections are account-wide)."""
    return _fit(f"{name}-{region}", CONNECTION_MAX)


def _fit(name: str, limit: int) -> str:
    """Shorten `name` to `limit` characters deterministically (prefix + hash)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class Names:
    """Resolved names for one config, optionally bound to an AWS account."""

    name: str
    region: str
    ecr_repository: str
    account_id: str | None = None
    user_tags: tuple[tuple[str, str], ...] = ()
    # (name, approval) of each environment of `environments:`; empty for `service:`.
    environments: tuple[tuple[str, bool], ...] = ()
    # Notifications: "owned" (a topic ecspipe creates), "given" (sns_topic_arn), or None.
    notify: str | None = None

    @classmethod
    def from_config(cls, config: Config, account_id: str | None = None) -> Names:
        return cls(
            name=config.name,
            region=config.region,
            ecr_repository=config.image.repository or config.name,
            account_id=account_id or config.account_id,
            user_tags=tuple(sorted(config.tags.items())),
            environments=tuple((t.name, t.approval) for t in config.targets if t.name),
            notify=None if config.notify is None else
            "owned" if config.notify.owned_topic else "given",
        )

    # ---- stages and files of each environment (None: the single `service:` form) ----
    @staticmethod
    def deploy_stage(env: str | None) -> str:
        return DEPLOY_STAGE if env is None else f"Deploy-{env}"

    @staticmethod
    def approval_stage(env: str) -> str:
        return f"Approve-{env}"

    @staticmethod
    def imagedefinitions(env: str | None) -> str:
        return IMAGEDEFINITIONS if env is None else f"imagedefinitions-{env}.json"

    @property
    def stages(self) -> list[str]:
        """Every stage of the pipeline, in order."""
        stages = ["Source", "Build"]
        for env, approval in self.environments or ((None, False),):
            if approval and env:
                stages.append(self.approval_stage(env))
            stages.append(self.deploy_stage(env))
        return stages

    # ---- physical names -------------------------------------------------
    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def account(self) -> str:
        return self.account_id or ACCOUNT_PLACEHOLDER

    @property
    def pipeline(self) -> str:
        return self.name

    @property
    def build_project(self) -> str:
        return f"{self.name}-build"

    @property
    def codebuild_role(self) -> str:
        return _fit(f"{self.name}-{self.region}-codebuild", ROLE_MAX)

    @property
    def pipeline_role(self) -> str:
        return _fit(f"{self.name}-{self.region}-codepipeline", ROLE_MAX)

    @property
    def codebuild_policy(self) -> str:
        return "ecspipe-codebuild"

    @property
    def pipeline_policy(self) -> str:
        return "ecspipe-codepipeline"

    @property
    def role_path(self) -> str:
        # Our own IAM path makes ecspipe's roles easy to find and scope in SCPs.
        return "/ecspipe/"

    @property
    def artifact_bucket(self) -> str:
        return _fit(f"{self.name}-artifacts-{self.account}-{self.region}", BUCKET_MAX)

    @property
    def connection(self) -> str:
        return connection_name(self.name, self.region)

    @property
    def log_group(self) -> str:
        return f"/aws/codebuild/{self.build_project}"

    @property
    def notification_topic(self) -> str:
        return f"{self.name}-{self.region}-notifications"

    @property
    def notification_key_alias(self) -> str:
        return f"alias/ecspipe/{self.name}-{self.region}-notifications"

    @property
    def notification_rule(self) -> str:
        # Rule names are unique per account (not per region): the region keeps them apart.
        return _fit(f"ecspipe-{self.name}-{self.region}", NOTIFICATION_RULE_MAX)

    # ---- ARNs -------------------------------------------------------------
    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        reg = self.region if region else ""
        return f"arn:{self.partition}:{service}:{reg}:{self.account}:{resource}"

    @property
    def pipeline_arn(self) -> str:
        return self._arn("codepipeline", self.pipeline)

    @property
    def build_project_arn(self) -> str:
        return self._arn("codebuild", f"project/{self.build_project}")

    @property
    def codebuild_role_arn(self) -> str:
        return self._arn("iam", f"role{self.role_path}{self.codebuild_role}", region=False)

    @property
    def pipeline_role_arn(self) -> str:
        return self._arn("iam", f"role{self.role_path}{self.pipeline_role}", region=False)

    @property
    def artifact_bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.artifact_bucket}"

    @property
    def ecr_repository_arn(self) -> str:
        return self._arn("ecr", f"repository/{self.ecr_repository}")

    @property
    def ecr_registry(self) -> str:
        from ecspipe.regions import dns_suffix_of  # amazonaws.com.cn, c2s.ic.gov, ...

        return f"{self.account}.dkr.ecr.{self.region}.{dns_suffix_of(self.region)}"

    @property
    def ecr_repository_uri(self) -> str:
        return f"{self.ecr_registry}/{self.ecr_repository}"

    @property
    def log_group_arn(self) -> str:
        return self._arn("logs", f"log-group:{self.log_group}")

    @property
    def notification_topic_arn(self) -> str:
        return self._arn("sns", self.notification_topic)

    @property
    def notification_key_alias_arn(self) -> str:
        return self._arn("kms", self.notification_key_alias)

    @property
    def account_root_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"

    # ---- console URLs -----------------------------------------------------
    @property
    def pipeline_console_url(self) -> str:
        return (
            f"https://{self.region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
            f"{self.pipeline}/view?region={self.region}"
        )

    @property
    def connections_console_url(self) -> str:
        return (
            "https://console.aws.amazon.com/codesuite/settings/connections"
            f"?region={self.region}"
        )

    # ---- ownership --------------------------------------------------------
    @property
    def tags(self) -> dict[str, str]:
        """Tags on every resource ecspipe creates: the user's, then ours (ours win)."""
        tags = dict(self.user_tags)
        tags[OWNER_TAG] = self.name
        tags[MANAGED_TAG] = MANAGED_VALUE
        return tags

    def owns(self, tags: dict[str, str] | None) -> bool:
        """True when a resource's tags say this ecspipe pipeline created it."""
        tags = tags or {}
        return tags.get(OWNER_TAG) == self.name and tags.get(MANAGED_TAG) == MANAGED_VALUE

    def summary(self) -> dict[str, str | list[str]]:
        """The names `validate` prints (stable keys: see the CLI contract). With
        environments, the stages and image definitions files; with notifications, their
        resources (a given topic is the config's own ARN, so it is not repeated)."""
        names: dict[str, str | list[str]] = {
            "pipeline": self.pipeline,
            "build_project": self.build_project,
            "codebuild_role": self.codebuild_role,
            "pipeline_role": self.pipeline_role,
            "artifact_bucket": self.artifact_bucket,
            "connection": self.connection,
            "ecr_repository": self.ecr_repository,
            "log_group": self.log_group,
        }
        if self.environments:
            names["stages"] = self.stages
            names["imagedefinitions"] = [self.imagedefinitions(env) for env, _ in
                                         self.environments]
        if self.notify == "owned":
            names["notification_topic"] = self.notification_topic
            names["notification_key"] = self.notification_key_alias
        if self.notify:
            names["notification_rule"] = self.notification_rule
        return names


def tag_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """AWS's many tag list shapes: [{"Key": k, "Value": v}] or lower-case variants."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {t[key]: t.get(value, "") for t in tags or []}
