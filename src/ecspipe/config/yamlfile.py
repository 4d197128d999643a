"""The file and its YAML: read bytes, compose nodes (line numbers kept), build values.

Whole-file problems (malformed YAML, a document that is not a mapping, several
documents) are one ConfigError line each. Timestamps are read as the strings
they were written as (`branch: 2024-01-01` is the branch named "2024-01-01").
"""

from __future__ import annotations

from typing import Any

import yaml

from ecspipe.config.rules import _GOT_LIMIT, EXAMPLE_FILENAME
from ecspipe.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings they were written as."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)

# Composing (parsing) is where the time goes: libyaml is ~20x faster than pure Python
# and caps nesting depth. Constructing Python values always uses _Loader.
_Composer: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", _Loader)  # type: ignore[assignment]

_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _compose(text: str, filename: str) -> yaml.MappingNode:
    start_hint = f"start from {EXAMPLE_FILENAME}"
    try:
        documents = list(yaml.compose_all(text, Loader=_Composer))
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, filename, text) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(
            f"{filename}:{line}: invalid YAML: character {char} is not allowed ({exc.reason})"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}: invalid YAML: {_one_line(str(exc))}") from None
    if not documents:
        if text.strip():
            raise ConfigError(f"{filename}: has only comments, no settings", hint=start_hint)
        raise ConfigError(f"{filename}: the file is empty", hint=start_hint)
    if len(documents) > 1:
        line = documents[1].start_mark.line + 1
        raise ConfigError(
            f"{filename}: contains {len(documents)} YAML documents (the second starts at line "
            f"{line}); put every setting in one document",
            hint="remove the extra '---' separator",
        )
    root = documents[0]
    if isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG:
        raise ConfigError(f"{filename}: has no settings", hint=start_hint)
    if not isinstance(root, yaml.MappingNode):
        kind = (
            "a list"
            if isinstance(root, yaml.SequenceNode)
            else f"a single value {_short_text(root.value)}"
        )
        raise ConfigError(
            f"{filename}: the top level must be a mapping of settings (version: 1, name: ...), "
            f"got {kind}",
            hint=start_hint,
        )
    return root


def _construct(root: yaml.Node, filename: str, text: str) -> Any:
    loader = _Loader("")
    try:
        return loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, filename, text) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{filename}: invalid YAML value: {_one_line(str(exc))}") from None
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError, filename: str, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
    what = exc.problem or exc.context or "cannot parse"
    if exc.context and exc.problem and exc.context_mark and exc.context_mark is not mark:
        what += f" ({exc.context} at line {exc.context_mark.line + 1})"
    hint = None
    lines = text.splitlines()
    if mark and 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        hint = "indent with spaces: YAML does not allow tabs for indentation"
    elif "mapping values are not allowed" in what:
        hint = "check the indentation, and quote values that contain ': '"
    return ConfigError(f"{where}: invalid YAML: {_one_line(what)}", hint=hint)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _short_text(text: str, limit: int = _GOT_LIMIT) -> str:
    shown = repr(text[: limit + 1])
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
