"""load_config / parse_config: the file, through YAML and the models, to a Config.

Raise exactly one exception type, ConfigError, and never let a pydantic or YAML
exception escape; problems of the content are collected at once (reporting.py).
"""

from __future__ import annotations

import os

from pydantic import ValidationError

from ecspipe.config.models import Config
from ecspipe.config.reporting import _duplicate_keys, _format, _validation_problems
from ecspipe.config.rules import DEFAULT_FILENAME, EXAMPLE_FILENAME
from ecspipe.config.yamlfile import _compose, _construct
from ecspipe.errors import ConfigError


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; raise ConfigError for anything wrong."""
    filename = os.fspath(path)
    try:
        with open(filename, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{filename}: no such file",
            hint=f"create it from {EXAMPLE_FILENAME} (cp {EXAMPLE_FILENAME} {DEFAULT_FILENAME}) "
            "or pass another file with -c PATH",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{filename}: is a directory, not a configuration file",
            hint=f"pass the YAML file itself, e.g. -c {os.path.join(filename, DEFAULT_FILENAME)}",
        ) from None
    except PermissionError:
        raise ConfigError(f"{filename}: cannot read the file: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{filename}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{filename}: is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    return parse_config(text, filename)


def parse_config(text: str, filename: str = DEFAULT_FILENAME) -> Config:
    """Validate config text; `filename` is only used in messages."""
    try:
        root = _compose(text, filename)
        problems = [_format(filename, *p) for p in _duplicate_keys(root)]
        data = _construct(root, filename, text)
        try:
            config = Config.model_validate(data)
        except ValidationError as exc:
            problems += [_format(filename, *p) for p in _validation_problems(exc, root)]
            config = None
    except RecursionError:
        raise ConfigError(f"{filename}: the YAML is nested too deeply") from None
    if problems:
        lines = [line for _, line in sorted(problems, key=lambda p: p[0])]
        count = len(problems)
        raise ConfigError(
            f"{filename}: {count} problem{'s' if count != 1 else ''} in the configuration",
            problems=lines,
            hint=f"every setting is described in {EXAMPLE_FILENAME}",
        )
    assert config is not None
    return config
