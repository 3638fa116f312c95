"""The command line as a person meets it in a terminal: version, help, warnings, Ctrl-C, pre-flight errors, summary.

Ctrl-C, library warnings and a lock held by another process can only be seen from outside
the test process, so those tests run the real console script in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from orders_pipeline import cli
from orders_pipeline.lib.warehouse.run_lock import read_holder
from orders_pipeline_tests.conftest import AS_OF
from orders_pipeline_tests.warehouse.test_run_lock import OtherProcess

SCRIPT = [sys.executable, "-m", "orders_pipeline.cli"]


def _args(small_logs: tuple[Path, Path], warehouse: Path, as_of: str = AS_OF) -> list[str]:
    orders, callbacks = small_logs
    return ["reconcile", "--orders", str(orders), "--callbacks", str(callbacks), "--warehouse", str(warehouse)] + [
        "--as-of",
        as_of,
    ]


def _env() -> dict[str, str]:
    # A plain run as a user starts it: no warning filters from the environment, no Dagster home.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "DAGSTER_HOME")}
    return env | {"PYTHONUNBUFFERED": "1"}


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_version_is_the_installed_packages(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"orders-pipeline {version('orders_pipeline')}\n"


@pytest.mark.parametrize("command", ["reconcile", "generate", "history", "runs", "summary", "report"])
def test_every_command_has_help_with_examples_and_exit_codes(command, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1].split("\n\nexit codes:\n", 1)
    assert f"  orders-pipeline {command}" in examples[0]
    codes = [line.split()[0] for line in examples[1].splitlines() if line.strip()]
    assert codes[0] == "0"
    assert all(code.isdigit() for code in codes)
    assert ("130" in codes) == (command == "reconcile")


def test_a_normal_run_prints_no_library_warning(tmp_path, small_logs) -> None:
    run = subprocess.run(
        [*SCRIPT, *_args(small_logs, tmp_path / "w.duckdb")], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr
    assert "warnings.warn" not in run.stderr
    assert run.stderr.startswith("reconciling 1 order file(s), 1 callback file(s)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ctrl_c_exits_130_and_leaves_the_warehouse_as_it_was(tmp_path, small_logs, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert cli.main([*_args(small_logs, warehouse), "--quiet"]) == 0
    before = _sha(warehouse)
    capsys.readouterr()
    run = subprocess.Popen(
        [*SCRIPT, *_args(small_logs, warehouse, "2026-11-21T12:00:00Z")],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert run.stderr is not None
    seen = []
    for line in run.stderr:  # interrupt once the run is inside the job: its first step has finished
        seen.append(line)
        if line.strip().startswith("done"):
            run.send_signal(signal.SIGINT)
            break
    out, rest = run.communicate(timeout=300)
    assert run.returncode == 130, "".join(seen) + rest
    assert rest.splitlines()[-1] == "orders-pipeline: interrupted; the warehouse was not changed"
    assert "Traceback" not in rest
    assert "Dagster" not in rest
    assert out == ""  # no summary: nothing was published
    assert _sha(warehouse) == before


def test_an_unwritable_warehouse_folder_is_one_line_before_the_run(small_logs, capsys) -> None:
    # /proc refuses new files even to root, which os.access alone would let through.
    assert cli.main([*_args(small_logs, Path("/proc/w.duckdb"))]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("orders-pipeline: error: warehouse folder /proc is not writable")
    assert line.endswith("choose another --warehouse")


def test_a_work_database_held_by_another_process_is_one_line_before_the_run(tmp_path, small_logs, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert cli.main([*_args(small_logs, warehouse), "--quiet"]) == 0
    capsys.readouterr()
    work = tmp_path / "w.work.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(work)!r}); print('held'); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        assert cli.main(_args(small_logs, warehouse, "2026-11-21T12:00:00Z")) == 2
    finally:
        holder.communicate("", timeout=60)
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"orders-pipeline: error: cannot open the work database {work}")
    assert line.endswith("(is another run writing it?)")
    assert "reconciling" not in captured.err  # refused before the run started


def test_a_run_lock_held_by_another_process_is_one_line_and_the_warehouse_is_untouched(
    tmp_path, small_logs, capsys
) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert cli.main([*_args(small_logs, warehouse), "--quiet"]) == 0
    capsys.readouterr()
    work = tmp_path / "w.work.duckdb"
    before = {path: (_sha(path), path.stat().st_mtime_ns) for path in (warehouse, work)}
    other = OtherProcess(warehouse, "the-first-run")
    try:
        started = time.monotonic()
        assert cli.main(_args(small_logs, warehouse, "2026-11-21T12:00:00Z")) == 2
        assert time.monotonic() - started < 10  # at once, not after a run
        captured = capsys.readouterr()
        # Readers never take the lock: the published warehouse stays readable meanwhile.
        assert cli.main(["summary", "--warehouse", str(warehouse)]) == 0
    finally:
        other.stop()
    line = _one_line(captured.err)
    holder = read_holder(warehouse)
    assert holder is None  # released and emptied by the other process
    assert re.fullmatch(
        rf"orders-pipeline: error: another run \(pid {other.pid} on {re.escape(socket.gethostname())}, "
        rf"run the-first-run, started \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) is writing {re.escape(str(warehouse))}; "
        r"wait for it or pass --wait",
        line,
    ), line
    assert "reconciling" not in captured.err  # refused before the run started
    assert {path: (_sha(path), path.stat().st_mtime_ns) for path in (warehouse, work)} == before


def test_wait_runs_once_the_other_run_releases_the_lock(tmp_path, small_logs, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    other = OtherProcess(warehouse, "the-first-run")
    release = threading.Timer(2.0, other.stop)
    release.start()
    try:
        assert cli.main([*_args(small_logs, warehouse), "--wait"]) == 0
    finally:
        release.cancel()
        other.stop()
    captured = capsys.readouterr()
    waiting = [line for line in captured.err.splitlines() if line.startswith("waiting for")]
    assert len(waiting) == 1
    who = f"another run (pid {other.pid} on {socket.gethostname()}, run the-first-run"
    assert waiting[0].startswith(f"waiting for {who}")
    assert waiting[0].endswith(") to finish writing the warehouse")
    assert "USD 12.50" in captured.out
    assert read_holder(warehouse) is None  # this run released it too


def test_summary_reprints_the_last_runs_summary_without_writing(tmp_path, small_logs, capsys) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert cli.main([*_args(small_logs, warehouse), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "USD 12.50" in printed
    before = (_sha(warehouse), warehouse.stat().st_mtime_ns)
    assert cli.main(["summary", "--warehouse", str(warehouse)]) == 0
    assert capsys.readouterr().out == printed
    assert (_sha(warehouse), warehouse.stat().st_mtime_ns) == before


def test_summary_without_a_warehouse_is_one_line(tmp_path, capsys) -> None:
    assert cli.main(["summary", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "run `orders-pipeline reconcile` first" in _one_line(capsys.readouterr().err)
