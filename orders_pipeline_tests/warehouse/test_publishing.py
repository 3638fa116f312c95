"""Publishing: same inputs give the same tables, whatever order the files arrived in; readers see
whole snapshots only; a run killed at any point leaves the published warehouse byte-identical.

Warehouses (built once for the module, each with its own landing folder):

* ``A``: file 1 lands, run; file 2 lands, run again.
* ``B``: file 2 lands, run; file 1 lands, run again.
* ``C``: both files at once, run; then the very same run again (idempotency).

File 2 re-submits an order of file 1 with the same ``created_at`` and another amount, and
re-delivers one of its callbacks: only the rules' reading order (sorted paths), never the
arrival order, may decide which line is canonical.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline.lib.warehouse.contracts import HISTORY_TABLES, PUBLISHED_TABLES
from orders_pipeline_tests.conftest import write_jsonl

AS_OF = "2026-11-20T12:00:00Z"
LATER = "2026-11-20T12:30:00Z"

ORDERS_1 = [
    {
        "order_id": "o1",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "10.00",
        "currency": "USD",
        "created_at": "2026-11-20T10:00:00Z",
        "request_id": "r1",
        "source": "web",
        "seq": 1,
    },
    {
        "order_id": "o2",
        "merchant_id": "m2",
        "provider": "adyen",
        "amount": "1000",
        "currency": "JPY",
        "created_at": "2026-11-20T09:00:00Z",
        "source": "web",
        "seq": 2,
    },
    {
        "order_id": "o3",
        "merchant_id": "m3",
        "provider": "paypal",
        "amount": "1.250",
        "currency": "KWD",
        "created_at": "2026-11-20T11:55:00Z",
        "source": "web",
        "seq": 3,
    },
    {
        "order_id": "o4",
        "merchant_id": "m2",
        "provider": "alipay",
        "amount": "100",
        "currency": "CNY",
        "created_at": "2026-11-18T10:00:00Z",
        "source": "web",
        "seq": 4,
    },
    '{"order_id": "broken"',
]
ORDERS_2 = [
    # Same order, same created_at, another amount: file 1's line is read first, so it is canonical.
    {
        "order_id": "o1",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "11.00",
        "currency": "USD",
        "created_at": "2026-11-20T10:00:00Z",
        "request_id": "r1-again",
        "source": "web",
        "seq": 7,
    },
    {
        "order_id": "o2",
        "merchant_id": "m2",
        "provider": "adyen",
        "amount": "1000.0",
        "currency": "JPY",
        "created_at": "2026-11-20T09:00:00Z",
        "source": "web",
        "seq": 8,
    },
    {
        "order_id": "o5",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "5",
        "currency": "USD",
        "created_at": "2026-11-20T11:00:00Z",
        "source": "web",
        "seq": 9,
    },
    {
        "order_id": "o6",
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": "7.5",
        "currency": "USD",
        "created_at": "2026-11-20T11:10:00Z",
        "source": "web",
        "seq": 10,
    },
]
CALLBACKS_1 = [
    {
        "order_id": "o1",
        "provider": "stripe",
        "status": "success",
        "amount": "10.00",
        "currency": "USD",
        "received_at": "2026-11-20T10:01:00Z",
        "callback_id": "e1",
        "provider_txn_id": "t1",
    },
    {
        "order_id": "o2",
        "provider": "adyen",
        "status": "success",
        "amount": "999",
        "currency": "JPY",
        "received_at": "2026-11-20T09:01:00Z",
    },
    {
        "order_id": "nobody",
        "provider": "stripe",
        "status": "success",
        "amount": "1.00",
        "currency": "USD",
        "received_at": "2026-11-20T09:30:00Z",
    },
]
CALLBACKS_2 = [
    # The same event again, same received_at: the first read delivery (file 1's) is kept.
    {
        "order_id": "o1",
        "provider": "stripe",
        "status": "success",
        "amount": "10.00",
        "currency": "USD",
        "received_at": "2026-11-20T10:01:00Z",
        "callback_id": "e1",
        "provider_txn_id": "t1-again",
    },
    {"order_id": "o5", "provider": "stripe", "status": "failed", "received_at": "2026-11-20T11:02:00Z"},
    {"order_id": "o3", "provider": "paypal", "status": "pending", "received_at": "2026-11-20T11:56:00Z"},
    {"order_id": "o6", "provider": "stripe", "status": "ok", "received_at": "2026-11-20T11:11:00Z"},
    {"order_id": "nobody-2", "provider": "adyen", "status": "failed", "received_at": "2026-11-20T11:00:00Z"},
    # Received after AS_OF: exists only for runs evaluated later.
    {
        "order_id": "o6",
        "provider": "stripe",
        "status": "success",
        "amount": "7.5",
        "currency": "USD",
        "received_at": "2026-11-20T12:10:00Z",
        "callback_id": "e6",
    },
]
FILES = {1: (ORDERS_1, CALLBACKS_1), 2: (ORDERS_2, CALLBACKS_2)}

# Tables whose content is a function of (input files, as_of) only.
COMPARED_TABLES = (
    "order_outcomes",
    "daily_summary",
    "exceptions",
    "orphan_callbacks",
    "rejected_lines",
    "log_gaps",
    "callback_outages",
    "quality_alerts",
    "input_files",
)
# Per-run columns: what this run did with a file (ingested/unchanged/...) and which run first parsed it.
PER_RUN_COLUMNS = {"input_files": ("status", "ingested_run_id"), "outcome_changes": ("run_id",)}


def _deliver(folder: Path, number: int) -> None:
    orders, callbacks = FILES[number]
    write_jsonl(folder / "orders" / f"2026-11-20-{number}.jsonl", orders)
    write_jsonl(folder / "callbacks" / f"2026-11-20-{number}.jsonl", callbacks)


def _reconcile(folder: Path, warehouse: Path, as_of: str = AS_OF) -> None:
    code = cli.main(
        [
            "reconcile",
            "--orders",
            str(folder / "orders"),
            "--callbacks",
            str(folder / "callbacks"),
            "--warehouse",
            str(warehouse),
            "--as-of",
            as_of,
            "--quiet",
        ]
    )
    assert code == 0


def _tables(warehouse: Path, tables: tuple[str, ...] | None = None, exclude_per_run: bool = True) -> dict:
    """Full contents of the recon tables and views, every column (but per-run ones), deterministically ordered."""
    con = configure(duckdb.connect(str(warehouse), read_only=True))
    try:
        names = tables or tuple(
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'recon' ORDER BY 1"
            ).fetchall()
        )
        result = {}
        for table in names:
            skip = PER_RUN_COLUMNS.get(table, ()) if exclude_per_run else ()
            columns = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'recon' AND table_name = ? "
                    "ORDER BY column_index",
                    [table],
                ).fetchall()
                if r[0] not in skip
            ]
            listed = ", ".join(f'"{c}"' for c in columns)
            result[table] = (columns, con.execute(f"SELECT {listed} FROM recon.{table} ORDER BY ALL").fetchall())
        return result
    finally:
        con.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_warehouse(source: Path, target_dir: Path) -> Path:
    """Copy a warehouse and its work database (the state a run starts from) into ``target_dir``."""
    target_dir.mkdir(parents=True)
    for name in (source.name, source.name.replace(".duckdb", ".work.duckdb")):
        shutil.copy2(source.with_name(name), target_dir / name)
    return target_dir / source.name


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("publishing")
    paths: dict[str, Path] = {"root": root}
    for name, first, second in (("A", 1, 2), ("B", 2, 1)):
        folder, warehouse = root / f"{name}_in", root / name / "warehouse.duckdb"
        _deliver(folder, first)
        _reconcile(folder, warehouse)
        if name == "A":  # the state "file 1 published, file 2 just landed" the later tests start from
            paths["A_after_file_1"] = _copy_warehouse(warehouse, root / "A_after_file_1")
        _deliver(folder, second)
        _reconcile(folder, warehouse)
        paths[name] = warehouse
    folder, warehouse = root / "C_in", root / "C" / "warehouse.duckdb"
    _deliver(folder, 1)
    _deliver(folder, 2)
    _reconcile(folder, warehouse)
    paths["C_first"] = _copy_warehouse(warehouse, root / "C_first")
    _reconcile(folder, warehouse)
    paths["C"] = warehouse
    return paths


# ---------------------------------------------------------------------------------------------
# (a) idempotency, (b) arrival order
# ---------------------------------------------------------------------------------------------


def test_the_data_exercises_the_reading_order(built) -> None:
    """Guard for the tests below: the fixture really has a canonical-line choice and a re-delivery."""
    con = configure(duckdb.connect(str(built["C"]), read_only=True))
    outcomes = {
        r[0]: r[1:]
        for r in con.execute("SELECT order_id, outcome, amount_minor, flags FROM recon.order_outcomes").fetchall()
    }
    con.close()
    assert outcomes["o1"] == ("confirmed", 1000, ["conflicting_submission", "duplicate_callback"])
    assert outcomes["o2"] == ("amount_mismatch", 1000, ["duplicate_submission"])
    assert set(outcomes) == {"o1", "o2", "o3", "o4", "o5", "o6"}


def test_rerunning_with_the_same_inputs_and_as_of_publishes_identical_tables(built) -> None:
    first, second = _tables(built["C_first"]), _tables(built["C"])
    assert set(first) == set(second)
    first.pop("runs"), second.pop("runs")
    assert first == second
    assert second["outcome_changes"][1] == []


def test_rerun_keeps_input_files_first_ingestion_and_marks_them_unchanged(built) -> None:
    first = _tables(built["C_first"], ("input_files",), exclude_per_run=False)["input_files"]
    second = _tables(built["C"], ("input_files",), exclude_per_run=False)["input_files"]
    status = first[0].index("status")
    run_id = first[0].index("ingested_run_id")
    assert {row[status] for row in first[1]} == {"ingested"}
    assert {row[status] for row in second[1]} == {"unchanged"}
    assert [row[run_id] for row in first[1]] == [row[run_id] for row in second[1]]


@pytest.mark.parametrize("arrival", ["A", "B"], ids=["file-1-then-2", "file-2-then-1"])
def test_arrival_order_does_not_change_the_published_tables(built, arrival) -> None:
    assert _tables(built[arrival], COMPARED_TABLES) == _tables(built["C"], COMPARED_TABLES)


def test_arrival_order_shows_only_in_outcome_changes(built) -> None:
    """B first saw only file 2 (o1 at 11.00, o2 without callback); its history says what moved since."""
    columns = "order_id, amount_minor, previous_outcome, outcome"
    changes = {}
    for name in ("A", "B"):
        con = duckdb.connect(str(built[name]), read_only=True)
        changes[name] = con.execute(f"SELECT {columns} FROM recon.outcome_changes ORDER BY ALL").fetchall()
        con.close()
    assert changes["A"] == []  # o5 and o6 are new with file 2; o1..o4 keep their outcomes
    assert changes["B"] == [("o1", 1000, "amount_mismatch", "confirmed"), ("o2", 1000, "overdue", "amount_mismatch")]


# ---------------------------------------------------------------------------------------------
# (c) a reader during a run
# ---------------------------------------------------------------------------------------------

QUERY = """
    SELECT (SELECT count(*) FROM recon.order_outcomes),
           (SELECT strftime(max(as_of), '%Y-%m-%dT%H:%M:%S') FROM recon.order_outcomes),
           (SELECT count(*) FROM recon.exceptions),
           (SELECT count(*) FROM recon.order_outcomes WHERE action <> 'none'),
           (SELECT sum(order_count) FROM recon.daily_summary),
           (SELECT strftime(max(as_of), '%Y-%m-%dT%H:%M:%S') FROM recon.runs),
           (SELECT count(*) FROM recon.runs),
           (SELECT count(*) FROM recon.outcome_changes)
