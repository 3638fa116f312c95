"""Reliability of publishing under hostile paths and failing writes.

A warehouse may live in any folder a user can name (quotes included); a publish that fails
leaves the published warehouse byte-identical and no staging file beside it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.common import faults
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.common.faults import FAULT_ENV
from orders_pipeline.lib.warehouse.connection import write_failure
from orders_pipeline.lib.warehouse.sql import transaction
from orders_pipeline_tests.conftest import AS_OF, EXPECTED_SMALL_OUTCOMES, write_small_logs


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


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A warehouse the small logs were published to once: the state each fault test starts from."""
    root = tmp_path_factory.mktemp("faults")
    logs = write_small_logs(root)
    warehouse = root / "wh" / "warehouse.duckdb"
    assert _reconcile(logs, warehouse) == 0
    return warehouse


def _faulted_run(published: Path, tmp_path: Path, monkeypatch, capsys, fault: str) -> tuple[int, str, Path]:
    """Copy ``published`` (and its work database), run again with ``ORDERS_PIPELINE_FAULT=fault``."""
    folder = tmp_path / "copy"
    shutil.copytree(published.parent, folder)
    warehouse = folder / published.name
    before = _sha256(warehouse)
    logs = (published.parent.parent / "in" / "orders", published.parent.parent / "in" / "callbacks")
    monkeypatch.setenv(FAULT_ENV, fault)
    capsys.readouterr()
    code = _reconcile(logs, warehouse)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    monkeypatch.delenv(FAULT_ENV)
    assert _sha256(warehouse) == before, f"{fault}: the published warehouse changed"
    assert _staging_files(folder) == [], f"{fault}: a staging file was left behind"
    return code, err, warehouse


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FAST_FAULTS = [
    ("order_outcomes:enospc", "order_outcomes failed: no space left on device at {work}; free space and re-run"),
    ("publish.snapshot:enospc", "reconciliation_warehouse failed: no space left on device at {staging}; "),
    ("publish.rename:eacces", "reconciliation_warehouse failed: permission denied writing {warehouse}; "),
]
SLOW_FAULTS = [
    ("landed_logs:enospc", "landed_logs failed: no space left on device at {work}; free space and re-run"),
    ("landed_logs:eacces", "landed_logs failed: permission denied writing {work}; restore write access to "),
    ("order_outcomes:eacces", "order_outcomes failed: permission denied writing {work}; "),
    ("quality_alerts:enospc", "quality_alerts failed: no space left on device at {work}; "),
    ("publish.copy:enospc", "reconciliation_warehouse failed: no space left on device at {staging}; "),
    ("publish.copy:eacces", "reconciliation_warehouse failed: permission denied writing {staging}; "),
    ("publish.snapshot:eacces", "reconciliation_warehouse failed: permission denied writing {staging}; "),
    ("publish.rename:enospc", "reconciliation_warehouse failed: no space left on device at {warehouse}; "),
]


def _check_fault_message(code: int, err: str, warehouse: Path, expected: str) -> None:
    paths = {
        "work": warehouse.with_name("warehouse.work.duckdb"),
        "warehouse": warehouse,
        "staging": f"{warehouse}.publishing-{os.getpid()}",
    }
    assert code == 2
    assert err.startswith(f"orders-pipeline: error: {expected.format(**paths)}"), err
    assert err.endswith("and re-run; the warehouse was not changed"), err


@pytest.mark.parametrize(("fault", "expected"), FAST_FAULTS)
def test_a_full_or_read_only_disk_is_one_line_and_the_snapshot_stays_intact(
    published, tmp_path, monkeypatch, capsys, fault, expected
) -> None:
    code, err, warehouse = _faulted_run(published, tmp_path, monkeypatch, capsys, fault)
    _check_fault_message(code, err, warehouse, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "expected"), SLOW_FAULTS)
def test_every_step_and_write_fails_cleanly(published, tmp_path, monkeypatch, capsys, fault, expected) -> None:
    code, err, warehouse = _faulted_run(published, tmp_path, monkeypatch, capsys, fault)
    _check_fault_message(code, err, warehouse, expected)


def test_the_run_after_a_full_disk_publishes_as_if_nothing_had_happened(
    published, tmp_path, monkeypatch, capsys
) -> None:
    code, _, warehouse = _faulted_run(published, tmp_path, monkeypatch, capsys, "publish.snapshot:enospc")
    assert code == 2
    logs = (published.parent.parent / "in" / "orders", published.parent.parent / "in" / "callbacks")
    assert _reconcile(logs, warehouse) == 0
    assert _outcomes(warehouse) == _outcomes(published)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM recon.runs").fetchone()[0] == 2  # the failed run is not recorded
    finally:
        con.close()


def test_an_unknown_fault_kind_is_a_one_line_error(published, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(FAULT_ENV, "order_outcomes:meteor")
    with pytest.raises(ConfigError, match="kind one of enospc, eacces"):
        faults.inject("order_outcomes", tmp_path)


def test_duckdb_io_errors_name_the_file_that_could_not_be_written(tmp_path) -> None:
    full = duckdb.IOException('IO Error: Could not write file "/data/wh.work.duckdb": No space left on device')
    failure = write_failure(full, tmp_path)
    assert str(failure) == "no space left on device at /data/wh.work.duckdb; free space and re-run"
    denied = duckdb.IOException('IO Error: Cannot open file "/data/x.tmp/batch=1": Permission denied')
    assert str(write_failure(denied, tmp_path)) == (
        f"permission denied writing /data/x.tmp/batch=1; restore write access to {tmp_path} and re-run"
    )
    assert write_failure(duckdb.CatalogException("Catalog Error: no table"), tmp_path) is None
    assert write_failure(OSError(errno.ENOENT, "No such file"), tmp_path) is None


def test_a_failed_commit_reports_its_own_error_not_the_rollback(tmp_path) -> None:
    """The full-disk attack printed "cannot rollback - no transaction is active" instead of the cause."""

    def commit_fails(con: duckdb.DuckDBPyConnection) -> None:
        with transaction(con):
            con.execute("COMMIT")  # what a failing COMMIT leaves: no transaction to roll back
            raise ValueError("the real cause")

    con = duckdb.connect()
    try:
        with pytest.raises(ValueError, match="the real cause"):
            commit_fails(con)
    finally:
        con.close()


def test_a_memory_limit_that_is_not_a_size_is_a_one_line_error(small_logs, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ORDERS_PIPELINE_DUCKDB_MEMORY", "2GB'; DROP TABLE x; --")
    assert _reconcile(small_logs, tmp_path / "warehouse.duckdb") == 2
    err = capsys.readouterr().err
    assert "ORDERS_PIPELINE_DUCKDB_MEMORY=" in err
    assert "set it like 2GB or 512MB, or unset it" in err
    assert "Traceback" not in err
    assert not (tmp_path / "warehouse.duckdb").exists()
