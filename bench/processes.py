"""Processes the bench runs: the commands it times, and the sandbox it times them against."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import COMMAND_TIMEOUT, READY_TIMEOUT, WORK, BenchError, progress


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



def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """`ecspipe sandbox` in a child process, and its control endpoints."""

    def __init__(self, ecspipe: Path, env: dict[str, str], log_path: Path,
                 args: Sequence[str] = ()) -> None:
        self.ecspipe = ecspipe
        self.args = list(args)  # more `ecspipe sandbox` options
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        progress(f"starting the sandbox on {self.url} {' '.join(self.args)}…")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(self.ecspipe), "sandbox", "--port", str(self.port), *self.args],
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
