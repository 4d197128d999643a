"""The pydantic models of ecspipe.yaml: what each section holds, and its JSON Schema.

Every model forbids unknown keys, and strings are strict: `branch: 123` or
`name: true` is an error, never silently coerced. The checks themselves live in
rules.py; cross-field rules (an ARN in the config's own account and region)
are validators here.
"""

from __future__ import annotations

import difflib
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ecspipe.config.references import (
    PARAMETER_ARN_MAX,
    check_kms_key,
    check_parameter_reference,
    check_secret_reference,
    parameter_arn,
    parse_arn,
    split_secret_reference,
)
from ecspipe.config.rules import (
    _CONNECTION_ARN_RE,
    _NAME_RE,
    _SERVICE_ARN_RE,
    _TOPIC_ARN_RE,
    BAKE_MINUTES_MAX,
    DEFAULT_BAKE_MINUTES,
    MAX_ALARMS,
    MAX_EMAILS,
    MAX_ENVIRONMENTS,
    MAX_USER_TAGS,
    _arn_parts,
    _check_account_id,
    _check_alarm_name,
    _check_branch,
    _check_build_image,
    _check_cluster,
    _check_connection_arn,
    _check_container,
    _check_ecr_repository,
    _check_email,
    _check_env_name,
    _check_environment_name,
    _check_name,
    _check_region,
    _check_rel_file,
    _check_rel_path,
    _check_repository,
    _check_service,
    _check_tag_key,
    _check_tag_value,
    _check_test_command,
    _check_topic_arn,
    _check_window_cron,
    _check_window_zone,
    _err,
    _type_word,
    arn_partition_problem,
    env_reserved,
    looks_secret,
)


def _none_as(default: Any) -> BeforeValidator:
    """An empty YAML section (`env:` with every entry commented out) means the default."""
    return BeforeValidator(lambda v: default() if v is None else v)


