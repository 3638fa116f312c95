"""Progress as a person sees it: bars with counts and rates in a terminal, plain lines in a log."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from orders_pipeline.lib.common import progress
from orders_pipeline.lib.reports.terminal_progress import BarProgress, PlainProgress, terminal_listener
from orders_pipeline_tests.conftest import AS_OF

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_without_a_listener_reporting_shows_nothing_and_counts_nothing() -> None:
    with progress.task("landing orders", 2, "files", "lines") as shown:
        progress.records(500)  # no listener: ignored
        progress.advance(shown, 1, 10)
    assert (shown.done, shown.records) == (1, 10)


def test_plain_lines_say_what_each_task_did() -> None:
    out = io.StringIO()
    with progress.listening(PlainProgress(out)):
        with progress.task("landing orders", 2, "files", "lines") as shown:
            progress.records(1500)
            progress.advance(shown)
            progress.records(500)
            progress.advance(shown)
        with progress.task("classifying", 1, "buckets", "orders") as shown:
            progress.advance(shown, 1, 1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"  landing orders: 2 files, 2,000 lines \([\d,]+ lines/s\) done after \d+\.\ds", lines[0])
    assert lines[1].startswith("  classifying: 1 bucket, 1 orders (")


def test_plain_lines_show_a_long_task_is_alive_at_most_every_interval() -> None:
    out = io.StringIO()
    listener = PlainProgress(out, every_seconds=0.0)
    with progress.listening(listener), progress.task("landing callbacks", 3, "files", "lines") as shown:
        progress.records(262_144)
        progress.advance(shown)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  landing callbacks: 0/3 files, 262,144 lines (")
    assert "so far after" in lines[0]
    assert lines[-1].startswith("  landing callbacks: 1 file, 262,144 lines (")


def test_a_terminal_gets_bars_and_anything_else_plain_lines() -> None:
    assert isinstance(terminal_listener(io.StringIO()), PlainProgress)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(terminal_listener(Terminal()), BarProgress)


def test_a_run_in_a_terminal_draws_bars_with_counts_and_rates(tmp_path: Path, small_logs) -> None:
    # The real command in a pseudo-terminal, as a person runs it.
    orders, callbacks = small_logs
    command = [sys.executable, "-m", "orders_pipeline.cli", "reconcile", "--orders", str(orders)]
    command += ["--callbacks", str(callbacks), "--warehouse", str(tmp_path / "w.duckdb"), "--as-of", AS_OF]
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"COLUMNS": "120", "TERM": "xterm"}
    with subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other end closed: the process is done
                break
            if not data:
                break
            chunks.append(data)
        assert process.wait(timeout=300) == 0
    os.close(leader)
    screen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    assert re.search(r"landing orders\s.*1/1 files\s+\d[\d,]* lines\s+[\d,]+ lines/s", screen), screen
    assert re.search(r"classifying\s.*1/1 buckets\s+\d[\d,]* orders\s+[\d,]+ orders/s", screen), screen
    assert "━" in screen  # a bar was drawn
    assert "done    order_outcomes" in screen  # the step lines still print above the bars