"""

# ``held``: one connection opened before the run, queried in a loop. ``fresh``: connect, query,
# close, in a loop. (Two processes: DuckDB shares one database instance between the connections
# of a process to the same file, so a held connection would pin the old snapshot for all of them.)
READER = textwrap.dedent(
    """
    import json, os, sys, time, duckdb
    path, stop, mode, query = sys.argv[1:5]
    seen, errors = {}, []
    def observe(con):
        try:
            state = json.dumps(con.execute(query).fetchone())
            seen[state] = seen.get(state, 0) + 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    held = duckdb.connect(path, read_only=True)
    observe(held)
    if mode == "fresh":
        held.close()
    print("ready", flush=True)
    deadline = None
    while True:
        if os.path.exists(stop):
            # held: stop now. fresh: stop once it has read the state the test expects (written to stop).
            if mode == "held" or open(stop).read() in seen:
                break
            deadline = deadline or time.monotonic() + 60
            if time.monotonic() > deadline:
                break
        time.sleep(0.02)
        if mode == "held":
            observe(held)
            continue
        try:
            con = duckdb.connect(path, read_only=True)
        except Exception as exc:
            errors.append(f"connect: {type(exc).__name__}: {exc}")
            continue
        observe(con)
        con.close()
    print(json.dumps({"seen": seen, "errors": errors}), flush=True)
    """
)


def _state(warehouse: Path) -> list:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return json.loads(json.dumps(con.execute(QUERY).fetchone()))
    finally:
        con.close()


def test_reader_sees_the_old_or_the_new_snapshot_never_a_mix(built, tmp_path) -> None:
    warehouse = _copy_warehouse(built["A_after_file_1"], tmp_path / "wh")
    folder = tmp_path / "in"
    _deliver(folder, 1)
    _deliver(folder, 2)
    old = _state(warehouse)
    stop = tmp_path / "stop"
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(warehouse), str(stop), mode, QUERY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("held", "fresh")
    }
    reports = {}
    try:
        for reader in readers.values():
            assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
        _reconcile(folder, warehouse, as_of=LATER)  # succeeds although readers hold the file open
        new = _state(warehouse)
    finally:
        stop.write_text(json.dumps(new) if "new" in locals() else "")
        for mode, reader in readers.items():
            out, err = reader.communicate(timeout=90)
            reports[mode] = (out, err)
    assert old != new
    count, as_of, exceptions, not_none, summarised, run_as_of, runs, _ = new
    assert (exceptions, summarised, run_as_of, runs) == (not_none, count, as_of, 2)
    seen = {}
    for mode, (out, err) in reports.items():
        report = json.loads(out.strip().splitlines()[-1])
        assert report["errors"] == [], err
        seen[mode] = [json.loads(state) for state in report["seen"]]
        for state in seen[mode]:
            assert state in (old, new), f"the {mode} reader saw a mixed snapshot {state}"
    # A connection opened before the run keeps reading the snapshot it opened ...
    assert seen["held"] == [old]
    # ... and a new connection after the swap reads the new one.
    assert new in seen["fresh"]


# ---------------------------------------------------------------------------------------------
# (d) SIGKILL at any point
# ---------------------------------------------------------------------------------------------

KILL_POINTS = ["random-early", "landed_logs", "order_outcomes", "quality_alerts"]


def _run_and_kill(warehouse: Path, folder: Path, point: str) -> str:
    """Start ``orders-pipeline reconcile`` and SIGKILL it right after ``point``; returns what happened."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orders_pipeline.cli",
            "reconcile",
            "--orders",
            str(folder / "orders"),
            "--callbacks",
            str(folder / "callbacks"),
            "--warehouse",
            str(warehouse),
            "--as-of",
            AS_OF,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watchdog = threading.Timer(180, proc.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        for line in proc.stderr:
            seen.append(line.rstrip())
            if point == "random-early" and line.startswith("reconciling "):
                delay = random.uniform(0.0, 2.0)
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                seen.append(f"<killed {delay:.2f}s after start of the run>")
                break
            if line.strip().startswith("done") and line.split()[1] == point:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"the run ended before step {point}: {seen}")
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, seen
    return "\n".join(seen)