ProjectName = Annotated[
    str,
    AfterValidator(_check_name),
    Field(
        description="Prefix of every resource ecspipe creates: lowercase letters, digits and "
        "single hyphens, starting with a letter, 2-24 characters.",
        json_schema_extra={"pattern": _NAME_RE.pattern, "minLength": 2, "maxLength": 24},
    ),
]
Region = Annotated[str, AfterValidator(_check_region), Field(description="AWS region code.")]
AccountId = Annotated[
    str,
    AfterValidator(_check_account_id),
    Field(
        description="Refuse to run against any other AWS account (12 digits, quoted).",
        json_schema_extra={"pattern": "^[0-9]{12}$"},
    ),
]
RelPath = Annotated[str, AfterValidator(_check_rel_path)]
RelFile = Annotated[str, AfterValidator(_check_rel_file)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
TagKey = Annotated[str, AfterValidator(_check_tag_key)]
TagValue = Annotated[str, AfterValidator(_check_tag_value)]
TestCommand = Annotated[str, AfterValidator(_check_test_command)]
ComputeType = Literal[
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
]
Provider = Literal["GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Source(_Model):
    """Where the code comes from; pushes to `branch` start the pipeline."""

    repository: Annotated[
        str,
        AfterValidator(_check_repository),
        Field(description="Repository as owner/repo (no URL, no .git)."),
    ]
    branch: Annotated[
        str,
        AfterValidator(_check_branch),
        Field(description="Branch whose pushes start the pipeline."),
    ]
    provider: Provider = "GitHub"
    connection_arn: (
        Annotated[
            str,
            AfterValidator(_check_connection_arn),
            Field(description="Reuse this CodeConnections connection instead of creating one."),
        ]
        | None
    ) = None

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def repo(self) -> str:
        return self.repository.split("/", 1)[1]


class Service(_Model):
    """The existing ECS service the pipeline deploys to."""

    cluster: Annotated[
        str,
        AfterValidator(_check_cluster),
        Field(description="ECS cluster name or ARN.", max_length=2048),
    ]
    name: Annotated[
        str,
        AfterValidator(_check_service),
        Field(description="ECS service name or ARN.", max_length=2048),
    ]
    container: (
        Annotated[
            str,
            AfterValidator(_check_container),
            Field(description="Container of the task definition that gets the new image."),
        ]
        | None
    ) = None

    @field_validator("name")
    @classmethod
    def _service_arn_matches_cluster(cls, value: str, info: ValidationInfo) -> str:
        m = _SERVICE_ARN_RE.fullmatch(value)
        cluster = info.data.get("cluster")
        if m and m["cluster"] and cluster and m["cluster"] != _short_ecs_name(cluster):
            raise _err(
                f"the service ARN is in cluster {m['cluster']!r}, "
                f"but service.cluster is {_short_ecs_name(cluster)!r}"
            )
        return value

    @field_validator("cluster", "name")
    @classmethod
    def _in_our_account_and_region(cls, value: str, info: ValidationInfo) -> str:
        m = _arn_parts(value)
        wrong = _placement_here(m, info) if m else []
        if wrong:
            what = "cluster" if info.field_name == "cluster" else "service"
            raise _err(f"the {what} " + " and ".join(wrong), got=value)
        return value

    @property
    def cluster_name(self) -> str:
        return _short_ecs_name(self.cluster)

    @property
    def service_name(self) -> str:
        return _short_ecs_name(self.name)


def _short_ecs_name(value: str) -> str:
    m = _arn_parts(value)
    return m["name"] if m else value


KmsKey = Annotated[
    str,
    AfterValidator(check_kms_key),
    Field(
        description="Customer managed KMS key the secret is encrypted with (key ID, key ARN, "
        "alias/NAME or alias ARN): grants kms:Decrypt on it, through that service only.",
        max_length=2048,
    ),
]


# (partition, region, account_id or None) of the config being validated; see Config.
_WHERE: ContextVar[tuple[str, str, str | None] | None] = ContextVar("_WHERE", default=None)


def _where(data: Any) -> tuple[str, str, str | None] | None:
    from ecspipe import regions
    from ecspipe.names import partition_of

    if not isinstance(data, dict):
        return None
    region, account = data.get("region"), data.get("account_id")
    if not isinstance(region, str) or not regions.is_known(region):
        return None
    if not (isinstance(account, str) and re.fullmatch(r"[0-9]{12}", account)):
        account = None
    return partition_of(region), region, account


def _placement_here(m: re.Match[str], info: ValidationInfo) -> list[str]:
    """An ECS or SNS ARN's partition, account and region against the config's (offline),
    wherever in the file it is (`service:`, `environments[]`, `notify:`)."""
    where = _WHERE.get()
    if where is None:
        return []
    _, region, account = where
    # `--region` replaces the file's region (loading.py): say which one was compared.
    region_name = (info.context or {}).get("region_source", "region")
    wrong = []
    problem = arn_partition_problem(m["partition"], region)
    if problem:
        wrong.append(problem.replace(f"region {region}", f"{region_name} {region}", 1))
    if account and m["account"] != account:
        wrong.append(f"is in account {m['account']}, but account_id is {account}")
    if m["region"] != region:
        wrong.append(f"is in region {m['region']}, but {region_name} is {region}")
    return wrong


def _placed(arn_text: str, what: str) -> None:
    """An ARN in a reference must be in the config's partition, region and account."""
    where, arn = _WHERE.get(), parse_arn(arn_text)
    if where is None or arn is None:
        return
    partition, region, account = where
    wrong = []
    problem = arn_partition_problem(arn.partition, region)
    if problem:
        wrong.append(problem)
    elif arn.region != region:
        wrong.append(f"is in region {arn.region}, but region is {region}")
    if account and arn.account != account:
        wrong.append(f"is in account {arn.account}, but account_id is {account}")
    if wrong:
        raise _err(f"{what} " + " and ".join(wrong) + " (the build role may read only its "
                   "own account's secrets, in its region)")


def _check_kms_key_placement(value: str | None) -> str | None:
    if value:
        _placed(value, "the KMS key")
    return value


class ParameterStoreRef(_Model):
    """An environment variable read from SSM Parameter Store at build time."""

    parameter_store: Annotated[
        str,
        AfterValidator(check_parameter_reference),
        Field(description="SSM Parameter Store parameter name or ARN (no wildcards).",
              max_length=2048),
    ]
    kms_key: KmsKey | None = None

    @field_validator("parameter_store")
    @classmethod
    def _in_our_account_and_region(cls, value: str) -> str:
        _placed(value, "the parameter")
        where = _WHERE.get()
        if where:
            full = parameter_arn(value, where[0], where[1], "0" * 12)
            if len(full) > PARAMETER_ARN_MAX:
                raise _err(f"the parameter's ARN would be {len(full)} characters; Parameter "
                           f"Store allows {PARAMETER_ARN_MAX}")
        return value

    _kms_key_placed = field_validator("kms_key")(_check_kms_key_placement)


class SecretsManagerRef(_Model):
    """An environment variable read from Secrets Manager at build time."""

    secrets_manager: Annotated[
        str,
        AfterValidator(check_secret_reference),
        Field(description="Secrets Manager secret name or ARN, optionally "
              ":json-key:version-stage:version-id (no wildcards).", max_length=2048),
    ]
    kms_key: KmsKey | None = None

    @field_validator("secrets_manager")
    @classmethod
    def _in_our_account_and_region(cls, value: str) -> str:
        _placed(split_secret_reference(value)[0], "the secret")
        return value

    _kms_key_placed = field_validator("kms_key")(_check_kms_key_placement)


# Union member tags; they appear in pydantic error locations and are stripped there.
_TAG_PLAIN = "<plain>"
_TAG_PARAMETER = "<parameter_store>"
_TAG_SECRET = "<secrets_manager>"
_REF_KEYS = {"parameter_store": _TAG_PARAMETER, "secrets_manager": _TAG_SECRET}
_TAG_MODELS: dict[str, type[BaseModel]] = {
    _TAG_PARAMETER: ParameterStoreRef,
    _TAG_SECRET: SecretsManagerRef,
}
_ENV_SHAPE = "a string, or a mapping with one key, parameter_store: NAME or secrets_manager: NAME"


@dataclass(frozen=True, slots=True)
class _Named:
    """An env value paired with its variable name, so the value's check can see the name."""

    name: object
    value: object


def _guess_ref_tag(mapping: dict[Any, Any]) -> str | None:
    for key in mapping:
        if isinstance(key, str):
            close = difflib.get_close_matches(key, list(_REF_KEYS), n=1, cutoff=0.6)
            if close:
                return _REF_KEYS[close[0]]
    return None


def _env_tag(value: Any) -> str | None:
    if isinstance(value, ParameterStoreRef):
        return _TAG_PARAMETER
    if isinstance(value, SecretsManagerRef):
        return _TAG_SECRET
    if isinstance(value, dict):
        for key, tag in _REF_KEYS.items():
            if key in value:
                return tag
        return _guess_ref_tag(value)
    return _TAG_PLAIN


def _check_env_value(value: Any) -> Any:
    name: object = None
    if isinstance(value, _Named):
        name, value = value.name, value.value
    # A reserved name is refused as such (one problem); its value is then not looked at.
    if isinstance(name, str) and env_reserved(name):
        return ""
    secret = isinstance(name, str) and looks_secret(name)
    # Under a secret-looking name nothing of the value is ever echoed, whatever its shape.
    shown: dict[str, Any] = {"hide_input": True} if secret else {"got": value}
    if isinstance(value, str | int | float) and secret:
        # bool is an int too
        raise _err(
            "looks like a secret: CodeBuild shows plain values to anyone who can read "
            "the project; use `parameter_store: NAME` or `secrets_manager: NAME`",
            hide_input=True,
        )
    if isinstance(value, str):
        return value
    if isinstance(value, ParameterStoreRef | SecretsManagerRef):
        return value
    if isinstance(value, bool):
        raise _err(f'a boolean is not a string; quote it: "{str(value).lower()}"', **shown)
    if isinstance(value, int | float):
        raise _err(f'a number is not a string; quote it: "{value}"', **shown)
    if value is None:
        raise _err(f"has no value; it must be {_ENV_SHAPE}", **shown)
    if isinstance(value, dict):
        if all(key in value for key in _REF_KEYS):
            raise _err("use parameter_store: or secrets_manager:, not both", **shown)
        if _env_tag(value) is None:
            raise _err(f"must be {_ENV_SHAPE}", **shown)
        return value
    raise _err(f"must be {_ENV_SHAPE}, not {_type_word(value)}", **shown)


EnvValue = Annotated[
    Annotated[
        Union[  # noqa: UP007 -- Tag/Discriminator need the explicit Union form
            Annotated[str, Tag(_TAG_PLAIN)],
            Annotated[ParameterStoreRef, Tag(_TAG_PARAMETER)],
            Annotated[SecretsManagerRef, Tag(_TAG_SECRET)],
        ],
        Discriminator(_env_tag),
    ],
    BeforeValidator(_check_env_value),
]
"""A build environment value: plain text, or a Parameter Store / Secrets Manager reference."""


class Build(_Model):
    """The CodeBuild project: docker build, optional tests, push."""

    context: Annotated[
        RelPath, Field(description="Directory passed to docker build, relative to the repository.")
    ] = "."
    dockerfile: (
        Annotated[RelFile, Field(description="Dockerfile path, relative to the repository.")] | None
    ) = None
    compute_type: ComputeType = "BUILD_GENERAL1_SMALL"
    image: (
        Annotated[
            str,
            AfterValidator(_check_build_image),
            Field(
                description="CodeBuild image; by default one matching the task's CPU architecture."
            ),
        ]
        | None
    ) = None
    buildspec: (
        Annotated[RelFile, Field(description="Use this buildspec from the repository.")] | None
    ) = None
    timeout_minutes: Annotated[
        int, Field(ge=5, le=2160, description="Build timeout in minutes.")
    ] = 30
    env: Annotated[
        dict[EnvName, EnvValue],
        _none_as(dict),
        Field(description="Build environment variables; secrets only as references."),
    ] = Field(default_factory=dict)
    test_commands: Annotated[
        list[TestCommand],
        _none_as(list),
        Field(description="Shell commands run after docker build and before the push."),
    ] = Field(default_factory=list)

    @field_validator("env", mode="before")
    @classmethod
    def _pair_values_with_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _Named(key, item) for key, item in value.items()}
        return value


class Image(_Model):
    """The ECR repository the build pushes to."""

    repository: (
        Annotated[
            str,
            AfterValidator(_check_ecr_repository),
            Field(description="ECR repository name; defaults to `name`."),
        ]
        | None
    ) = None
    keep: Annotated[
        int, Field(ge=1, le=1000, description="Lifecycle policy: keep the newest N images.")
    ] = 20


# ---- environments ---------------------------------------------------------------------

EnvironmentName = Annotated[
    str,
    AfterValidator(_check_environment_name),
    Field(description="Short name used in stage and file names: lowercase letters, digits "
          "and single hyphens, 1-20 characters, starting with a letter.",
          json_schema_extra={"pattern": "^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$", "maxLength": 20}),
]


class DeployWindow(_Model):
    """When the deploy stage may be entered (CodePipeline's DeploymentWindow rule)."""

    cron: Annotated[
        str,
        AfterValidator(_check_window_cron),
        Field(description="AWS's DeploymentWindow cron: 6 fields and an optional year, "
              "seconds first (`0 0 9-16 ? * MON-FRI *`: 09:00-16:59 on weekdays); the "
              "minutes it matches are the window."),
    ]
    timezone: (
        Annotated[
            str,
            AfterValidator(_check_window_zone),
            Field(description="Region/City (Europe/Berlin) or UTC with an offset "
                  "(UTC+05:30); default UTC. Abbreviations such as CST are ambiguous and "
                  "refused."),
        ]
        | None
    ) = None


AlarmName = Annotated[str, AfterValidator(_check_alarm_name)]


@dataclass(frozen=True)
class Gates:
    """What guards one deploy stage, resolved (documents.conditions builds it)."""

    on_failure: str = "rollback"  # rollback | fail
    alarms: tuple[str, ...] = ()
    bake_minutes: int | None = None  # set exactly when there are alarms
    window: tuple[str, str | None] | None = None  # (cron, timezone)


class _Gates(_Model):
    """What guards an environment's deploy stage: automatic rollback, an alarm-watched
    bake, a deploy window. An environment has them; the single form under `service:`."""

    on_failure: Annotated[
        Literal["rollback", "fail"],
        Field(description="What a failed deploy stage does: rollback (to the last execution "
              "that succeeded in it; the default) or fail (stay failed)."),
    ] = "rollback"
    alarms: (
        Annotated[
            list[AlarmName],
            Field(min_length=1, max_length=MAX_ALARMS,
                  description="CloudWatch alarms (1-5, existing) watched for bake_minutes "
                  "after the deploy; one in ALARM rolls the stage back."),
        ]
        | None
    ) = None
    bake_minutes: (
        Annotated[
            int,
            Field(ge=1, le=BAKE_MINUTES_MAX,
                  description=f"How long the alarms are watched after the deploy (default "
                  f"{DEFAULT_BAKE_MINUTES} with alarms)."),
        ]
        | None
    ) = None
    deploy_window: Annotated[
        DeployWindow | None,
        Field(description="Enter the deploy stage only inside this window; outside it, an "
              "execution waits at the stage until the window opens."),
    ] = None

    @field_validator("alarms")
    @classmethod
    def _unique_alarms(cls, value: list[str] | None) -> list[str] | None:
        for index, name in enumerate(value or []):
            if name in (value or [])[:index]:
                raise _err(f"alarm {name!r} is listed twice", at=str(index), got=name)
        return value

    @model_validator(mode="after")
    def _bake_needs_alarms(self) -> _Gates:
        if self.bake_minutes is not None and not self.alarms:
            raise _err("needs `alarms:`: without them nothing would be watched during "
                       "the bake", at="bake_minutes", got=self.bake_minutes)
        return self

    @property
    def gates(self) -> Gates:
        window = self.deploy_window
        return Gates(
            on_failure=self.on_failure,
            alarms=tuple(self.alarms or ()),
            bake_minutes=(self.bake_minutes or DEFAULT_BAKE_MINUTES) if self.alarms else None,
            window=(window.cron, window.timezone) if window else None,
        )


class SingleService(Service, _Gates):
    """`service:` of the single form: the ECS service, and the gates of its deploy stage."""


class Environment(_Gates):
    """One environment of `environments:`, deployed after the previous one succeeded."""

    name: EnvironmentName
    service: Service
    approval: Annotated[bool, Field(description="A person approves (`ecspipe approve`) "
                                    "before this environment is deployed.")] = False


@dataclass(frozen=True)
class Target:
    """One environment the pipeline deploys to, in pipeline order: an `environments[]`
    entry, or the single `service:` (name None, stages as before environments existed).
    Everything downstream (preflight, documents, status, release) works on these."""

    name: str | None
    service: Service
    approval: bool = False
    index: int = 0
    gates: Gates = Gates()

    @property
    def where(self) -> str:
        """Where a message about this environment's service points in the config."""
        if self.name is None:
            return "service"
        return f"environments[{self.index}] ({self.name}): service"

    @property
    def path(self) -> str:
        """The service's key path in the config: `service` or `environments[1].service`."""
        return "service" if self.name is None else f"environments[{self.index}].service"

    @property
    def label(self) -> str:
        return self.name or "service"

    @property
    def gates_path(self) -> str:
        """Where this environment's gates are in the config: `service` or `environments[1]`."""
        return "service" if self.name is None else f"environments[{self.index}]"


def _unique_environment_names(value: list[Environment]) -> list[Environment]:
    seen: dict[str, int] = {}
    for index, env in enumerate(value):
        if env.name in seen:
            raise _err(f"environment name {env.name!r} is used twice (environments[{seen[env.name]}]"
                       f" and environments[{index}]); each needs its own", at=f"{index}.name",
                       got=env.name)
        seen[env.name] = index
    return value


EnvironmentList = Annotated[
    list[Environment],
    AfterValidator(_unique_environment_names),
    Field(min_length=1, max_length=MAX_ENVIRONMENTS),
]


# ---- notifications --------------------------------------------------------------------

Email = Annotated[str, AfterValidator(_check_email)]
NotifyEvent = Literal["failed", "approval", "succeeded"]
DEFAULT_EVENTS: tuple[NotifyEvent, ...] = ("failed", "approval")


class Notify(_Model):
    """Who hears about the pipeline: an SNS topic ecspipe creates (with email subscriptions)
    or one that exists, and a CodeStar Notifications rule on the pipeline."""

    email: (
        Annotated[
            list[Email],
            Field(min_length=1, max_length=MAX_EMAILS,
                  description="Email addresses subscribed to an SNS topic ecspipe creates; each "
                  "recipient must confirm the subscription."),
        ]
        | None
    ) = None
    sns_topic_arn: (
        Annotated[
            str,
            AfterValidator(_check_topic_arn),
            Field(description="Publish to this existing SNS topic instead (never modified or "
                  "deleted); its policy must let CodeStar Notifications publish."),
        ]
        | None
    ) = None
    events: Annotated[
        list[NotifyEvent],
        Field(min_length=1, description="What is notified: failed (an execution failed), "
              "approval (an approval waits), succeeded (an execution succeeded)."),
    ] = Field(default_factory=lambda: list(DEFAULT_EVENTS))

    @field_validator("email")
    @classmethod
    def _unique_emails(cls, value: list[str] | None) -> list[str] | None:
        seen: set[str] = set()
        for index, address in enumerate(value or []):
            if address.lower() in seen:
                raise _err(f"{address!r} is listed twice", at=str(index), got=address)
            seen.add(address.lower())
        return value

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic_in_our_account_and_region(cls, value: str | None,
                                         info: ValidationInfo) -> str | None:
        m = _TOPIC_ARN_RE.fullmatch(value) if value else None
        wrong = _placement_here(m, info) if m else []
        if wrong:
            raise _err("the topic " + " and ".join(wrong) + " (CodeStar Notifications "
                       "publishes only to topics of the pipeline's account and region)", got=value)
        return value

    @field_validator("events")
    @classmethod
    def _unique_events(cls, value: list[str]) -> list[str]:
        doubled = sorted({e for e in value if value.count(e) > 1})
        if doubled:
            raise _err(f"{', '.join(doubled)} listed more than once")
        return value

    @model_validator(mode="after")
    def _one_topic(self) -> Notify:
        if (self.email is None) == (self.sns_topic_arn is None):
            raise _err("give `email:` (a topic ecspipe creates) or `sns_topic_arn:` (a topic "
                       "you have), not " + ("both" if self.email else "neither"))
        return self

    @property
    def owned_topic(self) -> bool:
        return self.sns_topic_arn is None


class _Missing:
    """Stands for an absent `service:` when `environments:` is absent too."""

    def __repr__(self) -> str:
        return "nothing"


class _Both:
    """Wraps `environments:` when `service:` is given as well."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _service_given(value: Any) -> Any:
    if isinstance(value, _Missing):
        raise _err("required field is missing: give `service:` (one ECS service) or "
                   "`environments:` (a list of them, deployed in order)", hide_input=True)
    return value


def _environments_alone(value: Any) -> Any:
    if isinstance(value, _Both):
        raise _err("give `service:` (one environment) or `environments:` (several), not both",
                   hide_input=True)
    return value


class Config(_Model):
    """The whole ecspipe.yaml."""

    version: Literal[1] = Field(description="Schema version of this file; only 1 exists.")
    name: ProjectName
    region: Region
    account_id: AccountId | None = None
    source: Source
    service: Annotated[SingleService | None, BeforeValidator(_service_given)] = None
    environments: Annotated[
        EnvironmentList | None,
        BeforeValidator(_environments_alone),
        Field(description="Instead of `service:`: the environments the image is deployed to, "
              "in order (e.g. staging, then production with an approval)."),
    ] = None
    notify: Notify | None = None
    build: Annotated[Build, _none_as(Build)] = Field(default_factory=Build)
    image: Annotated[Image, _none_as(Image)] = Field(default_factory=Image)
    tags: Annotated[
        dict[TagKey, TagValue],
        _none_as(dict),
        Field(
            max_length=MAX_USER_TAGS, description="Extra tags on every resource ecspipe creates."
        ),
    ] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _connection_in_our_account_and_region(cls, source: Source, info: ValidationInfo) -> Source:
        arn = source.connection_arn
        m = _CONNECTION_ARN_RE.fullmatch(arn) if arn else None
        if m is None:
            return source
        wrong = _placement_problems(m, info)
        if wrong:
            raise _err(
                "the connection " + " and ".join(wrong) + " (CodePipeline uses only connections "
                "of its own account and region)",
                at="connection_arn",
                got=arn,
            )
        return source

    @model_validator(mode="wrap")
    @classmethod
    def _references_know_where_they_are(cls, data: Any, handler: Any) -> Config:
        """Secret references check their ARNs against the config's region and account
        while the whole file is validated, so their problems come with every other one."""
        token = _WHERE.set(_where(data))
        if isinstance(data, dict):
            # Exactly one of `service:` and `environments:`; marked here, reported by the
            # fields' own validators, so their problems come with every other one.
            has_service = data.get("service") is not None
            has_environments = data.get("environments") is not None
            if not has_service and not has_environments:
                data = {**data, "service": _Missing()}
            elif has_service and has_environments:
                data = {**data, "environments": _Both(data["environments"])}
        try:
            return handler(data)  # type: ignore[no-any-return]
        finally:
            _WHERE.reset(token)

    @property
    def targets(self) -> list[Target]:
        """The environments deployed to, in order (one, unnamed, for `service:`)."""
        if self.environments is None:
            assert self.service is not None
            return [Target(None, self.service, gates=self.service.gates)]
        return [Target(e.name, e.service, e.approval, i, e.gates)
                for i, e in enumerate(self.environments)]

    @model_validator(mode="after")
    def _default_image_repository(self) -> Config:
        if self.image.repository is None:
            self.image = self.image.model_copy(update={"repository": self.name})
        return self


def _placement_problems(m: re.Match[str], info: ValidationInfo) -> list[str]:
    """An ARN's partition, account and region against the config's (offline)."""
    wrong = []
    account = info.data.get("account_id")
    region = info.data.get("region")
    # `--region` replaces the file's region (loading.py): say which one was compared.
    region_name = (info.context or {}).get("region_source", "region")
    if region:
        problem = arn_partition_problem(m["partition"], region)
        if problem:
            wrong.append(problem.replace(f"region {region}", f"{region_name} {region}", 1))
    if account and m["account"] != account:
        wrong.append(f"is in account {m['account']}, but account_id is {account}")
    if region and m["region"] != region:
        wrong.append(f"is in region {m['region']}, but {region_name} is {region}")
    return wrong


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of ecspipe.yaml, e.g. for editor completion."""
    schema = Config.model_json_schema()
    schema.pop("title", None)
    # Exactly one of the two forms (checked by Config's validators).
    schema["oneOf"] = [{"required": ["service"]}, {"required": ["environments"]}]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ecspipe configuration",
        **schema,
    }
