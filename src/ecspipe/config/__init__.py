"""The ecspipe configuration file (`ecspipe.yaml`): its models, loading and error reporting.

  rules.py      naming rules: every AWS name and value checked offline
  models.py     the pydantic models (what each section holds) and the JSON Schema
  yamlfile.py   the file and its YAML: composing nodes with line numbers
  reporting.py  problem lines `FILE:LINE field.path: what (got VALUE)`
  loading.py    load_config / parse_config: file -> YAML -> models -> Config

The file is YAML, validated by the pydantic v2 models (models.py) (every model forbids
unknown keys, and strings are strict: `branch: 123` or `name: true` is an error,
never silently coerced). Every AWS naming rule ecspipe depends on is checked
here, offline, before any AWS call, because the services check most of them
only after earlier resources already exist (see aws-facts.md section 1).

`load_config(path)` / `parse_config(text)` raise exactly one exception type,
`ecspipe.errors.ConfigError`, and never let a pydantic or YAML exception escape:

* whole-file problems (missing file, a directory, empty file, malformed YAML, a
  document that is not a mapping, several documents) are one one-line message
  with an empty `problems` list;
* everything else is collected at once: `message` is `FILE: N problems in the
  configuration` and `problems` holds one line per problem, sorted by line,
  formatted `FILE:LINE field.path: what is wrong (got VALUE)`.

Line numbers come from composing the YAML (libyaml's CSafeLoader when present,
else SafeLoader) and walking its nodes along each error's field path. Duplicate
keys in a mapping, which PyYAML silently resolves to the last value, are
reported as problems too. A value under a secret-looking env name is never
echoed back in a message.

Decisions other code relies on: after validation `config.image.repository` is
always a str (it defaults to `config.name`); `service.cluster_name` /
`service.service_name` are short names even when ARNs were given; an empty
section (`env:` with every entry commented out, `tags:`, `build:`, `image:`)
means its default; YAML timestamps are read as plain strings
(`branch: 2024-01-01` is the branch named "2024-01-01").
"""

from __future__ import annotations

import os

# pydantic looks for third-party plugins by scanning every installed package's
# entry points when the first model is built (~50-80 ms); ecspipe's models use
# none. A user who sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from ecspipe.config.loading import load_config, parse_config  # noqa: E402
from ecspipe.config.models import (  # noqa: E402
    Build,
    Config,
    DeployWindow,
    Environment,
    EnvValue,
    Gates,
    Image,
    Notify,
    ParameterStoreRef,
    SecretsManagerRef,
    Service,
    Source,
    Target,
    config_json_schema,
)
from ecspipe.config.rules import DEFAULT_FILENAME, EXAMPLE_FILENAME  # noqa: E402

__all__ = [
    "DEFAULT_FILENAME",
    "EXAMPLE_FILENAME",
    "Build",
    "Config",
    "DeployWindow",
    "EnvValue",
    "Environment",
    "Gates",
    "Image",
    "Notify",
    "ParameterStoreRef",
    "SecretsManagerRef",
    "Service",
    "Source",
    "Target",
    "config_json_schema",
    "load_config",
    "parse_config",
]
