"""AWS regions and partitions as botocore knows them, read offline from its data files.

`validate` must check `region:` without importing botocore (~40 ms for logging
alone, far more for a session), so this reads botocore's own data files
directly: `partitions.json` (7 KB: every partition's id, region regex, DNS
suffix and regions; what botocore's endpoint rule sets use), and only when a
region is not found there, `endpoints.json` (1.2 MB; older botocore releases
have no partitions.json, or list a region only there). A region is known when a
partition lists it and it matches that partition's region regex (which leaves
out pseudo-regions such as `aws-global`).
"""

from __future__ import annotations

import functools
import json
import os
import re


class Partition:
    """One partition: id (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e,
    aws-iso-f, aws-eusc, ...), region regex, DNS suffix and its known regions.
    (A plain class: a dataclass costs ~2 ms to define, on every `validate`.)"""

    __slots__ = ("dns_suffix", "id", "region_regex", "regions")

    def __init__(self, id: str, region_regex: re.Pattern[str], dns_suffix: str,
                 regions: frozenset[str]) -> None:
        self.id, self.region_regex, self.dns_suffix, self.regions = (
            id, region_regex, dns_suffix, regions)


def _data_dir() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("botocore")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def _load(name: str) -> dict | None:
    directory = _data_dir()
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, name), "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _regex(text: str) -> re.Pattern[str]:
    return re.compile(text, re.ASCII)  # \w in botocore's regexes means [A-Za-z0-9_]


def _real(regions: dict | list | None, regex: re.Pattern[str]) -> frozenset[str]:
    return frozenset(r for r in regions or () if isinstance(r, str) and regex.match(r))


@functools.cache
def partitions() -> tuple[Partition, ...]:
    """Every partition of partitions.json (or of endpoints.json, where that is missing)."""
    data = _load("partitions.json")
    if data is not None:
        found = []
        for p in data.get("partitions", []):
            regex = _regex(p["regionRegex"])
            found.append(Partition(p["id"], regex, p.get("outputs", {}).get("dnsSuffix", ""),
                                   _real(p.get("regions"), regex)))
        if found:
            return tuple(found)
    return _endpoints_partitions()


@functools.cache
def _endpoints_partitions() -> tuple[Partition, ...]:
    data = _load("endpoints.json") or {}
    found = []
    for p in data.get("partitions", []):
        regex = _regex(p.get("regionRegex", "^$"))
        found.append(Partition(p["partition"], regex, p.get("dnsSuffix", ""),
                               _real(p.get("regions"), regex)))
    return tuple(found)


def _listing(region: str) -> Partition | None:
    for p in partitions():
        if region in p.regions:
            return p
    for p in _endpoints_partitions():  # only for a region partitions.json does not list
        if region in p.regions:
            return next((q for q in partitions() if q.id == p.id), p)
    return None


def is_known(region: str) -> bool:
    """True when botocore's data lists `region` as a region of some partition."""
    return _listing(region) is not None


def partition(region: str) -> Partition | None:
    """The partition of `region`: the one listing it, else the one whose regex matches."""
    listed = _listing(region)
    if listed is not None:
        return listed
    return next((p for p in partitions() if p.region_regex.match(region)), None)


def partition_of(region: str) -> str:
    """The ARN partition of `region` (`aws` for a region no partition claims)."""
    found = partition(region)
    return found.id if found else "aws"


def dns_suffix_of(region: str) -> str:
    found = partition(region)
    return found.dns_suffix if found and found.dns_suffix else "amazonaws.com"


def known_regions() -> list[str]:
    return sorted({r for p in (*partitions(), *_endpoints_partitions()) for r in p.regions})


def partition_ids() -> list[str]:
    return [p.id for p in partitions()]


def suggest(region: str) -> list[str]:
    """The known regions closest to a misspelt one (difflib): the best, and any as close."""
    import difflib

    wanted = region.strip().lower()
    scored = sorted(((difflib.SequenceMatcher(None, wanted, r).ratio(), r)
                     for r in known_regions()), key=lambda s: (-s[0], s[1]))
    if not scored or scored[0][0] < 0.75:
        return []
    return [r for score, r in scored[:3] if score == scored[0][0]]
