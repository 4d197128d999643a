"""bench/RESULTS.md: the markdown report of one bench run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from common import fmt_s
from measure import RESOURCES, Target, ops_text, per_resource
from wan import WAITS_FOR_ROLE, chain_text, prop_key

if TYPE_CHECKING:
    from bench import Bench



class Report:
    def __init__(self, bench: Bench, targets: list[Target]) -> None:
        self.b = bench
        self.m = bench.m
        self.targets = targets

    def markdown(self) -> str:
        sections = [self.header(), self.method(), self.target_table(), self.startup(),
                    self.commands(), self.requests(), self.reads_per_resource(),
                    self.scaling(), self.baseline(), self.wan(), self.propagation(),
                    self.misses()]
        return "\n\n".join(s.rstrip() for s in sections if s) + "\n"

    @staticmethod
    def table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)

    def header(self) -> str:
        c, o = self.b.context, self.b.o
        mode = " (**--quick**: a smoke test, not results)" if o.quick else ""
        rows = [
            ("date", c["date"]), ("CPU", c["cpu"]), ("cores", c["cores"]),
            ("memory", c["memory"]), ("kernel", c["kernel"]),
            ("load average (1/5/15 min) before / after",
             f"{c['load_before']} / {c['load_after']}"),
            ("Python", c["python"]), ("ecspipe", f"{c['ecspipe']} (commit {c['commit']})"),
            ("botocore / boto3 (ecspipe's venv)", f"{c['botocore']} / {c['boto3']}"),
            ("moto (the sandbox)", c["moto"]), ("AWS CLI (baseline)", c["awscli"]),
            ("hyperfine", c["hyperfine"]),
            ("samples", f"{o.runs} per command, {o.startup_runs} per start-up measure, "
                        f"{o.baseline_runs} for the baseline"),
            ("bench duration", c["duration"]),
        ]
        return (f"# ecspipe benchmark results{mode}\n\n"
                "Written by `make bench` (bench/bench.py); regenerate rather than edit. "
                "Times are wall-clock medians with min–max over the samples.\n\n"
                "## Machine and versions\n\n" + self.table(("", ""), rows))

    def method(self) -> str:
        return """## Method

