"""`ecspipe init` on a terminal: the installed CLI in a pseudo-terminal, against a sandbox server.

The server runs in this process (serve() on a thread, port 0); the CLI is the
console script in a child process whose stdin, stdout and stderr are a pty, so
it sees a terminal and asks. Every read has a deadline: a prompt that never
comes fails the test with what the terminal showed, never hangs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from init_world import add_services, aws, make_repo  # noqa: E402

STARTUP_TIMEOUT = 120.0
EXPECT_TIMEOUT = 60.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@contextlib.contextmanager
def sandbox_server():
    from ecspipe.sandbox import server

    urls: list[str] = []
    ready = threading.Event()
    thread = threading.Thread(target=server.serve, kwargs={
        "port": 0, "seed": True, "ready": lambda url: (urls.append(url), ready.set())})
    thread.start()
    try:
        assert ready.wait(STARTUP_TIMEOUT), "the sandbox server did not start"
        yield urls[0]
    finally:
        server.request_stop()
        thread.join(30)


class Terminal:
    """A child process on a pty: send keys, wait for text (bounded)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.screen = ""
        self.seen = 0  # what `expect` has consumed

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        self.screen += ANSI.sub("", chunk.decode(errors="replace")).replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = EXPECT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen[self.seen:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)):
                if text in self.screen[self.seen:]:
                    break
                self.kill()
                pytest.fail(f"never saw {text!r}; the terminal showed:\n{self.screen}")
        self.seen = self.screen.index(text, self.seen) + len(text)

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = EXPECT_TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        for _ in range(100):  # what is left in the terminal, bounded
            if not select.select([self.master], [], [], 0.05)[0] or not self._read(0):
                break
        if self.proc.poll() is None:
            self.kill()
            pytest.fail(f"the CLI did not exit; the terminal showed:\n{self.screen}")
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        os.close(self.master)


def _ecspipe() -> list[str]:
    script = Path(sys.executable).with_name("ecspipe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ecspipe"]


def test_numbered_choices_on_a_terminal_and_a_bad_answer_asks_again(tmp_path):
    from ecspipe.sandbox.connections import complete_handshake_remote

    repo = make_repo(tmp_path / "demo-app")
    with sandbox_server() as url:
        def client(name: str):
            return aws(name, endpoint_url=url)

        add_services(client, {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                                           "demo-app:20261101_120000-0a1b2c3"})
        arn = client("codeconnections").create_connection(
            ConnectionName="team-github", ProviderType="GitHub")["ConnectionArn"]
        assert complete_handshake_remote(url, arn) == "AVAILABLE"

        env = {**os.environ, "AWS_ENDPOINT_URL": url, "COLUMNS": "200", "TERM": "xterm"}
        term = Terminal([*_ecspipe(), "init"], cwd=repo, env=env)
        try:
            term.expect("Which ECS service gets the pipeline? (5 in 4 clusters of us-east-1)")
            term.expect("1) demo-cluster/demo-web-service")
            term.expect("2) demo-cluster/demo-worker")
            term.expect("3) demo-staging/demo-web-staging")
            term.expect("Number [1]: ")
            term.send("9\r")
            term.expect("9 is not in the range 1<=x<=5")
            term.expect("Number [1]: ")
            term.send("abc\r")
            term.expect("is not a valid integer")
            term.expect("Number [1]: ")
            term.send("2\r")
            term.expect("service     demo-cluster/demo-worker: chosen")
            term.expect("Reuse an existing GitHub connection?")
            term.expect(f"1) team-github  AVAILABLE  {arn}")
            term.expect("2) none: `ecspipe up` creates one named demo-worker")
            term.expect("Number [1]: ")
            term.send("\r")  # the default: the AVAILABLE connection
            term.expect("wrote ecspipe.yaml (valid)")
            code = term.wait()
        finally:
            term.close()

    assert code == 0, term.screen
    data = yaml.safe_load((repo / "ecspipe.yaml").read_text())
    assert data["service"] == {"cluster": "demo-cluster", "name": "demo-worker",
                               "container": "worker"}
    assert data["source"]["connection_arn"] == arn
    assert "Traceback" not in term.screen
