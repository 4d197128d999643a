"""load_config / parse_config: the file, through YAML and the models, to a Config.

Raise exactly one exception type, ConfigError, and never let a pydantic or YAML
exception escape; problems of the content are collected at once (reporting.py).
"""

from __future__ import annotations

import errno
import os
import stat

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from ecspipe.config.models import Config
from ecspipe.config.reporting import _duplicate_keys, _format, _validation_problems
from ecspipe.config.rules import DEFAULT_FILENAME, EXAMPLE_FILENAME, _check_region
from ecspipe.config.yamlfile import _compose, _construct
from ecspipe.errors import ConfigError

# Configs are a few kilobytes; a file far bigger is not one (and reading, say,
# /dev/zero or a 2 GB log would exhaust memory before YAML could object).
MAX_CONFIG_BYTES = 1 << 20

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(filename: str, mode: int) -> ConfigError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return ConfigError(f"{filename}: not a regular file: it is {kind}",
                       hint="pass the YAML file itself, e.g. -c ecspipe.yaml")


def _too_large(filename: str, size: int | None) -> ConfigError:
    got = f"{size} bytes" if size is not None else f"more than {MAX_CONFIG_BYTES} bytes"
    return ConfigError(f"{filename}: too large for a configuration file ({got}; at most "
                       f"{MAX_CONFIG_BYTES / 2**20:g} MiB)", hint="pass the ecspipe YAML file itself")


def _os_error(filename: str, exc: OSError) -> ConfigError:
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(filename):
            return ConfigError(f"{filename}: a symbolic link to a file that does not exist")
        return ConfigError(
            f"{filename}: no such file",
            hint=f"create it from {EXAMPLE_FILENAME} (cp {EXAMPLE_FILENAME} {DEFAULT_FILENAME}) "
            "or pass another file with -c PATH",
        )
    if isinstance(exc, PermissionError):
        return ConfigError(f"{filename}: cannot read the file: permission denied")
    if exc.errno == errno.ELOOP:
        return ConfigError(f"{filename}: cannot read the file: too many levels of symbolic "
                           "links (a symlink loop?)")
    if isinstance(exc, NotADirectoryError):
        return ConfigError(f"{filename}: no such file (a part of the path is not a directory)")
    return ConfigError(f"{filename}: cannot read the file: {exc.strerror or exc}")


def read_config_bytes(filename: str) -> bytes:
    """The file's bytes, refusing at once (never blocking) what is not a config file.

    stat() first, so a FIFO, a device or a socket is never opened (opening a FIFO
    blocks until a writer comes; reading /dev/zero never ends); then the file is
    opened non-blocking and checked again on the open descriptor (the path may
    have changed in between), and at most MAX_CONFIG_BYTES + 1 bytes are read
    (files in /proc report size 0).
    """
    try:
        info = os.stat(filename)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        if isinstance(exc, ValueError):
            raise ConfigError(f"{filename}: not a valid file name") from None
        raise _os_error(filename, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{filename}: is a directory, not a configuration file",
            hint=f"pass the YAML file itself, e.g. -c {os.path.join(filename, DEFAULT_FILENAME)}",
        )
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(filename, info.st_mode)
    if info.st_size > MAX_CONFIG_BYTES:
        raise _too_large(filename, info.st_size)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(filename, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_error(filename, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(filename, info.st_mode)
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _os_error(filename, exc) from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise _too_large(filename, None)
    return b"".join(chunks)


_UTF16_32_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                  (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def load_config(path: str | os.PathLike[str], region: str | None = None) -> Config:
    """Read and validate a config file; raise ConfigError for anything wrong.

    `region` (the --region flag) replaces the file's `region` and is validated
    like it, with every rule that depends on the region (ARNs in the config).
    """
    filename = os.fspath(path)
    raw = read_config_bytes(filename)
    for bom, encoding in _UTF16_32_BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"{filename}: is {encoding} text; save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{filename}: is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    return parse_config(text, filename, region=region)


def _check_region_flag(region: str) -> None:
    try:
        _check_region(region)
    except PydanticCustomError as exc:
        raise ConfigError(f"--region {region!r}: {exc.message()}",
                          hint="pass a region code such as --region eu-west-1") from None


def parse_config(text: str, filename: str = DEFAULT_FILENAME,
                 region: str | None = None) -> Config:
    """Validate config text; `filename` is only used in messages."""
    context = None
    if region is not None:
        _check_region_flag(region)
        context = {"region_source": "--region"}
    try:
        root = _compose(text, filename)
        problems = [_format(filename, *p) for p in _duplicate_keys(root)]
        data = _construct(root, filename, text)
        if region is not None and isinstance(data, dict):
            data["region"] = region
        try:
            config = Config.model_validate(data, context=context)
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
