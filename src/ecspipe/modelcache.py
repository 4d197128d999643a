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
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = 2
# endpoints.json keys services by endpoint prefix (ECR's is api.ecr). A test
# checks this covers every service ecspipe makes a client for.
ENDPOINT_PREFIXES = frozenset({
    "api.ecr", "codebuild", "codeconnections", "codepipeline", "codestar-connections", "ecs",
    "iam", "logs", "s3", "sts",
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
            try:
                return json.loads(cached.read_bytes())
            except (OSError, ValueError):
                pass  # not there yet (or damaged): load botocore's and write it
            data = super().load_file(file_path)
            if data is None:
                return None
            data = compact(data)
            _write(cached, data)
            return data

    return CompactModelLoader()


def _write(path: Path, data: Any) -> None:
    """Atomically (several threads and processes may write the same file); never raises."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home, full disk: the next run just parses botocore's files


def install(session: Any) -> Any:
    """Make the session's data loader read compact models (when the cache is enabled).

    The loader keeps its search paths (AWS_DATA_PATH, ~/.aws/models); only the
    way it reads botocore's own files changes. Returns the loader.
    """
    data_loader = session.get_component("data_loader")
    root = cache_root()
    if root is not None:
        data_loader.file_loader = file_loader(root)
    return data_loader
