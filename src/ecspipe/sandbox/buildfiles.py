"""The files a simulated build leaves in its output artifact, read off the project's buildspec.

The sandbox runs no shell, so a build's output artifact holds only what this
module can tell the buildspec writes: for each file its `artifacts.files`
lists (glob patterns, `discard-paths`), the command that writes it, evaluated
just enough to know the text:

    printf FORMAT ARG... > FILE     (%s, %%, \\n, \\t, \\\\ in FORMAT; the format repeats)
    echo [-n] WORD... > FILE
    cat > FILE <<'EOF'  (or <<EOF, expanded) ... EOF

Words may be quoted in every shell way; `$VAR`, `${VAR}`, `${VAR:OFFSET:LENGTH}`,
`${VAR:-WORD}` and `${VAR:?WORD}` are expanded (not inside single quotes) from
the project's plaintext environment variables, simple assignments made by earlier
commands (VAR=value, without command substitution), and what CodeBuild and the
sandbox's build know: CODEBUILD_RESOLVED_SOURCE_VERSION, CODEBUILD_SRC_DIR and PWD,
AWS_DEFAULT_REGION / AWS_REGION, IMAGE_TAG and IMAGE_URI (the image the build
pushed). A file written any other way (cp, a script, a file of the repository) is
not in the artifact: the sandbox's source has no files. That is how the
CodeDeployToECS action gets imageDetail.json, taskdef.json and appspec.yaml.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from typing import Any

import yaml

SRC_DIR = "/codebuild/output/src1234567890/src"
_TARGET = r"""(?P<target>"[^"]*"|'[^']*'|[^\s<>]+)"""
_DELIMITER = r"""<<-?[ \t]*(?P<quote>['"]?)(?P<delim>\w+)(?P=quote)"""
# `cat > FILE <<'EOF'` or `cat <<'EOF' > FILE`, the body, and the delimiter alone on a line.
_HEREDOCS = [re.compile(rf"^\s*cat\s+{first}\s*{second}[ \t]*\n(?P<body>.*?)\n[ \t]*(?P=delim)\s*$",
                        re.DOTALL)
             for first, second in ((rf">\s*{_TARGET}", _DELIMITER),
                                   (_DELIMITER, rf">\s*{_TARGET}"))]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Unsupported(Exception):
    """A word the evaluator cannot expand (command substitution, pattern removal...)."""


def written_files(ex: Any, run: Any, image_uri: str) -> dict[str, str]:
    """{artifact path: text} for the files the project's inline buildspec writes and lists."""
    from moto.codebuild.models import codebuild_backends

    project = codebuild_backends[ex.account_id][ex.region].codebuild_projects.get(
        run.configuration.get("ProjectName", ""))
    meta = getattr(project, "project_metadata", None) or {}
    spec_text = (meta.get("source") or {}).get("buildspec")
    if not spec_text:
        return {}
    try:
        spec = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return {}
    if not isinstance(spec, dict):
        return {}
    env = {v["name"]: str(v.get("value", ""))
           for v in (meta.get("environment") or {}).get("environmentVariables") or []
           if v.get("type", "PLAINTEXT") == "PLAINTEXT"}
    for name, value in ((spec.get("env") or {}).get("variables") or {}).items():
        env[str(name)] = str(value)
    env.update(CODEBUILD_RESOLVED_SOURCE_VERSION=run.data.get("sha", ""),
               CODEBUILD_SRC_DIR=SRC_DIR, PWD=SRC_DIR, AWS_DEFAULT_REGION=ex.region,
               AWS_REGION=ex.region, IMAGE_TAG=run.data.get("tag", ""), IMAGE_URI=image_uri)
    commands = [str(c) for phase in (spec.get("phases") or {}).values()
                if isinstance(phase, dict) for c in phase.get("commands") or []]
    return listed(spec.get("artifacts") or {}, evaluate(commands, env))


def listed(artifacts: dict[str, Any], written: dict[str, str]) -> dict[str, str]:
    """The written files `artifacts.files` lists, named as the artifact holds them."""
    patterns = [str(p) for p in artifacts.get("files") or []]
    base = str(artifacts.get("base-directory") or "").strip("/")
    discard = str(artifacts.get("discard-paths", "no")).lower() in ("yes", "true")
    out = {}
    for path, text in written.items():
        relative = posixpath.relpath(path, posixpath.join(SRC_DIR, base)) \
            if path.startswith("/") else posixpath.normpath(path)
        if relative.startswith("../"):
            continue
        if any(fnmatch.fnmatch(relative, p) or p in ("**/*", "*") for p in patterns):
            out[posixpath.basename(relative) if discard else relative] = text
    return out


def evaluate(commands: list[str], env: dict[str, str]) -> dict[str, str]:
    """{path: text} written by the commands, in order (a later write replaces, >> appends)."""
    variables = dict(env)
    preset = set(env)
    files: dict[str, str] = {}
    for command in commands:
        try:
            _command(command, variables, preset, files)
        except (_Unsupported, ValueError, IndexError):
            continue  # unbalanced quotes, an expansion not evaluated: not the sandbox's to know
    return files


def _command(command: str, variables: dict[str, str], preset: set[str],
             files: dict[str, str]) -> None:
    """One buildspec command: a heredoc, or simple commands joined by ; && || |."""
    heredoc = next((m for m in (r.match(command) for r in _HEREDOCS) if m), None)
    if heredoc:
        body = heredoc.group("body") + "\n"
        if not heredoc.group("quote"):
            body = _expand_text(body, variables)
        files[_path(_word(heredoc.group("target"), variables))] = body
        return
    for simple in _split(command):
        try:
            _run(simple, variables, preset, files)
        except (_Unsupported, ValueError, IndexError):
            continue