- The sandbox (`ecspipe sandbox`, moto plus ecspipe's extensions) runs on 127.0.0.1 on the
  same machine, started once by the bench and stopped at the end. It shares the CPU with the
  command being measured, for ecspipe and the baseline alike.
- Every sample starts from `POST /_ecspipe/reset` (all state wiped, the demo service
  re-seeded) plus the untimed setup its state needs (e.g. an `up` before `plan`, `status`,
  `down`); the request log is cleared just before the timed command and read right after.
  The no-op `up` runs right after the timed cold `up` of the same sample.
- Each timed command is a new process, run as a user runs it: the console script
  `.venv/bin/ecspipe` (or `bash bench/baseline_awscli.sh` with the AWS CLI v1 from
  `.venv-awscli`), wall time by `time.perf_counter()` around `subprocess.run`, output
  captured (not a terminal), exit code checked: a failure stops the bench.
- Environment of every measured process: fake credentials, `AWS_DEFAULT_REGION=us-east-1`,
  `AWS_ENDPOINT_URL` = the sandbox, `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`
  = empty files, no `AWS_PROFILE` (every `AWS_*`, `ECSPIPE_*` and `PYTHON*` variable of the
  calling shell is dropped, so `PYTHONDONTWRITEBYTECODE` too).
- Warm, as for a user after their first run: ecspipe's bytecode (`python -m compileall -q
  src/ecspipe` once, as pip does when it installs a tool; the dependencies were compiled by
  pip), the model cache in `ECSPIPE_CACHE_DIR` (a directory of the bench's own, filled by
  one untimed warm-up `up`), and the OS file cache. Not warm: nothing is kept between
  commands in memory; each sample's sandbox state is fresh. The line "first run on a
  machine (empty cache)" gives every sample a new empty `ECSPIPE_CACHE_DIR`.
- Requests: counted at the sandbox's request log (`GET /_ecspipe/requests`); R = reads
  (Get/Describe/List/BatchGet/Head, S3 GET/HEAD), W = writes. They are the same in every
  sample unless marked "varies" (then the maximum is shown).
- The baseline (`bench/baseline_awscli.sh`): the same resources from the same documents
  (`bench/baseline_docs.py`, untimed), one AWS CLI process per request, describe-or-create;
  its second run is its no-op. Its samples are interleaved with ecspipe's cold and no-op
  `up` samples, so each ratio compares figures taken minutes apart on the same machine.
- The no-op target is read as like for like: ecspipe's no-op `up` against the baseline's
  no-op run (the baseline's cold run would be an easier bar).
- WAN (sections 6 and 7): the measured command talks to a latency proxy of the bench's own
  (`bench/wanproxy.py`, on 127.0.0.1, in the bench's process) that holds every request for
  the latency before forwarding it to the sandbox, so each request costs one round trip of
  a real network; opening a connection costs nothing extra (no TLS on loopback), and the
  proxy counts the connections each command opens. Each command runs through the proxy at 0
  and at the latency, alternately, in the same sandbox state. **Rounds** = (time at the
  latency − time at 0) ÷ latency, per pair of samples, median (the issue's definition: the
  request rounds the command waited for one after another; CPU work that overlaps a wait
  does not count). **Chain** = the proxy's own count: the longest sequence of requests each
  of which arrived after the previous one was answered (CPU work between two requests makes
  a link too, so it can exceed the rounds). Setup commands go straight to the sandbox.
- Section 7 restarts the sandbox as `ecspipe sandbox --role-propagation N`: a role created
  less than N s before is refused by CodeBuild (CreateProject, UpdateProject, StartBuild) and
  CodePipeline (CreatePipeline, UpdatePipeline) with AWS's errors, which ecspipe and the
  baseline retry (the baseline every 5 s)."""

    def target_table(self) -> str:
        rows = [(t.measure, t.result, t.target, "ok" if t.ok else "**MISS**", t.by)
                for t in self.targets]
        return "## Targets\n\n" + self.table(("measure", "result", "target", "", "miss by"),
                                             rows)

    def startup(self) -> str:
        rows = [(m.label, m.time_text(), len(m.samples)) for m in
                (self.m[k] for k in ("help", "validate", "python", "click_floor",
                                     "stack_floor", "aws_version"))]
        return ("## 1. CLI start-up\n\nNo AWS requests. The interpreter, the stack's imports "
                "(click; click + PyYAML + pydantic with one model) and the AWS CLI's "
                "start-up are context, not targets.\n\n"
                + self.table(("command", "median (min–max)", "runs"), rows))

    def commands(self) -> str:
        keys = ("cold", "noop", "first", "plan", "status", "status_run", "down")
        rows = [(m.label, f"`{m.command}`", m.setup, m.time_text(), len(m.samples),
                 m.requests_text()) for m in (self.m[k] for k in keys)]
        return ("## 2. Commands against the sandbox (config.example.yaml)\n\n"
                "The seeded ECR repository `demo-app` exists without ecspipe's tags, so `up` "
                "uses it as is (7 resources created, 1 used), as does the baseline.\n\n"
                + self.table(("measure", "command", "untimed setup", "median (min–max)",
                              "samples", "requests"), rows))

    def requests(self) -> str:
        keys = ("cold", "noop", "plan", "status", "status_run", "down", "base_cold",
                "base_noop")
        rows = []
        for k in keys:
            m = self.m[k]
            ops = m.operations()
            rows.append((m.label, m.reads, m.writes,
                         ops_text(ops, "read"), ops_text(ops, "write")))
        lines = ["## 3. Requests per command (at the sandbox's request log)", "",
                 self.table(("measure", "reads", "writes", "read operations",
                             "write operations"), rows)]
        every = [*self.m.values()] + [m for pair in self.b.scaling.values() for m in pair]
        varying = [m for m in every if m.counted and m.requests_vary]
        if varying:
            lines += ["", "**Requests varied between samples** (counts per sample, in order):"]
            lines += [f"- {m.label}: " + "; ".join(f"{name} {', '.join(map(str, n))}"
                                                   for name, n in m.varying_operations())
                      for m in varying]
        return "\n".join(lines)

    def reads_per_resource(self) -> str:
        noop = self.m["noop"]
        rows = [(resource, count or "—", reads, f"{per:.1f}" if count else "—",
                 "yes" if count and per > 2 else "", ops)
                for resource, count, reads, per, ops in per_resource(noop)]
        rows.append(("**total**", RESOURCES, noop.reads, f"{noop.reads / RESOURCES:.2f}", "", ""))
        return ("### Reads of the no-op `up`, per resource\n\n"
                "Preflight (the account, and the ECS service the pipeline deploys to) is read "
                "once per pipeline and belongs to no resource; the total divides every read, "
                "preflight included, by the 8 resources.\n\n"
                + self.table(("resource", "resources", "reads", "per resource", "> 2",
                              "operations"), rows))

    def scaling(self) -> str:
        if not self.b.scaling:
            return ""
        rows = []
        for n, (cold, noop) in sorted(self.b.scaling.items()):
            rows.append((n, cold.time_text(), cold.requests_text(), noop.time_text(),
                         noop.requests_text(), f"{noop.reads / (n * RESOURCES):.2f}",
                         len(cold.samples)))
        lines = ["## 4. Scaling: one `ecspipe up -c DIR` over N configs", "",
                 "N configs shaped like config.example.yaml (`bench-01`… for ECS services "
                 "`bench-svc-01`…, created untimed in `demo-cluster` with the seeded task "
                 "definition; the ECR repository defaults to the name, so ecspipe creates it: "
                 "8 resources per pipeline).", "",
                 self.table(("N", "cold up", "cold requests", "no-op up", "no-op requests",
                             "no-op reads per resource", "samples"), rows)]
        if 1 in self.b.scaling:
            one = self.b.scaling[1]
            ratios = [f"N={n}: cold {c.median / one[0].median:.1f}×, "
                      f"no-op {p.median / one[1].median:.1f}×"
                      for n, (c, p) in sorted(self.b.scaling.items()) if n != 1]
            lines += ["", "Time relative to N=1 (medians): " + "; ".join(ratios) + "."]
        return "\n".join(lines)

    def baseline(self) -> str:
        m = self.m
        rows = []
        for label, ours, base, limit in (("cold", m["cold"], m["base_cold"], "≤ 1/8"),
                                         ("no-op", m["noop"], m["base_noop"], "≤ 1/10")):
            pairs = [a.seconds / b.seconds for a, b in zip(ours.samples, base.samples, strict=False)]
            rows.append((label, ours.time_text(), base.time_text(),
                         f"{ours.median / base.median:.3f} (1/{base.median / ours.median:.1f})",
                         f"{min(pairs):.3f}–{max(pairs):.3f}", limit))
        cross = m["noop"].median / m["base_cold"].median
        return ("## 5. Baseline: the same resources by a bash script of AWS CLI calls\n\n"
                + self.table(("up", "ecspipe", "baseline (AWS CLI)", "ratio of medians",
                              "ratio per sample pair (min–max)", "target"), rows)
                + f"\n\nThe baseline sends {m['base_cold'].requests} requests cold and "
                f"{m['base_noop'].requests} on its no-op run, one AWS CLI process each "
                f"(`aws --version` alone: {fmt_s(m['aws_version'].median)}). ecspipe's no-op "
                f"`up` against the baseline's cold run: {cross:.3f} (1/{1 / cross:.1f}).")

    def wan(self) -> str:
        wan = self.b.wan
        rows = wan.rows()
        if not rows:
            return ""
        ms = f"{wan.latency * 1000:.0f} ms"
        table = []
        for name, r in rows:
            pairs = r.pair_rounds()
            rounds = f"{r.rounds:.1f} ({min(pairs):.1f}–{max(pairs):.1f})"
            if name.startswith("base_"):
                # One AWS CLI process per request, one after another: every request is a
                # round; its run-to-run spread (seconds) hides 60 ms per request.
                rounds = f"{r.chain} (one process per request; by time: {r.rounds:.0f})"
            table.append((r.label, r.zero.time_text(), r.slow.time_text(), fmt_s(r.extra),
                          rounds, r.chain, r.slow.requests, r.connections,
                          len(r.slow.samples)))
        chains = [f"- {r.label}: {chain_text(r.typical_chain())}" for _, r in rows]
        held = statistics.median(p.held for _, r in rows for s in r.slow.samples
                                 for p in s.passed)
        load = self.b.context.get("load_wan", "")
        return (f"## 6. WAN: every command with {ms} per request (latency proxy)\n\n"
                + self.table(("command", "at 0 ms", f"at {ms}", "extra (medians)",
                              f"rounds = extra ÷ {ms} (per pair: median, min–max)",
                              "chain (proxy)", "requests", "connections opened", "samples"),
                             table)
                + f"\n\nThe proxy held a request for {held * 1000:.0f} ms (median) at the "
                f"{ms} setting: {ms} plus its thread's wait for a CPU"
                + (f"; load average during this section: {load}" if load else "")
                + ". On this shared 2-core machine, CPU waits also put requests that do not "
                "depend on each other one after another, which lengthens the chain; the "
                "rounds (time) count only what the latency added."
                + "\n\nThe chain of each command (its median sample at the latency; `×n`: n "
                "such requests one after another):\n\n" + "\n".join(chains))

    def propagation(self) -> str:
        wan, m = self.b.wan, self.m
        if prop_key("cold", 0.0) not in m:
            return ""
        ms = f"{wan.latency * 1000:.0f} ms"
        cold0 = m["wan:cold:0"].median if "wan:cold:0" in m else None
        rows = []
        for lat in (0.0, wan.latency):
            p = m[prop_key("cold", lat)]
            over = f"+{fmt_s(p.median - cold0)}" if cold0 is not None else "—"
            rows.append((f"ecspipe up, cold, at {lat * 1000:.0f} ms", p.time_text(), over,
                         p.requests, len(p.samples)))
        if "prop:base_cold:L" in m:
            base = m["prop:base_cold:L"]
            base0 = m["wan:base_cold:0"].median if "wan:base_cold:0" in m else None
            over = f"+{fmt_s(base.median - base0)}" if base0 is not None else "—"
            rows.append((f"baseline (AWS CLI script), cold, at {ms}", base.time_text(), over,
                         base.requests, len(base.samples)))
        refused = ", ".join(f"{op} {wan.prop_refused[op]}×" for op in WAITS_FOR_ROLE)
        return (f"## 7. Cold `up` while new roles propagate ({wan.propagation:g} s)\n\n"
                + self.table(("command", "median (min–max)",
                              "over cold `up` at 0 ms without propagation", "requests",
                              "samples"), rows)
                + f"\n\nRefused by the sandbox while a role was new (most in one ecspipe "
                f"sample): {refused}.")

    def misses(self) -> str:
        missed = [t for t in self.targets if not t.ok]
        if not missed:
            return "## Misses\n\nNone: every target is met in this run."
        lines = ["## Misses", ""]
        lines += [f"- **{t.measure}**: {t.result} against {t.target}, {t.by}. Why: {t.why}."
                  for t in missed]
        return "\n".join(lines)
