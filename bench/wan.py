"""6. and 7.: what users feel on a real network, and IAM's propagation delay.

6. Every command again, but through the latency proxy (wanproxy.py): once with
   no latency and once with `--latency` (default 60 ms) per request, samples
   interleaved (the order alternates). Rounds = (median at the latency − median
   at 0) ÷ latency: the request rounds the command waited for one after another,
   as the issue defines them. The proxy also gives, per sample, the longest
   chain of requests each sent after the previous one was answered, and how many
   connections the command opened. The AWS CLI baseline runs under the same
   proxy in the same run.
7. Cold `up` against a sandbox that refuses new roles for `--propagation`
   seconds (`ecspipe sandbox --role-propagation`, default 8 s), at 0 and at the
   latency, with the sandbox's count of refused CreateProject / CreatePipeline
   requests (one wait for both roles, or one per role), and the baseline.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common import BENCH, CONFIG, WORK, progress
from measure import Measurement, Sample
from processes import Sandbox, run
from wanproxy import LatencyProxy

if TYPE_CHECKING:
    from bench import Bench

# (key, label, ecspipe arguments, untimed setup)
COMMANDS = (
    ("cold", "up, empty account (cold)", ("up",), "reset"),
    ("noop", "up, nothing to change (no-op)", ("up",), "reset, up --wait-connection"),
    ("plan", "plan (nothing to change)", ("plan",), "reset, up --wait-connection"),
    ("status", "status (pipeline just created)", ("status",), "reset, up --wait-connection"),
    ("release", "release (start only)", ("release",), "reset, up --wait-connection"),
    ("down", "down --yes", ("down", "--yes"), "reset, up"),
)
BASELINES = (("base_cold", "baseline: AWS CLI script, cold"),
             ("base_noop", "baseline: AWS CLI script, no-op"))
# Operations that wait for a new role (the sandbox refuses them while it propagates).
WAITS_FOR_ROLE = ("CreateProject", "CreatePipeline")


def key(name: str, latency: float) -> str:
    return f"wan:{name}:{'L' if latency else '0'}"


def prop_key(name: str, latency: float) -> str:
    return f"prop:{name}:{'L' if latency else '0'}"


@dataclass
class Row:
    """One command's line of the WAN table."""

    label: str
    zero: Measurement
    slow: Measurement
    latency: float

    @property
    def extra(self) -> float:
        return self.slow.median - self.zero.median

    @property
    def rounds(self) -> float:
        """Extra time ÷ latency, per sample pair (taken minutes apart at most), median."""
        return statistics.median(self.pair_rounds())

    def pair_rounds(self) -> list[float]:
        return [(s.seconds - z.seconds) / self.latency
                for z, s in zip(self.zero.samples, self.slow.samples, strict=False)]

    @property
    def chain(self) -> int:
        return round(statistics.median(len(s.chain) for s in self.slow.samples))

    def typical_chain(self) -> Sample:
        """The sample at the latency whose chain is the median one."""
        ordered = sorted(self.slow.samples, key=lambda s: len(s.chain))
        return ordered[len(ordered) // 2]

    @property
    def held(self) -> float:
        """How long the proxy held a request at the latency (median): the latency plus any
        wait of its thread for a CPU."""
        values = [p.held for s in self.slow.samples for p in s.passed]
        return statistics.median(values) if values else self.latency

    @property
    def connections(self) -> int:
        return max(s.connections for s in self.slow.samples)


def chain_text(sample: Sample) -> str:
    """The chain of a sample, runs of one operation folded: `A > B ×6 > C`."""
    parts: list[str] = []
    counts: list[int] = []
    for request in sample.chain:
        if parts and parts[-1] == request.operation:
            counts[-1] += 1
        else:
            parts.append(request.operation)
            counts.append(1)
    return " > ".join(p + (f" ×{n}" if n > 1 else "") for p, n in zip(parts, counts, strict=True))


class Wan:
    """Sections 6 and 7 of one bench run."""

    def __init__(self, bench: Bench, latency: float, propagation: float, samples: int,
                 baseline_samples: int) -> None:
        self.b = bench
        self.latency = latency
        self.propagation = propagation
        self.samples = samples
        self.baseline_samples = baseline_samples
        self.proxy: LatencyProxy | None = None
        self.prop_refused: Counter[str] = Counter()

    # -- helpers

    def env(self) -> dict[str, str]:
        assert self.proxy is not None
        return dict(self.b.env, AWS_ENDPOINT_URL=self.proxy.url)

    def measurement(self, k: str, label: str, command: str, setup: str) -> Measurement:
        self.b.m[k] = Measurement(label, command, setup)
        return self.b.m[k]

    def timed(self, measurement: Measurement, argv: Sequence[str], latency: float,
              env: dict[str, str] | None = None) -> Sample:
        """Time a command through the proxy at `latency`; keep what the sandbox and the
        proxy saw of it."""
        assert self.proxy is not None
        self.proxy.latency = latency
        self.b.sandbox.clear_log()
        self.proxy.take()
        seconds = run(argv, env or self.env(), measurement.label)
        passed, connections = self.proxy.take()
        sample = measurement.add(Sample(seconds, self.b.sandbox.requests(), passed, connections))
        progress(f"  {measurement.label} #{len(measurement.samples)}: "
                 f"{seconds:.3f} s, {len(passed)} requests, chain {len(sample.chain)}, "
                 f"{connections} connections")
        return sample

    def start_proxy(self, sandbox: Sandbox) -> None:
        self.proxy = LatencyProxy(sandbox.url)
        self.proxy.start()
        progress(f"latency proxy {self.proxy.url} -> {sandbox.url}")

    def stop_proxy(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def orders(self, i: int) -> tuple[float, float]:
        return (0.0, self.latency) if i % 2 == 0 else (self.latency, 0.0)

    # -- 6. the commands at 0 and at the latency

    def bench_commands(self) -> None:
        b = self.b
        progress(f"6. WAN: every command at 0 and at {self.latency * 1000:.0f} ms "
                 f"({self.samples} samples each), through the latency proxy")
        m = {(name, lat): self.measurement(key(name, lat), label, f"ecspipe {' '.join(args)}",
                                           setup)
             for name, label, args, setup in COMMANDS for lat in (0.0, self.latency)}
        args = {name: list(a) for name, _, a, _ in COMMANDS}
        config = ["-c", str(CONFIG)]
        for i in range(self.samples):
            progress(f"WAN sample {i + 1}/{self.samples}")
            for lat in self.orders(i):
                b.sandbox.reset()
                self.timed(m["cold", lat], b.ecspipe_cmd(*args["cold"], *config), lat)
            # noop, plan and status change nothing: one state for all six. The pipeline is
            # made with the connection AVAILABLE, so no later `up` saves it again (the
            # webhook re-save of resources/pipeline.py).
            b.sandbox.reset()
            b.up(CONFIG, "--wait-connection")
            for name in ("noop", "plan", "status"):
                for lat in self.orders(i):
                    self.timed(m[name, lat], b.ecspipe_cmd(*args[name], *config), lat)
            for lat in self.orders(i):
                b.sandbox.reset()
                b.up()
                self.timed(m["down", lat], b.ecspipe_cmd(*args["down"], *config), lat)
            b.sandbox.reset()
            b.up(CONFIG, "--wait-connection")
            for lat in self.orders(i):
                self.timed(m["release", lat], b.ecspipe_cmd(*args["release"], *config), lat)

    def bench_baseline(self, prefix: str = "wan", latencies: Sequence[float] = ()) -> None:
        """The AWS CLI script through the proxy, cold then no-op, at each latency."""
        b = self.b
        m = {}
        for lat in latencies:
            ms = f"{lat * 1000:.0f} ms"
            for name, label in BASELINES:
                m[name, lat] = self.measurement(f"{prefix}:{name}:{'L' if lat else '0'}",
                                                f"{label} @ {ms}",
                                                "bash bench/baseline_awscli.sh",
                                                "reset, baseline_docs.py" + (
                                                    ", cold run" if name == "base_noop" else ""))
        for i in range(self.baseline_samples):
            for lat in latencies if i % 2 == 0 else tuple(reversed(latencies)):
                b.sandbox.reset()
                docs = WORK / f"{prefix}-baseline-docs-{'L' if lat else '0'}-{i + 1}"
                run([sys.executable, str(BENCH / "baseline_docs.py"), str(CONFIG), str(docs),
                     "--endpoint-url", b.sandbox.url], b.env, "setup: baseline_docs.py")
                env = dict(self.env(), AWS=str(b.o.aws))
                script = ["bash", str(BENCH / "baseline_awscli.sh"), str(docs)]
                self.timed(m["base_cold", lat], script, lat, env)
                self.timed(m["base_noop", lat], script, lat, env)

    # -- 7. cold up while new roles propagate

    def bench_propagation(self) -> None:
        """Cold `up` against a sandbox started with --role-propagation."""
        b = self.b
        progress(f"7. cold up with {self.propagation:g} s of simulated IAM propagation, at 0 "
                 f"and at {self.latency * 1000:.0f} ms")
        for lat in (0.0, self.latency):
            self.measurement(prop_key("cold", lat), "up, empty account (cold), roles propagate",
                             "ecspipe up", "reset")
        for i in range(self.samples):
            for lat in self.orders(i):
                b.sandbox.reset()
                sample = self.timed(b.m[prop_key("cold", lat)],
                                    b.ecspipe_cmd("up", "-c", str(CONFIG)), lat)
                for operation in WAITS_FOR_ROLE:
                    self.prop_refused[operation] = max(self.prop_refused[operation],
                                                       sample.refused(operation))
        self.bench_baseline("prop", (self.latency,))

    # -- the rows

    def rows(self, prefix: str = "wan") -> list[tuple[str, Row]]:
        """The table's rows: ecspipe's commands, then the baseline (when measured)."""
        labels = [(name, label) for name, label, _, _ in COMMANDS] + list(BASELINES)
        return [(name, Row(label, self.b.m[f"{prefix}:{name}:0"],
                           self.b.m[f"{prefix}:{name}:L"], self.latency))
                for name, label in labels
                if all(self.b.m.get(f"{prefix}:{name}:{x}") and self.b.m[f"{prefix}:{name}:{x}"].samples
                       for x in "0L")]

    def text_summary(self) -> str:
        """The WAN figures as plain lines (a partial run prints these)."""
        lines = []
        for _, row in self.rows():
            lines.append(f"{row.label:<32} {row.zero.median:6.3f} s  {row.slow.median:6.3f} s  "
                         f"rounds {row.rounds:5.1f}  chain {row.chain:3d}  "
                         f"requests {row.slow.requests:3d}  connections {row.connections:3d}")
            lines.append(f"    {chain_text(row.typical_chain())}")
        for k in (prop_key("cold", 0.0), prop_key("cold", self.latency)):
            if k in self.b.m:
                m = self.b.m[k]
                lines.append(f"{k:<32} {m.median:6.3f} s  refused {dict(self.prop_refused)}")
        return "\n".join(lines)
