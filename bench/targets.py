"""The bench's targets: each compares a measurement with its goal and, when missed,
says by how much and what the measurements say about why."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from common import CONFIG, WORK, fmt_s, pct_over
from measure import RESOURCES, Measurement, Target, ops_text, per_resource
from wan import WAITS_FOR_ROLE, Row, chain_text, prop_key

if TYPE_CHECKING:
    from bench import Bench


def targets(b: Bench) -> list[Target]:
    m = b.m
    targets = [
        time_target(b, m["help"], 0.15, ["--help"]),
        time_target(b, m["validate"], 0.3, ["validate", "-c", str(CONFIG)]),
        ratio_target(b, "cold `up` ÷ baseline cold", m["cold"], m["base_cold"], 8),
        ratio_target(b, "no-op `up` ÷ baseline no-op", m["noop"], m["base_noop"], 10),
        noop_writes_target(m["noop"]),
        reads_target(m["noop"]),
        status_target(m["status"]),
        status_target(m["status_run"]),
    ]
    if 1 in b.scaling and 20 in b.scaling:
        targets.append(scaling_target(b.scaling[1][0], b.scaling[20][0]))
    rows = dict(b.wan.rows())
    for name, limit in WAN_ROUNDS:
        if name in rows:
            targets.append(rounds_target(rows[name], limit, WHY_ROUNDS.get(name, "")))
    if prop_key("cold", b.wan.latency) in m and "cold" in rows:
        targets.append(propagation_target(b, m[prop_key("cold", b.wan.latency)], rows["cold"]))
        targets.append(one_wait_target(b))
    return targets


# The issue's round targets (issue 11): status is issue 12's to meet (status.py).
WAN_ROUNDS = (("cold", 8), ("noop", 3), ("plan", 3), ("status", 2))
WHY_ROUNDS = {
    "status": "status.py reads one thing after another (issue 12 rewrites it, with this "
              "target)",
}


def rounds_target(row: Row, limit: int, known: str = "") -> Target:
    ms = f"{row.latency * 1000:.0f} ms"
    target = Target(f"{row.label}: rounds at {ms}", f"{row.rounds:.1f} (chain {row.chain})",
                    f"≤ {limit}", row.rounds <= limit + 0.5)  # a round is ±0.5 of noise
    if not target.ok:
        target.by = f"{row.rounds - limit:.1f} rounds ({fmt_s(row.extra - limit * row.latency)})"
        target.why = (known + "; " if known else "") + (
            f"its requests one after another: {chain_text(row.typical_chain())}")
    return target


def propagation_target(b: Bench, cold: Measurement, row: Row) -> Target:
    """Cold `up` at the latency with propagation, over cold `up` at 0 without: at most the
    propagation plus 8 rounds."""
    wan = b.wan
    extra = cold.median - row.zero.median
    limit = wan.propagation + 8 * wan.latency
    target = Target(f"cold `up` with {wan.propagation:g} s propagation at "
                    f"{wan.latency * 1000:.0f} ms: extra time", f"+{fmt_s(extra)}",
                    f"≤ {wan.propagation:g} s + 8 × {wan.latency * 1000:.0f} ms = "
                    f"{fmt_s(limit)}", extra <= limit)
    if not target.ok:
        target.by = f"+{fmt_s(extra - limit)}"
        target.why = (f"the wait for the role ends at the first retry after it has propagated: "
                      f"ecspipe's retries (retry.py) are that far apart; the rounds of cold "
                      f"`up` itself are {row.rounds:.1f}")
    return target


def one_wait_target(b: Bench) -> Target:
    """Both roles propagate during one wait: only the first call that needs a role is
    refused, never the second one."""
    refused = [op for op in WAITS_FOR_ROLE if b.wan.prop_refused[op]]
    text = ", ".join(f"{op} {b.wan.prop_refused[op]}×" for op in WAITS_FOR_ROLE)
    target = Target("IAM propagation waits in cold `up` (calls refused)",
                    f"{len(refused)} ({text})", "≤ 1 (one wait for both roles)",
                    len(refused) <= 1)
    if not target.ok:
        target.by = f"{len(refused) - 1} more"
        target.why = "the pipeline role was created too late to propagate during the project's wait"
    return target

def time_target(b: Bench, measurement: Measurement, limit: float, args: list[str]) -> Target:
    target = Target(f"`{measurement.command}` median", fmt_s(measurement.median),
                    f"< {fmt_s(limit)}", measurement.median < limit)
    if not target.ok:
        floor = b.m["python"].median
        target.by = f"+{fmt_s(measurement.median - limit)} ({pct_over(measurement.median, limit)})"
        target.why = (f"the Python interpreter alone (`python -c pass`, same venv) takes "
                      f"{fmt_s(floor)} in this run, importing click "
                      f"{fmt_s(b.m['click_floor'].median)}, and click, PyYAML and "
                      f"pydantic with a one-field model (the stack's floor for "
                      f"`validate`) {fmt_s(b.m['stack_floor'].median)}; the slowest "
                      f"top-level imports of the command (`python -X importtime`, one "
                      f"untimed run): " + slow_imports(b, args))
    return target

def ratio_target(b: Bench, name: str, ours: Measurement, base: Measurement,
                 fraction: int) -> Target:
    ratio = ours.median / base.median
    target = Target(name, f"{ratio:.4f} (1/{1 / ratio:.1f})", f"≤ 1/{fraction}",
                    ratio <= 1 / fraction)
    if not target.ok:
        allowed = base.median / fraction
        target.by = (f"{pct_over(ratio, 1 / fraction)}: {fmt_s(ours.median)} where this "
                     f"baseline allows {fmt_s(allowed)} (+{fmt_s(ours.median - allowed)})")
        target.why = (f"ecspipe's start-up and config loading alone (`validate`) take "
                      f"{fmt_s(b.m['validate'].median)} of it, the rest is making clients "
                      f"and {ours.requests} requests; the baseline's {base.requests} "
                      f"requests cost one AWS CLI process each "
                      f"(`aws --version` alone: {fmt_s(b.m['aws_version'].median)})")
    return target

def noop_writes_target(noop: Measurement) -> Target:
    target = Target("no-op `up`: writes", str(noop.writes), "0", noop.writes == 0)
    if not target.ok:
        target.by = f"{noop.writes} writes"
        target.why = "it sent " + ops_text(noop.operations(), "write")
    return target

def reads_target(noop: Measurement) -> Target:
    per = noop.reads / RESOURCES
    target = Target("no-op `up`: reads per resource",
                    f"{per:.2f} ({noop.reads} reads ÷ {RESOURCES})", "≤ 2", per <= 2)
    if not target.ok:
        rows = per_resource(noop)
        target.by = f"{noop.reads - 2 * RESOURCES} reads over {2 * RESOURCES}"
        parts = [f"{resource} {reads} ({ops})" for resource, count, reads, ratio, ops in rows
                 if count and ratio > 2]
        parts += [f"{resource} {reads} ({ops}), counted although it is no resource"
                  for resource, count, reads, _, ops in rows if not count]
        target.why = "more than 2 per resource: " + "; ".join(parts)
        if any(r[0] == "artifact bucket" and r[3] > 2 for r in rows):
            target.why += (". S3 has no call that returns a bucket's configuration: each "
                           "setting ecspipe manages (public access block, ownership, "
                           "encryption, versioning, lifecycle, policy) is its own GET, "
                           "besides GetBucketTagging for existence and ownership")
    return target

def status_target(status: Measurement) -> Target:
    target = Target(f"`{status.label}`: requests", str(status.requests), "≤ 10",
                    status.requests <= 10)
    if not target.ok:
        target.by = f"{status.requests - 10} over"
        target.why = "it sent " + ops_text(status.operations())
    return target

def scaling_target(one: Measurement, twenty: Measurement) -> Target:
    ratio = twenty.median / one.median
    target = Target("cold `up`, 20 pipelines ÷ 1 pipeline", f"{ratio:.1f}×", "≤ 6×",
                    ratio <= 6)
    if not target.ok:
        target.by = (f"{pct_over(ratio, 6)}: {fmt_s(twenty.median)} where 6× one pipeline "
                     f"is {fmt_s(6 * one.median)}")
        target.why = (f"requests grow {one.requests} → {twenty.requests} "
                      f"({twenty.requests / max(one.requests, 1):.1f}×), all in one process "
                      "against one sandbox on this machine's cores")
    return target

def slow_imports(b: Bench, args: list[str]) -> str:
    """Top-level imports by cumulative time (`python -X importtime`), for a miss."""
    python = str(Path(b.ecspipe).parent / "python")
    script = Path(b.ecspipe).read_bytes()[:200].split(b"\n")[0]
    entry = [b.ecspipe] if b"python" in script else ["-m", "ecspipe"]
    done = subprocess.run([python, "-X", "importtime", *entry, *args],
                          env=b.env, cwd=WORK, capture_output=True, text=True)
    tops: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 1:
            tops.append((int(match.group(1)), match.group(3)))
    tops.sort(reverse=True)
    return ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in tops[:5]) or "unknown"
