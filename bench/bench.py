"""Speed goals for ecspipe, measured (run with `make bench`).

Goals are checked here, not in the test suite, so tests never depend on how
busy the machine is. Each line prints the measurement and the goal; the exit
code is 1 if a goal is missed.

  help          `ecspipe --help` wall time (median of 5 runs)
  import        heavy modules imported by `import ecspipe.cli` (must be none)
  calls         AWS operations per command against the sandbox (mock mode):
                a second `up`, `plan`, `status`, `down` on an empty account
  up            wall time of a first and a second `up` in mock mode
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "config.example.yaml")
HEAVY = ("boto3", "botocore", "moto", "rich", "pydantic", "yaml")
results: list[tuple[str, str, str, bool]] = []


def record(name: str, value: str, goal: str, ok: bool) -> None:
    results.append((name, value, goal, ok))


def bench_help() -> None:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ecspipe", "--help"], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    record("ecspipe --help", f"{median * 1000:.0f} ms", "< 300 ms", median < 0.3)


def bench_import() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import ecspipe.cli"],
                         capture_output=True, text=True, check=True).stderr
    heavy = sorted({line.split("|")[-1].strip().split(".")[0] for line in out.splitlines()
                    if line.split("|")[-1].strip().split(".")[0] in HEAVY})
    record("import ecspipe.cli", ", ".join(heavy) or "no heavy module", "none of "
           + "/".join(HEAVY), not heavy)


def bench_calls() -> None:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import contextlib
    import io

    from moto import mock_aws

    from ecspipe import sandbox
    from ecspipe.cli import run
    from ecspipe.sandbox import settings
    from ecspipe.sandbox.seed import seed

    sandbox.install()
    clock = settings.ManualClock()
    settings.reset(clock=clock)
    ops: list[str] = []

    def hook(model, **_kwargs):
        ops.append(model.name)

    obj = {"client_hooks": [("before-call.*.*", hook)], "sleep": clock.advance,
           "clock": clock.now}

    def cli(*args: str) -> tuple[int, float]:
        ops.clear()
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = run(list(args), obj=dict(obj))
        return code, time.perf_counter() - start

    with mock_aws():
        seed()
        _, first = cli("up", "-c", CONFIG, "--wait-connection")
        record("first up (mock)", f"{first:.2f} s", "< 3 s", first < 3)
        code, second = cli("up", "-c", CONFIG)
        writes = [o for o in ops if not o.startswith(("Get", "Describe", "List", "BatchGet",
                                                      "Head"))]
        record("second up: calls", f"{len(ops)} reads, {len(writes)} writes", "≤ 30, 0 writes",
               len(ops) <= 30 and not writes and code == 0)
        record("second up (mock)", f"{second:.2f} s", "< 1.5 s", second < 1.5)
        cli("plan", "-c", CONFIG)
        record("plan: calls", str(len(ops)), "≤ 30", len(ops) <= 30)
        cli("release", "-c", CONFIG, "--wait")
        cli("status", "-c", CONFIG)
        record("status: calls", str(len(ops)), "≤ 7", len(ops) <= 7)
        cli("down", "-c", CONFIG, "--yes")
        cli("down", "-c", CONFIG, "--yes")
        record("down, nothing left: calls", str(len(ops)), "≤ 15", len(ops) <= 15)


def main() -> int:
    bench_help()
    bench_import()
    bench_calls()
    width = max(len(r[0]) for r in results)
    for name, value, goal, ok in results:
        print(f"{'ok  ' if ok else 'MISS'} {name:<{width}}  {value:<28} goal {goal}")
    return 0 if all(r[3] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
