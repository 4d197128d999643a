"""Start-up choices that trade nothing away: GC off while starting, back on when waiting."""

from __future__ import annotations

import gc
import subprocess
import sys

from ecspipe.app import App, sleep_and_collect


def test_the_first_wait_turns_garbage_collection_back_on():
    gc.disable()
    try:
        sleep_and_collect(0)
        assert gc.isenabled()
    finally:
        gc.enable()


def test_an_app_waits_with_the_collecting_sleep_unless_one_is_injected():
    assert App().sleep is sleep_and_collect


def test_the_console_entry_point_starts_without_gc_and_flushes_before_exiting(tmp_path):
    # main() ends with os._exit: what was printed must still arrive, with its exit code.
    code = ("import gc, sys; from ecspipe import cli; "
            "cli.run = lambda argv: (print('enabled', gc.isenabled()), 3)[1]; cli.main([])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (3, "enabled False\n")
