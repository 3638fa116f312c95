"""Reliability of publishing under hostile paths and failing writes.

A warehouse may live in any folder a user can name (quotes included); a publish that fails
leaves the published warehouse byte-identical and no staging file beside it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from orders_pipeline import cli
from orders_pipeline.lib.warehouse import publish as publishing
from orders_pipeline_tests.conftest import AS_OF, EXPECTED_SMALL_OUTCOMES


def _reconcile(logs: tuple[Path, Path], warehouse: Path) -> int:
    orders, callbacks = logs
    return cli.main(
        [
            "reconcile",
            "--orders",
            str(orders),
            "--callbacks",
            str(callbacks),
            "--warehouse",
            str(warehouse),
            "--as-of",
            AS_OF,
            "--quiet",
        ]
    )


def _outcomes(warehouse: Path) -> dict[str, str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
    finally:
        con.close()


def _staging_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".publishing-" in p.name)


def test_a_warehouse_path_with_quotes_publishes_and_leaves_no_staging_file(small_logs, tmp_path, capsys) -> None:
    warehouse = tmp_path / "finance's share" / "o'brien.duckdb"
    assert _reconcile(small_logs, warehouse) == 0, capsys.readouterr().err
    # Twice: the second publish also attaches the previous snapshot by its path.
    assert _reconcile(small_logs, warehouse) == 0, capsys.readouterr().err
    outcomes = _outcomes(warehouse)
    assert {k: outcomes[k] for k in EXPECTED_SMALL_OUTCOMES} == EXPECTED_SMALL_OUTCOMES
    assert _staging_files(warehouse.parent) == []


def test_a_failed_publish_leaves_the_warehouse_unchanged_and_no_staging_file(
    small_logs, tmp_path, monkeypatch, capsys
) -> None:
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    assert _reconcile(small_logs, warehouse) == 0
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()

    def fail(con: duckdb.DuckDBPyConnection) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publishing, "_comment_published", fail)
    capsys.readouterr()
    assert _reconcile(small_logs, warehouse) == 2
    assert "the warehouse was not changed" in capsys.readouterr().err
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert _staging_files(warehouse.parent) == []


def test_a_memory_limit_that_is_not_a_size_is_a_one_line_error(small_logs, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ORDERS_PIPELINE_DUCKDB_MEMORY", "2GB'; DROP TABLE x; --")
    assert _reconcile(small_logs, tmp_path / "warehouse.duckdb") == 2
    err = capsys.readouterr().err
    assert "ORDERS_PIPELINE_DUCKDB_MEMORY=" in err
    assert "set it like 2GB or 512MB, or unset it" in err
    assert "Traceback" not in err
    assert not (tmp_path / "warehouse.duckdb").exists()
