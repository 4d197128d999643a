"""Problem lines: `FILE:LINE field.path: what is wrong (got VALUE)`, one per problem.

Line numbers come from walking the composed YAML nodes along each error's field
path; pydantic's messages are rewritten in ecspipe's words, with a did-you-mean
for unknown keys. A value under a secret-looking env name is never echoed.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ecspipe.config.models import (
    _TAG_MODELS,
    _TAG_PARAMETER,
    _TAG_PLAIN,
    _TAG_SECRET,
    Config,
    _Named,
)
from ecspipe.config.rules import _GOT_LIMIT, SUPPORTED_VERSION, _type_word, looks_secret
from ecspipe.config.yamlfile import _MERGE_TAG, _Loader, _one_line

Loc = tuple[str | int, ...]


def _format(filename: str, line: int, path: str, message: str) -> tuple[int, str]:
    return line, f"{filename}:{line} {path}: {message}"


def _duplicate_keys(root: yaml.Node) -> Iterator[tuple[int, str, str]]:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if key.tag == _MERGE_TAG:
                    stack.append((value, loc))
                    continue
                if not isinstance(key, yaml.ScalarNode):
                    stack.append((value, loc))
                    continue
                line = key.start_mark.line + 1
                ident = (key.tag, key.value)
                if ident in first:
                    yield (
                        line,
                        _dotted((*loc, key.value)),
                        f"duplicate key {key.value!r} (first at line {first[ident]}); YAML would "
                        "silently keep only the last one",
                    )
                else:
                    first[ident] = line
                stack.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))


def _validation_problems(exc: ValidationError, root: yaml.Node) -> Iterator[tuple[int, str, str]]:
    errors = exc.errors(include_url=False)
    # A misspelt key yields "unknown key" plus "required field is missing" for the
    # real one; the did-you-mean line says it all, so drop the missing one.
    suggested = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            guess = _did_you_mean(err["loc"])
            if guess:
                suggested.add((*_clean(err["loc"][:-1]), guess))
    for err in errors:
        raw_loc = err["loc"]
        loc = _clean(raw_loc)
        ctx = err.get("ctx") or {}
        if err["type"] == "missing" and loc in suggested:
            continue
        if isinstance(ctx.get("at"), str):
            loc = (*loc, *ctx["at"].split("."))
        message = _message(err, raw_loc, loc)
        if err["type"] not in ("missing", "extra_forbidden") and not ctx.get("hide_input") \
                and not _under_secret_name(loc):
            message += f" (got {_short(ctx['got'] if 'got' in ctx else err.get('input'))})"
        yield _line_of(root, loc), _dotted(loc) or "config", message


def _under_secret_name(loc: Loc) -> bool:
    """Anything under a secret-looking build.env name (a reference someone filled with the
    secret itself, say) is never echoed."""
    return (len(loc) >= 3 and loc[:2] == ("build", "env") and isinstance(loc[2], str)
            and looks_secret(loc[2]))


def _clean(raw_loc: tuple[str | int, ...]) -> Loc:
    return tuple(
        c for c in raw_loc if c != "[key]" and not (isinstance(c, str) and c in _TAG_NAMES)
    )


_TAG_NAMES = {_TAG_PLAIN, _TAG_PARAMETER, _TAG_SECRET}


def _dotted(loc: Loc) -> str:
    """`build.env.NAME`; a key that is empty or has dots, quotes or whitespace is quoted,
    with whitespace escaped, so the path never contains a space (`tags."a\\x20b"`)."""
    parts = []
    for c in loc:
        text = str(c)
        if not text or any(ch.isspace() or ch in '."' or not ch.isprintable() for ch in text):
            text = '"' + "".join(_escape(ch) for ch in text) + '"'
        parts.append(text)
    return ".".join(parts)


def _escape(ch: str) -> str:
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable() and not ch.isspace():
        return ch
    code = ord(ch)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def _message(err: Any, raw_loc: tuple[str | int, ...], loc: Loc) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "ecspipe":
        return str(err["msg"])
    if kind == "missing":
        if loc == ("version",):
            return f"required field is missing (add 'version: {SUPPORTED_VERSION}')"
        return "required field is missing"
    if kind == "extra_forbidden":
        key = raw_loc[-1]
        guess = _did_you_mean(raw_loc)
        if guess:
            return f"unknown key {key!r} (did you mean {guess!r}?)"
        allowed = _allowed_keys(raw_loc[:-1])
        return (
            f"unknown key {key!r} (allowed: {', '.join(allowed)})"
            if allowed
            else f"unknown key {key!r}"
        )
    if kind == "invalid_key":
        return f"unknown key {value!r}: keys are names such as 'name' or 'tags'"
    if kind == "string_type":
        quote = "; quote it if you mean the text" if isinstance(value, bool | int | float) else ""
        return _expected("a string", value) + quote
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return _expected("a whole number", value)
    if kind in ("model_type", "model_attributes_type", "dict_type", "dataclass_type"):
        return _expected("a mapping (key: value)", value)
    if kind in ("list_type", "tuple_type", "iterable_type"):
        return _expected("a list", value)
    if kind == "literal_error":
        if loc == ("version",):
            return f"unsupported version; this ecspipe reads only version: {SUPPORTED_VERSION}"
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        message = "must be one of " + ", ".join(choices) if choices else str(err["msg"])
        close = difflib.get_close_matches(str(value), choices, n=1) if choices else []
        return message + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(raw_loc)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return str(err["msg"]).replace("Input should be", "must be")
    if kind == "too_long" and isinstance(value, dict):
        return f"at most {ctx.get('max_length')} entries allowed, not {ctx.get('actual_length')}"
    return _one_line(str(err["msg"]).removeprefix("Value error, "))


def _expected(thing: str, value: Any) -> str:
    if value is None:
        return f"must be {thing}, but the value is empty"
    return f"must be {thing}, not {_type_word(value)}"



def _short(value: Any) -> str:
    text = _bounded_repr(value, depth=3, seen=set())
    return text if len(text) <= _GOT_LIMIT else text[: _GOT_LIMIT - 3] + "..."


def _bounded_repr(value: Any, depth: int, seen: set[int]) -> str:
    """repr() that stays short for huge, deep or self-referencing YAML values."""
    if isinstance(value, _Named):
        value = value.value
    if isinstance(value, str):
        return repr(value[: _GOT_LIMIT + 1])
    if isinstance(value, dict | list | tuple):
        if depth == 0 or id(value) in seen:
            return "{...}" if isinstance(value, dict) else "[...]"
        seen = seen | {id(value)}
        if isinstance(value, dict):
            items = [
                f"{_bounded_repr(k, depth - 1, seen)}: {_bounded_repr(v, depth - 1, seen)}"
                for k, v in list(value.items())[:6]
            ]
            return "{" + ", ".join(items) + (", ..." if len(value) > 6 else "") + "}"
        items = [_bounded_repr(v, depth - 1, seen) for v in list(value)[:6]]
        return "[" + ", ".join(items) + (", ..." if len(value) > 6 else "") + "]"
    if isinstance(value, BaseModel):
        return type(value).__name__ + "(...)"
    return repr(value)[: _GOT_LIMIT + 1]


def _type_at(raw_loc: tuple[str | int, ...]) -> Any:
    """The annotation at a pydantic error location, walking from Config; None if unknown."""
    current: Any = Config
    for comp in raw_loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(comp))
            if field is None:
                return None
            current = field.annotation
        elif isinstance(comp, str) and comp in _TAG_MODELS:
            current = _TAG_MODELS[comp]
        elif get_origin(current) is dict:
            current = get_args(current)[0 if comp == "[key]" else 1]
        elif get_origin(current) is list:
            current = get_args(current)[0]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model = _type_at(parent)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _did_you_mean(raw_loc: tuple[str | int, ...]) -> str | None:
    key = raw_loc[-1]
    if not isinstance(key, str):
        return None
    allowed = _allowed_keys(raw_loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {a.lower().replace("-", "_"): a for a in allowed}
        hit = lowered.get(key.lower().replace("-", "_"))
        return hit
    return close[0]


def _bounds(raw_loc: tuple[str | int, ...]) -> tuple[Any, Any]:
    model = _type_at(raw_loc[:-1])
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None, None
    field = model.model_fields.get(str(raw_loc[-1]))
    low = high = None
    for item in field.metadata if field else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _line_of(root: yaml.Node, loc: Loc) -> int:
    """1-based line of the deepest node found along loc (1 if not even the first key)."""
    node: yaml.Node = root
    line = 1
    for comp in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:  # the last one wins, as in PyYAML
                if isinstance(key, yaml.ScalarNode) and _same_key(key, comp):
                    found = (key, value)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif (
            isinstance(node, yaml.SequenceNode)
            and (isinstance(comp, int) or (isinstance(comp, str) and comp.isdigit()))
            and 0 <= int(comp) < len(node.value)
        ):
            node = node.value[int(comp)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _same_key(node: yaml.ScalarNode, comp: str | int) -> bool:
    if node.value == str(comp):
        return True
    if node.tag == "tag:yaml.org,2002:str":
        return False
    try:  # `null:`, `yes:`, `0x1f:`: compare what YAML made of the key
        value = _Loader("").construct_object(node)
    except Exception:  # noqa: BLE001 -- best effort; only a line number is at stake
        return False
    return str(value) == str(comp)
