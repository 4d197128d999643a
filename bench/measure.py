"""The bench's data: samples of a timed command, measurements of several, targets.

A Sample is one timed run of a command: its wall time, the requests the sandbox
logged meanwhile and, behind the latency proxy (wanproxy.py), when each request
passed the proxy. A Measurement is several samples of one command in one state.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common import fmt_s
from wanproxy import Passed, critical_path

# The resources `ecspipe up` manages for one pipeline: connection, ECR repository,
# artifact bucket, log group, two IAM roles, CodeBuild project, pipeline.
RESOURCES = 8
# Which resource a request is about, by its service; preflight is not a resource.
RESOURCE_OF_SERVICE = {
    "codeconnections": ("connection", 1),
    "codestar-connections": ("connection", 1),
    "ecr": ("ECR repository", 1),
    "s3": ("artifact bucket", 1),
    "logs": ("log group", 1),
    "iam": ("IAM roles", 2),
    "codebuild": ("CodeBuild project", 1),
    "codepipeline": ("pipeline", 1),
    "sts": ("preflight: account, ECS service", 0),
    "ecs": ("preflight: account, ECS service", 0),
}



@dataclass
class Sample:
    """One timed command: its wall time and the requests the sandbox logged meanwhile."""

    seconds: float
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Behind the latency proxy: what passed it, and how many connections were opened.
    passed: list[Passed] = field(default_factory=list)
    connections: int = 0

    @property
    def chain(self) -> list[Passed]:
        """The requests waited for one after another (wanproxy.critical_path)."""
        return critical_path(self.passed)

    def refused(self, operation: str) -> int:
        """How many `operation` requests the sandbox answered with a 4xx."""
        return sum(1 for r in self.requests
                   if r["operation"] == operation and 400 <= int(r.get("status") or 0) < 500)

    @property
    def reads(self) -> int:
        return sum(1 for r in self.requests if r["kind"] == "read")

    @property
    def writes(self) -> int:
        return sum(1 for r in self.requests if r["kind"] == "write")

    def operations(self) -> Counter[tuple[str, str, str]]:
        return Counter((r["service"], r["operation"], r["kind"]) for r in self.requests)


@dataclass
class Measurement:
    """Several samples of one command in one state; `counted`: it talks to the sandbox."""

    label: str
    command: str
    setup: str = ""
    counted: bool = True
    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    @property
    def times(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def low(self) -> float:
        return min(self.times)

    @property
    def high(self) -> float:
        return max(self.times)

    @property
    def reads(self) -> int:
        return max(s.reads for s in self.samples)

    @property
    def writes(self) -> int:
        return max(s.writes for s in self.samples)

    @property
    def requests(self) -> int:
        return self.reads + self.writes

    @property
    def requests_vary(self) -> bool:
        return len({frozenset(s.operations().items()) for s in self.samples}) > 1

    def varying_operations(self) -> list[tuple[str, list[int]]]:
        """The operations whose count differs between samples, with the count per sample."""
        per_sample = [s.operations() for s in self.samples]
        keys = sorted(set().union(*per_sample))
        counts = [(f"{service}:{op}", [ops[(service, op, kind)] for ops in per_sample])
                  for service, op, kind in keys]
        return [(name, n) for name, n in counts if len(set(n)) > 1]

    def operations(self) -> Counter[tuple[str, str, str]]:
        """The operations of the sample with the most requests (they are normally equal)."""
        return max(self.samples, key=lambda s: len(s.requests)).operations()

    def time_text(self) -> str:
        return f"{fmt_s(self.median)} ({fmt_s(self.low)}–{fmt_s(self.high)})"

    def requests_text(self) -> str:
        if not self.counted:
            return "—"
        text = f"{self.reads} R / {self.writes} W"
        if self.requests_vary:
            lows = (min(s.reads for s in self.samples), min(s.writes for s in self.samples))
            text += f" (varies; min {lows[0]} R / {lows[1]} W)"
        return text


@dataclass
class Target:
    measure: str
    result: str
    target: str
    ok: bool
    by: str = ""  # for a miss: by how much
    why: str = ""  # for a miss: what the measurements say about the cause




def ops_text(operations: Counter[tuple[str, str, str]], kind: str | None = None) -> str:
    parts = [f"{service}:{op}" + (f" ×{n}" if n > 1 else "")
             for (service, op, k), n in sorted(operations.items()) if kind in (None, k)]
    return ", ".join(parts) or "none"


def per_resource(measurement: Measurement) -> list[tuple[str, int, int, float, str]]:
    """(resource, how many, reads, reads per resource, operations) of a measurement."""
    groups: dict[str, tuple[int, Counter[tuple[str, str, str]]]] = {}
    for (service, op, kind), n in measurement.operations().items():
        if kind != "read":
            continue
        resource, count = RESOURCE_OF_SERVICE.get(service, (f"other ({service})", 0))
        groups.setdefault(resource, (count, Counter()))[1][(service, op, kind)] += n
    rows = []
    for resource, (count, ops) in groups.items():
        reads = sum(ops.values())
        rows.append((resource, count, reads, reads / count if count else 0.0, ops_text(ops)))
    rows.sort(key=lambda row: (row[1] == 0, -row[3]))
    return rows
