"""Incremental landing (``sync_landing``): the landed lines follow the files now in the folders.

Every test lands tiny JSONL files written in tmp_path into an in-memory DuckDB and compares
whole landing tables, so "identical" means row for row, column for column.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS
from orders_pipeline.lib.inputs import landing as landed_file
from orders_pipeline.lib.inputs import manifest as manifest_module
from orders_pipeline.lib.inputs.discovery import discover_files
from orders_pipeline.lib.inputs.manifest import SyncReport, ranked_lines_sql, sync_landing
from orders_pipeline.lib.outcomes.rules import classify_orders
from orders_pipeline.lib.warehouse.connection import configure
from orders_pipeline.lib.warehouse.contracts import MANIFEST
from orders_pipeline_tests.conftest import write_jsonl

LANDING_TABLES = ("landing.orders", "landing.callbacks", "landing.rejected_lines")


def _order(order_id: str, amount: str = "10.00", created_at: str = "2026-11-20T10:00:00Z") -> dict:
    return {
        "order_id": order_id,
        "merchant_id": "m1",
        "provider": "stripe",
        "amount": amount,
        "currency": "USD",
        "created_at": created_at,
    }


def _callback(order_id: str, status: str = "success", callback_id: str | None = None) -> dict:
    row = {
        "order_id": order_id,
        "provider": "stripe",
        "status": status,
        "amount": "10.00",
        "currency": "USD",
        "received_at": "2026-11-20T10:01:00Z",
    }
    if callback_id is not None:
        row["callback_id"] = callback_id
    return row


ORDERS_A = [_order("o1"), _order("o2", "2.50"), '{"order_id": "broken"']
CALLBACKS_A = [_callback("o1", callback_id="e1"), _callback("o2", status="nope")]


@pytest.fixture
def con():
    connection = configure(duckdb.connect())
    yield connection
    connection.close()


def _sync(con: duckdb.DuckDBPyConnection, root: Path, run_id: str = "run-1") -> SyncReport:
    files = {}
    for kind in (ORDERS, CALLBACKS):
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        files[kind] = discover_files(folder, kind)
    return sync_landing(con, files, Settings(), run_id)


def _table(con: duckdb.DuckDBPyConnection, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    """A whole table, every column (but ``exclude``), in a deterministic order."""
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            table.split("."),
        ).fetchall()
        if r[0] not in exclude
    ]
    listed = ", ".join(f'"{c}"' for c in columns)
    return con.execute(f"SELECT {listed} FROM {table} ORDER BY ALL").fetchall()


def _landed(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: _table(con, table) for table in LANDING_TABLES}


def _manifest(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict]:
    cursor = con.execute(f"SELECT * FROM {MANIFEST.qualified()}")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(row["kind"], row["file"]): row for row in rows}


def _files_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT DISTINCT file FROM {table}").fetchall()}


# ---------------------------------------------------------------------------------------------
# Re-delivered files
# ---------------------------------------------------------------------------------------------


def _land_in_arrival_order(con: duckdb.DuckDBPyConnection, root: Path, arrivals: list[list[str]]) -> SyncReport:
    """Deliver the same order and callback content under the names of each step, syncing after each."""
    report = None
    for step, names in enumerate(arrivals):
        for name in names:
            write_jsonl(root / ORDERS / name, ORDERS_A)
            write_jsonl(root / CALLBACKS / name, CALLBACKS_A)
        report = _sync(con, root, run_id=f"run-{step}")
    assert report is not None
    return report


@pytest.mark.parametrize(
    "arrivals",
    [[["a.jsonl"], ["b.jsonl"]], [["b.jsonl"], ["a.jsonl"]], [["a.jsonl", "b.jsonl"]]],
    ids=["original-first", "copy-sorting-earlier-arrives-second", "both-at-once"],
)
def test_redelivered_file_is_a_duplicate_whichever_arrived_first(tmp_path, arrivals) -> None:
    reference = configure(duckdb.connect())
    _land_in_arrival_order(reference, tmp_path / "reference", [["a.jsonl", "b.jsonl"]])

    con = configure(duckdb.connect())
    report = _land_in_arrival_order(con, tmp_path / "in", arrivals)

    # The first file in sorted relative-path order is the original, whatever arrived first.
    manifest = _manifest(con)
    for kind in (ORDERS, CALLBACKS):
        assert manifest[(kind, "a.jsonl")]["duplicate_of"] is None
        duplicate = manifest[(kind, "b.jsonl")]
        assert duplicate["status"] == "duplicate"
        assert duplicate["duplicate_of"] == "a.jsonl"
        assert (duplicate["lines_read"], duplicate["lines_landed"], duplicate["lines_rejected"]) == (0, 0, 0)
        assert manifest[(kind, "a.jsonl")]["sha256"] == duplicate["sha256"]
    assert report.statuses["duplicate"] == 2
    assert _files_of(con, "landing.orders") == _files_of(con, "landing.callbacks") == {"a.jsonl"}
    assert _landed(con) == _landed(reference)
    assert _table(
        con, MANIFEST.name, exclude=("mtime_ns", "inode", "ctime_ns", "seen_ns", "ingested_run_id", "status")
    ) == _table(
        reference, MANIFEST.name, exclude=("mtime_ns", "inode", "ctime_ns", "seen_ns", "ingested_run_id", "status")
    )


def test_copy_sorting_earlier_takes_over_and_is_reported_ingested(con, tmp_path) -> None:
    write_jsonl(tmp_path / ORDERS / "b.jsonl", ORDERS_A)
    _sync(con, tmp_path)
    shutil.copy(tmp_path / ORDERS / "b.jsonl", tmp_path / ORDERS / "a.jsonl")
    report = _sync(con, tmp_path, run_id="run-2")
    manifest = _manifest(con)
    assert manifest[(ORDERS, "a.jsonl")]["status"] == "ingested"
    assert manifest[(ORDERS, "a.jsonl")]["ingested_run_id"] == "run-2"
    assert manifest[(ORDERS, "b.jsonl")]["status"] == "duplicate"
    assert report.statuses == {"ingested": 1, "duplicate": 1, "removed": 0}
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM landing.rejected_lines").fetchone()[0] == 1


def test_gzipped_redelivery_is_a_duplicate_of_the_plain_file(con, tmp_path) -> None:
    plain = write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    (tmp_path / ORDERS / "b.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    _sync(con, tmp_path)
    assert _manifest(con)[(ORDERS, "b.jsonl.gz")]["duplicate_of"] == "a.jsonl"
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 2


@pytest.mark.parametrize("gz_name", ["0.jsonl.gz", "b.jsonl.gz"], ids=["gz-sorts-first", "gz-sorts-last"])
def test_compressed_copy_found_while_ingesting_lands_its_lines_once(con, tmp_path, gz_name) -> None:
    # Different sizes on disk: neither file is hashed before it is ingested, so the copy is only
    # recognised afterwards; the copy sorting later must still leave no line behind.
    plain = write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    (tmp_path / ORDERS / gz_name).write_bytes(gzip.compress(plain.read_bytes()))
    report = _sync(con, tmp_path)
    original, copy = sorted(["a.jsonl", gz_name])
    manifest = _manifest(con)
    assert manifest[(ORDERS, copy)]["duplicate_of"] == original
    assert manifest[(ORDERS, copy)]["lines_read"] == 0
    assert manifest[(ORDERS, original)]["status"] == "ingested"
    assert report.statuses == {"ingested": 1, "duplicate": 1, "removed": 0}
    assert _files_of(con, "landing.orders") == {original}
    assert _files_of(con, "landing.rejected_lines") == {original}
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 2


def test_compressed_copy_arriving_later_changes_nothing(con, tmp_path) -> None:
    plain = write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    _sync(con, tmp_path)
    landed = _landed(con)
    (tmp_path / ORDERS / "b.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    report = _sync(con, tmp_path, run_id="run-2")
    assert report.statuses == {"unchanged": 1, "duplicate": 1, "removed": 0}
    assert _landed(con) == landed
    assert con.execute("SELECT count(*) FROM landing.touched_orders").fetchone()[0] == 0


# ---------------------------------------------------------------------------------------------
# Changed and removed files
# ---------------------------------------------------------------------------------------------


def test_files_of_the_same_size_with_the_same_first_mebibyte_are_not_duplicates(con, tmp_path) -> None:
    prefix = "".join(json.dumps(_order(f"o{i}") | {"customer_id": "x" * 200}) + "\n" for i in range(5000))
    assert len(prefix) > 1 << 20
    for name in ("a", "b"):
        (tmp_path / "orders").mkdir(exist_ok=True)
        (tmp_path / "orders" / f"{name}.jsonl").write_text(prefix + json.dumps(_order(f"tail-{name}")) + "\n")
    report = _sync(con, tmp_path)
    manifest = _manifest(con)
    assert [manifest[(ORDERS, f"{name}.jsonl")]["duplicate_of"] for name in ("a", "b")] == [None, None]
    assert [manifest[(ORDERS, f"{name}.jsonl")]["lines_landed"] for name in ("a", "b")] == [5001, 5001]
    assert report.statuses["ingested"] == 2


def test_file_changed_after_ingestion_is_reingested_and_reported_changed(con, tmp_path) -> None:
    path = write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    _sync(con, tmp_path)
    new_content = [_order("o1", "11.00"), _order("o2", "2.50"), _order("o3")]
    write_jsonl(path, new_content)

    report = _sync(con, tmp_path, run_id="run-2")

    assert report.changed == ["orders/a.jsonl"]
    assert report.statuses["changed"] == 1
    row = _manifest(con)[(ORDERS, "a.jsonl")]
    assert (row["status"], row["ingested_run_id"]) == ("changed", "run-2")
    assert (row["lines_read"], row["lines_landed"], row["lines_rejected"]) == (3, 3, 0)
    # No double count: exactly the new content, the old lines (and the old bad line) are gone.
    amounts = con.execute("SELECT order_id, amount_minor FROM landing.orders ORDER BY order_id").fetchall()
    assert amounts == [("o1", 1100), ("o2", 250), ("o3", 1000)]
    assert con.execute("SELECT count(*) FROM landing.rejected_lines").fetchone()[0] == 0
    fresh = configure(duckdb.connect())
    _sync(fresh, tmp_path, run_id="fresh")
    assert _landed(con) == _landed(fresh)


def test_same_size_change_with_new_mtime_is_detected(con, tmp_path) -> None:
    path = write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1", "10.00")])
    _sync(con, tmp_path)
    before = path.stat()
    write_jsonl(path, [_order("o1", "20.00")])
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    report = _sync(con, tmp_path, run_id="run-2")
    assert report.changed == ["orders/a.jsonl"]
    assert con.execute("SELECT amount_minor FROM landing.orders").fetchall() == [(2000,)]


def test_in_place_change_with_size_and_mtime_restored_is_detected(con, tmp_path) -> None:
    """``touch -r``: the same size, the old mtime put back; only ctime (and the content) say it changed."""
    path = write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1", "12.50")])
    _sync(con, tmp_path)
    before = path.stat()
    with path.open("r+b") as handle:  # rewritten in place: the same inode
        handle.write(path.read_bytes().replace(b'"12.50"', b'"99.99"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)

    report = _sync(con, tmp_path, run_id="run-2")

    assert report.changed == ["orders/a.jsonl"]
    row = _manifest(con)[(ORDERS, "a.jsonl")]
    assert (row["status"], row["ingested_run_id"]) == ("changed", "run-2")
    assert con.execute("SELECT amount_minor FROM landing.orders").fetchall() == [(9999,)]
    fresh = configure(duckdb.connect())
    _sync(fresh, tmp_path, run_id="fresh")
    assert _landed(con) == _landed(fresh)
    assert row["sha256"] == _manifest(fresh)[(ORDERS, "a.jsonl")]["sha256"]


def test_a_file_replaced_by_another_of_the_same_size_and_mtime_is_detected(con, tmp_path) -> None:
    """A new file renamed over the old one (a new inode) with the old size and mtime."""
    path = write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1", "12.50")])
    _sync(con, tmp_path)
    before = path.stat()
    replacement = write_jsonl(tmp_path / "elsewhere.jsonl", [_order("o1", "99.99")])
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(path)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    report = _sync(con, tmp_path, run_id="run-2")

    assert report.changed == ["orders/a.jsonl"]
    assert con.execute("SELECT amount_minor FROM landing.orders").fetchall() == [(9999,)]


@pytest.fixture
def hashed_files(monkeypatch) -> list[str]:
    """The relative paths ``sync_landing`` hashes before deciding (not while ingesting), in call order."""
    hashed: list[str] = []
    real_hash = manifest_module.file_sha256

    def counting_hash(file):
        hashed.append(f"{file.kind}/{file.relative}")
        return real_hash(file)

    monkeypatch.setattr(manifest_module, "file_sha256", counting_hash)
    return hashed


def _settle(con: duckdb.DuckDBPyConnection) -> None:
    """Pretend the last sync looked at the files long after they were last changed (not in the same tick)."""
    con.execute(f"UPDATE {MANIFEST.qualified()} SET seen_ns = ctime_ns + 10_000_000_000")


def test_a_file_touched_without_a_change_is_hashed_once_and_stays_unchanged(
    con, tmp_path, parsed_files, hashed_files
) -> None:
    path = write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1")])
    _sync(con, tmp_path)
    _settle(con)
    path.chmod(0o600)  # a new ctime, the same bytes
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    parsed_files.clear()

    report = _sync(con, tmp_path, run_id="run-2")

    assert report.statuses == {"unchanged": 1, "removed": 0}
    assert parsed_files == []
    assert hashed_files == ["orders/a.jsonl"]  # the doubt is settled by the content
    row = _manifest(con)[(ORDERS, "a.jsonl")]
    assert (row["mtime_ns"], row["ctime_ns"]) == (path.stat().st_mtime_ns, path.stat().st_ctime_ns)
    _settle(con)
    hashed_files.clear()
    _sync(con, tmp_path, run_id="run-3")
    assert hashed_files == []  # the new stat was recorded: no hashing again


def test_a_file_seen_in_the_tick_it_was_last_changed_is_hashed_again(con, tmp_path, hashed_files) -> None:
    """A write in the same clock tick as the stat would leave ctime as it was: that stat proves nothing."""
    write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1")])
    _sync(con, tmp_path)
    con.execute(f"UPDATE {MANIFEST.qualified()} SET seen_ns = ctime_ns")
    _sync(con, tmp_path, run_id="run-2")
    assert hashed_files == ["orders/a.jsonl"]
    _settle(con)
    hashed_files.clear()
    _sync(con, tmp_path, run_id="run-3")
    assert hashed_files == []


def test_removed_file_lines_disappear(con, tmp_path) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1")])
    write_jsonl(tmp_path / ORDERS / "b.jsonl", [_order("o2"), '{"bad"'])
    write_jsonl(tmp_path / CALLBACKS / "b.jsonl", [_callback("o2")])
    _sync(con, tmp_path)
    (tmp_path / ORDERS / "b.jsonl").unlink()
    (tmp_path / CALLBACKS / "b.jsonl").unlink()

    report = _sync(con, tmp_path, run_id="run-2")

    assert sorted(report.removed) == ["callbacks/b.jsonl", "orders/b.jsonl"]
    assert report.statuses["removed"] == 2
    assert con.execute("SELECT order_id FROM landing.orders").fetchall() == [("o1",)]
    assert con.execute("SELECT count(*) FROM landing.callbacks").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM landing.rejected_lines").fetchone()[0] == 0
    assert set(_manifest(con)) == {(ORDERS, "a.jsonl")}


def test_removing_the_original_promotes_its_duplicate(con, tmp_path) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    write_jsonl(tmp_path / ORDERS / "b.jsonl", ORDERS_A)
    _sync(con, tmp_path)
    (tmp_path / ORDERS / "a.jsonl").unlink()
    report = _sync(con, tmp_path, run_id="run-2")
    assert report.removed == ["orders/a.jsonl"]
    row = _manifest(con)[(ORDERS, "b.jsonl")]
    assert (row["status"], row["duplicate_of"], row["lines_read"]) == ("ingested", None, 3)
    assert _files_of(con, "landing.orders") == _files_of(con, "landing.rejected_lines") == {"b.jsonl"}
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 2


# ---------------------------------------------------------------------------------------------
# Parsed once, idempotent, transactional
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def parsed_files(monkeypatch) -> list[str]:
    """The relative paths ``sync_landing`` hands to the parser, in call order."""
    parsed: list[str] = []
    real_ingest = landed_file.land_file

    def counting_ingest(file, *args, **kwargs):
        parsed.append(f"{file.kind}/{file.relative}")
        return real_ingest(file, *args, **kwargs)

    monkeypatch.setattr("orders_pipeline.lib.inputs.landing.land_file", counting_ingest)
    return parsed


def test_unchanged_file_is_not_parsed_again(con, tmp_path, parsed_files) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    write_jsonl(tmp_path / CALLBACKS / "a.jsonl", CALLBACKS_A)
    _sync(con, tmp_path)
    assert parsed_files == ["orders/a.jsonl", "callbacks/a.jsonl"]

    parsed_files.clear()
    report = _sync(con, tmp_path, run_id="run-2")
    assert parsed_files == []
    assert report.statuses == {"unchanged": 2, "removed": 0}

    write_jsonl(tmp_path / ORDERS / "b.jsonl", [_order("o9")])
    report = _sync(con, tmp_path, run_id="run-3")
    assert parsed_files == ["orders/b.jsonl"]
    assert report.statuses == {"unchanged": 2, "ingested": 1, "removed": 0}


def test_syncing_twice_leaves_every_landing_table_identical(con, tmp_path) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    write_jsonl(tmp_path / ORDERS / "copy.jsonl", ORDERS_A)
    (tmp_path / ORDERS / "c.csv").write_text(
        "order_id,merchant_id,provider,amount,currency,created_at\no7,m2,adyen,1000,JPY,2026-11-20T09:00:00Z\n"
    )
    write_jsonl(tmp_path / CALLBACKS / "a.jsonl", CALLBACKS_A)
    _sync(con, tmp_path)
    landed, manifest = _landed(con), _table(con, MANIFEST.name, exclude=("status", "seen_ns"))

    report = _sync(con, tmp_path, run_id="run-2")

    assert _landed(con) == landed
    # Only the per-sync status changes (ingested -> unchanged); ingested_run_id stays the first run's.
    assert _table(con, MANIFEST.name, exclude=("status", "seen_ns")) == manifest
    assert report.statuses == {"unchanged": 3, "duplicate": 1, "removed": 0}


def test_failed_sync_keeps_finished_files_and_the_next_sync_completes(con, tmp_path, monkeypatch) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", ORDERS_A)
    _sync(con, tmp_path)
    write_jsonl(tmp_path / ORDERS / "b.jsonl", [_order("o5")])
    write_jsonl(tmp_path / CALLBACKS / "a.jsonl", CALLBACKS_A)
    real_ingest = landed_file.land_file

    def ingest_then_crash(file, *args, **kwargs):
        result = real_ingest(file, *args, **kwargs)
        if file.kind == CALLBACKS:
            raise OSError("disk on fire")
        return result

    monkeypatch.setattr("orders_pipeline.lib.inputs.landing.land_file", ingest_then_crash)
    with pytest.raises(OSError, match="disk on fire"):
        _sync(con, tmp_path, run_id="run-2")
    # The order file finished before the crash stays landed with its manifest row; nothing of
    # the callback file that failed is left behind.
    assert _files_of(con, "landing.orders") == {"a.jsonl", "b.jsonl"}
    assert con.execute("SELECT count(*) FROM landing.callbacks").fetchone()[0] == 0
    assert set(_manifest(con)) == {(ORDERS, "a.jsonl"), (ORDERS, "b.jsonl")}

    monkeypatch.setattr("orders_pipeline.lib.inputs.landing.land_file", real_ingest)
    report = _sync(con, tmp_path, run_id="run-3")
    assert report.statuses == {"unchanged": 2, "ingested": 1, "removed": 0}
    reference = configure(duckdb.connect())
    _sync(reference, tmp_path)
    assert _landed(con) == _landed(reference)
    exclude = ("ingested_run_id", "status", "seen_ns")  # when each sync looked
    assert _table(con, MANIFEST.name, exclude=exclude) == _table(reference, MANIFEST.name, exclude=exclude)
    # Every file landed since the last classification is still waiting for it.
    assert {r[1] for r in con.execute("SELECT * FROM landing.unevaluated_files").fetchall()} == {"a.jsonl", "b.jsonl"}


# ---------------------------------------------------------------------------------------------
# Global reading order
# ---------------------------------------------------------------------------------------------

NAMES = [
    "b.jsonl",
    "a.jsonl",
    "a/z.jsonl",
    "A.jsonl",
    "10.jsonl",
    "9.jsonl",
    "a-b.jsonl",
    "sub/dir/x.jsonl",
    "\u00e9.jsonl",
    "_.jsonl",
]


def _assert_read_order_follows_sorted_paths(con: duckdb.DuckDBPyConnection, kind: str, names: list[str]) -> None:
    rank = {name: i for i, name in enumerate(sorted(names))}
    rows = con.execute(f"SELECT file, line_number, read_order FROM ({ranked_lines_sql(kind)})").fetchall()
    assert len({r[2] for r in rows}) == len(rows), "read_order must be unique"
    by_read_order = [(f, n) for f, n, _ in sorted(rows, key=lambda r: r[2])]
    by_spec = sorted(((f, n) for f, n, _ in rows), key=lambda r: (rank[r[0]], r[1]))
    assert by_read_order == by_spec


def test_ranked_lines_read_order_follows_sorted_relative_paths(con, tmp_path) -> None:
    # Land the files one sync at a time, in reverse order, so landing order differs from reading order.
    for i, name in enumerate(reversed(NAMES)):
        write_jsonl(tmp_path / ORDERS / name, [_order(f"{name}-1"), '{"bad"', _order(f"{name}-2")])
        write_jsonl(tmp_path / CALLBACKS / name, [_callback(f"{name}-1"), _callback(f"{name}-2")])
        _sync(con, tmp_path, run_id=f"run-{i}")
    assert [f.relative for f in discover_files(tmp_path / ORDERS, ORDERS)] == sorted(NAMES)
    for kind in (ORDERS, CALLBACKS):
        _assert_read_order_follows_sorted_paths(con, kind, NAMES)


def test_ranked_read_order_ignores_duplicates_and_removed_files(con, tmp_path) -> None:
    for name in ("a.jsonl", "c.jsonl", "d.jsonl"):
        write_jsonl(tmp_path / ORDERS / name, [_order(f"{name}-1"), _order(f"{name}-2")])
    write_jsonl(tmp_path / ORDERS / "b.jsonl", [_order("c.jsonl-1"), _order("c.jsonl-2")])  # copy of c.jsonl
    _sync(con, tmp_path)
    (tmp_path / ORDERS / "a.jsonl").unlink()
    _sync(con, tmp_path, run_id="run-2")
    rows = con.execute(f"SELECT file, line_number FROM ({ranked_lines_sql(ORDERS)}) ORDER BY read_order").fetchall()
    assert rows == [("b.jsonl", 1), ("b.jsonl", 2), ("d.jsonl", 1), ("d.jsonl", 2)]


def test_callback_in_the_257th_callback_file_still_counts(con, tmp_path) -> None:
    """Regression: the file rank sits at bit 32 of read_order, so past 256 files read_order is >= 2**40;
    the outcome keys must still decode it exactly (they once kept only 40 bits and lost this callback).
    """
    write_jsonl(tmp_path / ORDERS / "orders.jsonl", [_order("X"), _order("Y")])
    write_jsonl(tmp_path / CALLBACKS / "000.jsonl", [_callback("Y", callback_id="evt-y")])
    write_jsonl(tmp_path / CALLBACKS / "zzz.jsonl", [_callback("X", callback_id="evt-x")])
    _sync(con, tmp_path)
    # 255 more (empty) callback files sorting between the two: ingesting 257 real files takes ~15 s,
    # so they are registered in the manifest directly; only their rank matters to ranked_lines_sql.
    con.executemany(
        f"INSERT INTO {MANIFEST.qualified()} "
        "(kind, file, duplicate_of, lines_read, lines_landed, lines_rejected, status) "
        "VALUES ('callbacks', ?, NULL, 0, 0, 0, 'ingested')",
        [[f"pad/{i:03d}.jsonl"] for i in range(255)],
    )
    ranks = dict(con.execute(f"SELECT file, read_order >> 32 FROM ({ranked_lines_sql(CALLBACKS)})").fetchall())
    assert ranks == {"000.jsonl": 0, "zzz.jsonl": 256}

    frames = [con.sql(ranked_lines_sql(kind)).pl().lazy() for kind in (ORDERS, CALLBACKS)]
    as_of = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    outcomes = classify_orders(frames[0], frames[1], as_of, Settings()).collect()
    result = {row["order_id"]: (row["outcome"], row["callback_count"]) for row in outcomes.iter_rows(named=True)}
    assert result == {"X": ("confirmed", 1), "Y": ("confirmed", 1)}


def test_file_landed_by_a_run_killed_before_classification_is_still_evaluated(tmp_path) -> None:
    # Day 2026-11-20 is final as of mid-January: only new input can re-evaluate it.
    as_of = "2027-01-15T00:00:00Z"
    write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1")])
    (tmp_path / CALLBACKS).mkdir()
    warehouse = tmp_path / "w.duckdb"
    args = [
        "reconcile",
        "--orders",
        str(tmp_path / ORDERS),
        "--callbacks",
        str(tmp_path / CALLBACKS),
        "--warehouse",
        str(warehouse),
        "--as-of",
        as_of,
        "--quiet",
    ]
    assert cli.main(args) == 0
    # A run lands the success callback, then is killed before it classifies anything.
    write_jsonl(tmp_path / CALLBACKS / "a.jsonl", [_callback("o1")])
    work = configure(duckdb.connect(str(warehouse.with_name("w.work.duckdb"))))
    _sync(work, tmp_path, run_id="killed-run")
    work.close()
    assert cli.main(args) == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT outcome FROM recon.order_outcomes WHERE order_id = 'o1'").fetchone() == (
            "confirmed",
        )


# ---------------------------------------------------------------------------------------------
# Files that cannot be read
# ---------------------------------------------------------------------------------------------


def test_a_file_that_cannot_be_read_is_quarantined_and_read_again_next_time(con, tmp_path, parsed_files) -> None:
    write_jsonl(tmp_path / ORDERS / "a.jsonl", [_order("o1")])
    (tmp_path / ORDERS / "b.jsonl.gz").write_bytes(b"not gzip at all\n")

    report = _sync(con, tmp_path)

    assert report.statuses == {"ingested": 1, "unreadable": 1, "removed": 0}
    assert list(report.unreadable) == ["orders/b.jsonl.gz"]
    assert report.unreadable["orders/b.jsonl.gz"].startswith("not_gzip: ")
    row = _manifest(con)[(ORDERS, "b.jsonl.gz")]
    assert (row["status"], row["sha256"], row["lines_read"], row["lines_unreadable"]) == ("unreadable", None, 0, 0)
    assert _files_of(con, "landing.orders") == {"a.jsonl"}
    assert _files_of(con, "landing.unevaluated_files") == {"a.jsonl"}

    parsed_files.clear()
    report = _sync(con, tmp_path, run_id="run-2")
    assert parsed_files == ["orders/b.jsonl.gz"]  # no checksum: tried again, the good file not
    assert report.statuses == {"unchanged": 1, "unreadable": 1, "removed": 0}


def test_a_landed_file_that_becomes_unreadable_loses_its_lines(con, tmp_path) -> None:
    path = tmp_path / ORDERS / "a.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"".join(json.dumps(_order(f"o{i}")).encode() + b"\n" for i in range(3))))
    _sync(con, tmp_path)
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 3
    path.write_bytes(path.read_bytes()[:-12])  # the end of the stream lost

    report = _sync(con, tmp_path, run_id="run-2")

    assert report.statuses["unreadable"] == 1
    assert report.changed == []
    assert con.execute("SELECT count(*) FROM landing.orders").fetchone()[0] == 0
    touched = {r[0] for r in con.execute("SELECT order_id FROM landing.touched_orders").fetchall()}
    assert touched == {"o0", "o1", "o2"}  # their days are evaluated again
    row = _manifest(con)[(ORDERS, "a.jsonl.gz")]
    assert row["reason"].startswith("truncated_gzip: ")
    assert row["lines_read"] == row["lines_unreadable"]
