"""ecspipe's speed goals, measured side by side with an AWS CLI baseline (`make bench`).

    .venv/bin/python bench/bench.py --aws .venv-awscli/bin/aws [--runs N] [--quick] [--strict]
    make bench BENCH_ARGS=--quick     # the same through make: a short smoke test
    .venv/bin/python bench/bench.py --only wan [--latency 250]   # one section (development)

Starts the sandbox (`ecspipe sandbox`) on a free port of 127.0.0.1, measures,
stops it, and writes bench/RESULTS.md:

  1. CLI start-up: `ecspipe --help`, `ecspipe validate` (no AWS at all).
  2. `up` on an empty account (cold), `up` with nothing to change (no-op),
     `plan`, `status`, `down`; plus cold `up` with an empty model cache, as on
     the first run on a machine.
  3. The HTTP requests each of those sends, reads and writes, counted at the
     sandbox's request log (GET /_ecspipe/requests).
  4. Scaling: cold and no-op `ecspipe up -c DIR` over 1, 5 and 20 configs
     (one ECS service each), in one process.
  5. The baseline: bench/baseline_awscli.sh (one AWS CLI process per request)
     creating the same resources, cold and no-op, in the same run.
  6. WAN: cold and no-op `up`, `plan`, `status`, `release` (start only) and
     `down`, and the baseline, through a latency proxy at 0 and at --latency
     (default 60 ms) per request: rounds = extra time ÷ latency (wan.py).
  7. Cold `up` (and the baseline) against a sandbox that refuses a new role for
     --propagation seconds (default 8), as IAM propagation does on AWS.

Every timed command runs as a user runs it: the console script .venv/bin/ecspipe
in a new process, with fake credentials, empty AWS config files, and the
sandbox as AWS_ENDPOINT_URL. Every sample starts from POST /_ecspipe/reset (a
fresh sandbox, never a restart) plus the untimed setup it needs; the request
log is cleared just before the timed command and read just after it. A command
that fails is an error of the bench, never a figure.

The bench's modules: bench.py (this: options, the run, the measurements),
common.py (paths, names, errors, formatting), processes.py (the commands it
times and the sandbox process), measure.py (samples and measurements),
targets.py (each goal, met or missed and why), report.py (RESULTS.md),
machine.py (the report's machine facts), wanproxy.py (the latency proxy) and
wan.py (sections 6 and 7).

Exit code: 0 when RESULTS.md was written (1 with --strict if a target is
missed); 1 on a bench error; 130 on Ctrl-C. The sandbox is stopped in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine
from common import (
    BENCH,
    CLUSTER,
    CONFIG,
    DEFAULT_RESULTS,
    REGION,
    ROOT,
    SEEDED_SERVICE,
    TASK_FAMILY,
    WORK,
    BenchError,
    fmt_s,
    progress,
)
from measure import Measurement, Sample, Target
from processes import Sandbox, output_of, run
from report import Report
from targets import targets as all_targets
from wan import Wan


@dataclass
class Options:
    runs: int
    startup_runs: int
    baseline_runs: int
    scale: tuple[int, ...]
    aws: Path
    ecspipe: Path
    results: Path
    strict: bool
    quick: bool
    latency: float  # seconds per request behind the latency proxy (section 6)
    propagation: float  # seconds a new role is refused (section 7)
    wan_runs: int
    wan_baseline_runs: int
    only: str | None  # one section, for development (then RESULTS.md is not written)


class Bench:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.ecspipe = str(options.ecspipe)
        self.cache_dir = WORK / "cache"  # ECSPIPE_CACHE_DIR: warm, as after a user's first run
        self.endpoint = ""  # the sandbox's URL, once it runs
        self.env = self.measured_env(self.cache_dir)
        self.sandbox = Sandbox(options.ecspipe, self.sandbox_env(), WORK / "sandbox.log")
        self.m: dict[str, Measurement] = {}
        self.scaling: dict[int, tuple[Measurement, Measurement]] = {}
        self.context: dict[str, str] = {}
        self._ecs: Any = None
        self.wan = Wan(self, options.latency, options.propagation, options.wan_runs,
                       options.wan_baseline_runs)

    # -- environment

    @staticmethod
    def clean_env() -> dict[str, str]:
        """This process's environment without AWS_*, ECSPIPE_* and PYTHON* variables."""
        return {k: v for k, v in os.environ.items()
                if not k.startswith(("AWS_", "ECSPIPE_", "PYTHON"))}

    def sandbox_env(self) -> dict[str, str]:
        return self.clean_env()

    def measured_env(self, cache_dir: Path) -> dict[str, str]:
        env = self.clean_env()
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(WORK / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(WORK / "aws-credentials"),
            AWS_PAGER="",
            ECSPIPE_CACHE_DIR=str(cache_dir),
        )
        if self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        return env

    # -- helpers

    def ecspipe_cmd(self, *args: str) -> list[str]:
        return [self.ecspipe, *args]

    def timed(self, measurement: Measurement, argv: Sequence[str],
              env: dict[str, str] | None = None) -> Sample:
        """Clear the log, time the command, collect the requests it sent."""
        if measurement.counted:
            self.sandbox.clear_log()
        seconds = run(argv, env or self.env, measurement.label)
        requests = self.sandbox.requests() if measurement.counted else []
        sample = measurement.add(Sample(seconds, requests))
        n = len(measurement.samples)
        counts = f", {sample.reads} reads, {sample.writes} writes" if measurement.counted else ""
        progress(f"  {measurement.label} #{n}: {fmt_s(seconds)}{counts}")
        return sample

    def measurement(self, key: str, label: str, command: str, setup: str = "",
                    counted: bool = True) -> Measurement:
        self.m[key] = Measurement(label, command, setup, counted)
        return self.m[key]

    def up(self, config: Path | str = CONFIG, *extra: str) -> None:
        run(self.ecspipe_cmd("up", "-c", str(config), *extra), self.env, "setup: ecspipe up")

    # -- preparation

    def prepare(self) -> None:
        if WORK.exists():
            shutil.rmtree(WORK)
        WORK.mkdir()
        (WORK / "aws-config").write_text("")
        (WORK / "aws-credentials").write_text("")
        for tool in (self.o.ecspipe, self.o.aws):
            if not os.access(tool, os.X_OK):
                raise BenchError(f"{tool}: not found or not executable "
                                 "(`make bench` installs both)")
        progress("compiling ecspipe's bytecode (python -m compileall -q src/ecspipe), "
                 "as pip does for an installed tool")
        run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "ecspipe")],
            self.clean_env(), "compileall")
        self.collect_context()

    def collect_context(self) -> None:
        c = self.context
        c["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        c["cpu"] = machine.cpu_model()
        c["cores"] = f"{os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))})"
        c["memory"] = machine.mem_total()
        c["kernel"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
        c["load_before"] = machine.load_average()
        c["python"] = platform.python_version() + f" ({sys.executable})"
        c["ecspipe"] = output_of(self.ecspipe_cmd("--version"), self.clean_env())
        c["commit"] = machine.git_commit()
        c["source"] = machine.source_digest()
        c["botocore"] = machine.package_version("botocore")
        c["boto3"] = machine.package_version("boto3")
        c["moto"] = machine.package_version("moto")
        c["awscli"] = output_of([str(self.o.aws), "--version"], self.measured_env(self.cache_dir))
        c["hyperfine"] = "installed, not used" if shutil.which("hyperfine") else "not installed"

    def warm_up(self) -> None:
        """What a user has after their first run: the model cache, the OS file cache."""
        progress("warm-up (untimed): ecspipe --help, up, aws --version")
        run(self.ecspipe_cmd("--help"), self.env, "warm-up")
        self.sandbox.reset()
        self.up()
        self.sandbox.reset()
        run([str(self.o.aws), "--version"], self.env, "warm-up: aws --version")

    # -- 1. start-up

    def bench_startup(self) -> None:
        n = self.o.startup_runs
        progress(f"1. start-up ({n} runs each)")
        floor = self.measurement("python", "Python interpreter alone", "python -c pass",
                                 counted=False)
        helps = self.measurement("help", "ecspipe --help", "ecspipe --help", counted=False)
        validate = self.measurement("validate", "ecspipe validate",
                                    "ecspipe validate -c config.example.yaml", counted=False)
        aws = self.measurement("aws_version", "aws --version (AWS CLI start-up)",
                               "aws --version", counted=False)
        # Floors of the stack: what click alone, and click + pydantic + PyYAML with one
        # model, cost before ecspipe does anything (context for --help and validate).
        click_floor = self.measurement("click_floor", "python: import click",
                                       "python -c 'import click'", counted=False)
        stack_floor = self.measurement(
            "stack_floor", "python: import click, yaml, pydantic + one model",
            "python -c 'import click, yaml, pydantic; class M(pydantic.BaseModel): ...'",
            counted=False)
        python = str(Path(self.ecspipe).parent / "python")
        stack = ("import os; os.environ['PYDANTIC_DISABLE_PLUGINS'] = '__all__'; "
                 "import click, yaml, pydantic\n"
                 "class M(pydantic.BaseModel):\n    name: str\n"
                 "M(name='x'); os._exit(0)")
        for _ in range(n):
            self.timed(floor, [python, "-c", "pass"])
            self.timed(click_floor, [python, "-c", "import click, os; os._exit(0)"])
            self.timed(stack_floor, [python, "-c", stack])
            self.timed(helps, self.ecspipe_cmd("--help"))
            self.timed(validate, self.ecspipe_cmd("validate", "-c", str(CONFIG)))
            self.timed(aws, [str(self.o.aws), "--version"])

    # -- 2./3. commands against the sandbox, and 5. the baseline

    def bench_commands(self) -> None:
        runs, base_runs = self.o.runs, self.o.baseline_runs
        progress(f"2. commands ({runs} samples each) and 5. the AWS CLI baseline "
                 f"({base_runs} samples), interleaved")
        cold = self.measurement("cold", "up, empty account (cold)", "ecspipe up",
                                "reset")
        noop = self.measurement("noop", "up, nothing to change (no-op)", "ecspipe up",
                                "reset, cold up (the timed one), up --wait-connection")
        first = self.measurement("first", "up, cold, first run on a machine (empty cache)",
                                 "ecspipe up", "reset, ECSPIPE_CACHE_DIR a new empty dir")
        plan = self.measurement("plan", "plan (nothing to change)", "ecspipe plan",
                                "reset, up")
        status = self.measurement("status", "status (pipeline just created)",
                                  "ecspipe status", "reset, up")
        status_run = self.measurement("status_run", "status (after a release)",
                                      "ecspipe status",
                                      "reset, up --wait-connection, release --wait")
        down = self.measurement("down", "down --yes", "ecspipe down --yes", "reset, up")
        base_cold = self.measurement("base_cold", "baseline: AWS CLI script, cold",
                                     "bash bench/baseline_awscli.sh DOCS",
                                     "reset, baseline_docs.py")
        base_noop = self.measurement("base_noop", "baseline: AWS CLI script, no-op",
                                     "bash bench/baseline_awscli.sh DOCS",
                                     "reset, baseline_docs.py, cold run (the timed one)")
        config = ["-c", str(CONFIG)]
        for i in range(runs):
            progress(f"sample {i + 1}/{runs}")
            self.sandbox.reset()
            self.timed(cold, self.ecspipe_cmd("up", *config))
            # The cold up leaves the connection PENDING, so the next up re-saves the
            # pipeline once for its webhook (issue 10): that one is setup, not a no-op.
            self.up(CONFIG, "--wait-connection")
            self.timed(noop, self.ecspipe_cmd("up", *config))

            if i < base_runs:
                self.baseline_sample(base_cold, base_noop, i)

            self.sandbox.reset()
            empty = WORK / f"cache-empty-{i + 1}"
            self.timed(first, self.ecspipe_cmd("up", *config), self.measured_env(empty))

            for measurement, args in ((plan, ["plan"]), (status, ["status"]),
                                      (down, ["down", "--yes"])):
                self.sandbox.reset()
                self.up()
                self.timed(measurement, self.ecspipe_cmd(*args, *config))

            self.sandbox.reset()
            self.up(CONFIG, "--wait-connection")
            run(self.ecspipe_cmd("release", "--wait", *config), self.env,
                "setup: ecspipe release --wait")
            self.timed(status_run, self.ecspipe_cmd("status", *config))

    def baseline_sample(self, cold: Measurement, noop: Measurement, i: int) -> None:
        self.sandbox.reset()
        docs = WORK / f"baseline-docs-{i + 1}"
        run([sys.executable, str(BENCH / "baseline_docs.py"), str(CONFIG), str(docs),
             "--endpoint-url", self.sandbox.url], self.env, "setup: baseline_docs.py")
        env = dict(self.env, AWS=str(self.o.aws))
        script = ["bash", str(BENCH / "baseline_awscli.sh"), str(docs)]
        self.timed(cold, script, env)
        self.timed(noop, script, env)

    # -- 4. scaling

    def bench_scaling(self) -> None:
        for n in self.o.scale:
            directory = self.write_configs(n)
            cold = Measurement(f"up -c DIR, {n} pipeline{'s' * (n > 1)}, cold",
                               "ecspipe up -c DIR", f"reset, {n} ECS services")
            noop = Measurement(f"up -c DIR, {n} pipeline{'s' * (n > 1)}, no-op",
                               "ecspipe up -c DIR", "the cold one")
            self.scaling[n] = (cold, noop)
            progress(f"4. scaling: {n} pipeline(s), {self.o.runs} samples")
            for _ in range(self.o.runs):
                self.sandbox.reset()
                self.create_services(n)
                self.timed(cold, self.ecspipe_cmd("up", "-c", str(directory)))
                self.timed(noop, self.ecspipe_cmd("up", "-c", str(directory)))

    def write_configs(self, n: int) -> Path:
        """N configs shaped like config.example.yaml: bench-01.. for bench-svc-01.."""
        import yaml  # the project's venv has PyYAML (an ecspipe dependency)

        example = yaml.safe_load(CONFIG.read_text())
        directory = WORK / f"scale-{n}"
        directory.mkdir()
        for i in range(1, n + 1):
            config = json.loads(json.dumps(example))
            config["name"] = f"bench-{i:02d}"
            config["source"]["repository"] = f"acme/bench-{i:02d}"
            config["service"]["name"] = f"bench-svc-{i:02d}"
            config.get("image", {}).pop("repository", None)  # defaults to name
            (directory / f"bench-{i:02d}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return directory

    def create_services(self, n: int) -> None:
        """N services in the seeded cluster, with the seeded task definition (untimed)."""
        if self._ecs is None:
            import boto3  # moto's dependency, in the project's venv

            self._ecs = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing",
                region_name=REGION,
            ).client("ecs", endpoint_url=self.sandbox.url)
        seeded = self._ecs.describe_services(cluster=CLUSTER, services=[SEEDED_SERVICE])
        network = seeded["services"][0]["networkConfiguration"]
        for i in range(1, n + 1):
            self._ecs.create_service(
                cluster=CLUSTER, serviceName=f"bench-svc-{i:02d}", taskDefinition=TASK_FAMILY,
                desiredCount=1, launchType="FARGATE", networkConfiguration=network,
            )

    # -- the whole run

    def wants(self, section: str) -> bool:
        return self.o.only in (None, section)

    def run(self) -> list[Target]:
        started = time.perf_counter()
        self.prepare()
        if self.wants("startup"):
            self.bench_startup()  # before the sandbox: nothing else uses the CPU
        self.sandbox.env = self.sandbox_env()
        try:
            self.sandbox.start()
            self.endpoint = self.sandbox.url
            self.env = self.measured_env(self.cache_dir)
            self.warm_up()
            if self.wants("commands"):
                self.bench_commands()
            if self.wants("scaling"):
                self.bench_scaling()
            if self.wants("wan"):
                self.wan.start_proxy(self.sandbox)
                self.wan.bench_commands()
                self.context["load_wan"] = machine.load_average()
                self.wan.bench_baseline("wan", (0.0, self.o.latency))
        finally:
            self.wan.stop_proxy()
            self.sandbox.stop()
        if self.wants("propagation"):
            # A second sandbox, started as `ecspipe sandbox --role-propagation N`.
            self.sandbox = Sandbox(self.o.ecspipe, self.sandbox_env(),
                                   WORK / "sandbox-propagation.log",
                                   ["--role-propagation", f"{self.o.propagation:g}"])
            try:
                self.sandbox.start()
                self.endpoint = self.sandbox.url
                self.env = self.measured_env(self.cache_dir)
                self.wan.start_proxy(self.sandbox)
                self.wan.bench_propagation()
            finally:
                self.wan.stop_proxy()
                self.sandbox.stop()
        self.context["load_after"] = machine.load_average()
        if machine.source_digest() != self.context["source"]:
            self.context["commit"] += (f"; **ecspipe's source changed while the bench ran** "
                                       f"(now commit {machine.git_commit()}): figures mix versions")
        self.context["duration"] = f"{(time.perf_counter() - started) / 60:.1f} min"
        if self.o.only:
            return []  # a partial run: see the progress lines
        targets = all_targets(self)
        self.o.results.write_text(Report(self, targets).markdown())
        return targets

# ---- main -------------------------------------------------------------------------------


SECTIONS = ("startup", "commands", "scaling", "wan", "propagation")


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aws", default="aws",
                        help="the AWS CLI for the baseline (`make bench` passes "
                             ".venv-awscli/bin/aws)")
    parser.add_argument("--ecspipe", default=str(ROOT / ".venv" / "bin" / "ecspipe"),
                        help="the ecspipe console script (default: .venv/bin/ecspipe)")
    parser.add_argument("--runs", type=int, default=5,
                        help="samples per measurement (default 5; start-up: 2× that, ≥ 10)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2 runs, scaling 1 and 5 only, 1 baseline sample")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--results", default=str(DEFAULT_RESULTS),
                        help="where to write the results (default bench/RESULTS.md)")
    parser.add_argument("--latency", type=float, default=60.0, metavar="MS",
                        help="milliseconds the latency proxy adds to each request (default 60)")
    parser.add_argument("--propagation", type=float, default=8.0, metavar="SECONDS",
                        help="seconds the sandbox refuses a new role in section 7 (default 8)")
    parser.add_argument("--only", choices=SECTIONS,
                        help="run one section only (development; RESULTS.md is not written)")
    parser.add_argument("--skip-wan-baseline", action="store_true",
                        help="with --only: no AWS CLI baseline in sections 6 and 7 (development)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.latency <= 0 or args.propagation <= 0:
        parser.error("--latency and --propagation must be positive")
    runs = 2 if args.quick else args.runs
    return Options(
        runs=runs,
        startup_runs=2 * runs if args.quick else max(2 * runs, 10),
        baseline_runs=1 if args.quick else runs,
        scale=(1, 5) if args.quick else (1, 5, 20),
        aws=find_tool(args.aws),
        ecspipe=find_tool(args.ecspipe),
        results=Path(args.results).absolute(),
        strict=args.strict,
        quick=args.quick,
        latency=args.latency / 1000,
        propagation=args.propagation,
        wan_runs=runs,
        wan_baseline_runs=0 if args.only and args.skip_wan_baseline else 1,
        only=args.only,
    )


def find_tool(name: str) -> Path:
    """An absolute path (commands run in the scratch directory): a path, or a name on PATH."""
    if os.sep not in name:
        name = shutil.which(name) or name
    return Path(name).absolute()


def summary(targets: list[Target], results: Path) -> str:
    width = max(len(t.measure) for t in targets)
    lines = [f"{'ok  ' if t.ok else 'MISS'} {t.measure:<{width}}  {t.result:<24} target "
             f"{t.target}" + (f"  ({t.by})" if t.by else "")
             for t in targets]
    return "\n".join(lines) + f"\n\nwrote {results}"


def stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds through Bench.run's finally: the sandbox is stopped


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    bench = Bench(options)
    try:
        targets = bench.run()
    except BenchError as exc:
        print(f"bench error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    if options.only:
        print(bench.wan.text_summary() if options.only in ("wan", "propagation") else
              f"section {options.only} done (RESULTS.md not written)")
        return 0
    print(summary(targets, options.results))
    if "source changed" in bench.context.get("commit", ""):
        print("warning: ecspipe's source changed while the bench ran; run it again",
              file=sys.stderr)
    if options.strict and not all(t.ok for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
