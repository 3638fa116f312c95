"""Without statements, every published table is what it was before statements existed.

``fixtures/golden/sample_tables_without_statements.json`` holds, for two runs over the bundled
sample (``data/sample``, as of its ``AS_OF`` and a day later), the row count and a digest of
every ``recon`` table, column by column as the pipeline published them before provider
statements were added (main at 805929e). The same two runs today must publish the same rows in
those columns; the columns statements added must be their "no statement" values; the tables
statements added must be empty. Regenerate the file only for a change that is meant to alter
the tables of runs without statements (``python -m orders_pipeline_tests.warehouse.test_without_statements``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import duckdb
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.warehouse.connection import configure

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
GOLDEN = REPO / "orders_pipeline_tests" / "fixtures" / "golden" / "sample_tables_without_statements.json"
RUNS = (("first", (SAMPLE / "AS_OF").read_text().strip()), ("second", "2026-11-21T12:00:00Z"))
# What a run did with a file and which run first parsed it, and the run log, are per run.
PER_RUN = {"input_files": ("status", "ingested_run_id"), "outcome_changes": ("run_id",)}
SKIPPED_TABLES = ("runs",)
# Tables statements added: a run without statements leaves them empty.
STATEMENT_TABLES = ("statement_lines", "statement_coverage", "orphan_statement_lines", "ignored_records")


def digests(warehouse: Path, columns_of: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Row count and SHA-256 of the sorted rows of every recon table (only ``columns_of[table]`` when given)."""
    con = configure(duckdb.connect(str(warehouse), read_only=True))
    try:
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'recon' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            if table in SKIPPED_TABLES:
                continue
            present = [
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'recon' AND table_name = ? "
                    "ORDER BY column_index",
                    [table],
                ).fetchall()
                if row[0] not in PER_RUN.get(table, ())
            ]
            columns = columns_of.get(table, present) if columns_of else present
            listed = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f"SELECT {listed} FROM recon.{table} ORDER BY ALL").fetchall()
            out[table] = {
                "columns": columns,
                "rows": len(rows),
                "sha256": hashlib.sha256(repr(rows).encode()).hexdigest(),
            }
        return out
    finally:
        con.close()


def _run(warehouse: Path, as_of: str) -> None:
    argv = ["reconcile", "--orders", str(SAMPLE / "orders"), "--callbacks", str(SAMPLE / "callbacks")]
    assert cli.main([*argv, "--warehouse", str(warehouse), "--as-of", as_of, "--quiet"]) == 0


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("without_statements")
    warehouse = root / "warehouse.duckdb"
    copies = {}
    for label, as_of in RUNS:
        _run(warehouse, as_of)
        copy = root / f"{label}.duckdb"
        copy.write_bytes(warehouse.read_bytes())
        copies[label] = copy
    return copies


@pytest.mark.parametrize("label", [label for label, _ in RUNS])
def test_every_table_of_a_run_without_statements_is_unchanged(published: dict[str, Path], label: str) -> None:
    golden = json.loads(GOLDEN.read_text())[label]["tables"]
    now = digests(published[label], {table: entry["columns"] for table, entry in golden.items()})
    for table, entry in golden.items():
        assert now[table] == entry, f"recon.{table} differs from before statements"


@pytest.mark.parametrize("label", [label for label, _ in RUNS])
def test_statement_columns_say_none_and_statement_tables_are_empty(published: dict[str, Path], label: str) -> None:
    con = configure(duckdb.connect(str(published[label]), read_only=True))
    try:
        statuses = con.execute(
            "SELECT statement_status, count(*), count(statement_amount_minor) FROM recon.order_outcomes GROUP BY 1"
        ).fetchall()
        assert [(status, nonnull) for status, _, nonnull in statuses] == [("none", 0)]
        for table in STATEMENT_TABLES:
            assert con.execute(f"SELECT count(*) FROM recon.{table}").fetchone() == (0,), table
        new_outcomes = con.execute(
            "SELECT sum(unsettled_count + callback_lost_count + not_at_provider_count) FROM recon.daily_summary"
        ).fetchone()
        assert new_outcomes == (0,)
        assert con.execute("SELECT count(*) FROM recon.input_files WHERE lines_ignored <> 0").fetchone() == (0,)
    finally:
        con.close()


def _regenerate() -> None:  # pragma: no cover - run by hand, see the module docstring
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse.duckdb"
        result = {}
        for label, as_of in RUNS:
            _run(warehouse, as_of)
            result[label] = {"as_of": as_of, "tables": digests(warehouse)}
    GOLDEN.write_text(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    _regenerate()
    sys.exit(0)
