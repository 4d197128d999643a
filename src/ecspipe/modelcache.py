"""Compact copies of botocore's API models, so a client takes milliseconds to make.

Making a client parses its service's JSON model and endpoint rule set, and the
first client of a process parses `endpoints.json` (1.2 MB). For the ten
services ecspipe uses that is ~0.3 s of JSON parsing in every command, most of
it documentation strings ecspipe never shows and endpoint data of the ~400
services it never calls.

On first use, each such file is written, compacted, to

    $ECSPIPE_CACHE_DIR (default $XDG_CACHE_HOME/ecspipe or ~/.cache/ecspipe)
        /botocore-<botocore version>-v<FORMAT>/<service>/<api version>/<file>.json

and later runs parse the copy. Compacting changes no behaviour: a service model
or rule set loses only the string values of "documentation"/"documentationUrl"
keys (a *member* called documentation is a dict and stays; clientContextParams,
whose documentation botocore reads, stays whole); endpoints.json keeps
every partition and region and the entries of ENDPOINT_PREFIXES only. The cache
is keyed by botocore's version and FORMAT, written atomically, and any problem
with it (unwritable, corrupt) falls back to botocore's own files. Set
ECSPIPE_CACHE_DIR=off to disable it.

What is parsed from the cache becomes the API models every request is built
from, so the cache is trusted only if nobody else can write into it. Its
directories are created 0700, and each (from $ECSPIPE_CACHE_DIR down to the
file's) must be a real directory, not a symlink, owned by the current user and
not writable by group or others; a cache that fails is ignored, never read nor
written, and botocore's own files are used. Cached files are opened with
O_NOFOLLOW (a symlink planted where a model goes is a miss, not a read) and must
be regular files of this user (or root); they are written to a mkstemp file in
their directory, then os.replace()d into place (which replaces a symlink, never
writes through it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

FORMAT = 3  # 3: endpoints of kms, sns and codestar-notifications (notifications) too
# endpoints.json keys services by endpoint prefix (ECR's is api.ecr). A test
# checks this covers every service ecspipe makes a client for.
ENDPOINT_PREFIXES = frozenset({
    "api.ecr", "codebuild", "codeconnections", "codepipeline", "codestar-connections",
    "codestar-notifications", "ecs", "iam", "kms", "logs", "s3", "sns", "sts",
})
COMPACTED = ("service-2", "endpoint-rule-set-1")
DOC_KEYS = frozenset({"documentation", "documentationUrl"})


def cache_root() -> Path | None:
    """Where the compact models live for this botocore, or None when disabled."""
    import botocore

    setting = os.environ.get("ECSPIPE_CACHE_DIR", "")
    if setting.lower() in ("off", "0", "false", "none"):
        return None
    if setting:
        base = Path(setting)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "ecspipe"
    return base / f"botocore-{botocore.__version__}-v{FORMAT}"


# Kept whole: botocore reads clientContextParams[*]["documentation"] when it resolves
# an endpoint (botocore/model.py, ServiceModel.client_context_parameters).
KEEP_WHOLE = frozenset({"clientContextParams"})


def strip_docs(value: Any) -> Any:
    """The value without documentation strings (a member named documentation stays)."""
    if isinstance(value, dict):
        return {k: v if k in KEEP_WHOLE else strip_docs(v) for k, v in value.items()
                if not (k in DOC_KEYS and isinstance(v, str))}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value


def trim_endpoints(data: dict[str, Any]) -> dict[str, Any]:
    """endpoints.json with every partition, but only ecspipe's services."""
    out = dict(data)
    out["partitions"] = [
        {**p, "services": {k: v for k, v in p.get("services", {}).items()
                           if k in ENDPOINT_PREFIXES}}
        for p in data.get("partitions", [])
    ]
    return out


def _compactor(relative: str) -> Callable[[Any], Any] | None:
    """How to compact a botocore data file, or None when it is not one we compact."""
    if relative == "endpoints":
        return trim_endpoints
    if relative.rsplit("/", 1)[-1] in COMPACTED:
        return strip_docs
    return None