def _path(target: str) -> str:
    return target if target.startswith("/") else posixpath.normpath(
        posixpath.join(SRC_DIR, target))


def _run(words: list[str], variables: dict[str, str], preset: set[str],
         files: dict[str, str]) -> None:
    """One simple command: an assignment, or printf/echo redirected to a file."""
    if words and all(_assignment(w) for w in words):
        for word in words:
            name, _, value = word.partition("=")
            if name in preset and ("$(" in value or "`" in value):
                continue  # the sandbox knows it already (IMAGE_TAG)
            try:
                variables[name] = _word(value, variables)
            except _Unsupported:
                continue
        return
    argv, target, append = [], None, False
    index = 0
    while index < len(words):
        word = words[index]
        if word in (">", ">>") and index + 1 < len(words):
            target, append = words[index + 1], word == ">>"
            index += 2
            continue
        if word.startswith((">&", "2>", "1>&", "<")):
            index += 1
            continue
        argv.append(word)
        index += 1
    if target is None or not argv or target.startswith("&"):
        return
    try:
        values = [_word(w, variables) for w in argv]
        path = _path(_word(target, variables))
    except _Unsupported:
        return
    if values[0] == "printf" and len(values) > 1:
        text = _printf(values[1], values[2:])
    elif values[0] == "echo":
        args = values[1:]
        newline = not (args and args[0] == "-n")
        text = " ".join(args[1:] if not newline else args) + ("\n" if newline else "")
    else:
        return
    files[path] = files.get(path, "") + text if append else text


def _assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return bool(equals) and bool(_NAME.fullmatch(name))


def _printf(fmt: str, args: list[str]) -> str:
    fmt = fmt.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")
    slots = len(re.findall(r"%s", fmt.replace("%%", "")))
    if not slots:
        return fmt.replace("%%", "%")
    out = []
    args = list(args) or [""]
    while args:
        chunk, args = args[:slots] + [""] * (slots - len(args[:slots])), args[slots:]
        out.append(_fill(fmt, iter(chunk)))
    return "".join(out)


def _fill(fmt: str, values: Any) -> str:
    return re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else next(values), fmt)


# --- words: quotes and expansions -----------------------------------------------------------


def _split(command: str) -> list[list[str]]:
    """Simple commands (lists of raw words, quotes kept) split at ; && || | and newlines."""
    commands: list[list[str]] = [[]]
    word: list[str] = []
    i, quote = 0, None

    def end_word() -> None:
        if word:
            commands[-1].append("".join(word))
            word.clear()

    while i < len(command):
        char = command[i]
        if quote:
            word.append(char)
            if char == "\\" and quote == '"' and i + 1 < len(command):
                word.append(command[i + 1])
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            word.append(char)
        elif char == "\\" and i + 1 < len(command):
            word.append(command[i:i + 2])
            i += 1
        elif char == "$" and command[i + 1:i + 2] == "{":
            end = command.find("}", i)
            end = len(command) - 1 if end < 0 else end
            word.append(command[i:end + 1])
            i = end
        elif char in " \t":
            end_word()
        elif char in "{}" and word:
            word.append(char)
        elif char in ";\n|&{}":
            end_word()
            if char == "&" and command[i:i + 2] != "&&":
                word.append(char)  # `>&2` and friends stay one word
            else:
                commands.append([])
                if command[i:i + 2] in ("&&", "||"):
                    i += 1
        elif char == ">":
            end_word()
            if command[i:i + 2] == ">>":
                commands[-1].append(">>")
                i += 1
            elif command[i:i + 2] == ">&":
                word.append(">")
            else:
                commands[-1].append(">")
        else:
            word.append(char)
        i += 1
    end_word()
    return [c for c in commands if c]


def _word(raw: str, variables: dict[str, str]) -> str:
    """A raw word with its quotes removed and its expansions made."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "'":
            end = raw.index("'", i + 1)
            out.append(raw[i + 1:end])
            i = end + 1
        elif char == '"':
            end = i + 1
            while raw[end] != '"':
                end += 2 if raw[end] == "\\" else 1
            inner = re.sub(r'\\(["\\$`])', r"\1", raw[i + 1:end])
            out.append(_expand_text(inner, variables))
            i = end + 1
        elif char == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        elif char == "$":
            text, i = _expansion(raw, i, variables)
            out.append(text)
        elif char == "`":
            raise _Unsupported(raw)
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _expand_text(text: str, variables: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "$":
            value, i = _expansion(text, i, variables)
            out.append(value)
        elif text[i] == "`":
            raise _Unsupported(text)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _expansion(text: str, i: int, variables: dict[str, str]) -> tuple[str, int]:
    """The expansion starting at text[i] == '$': (its value, the index after it)."""
    if text[i + 1:i + 2] == "(":
        raise _Unsupported(text)
    if text[i + 1:i + 2] == "{":
        end = text.index("}", i)
        body = text[i + 2:end]
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?::(-?\d+)(?::(\d+))?|:([-?])(.*))?",
                             body, re.DOTALL)
        if match is None:
            raise _Unsupported(body)
        name, offset, length, op, word = match.groups()
        value = variables.get(name, "")
        if offset is not None:
            start = int(offset)
            value = value[start:start + int(length)] if length is not None else value[start:]
        elif op == "-" and not value:
            value = _expand_text(word, variables)
        elif op == "?" and not value:
            raise _Unsupported(body)
        return value, end + 1
    match = _NAME.match(text, i + 1)
    if match is None:
        return "$", i + 1
    return variables.get(match.group(), ""), match.end()