def test_sigkill_at_any_step_leaves_the_warehouse_unchanged_and_the_next_run_recovers(built, tmp_path) -> None:
    folder = tmp_path / "in"
    _deliver(folder, 1)
    _deliver(folder, 2)
    clean = _tables(built["C"], COMPARED_TABLES)  # a clean run on a fresh warehouse, same inputs and as_of
    uninterrupted = _tables(built["A"], ("outcome_changes",))  # the same two runs, nobody killed
    warehouses = {point: _copy_warehouse(built["A_after_file_1"], tmp_path / point) for point in KILL_POINTS}
    before = {point: _sha256(warehouse) for point, warehouse in warehouses.items()}

    # The killed runs are independent (one warehouse each): run them side by side to save time.
    with ThreadPoolExecutor(max_workers=len(KILL_POINTS)) as pool:
        logs = dict(
            zip(KILL_POINTS, pool.map(lambda p: _run_and_kill(warehouses[p], folder, p), KILL_POINTS), strict=True)
        )

    for point, warehouse in warehouses.items():
        assert _sha256(warehouse) == before[point], f"killed after {point}, the warehouse changed:\n{logs[point]}"
        _reconcile(folder, warehouse)
        assert _tables(warehouse, COMPARED_TABLES) == clean, f"recovery after a kill after {point}"
        assert _tables(warehouse, ("outcome_changes",)) == uninterrupted
        con = duckdb.connect(str(warehouse), read_only=True)
        runs = con.execute("SELECT count(*), count(DISTINCT run_id) FROM recon.runs").fetchone()
        con.close()
        assert runs == (2, 2), "the killed run must not be recorded, the recovery run must"