def file_loader(root: Path) -> Any:
    """A botocore JSON file loader that reads and fills the cache under `root`."""
    from botocore.loaders import JSONFileLoader, Loader

    builtin = os.path.abspath(Loader.BUILTIN_DATA_PATH) + os.sep

    class CompactModelLoader(JSONFileLoader):  # type: ignore[misc]
        def load_file(self, file_path: str) -> Any:
            absolute = os.path.abspath(file_path)
            if not absolute.startswith(builtin):
                return super().load_file(file_path)  # the user's own models: as they are
            relative = absolute[len(builtin):].replace(os.sep, "/")
            compact = _compactor(relative)
            if compact is None:  # small files (partitions, paginators, ...): as they are
                return super().load_file(file_path)
            cached = root / f"{relative}.json"
            trusted = _trusted_tree(root, cached.parent)
            if trusted:
                text = _read(cached)
                if text is not None:
                    try:
                        return json.loads(text)
                    except ValueError:
                        pass  # damaged (a full disk): load botocore's and write it again
            data = super().load_file(file_path)
            if data is None:
                return None
            data = compact(data)
            if trusted:
                _write(cached, data)
            return data

    return CompactModelLoader()


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _safe(info: os.stat_result, kind: Callable[[int], bool], owners: tuple[int, ...]) -> str:
    """Why a directory or file (its lstat/fstat) cannot be trusted; '' if it can."""
    if not kind(info.st_mode):
        return "not a directory" if kind is stat.S_ISDIR else "not a regular file"
    uid = _uid()
    if uid is not None and info.st_uid not in (uid, *owners):
        return f"owned by uid {info.st_uid}, not {uid}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(info.st_mode):o})"
    return ""


def prepare(path: Path) -> str:
    """Make `path` a directory only this user can write (0700 when created).

    Returns '' when it is one, else why it is not (the cache is then ignored).
    Each component below an existing ancestor is created 0700 on the way.
    """
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made meanwhile by another ecspipe: checked below like any other
        except OSError as exc:
            return f"cannot create {directory}: {exc.strerror or exc}"
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link"
    why = _safe(info, stat.S_ISDIR, ())
    return f"{path} is {why}" if why else ""


_trusted: set[Path] = set()
_trusted_lock = threading.Lock()


def _trusted_tree(root: Path, directory: Path) -> bool:
    """Are `root` and every directory from it down to `directory` safe? (made if missing)"""
    with _trusted_lock:
        if directory in _trusted:
            return True
        chain = [directory, *directory.parents]
        chain = chain[: chain.index(root) + 1] if root in chain else [directory]
        for path in reversed(chain):  # root first
            if path in _trusted:
                continue
            why = prepare(path)
            if why:
                log.debug("model cache ignored: %s", why)
                return False
            _trusted.add(path)
        return True


def _read(path: Path) -> bytes | None:
    """The file's bytes if it is a regular file of ours (never through a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None  # absent, or a symlink (ELOOP)
    try:
        why = _safe(os.fstat(fd), stat.S_ISREG, (0,))
        if why:
            log.debug("model cache file %s ignored: %s", path, why)
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(path: Path, data: Any) -> None:
    """Atomically (several threads and processes may write the same file); never raises.

    A mkstemp file in the same directory (0600, created exclusively: no symlink is
    followed), then os.replace, which replaces whatever is at `path`, a planted
    symlink included, without writing through it.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return  # read-only, full disk: the next run just parses botocore's files
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def install(session: Any) -> Any:
    """Make the session's data loader read compact models (when the cache is enabled).

    The loader keeps its search paths (AWS_DATA_PATH, ~/.aws/models); only the
    way it reads botocore's own files changes. Returns the loader.
    """
    data_loader = session.get_component("data_loader")
    root = cache_root()
    if root is not None:
        why = prepare(root.parent) or prepare(root)
        if why:
            log.debug("model cache ignored: %s", why)  # botocore's own files are used
        else:
            data_loader.file_loader = file_loader(root)
    return data_loader
