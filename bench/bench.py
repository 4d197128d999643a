"""ecspipe's speed goals, measured side by side with an AWS CLI baseline (`make bench`).

    .venv/bin/python bench/bench.py --aws .venv-awscli/bin/aws [--runs N] [--quick] [--strict]
    make bench BENCH_ARGS=--quick     # the same through make: a 3-minute smoke test

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

Every timed command runs as a user runs it: the console script .venv/bin/ecspipe
in a new process, with fake credentials, empty AWS config files, and the
sandbox as AWS_ENDPOINT_URL. Every sample starts from POST /_ecspipe/reset (a
fresh sandbox, never a restart) plus the untimed setup it needs; the request
log is cleared just before the timed command and read just after it. A command
that fails is an error of the bench, never a figure.

Exit code: 0 when RESULTS.md was written (1 with --strict if a target is
missed); 1 on a bench error; 130 on Ctrl-C. The sandbox is stopped in every case.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CONFIG = ROOT / "config.example.yaml"
DEFAULT_RESULTS = BENCH / "RESULTS.md"
WORK = ROOT / ".bench"  # scratch: configs, documents, cache dirs, the sandbox's log
REGION = "us-east-1"
CLUSTER = "demo-cluster"  # what the sandbox seeds (ecspipe/sandbox/seed.py)
SEEDED_SERVICE = "demo-web-service"
TASK_FAMILY = "demo-web"

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

READY_TIMEOUT = 90.0  # seconds for the sandbox to print its "listening" line
COMMAND_TIMEOUT = 900.0


class BenchError(Exception):
    """Something the bench cannot turn into a figure (a failed command, no sandbox)."""


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- measurements ---------------------------------------------------------------------


@dataclass
class Sample:
    """One timed command: its wall time and the requests the sandbox logged meanwhile."""

    seconds: float
    requests: list[dict[str, Any]] = field(default_factory=list)

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


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.2f} s"


def pct_over(value: float, limit: float) -> str:
    return f"{(value / limit - 1) * 100:.0f}% over"


# ---- the sandbox ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """`ecspipe sandbox` in a child process, and its control endpoints."""

    def __init__(self, ecspipe: Path, env: dict[str, str], log_path: Path) -> None:
        self.ecspipe = ecspipe
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        progress(f"starting the sandbox on {self.url} …")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.ecspipe), "sandbox", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=WORK,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while "listening on" not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise BenchError(f"the sandbox exited with code {self.process.returncode} "
                                 f"before it was ready:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"the sandbox printed no 'listening on' line within "
                                 f"{READY_TIMEOUT:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)
        progress("sandbox ready")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        progress("sandbox stopped")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read() or b"{}")
        except Exception as exc:  # noqa: BLE001 - any failure here stops the bench
            raise BenchError(f"sandbox {method} {path} failed: {exc}\n{self.log_tail()}") from exc

    def reset(self) -> None:
        answer = self._call("POST", "/_ecspipe/reset")
        if not answer.get("reset") or not answer.get("seeded"):
            raise BenchError(f"sandbox reset failed: {answer}")

    def clear_log(self) -> None:
        self._call("DELETE", "/_ecspipe/requests")

    def requests(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_ecspipe/requests")["requests"])


# ---- running commands -------------------------------------------------------------------


def run(argv: Sequence[str], env: dict[str, str], what: str = "") -> float:
    """Run a command; return its wall time. A non-zero exit is a BenchError."""
    start = time.perf_counter()
    try:
        done = subprocess.run(list(argv), env=env, cwd=WORK, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what or argv[0]}: no answer within {COMMAND_TIMEOUT:.0f} s") from exc
    except OSError as exc:
        raise BenchError(f"{what or argv[0]}: cannot run {argv[0]}: {exc}") from exc
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").splitlines()[-25:]
        raise BenchError(f"{what or ' '.join(argv)} exited with code {done.returncode}:\n"
                         + "\n".join(output))
    return seconds


def output_of(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[0] if done.returncode == 0 \
        else f"unknown (exit {done.returncode})"


# ---- the bench --------------------------------------------------------------------------


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
        c["cpu"] = cpu_model()
        c["cores"] = f"{os.cpu_count()} (usable by this process: {len(os.sched_getaffinity(0))})"
        c["memory"] = mem_total()
        c["kernel"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
        c["load_before"] = load_average()
        c["python"] = platform.python_version() + f" ({sys.executable})"
        c["ecspipe"] = output_of(self.ecspipe_cmd("--version"), self.clean_env())
        c["commit"] = git_commit()
        c["source"] = source_digest()
        c["botocore"] = package_version("botocore")
        c["boto3"] = package_version("boto3")
        c["moto"] = package_version("moto")
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
                                "reset, cold up (the timed one)")
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

    def run(self) -> list[Target]:
        started = time.perf_counter()
        self.prepare()
        self.bench_startup()  # before the sandbox: nothing else uses the CPU
        self.sandbox.env = self.sandbox_env()
        try:
            self.sandbox.start()
            self.endpoint = self.sandbox.url
            self.env = self.measured_env(self.cache_dir)
            self.warm_up()
            self.bench_commands()
            self.bench_scaling()
        finally:
            self.sandbox.stop()
        self.context["load_after"] = load_average()
        if source_digest() != self.context["source"]:
            self.context["commit"] += (f"; **ecspipe's source changed while the bench ran** "
                                       f"(now commit {git_commit()}): figures mix versions")
        self.context["duration"] = f"{(time.perf_counter() - started) / 60:.1f} min"
        targets = self.targets()
        self.o.results.write_text(Report(self, targets).markdown())
        return targets

    # -- targets

    def targets(self) -> list[Target]:
        m = self.m
        targets = [
            self.time_target(m["help"], 0.15, ["--help"]),
            self.time_target(m["validate"], 0.3, ["validate", "-c", str(CONFIG)]),
            self.ratio_target("cold `up` ÷ baseline cold", m["cold"], m["base_cold"], 8),
            self.ratio_target("no-op `up` ÷ baseline no-op", m["noop"], m["base_noop"], 10),
            self.noop_writes_target(m["noop"]),
            self.reads_target(m["noop"]),
            self.status_target(m["status"]),
            self.status_target(m["status_run"]),
        ]
        if 1 in self.scaling and 20 in self.scaling:
            targets.append(self.scaling_target(self.scaling[1][0], self.scaling[20][0]))
        return targets

    def time_target(self, measurement: Measurement, limit: float, args: list[str]) -> Target:
        target = Target(f"`{measurement.command}` median", fmt_s(measurement.median),
                        f"< {fmt_s(limit)}", measurement.median < limit)
        if not target.ok:
            floor = self.m["python"].median
            target.by = f"+{fmt_s(measurement.median - limit)} ({pct_over(measurement.median, limit)})"
            target.why = (f"the Python interpreter alone (`python -c pass`, same venv) takes "
                          f"{fmt_s(floor)} in this run, importing click "
                          f"{fmt_s(self.m['click_floor'].median)}, and click, PyYAML and "
                          f"pydantic with a one-field model (the stack's floor for "
                          f"`validate`) {fmt_s(self.m['stack_floor'].median)}; the slowest "
                          f"top-level imports of the command (`python -X importtime`, one "
                          f"untimed run): " + self.slow_imports(args))
        return target

    def ratio_target(self, name: str, ours: Measurement, base: Measurement,
                     fraction: int) -> Target:
        ratio = ours.median / base.median
        target = Target(name, f"{ratio:.4f} (1/{1 / ratio:.1f})", f"≤ 1/{fraction}",
                        ratio <= 1 / fraction)
        if not target.ok:
            allowed = base.median / fraction
            target.by = (f"{pct_over(ratio, 1 / fraction)}: {fmt_s(ours.median)} where this "
                         f"baseline allows {fmt_s(allowed)} (+{fmt_s(ours.median - allowed)})")
            target.why = (f"ecspipe's start-up and config loading alone (`validate`) take "
                          f"{fmt_s(self.m['validate'].median)} of it, the rest is making clients "
                          f"and {ours.requests} requests; the baseline's {base.requests} "
                          f"requests cost one AWS CLI process each "
                          f"(`aws --version` alone: {fmt_s(self.m['aws_version'].median)})")
        return target

    @staticmethod
    def noop_writes_target(noop: Measurement) -> Target:
        target = Target("no-op `up`: writes", str(noop.writes), "0", noop.writes == 0)
        if not target.ok:
            target.by = f"{noop.writes} writes"
            target.why = "it sent " + ops_text(noop.operations(), "write")
        return target

    @staticmethod
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

    @staticmethod
    def status_target(status: Measurement) -> Target:
        target = Target(f"`{status.label}`: requests", str(status.requests), "≤ 10",
                        status.requests <= 10)
        if not target.ok:
            target.by = f"{status.requests - 10} over"
            target.why = "it sent " + ops_text(status.operations())
        return target

    @staticmethod
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

    def slow_imports(self, args: list[str]) -> str:
        """Top-level imports by cumulative time (`python -X importtime`), for a miss."""
        python = str(Path(self.ecspipe).parent / "python")
        script = Path(self.ecspipe).read_bytes()[:200].split(b"\n")[0]
        entry = [self.ecspipe] if b"python" in script else ["-m", "ecspipe"]
        done = subprocess.run([python, "-X", "importtime", *entry, *args],
                              env=self.env, cwd=WORK, capture_output=True, text=True)
        tops: list[tuple[int, str]] = []
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
            if match and len(match.group(2)) <= 1:
                tops.append((int(match.group(1)), match.group(3)))
        tops.sort(reverse=True)
        return ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in tops[:5]) or "unknown"


# ---- machine facts ----------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def source_digest() -> str:
    """A digest of ecspipe's source: tells whether it changed while the bench ran."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "ecspipe").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" + uncommitted changes" if dirty else "")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


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


# ---- the report -------------------------------------------------------------------------


class Report:
    def __init__(self, bench: Bench, targets: list[Target]) -> None:
        self.b = bench
        self.m = bench.m
        self.targets = targets

    def markdown(self) -> str:
        sections = [self.header(), self.method(), self.target_table(), self.startup(),
                    self.commands(), self.requests(), self.reads_per_resource(),
                    self.scaling(), self.baseline(), self.misses()]
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
  no-op run (the baseline's cold run would be an easier bar)."""

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

    def misses(self) -> str:
        missed = [t for t in self.targets if not t.ok]
        if not missed:
            return "## Misses\n\nNone: every target is met in this run."
        lines = ["## Misses", ""]
        lines += [f"- **{t.measure}**: {t.result} against {t.target}, {t.by}. Why: {t.why}."
                  for t in missed]
        return "\n".join(lines)


# ---- main -------------------------------------------------------------------------------


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
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
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
    print(summary(targets, options.results))
    if "source changed" in bench.context.get("commit", ""):
        print("warning: ecspipe's source changed while the bench ran; run it again",
              file=sys.stderr)
    if options.strict and not all(t.ok for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