def test_the_snapshot_holds_the_published_tables_and_no_bookkeeping(built) -> None:
    """The snapshot is a trimmed copy of the work database: recon tables, landed lines, currencies, nothing else."""
    con = configure(duckdb.connect(str(built["C"]), read_only=True))
    try:
        objects = set(
            con.execute(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                "WHERE table_catalog = current_database()"
            ).fetchall()
        )
        lines = con.execute("SELECT count(*) FROM recon.order_lines").fetchone()[0]
        callbacks = con.execute("SELECT count(*) FROM recon.callback_lines").fetchone()[0]
        landed, rejected, read = con.execute(
            "SELECT lines_landed, lines_rejected, lines_read FROM recon.runs ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        rejected_rows = con.execute("SELECT count(*) FROM recon.rejected_lines").fetchone()[0]
    finally:
        con.close()
    published = {("recon", t.name.split(".")[1], "BASE TABLE") for t in (*PUBLISHED_TABLES, *HISTORY_TABLES)}
    line_tables = {("recon", name, "BASE TABLE") for name in ("order_lines", "callback_lines", "statement_lines")}
    assert objects == published | line_tables | {("recon", "currencies", "BASE TABLE")}  # no landing schema
    assert lines + callbacks == landed
    assert rejected_rows == rejected
    assert landed + rejected == read


def test_publish_removes_staging_files_left_by_a_killed_run(built, tmp_path) -> None:
    from orders_pipeline.lib.warehouse.connection import Warehouse
    from orders_pipeline.lib.warehouse.publish import publish

    path = _copy_warehouse(built["C_first"], tmp_path / "wh")
    leftover = path.with_name(f"{path.name}.publishing-4194300")  # what `kill -9` during publish leaves
    shutil.copy(path, leftover)
    leftover.with_name(f"{leftover.name}.wal").write_bytes(b"")
    warehouse = Warehouse.at(path)
    with warehouse.work() as con:
        publish(con, warehouse, {"run_id": "after-the-kill", "status": "published"})
    assert sorted(p.name for p in path.parent.iterdir()) == ["warehouse.duckdb", "warehouse.work.duckdb"]
