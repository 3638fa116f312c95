"""The Spark engine gives the same published tables as the local engine (``pytest -m spark``; needs Java 17).

A generated corpus with every outcome, bad lines, duplicate files and native provider
statements is reconciled by both engines into two warehouses; every published table must be
identical, row for row, except the columns that name the run or time it. Then the late
statements arrive and both engines re-evaluate incrementally: identical again.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.cli import main
from orders_pipeline.devtools.generator import AS_OF, generate_corpus
from orders_pipeline.devtools.statements import generate_statements
from orders_pipeline.lib.common.vocabulary import OUTCOMES

pytestmark = pytest.mark.spark

ORDERS = 2000
# Columns that differ between any two runs whatever the engine: run ids, clocks, durations.
RUN_COLUMNS = {"run_id", "ingested_run_id", "started_at", "finished_at", "duration_seconds", "stage_seconds"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spark-corpus")
    generate_corpus(ORDERS, 5, root)
    generate_statements(ORDERS, 5, root)
    (root / "statements-all").mkdir()
    shutil.copytree(root / "statements", root / "statements-all", dirs_exist_ok=True)
    return root


def _reconcile(corpus: Path, statements: Path, warehouse: Path, engine: str, staging: Path) -> None:
    config = warehouse.with_suffix(".yaml")
    # Two local cores, at least four buckets: classification really is split and shuffled.
    config.write_text(f"spark:\n  master: local[2]\n  staging: {staging}\n  min_buckets: 4\n")
    args = [
        "reconcile",
        "--orders",
        str(corpus / "orders"),
        "--callbacks",
        str(corpus / "callbacks"),
        "--statements",
        str(statements),
        "--warehouse",
        str(warehouse),
        "--as-of",
        AS_OF.isoformat(),
        "--config",
        str(config),
        "--engine",
        engine,
        "--quiet",
    ]
    assert main(args) == 0


def _published(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY ALL"
        ).fetchall()
        published = {}
        for schema, table in tables:
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                    "AND table_catalog = current_database() ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in RUN_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            published[f"{schema}.{table}"] = con.execute(
                f'SELECT {select} FROM "{schema}"."{table}" ORDER BY ALL'
            ).fetchall()
        return published


def _assert_identical(local: Path, spark: Path) -> dict[str, list[tuple]]:
    expected, actual = _published(local), _published(spark)
    assert sorted(actual) == sorted(expected)
    for table, rows in expected.items():
        assert actual[table] == rows, f"{table} differs between the engines"
    return expected


def test_spark_engine_publishes_the_same_tables_as_the_local_engine(corpus: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    local, spark = tmp_path / "local.duckdb", tmp_path / "spark.duckdb"
    for engine, warehouse in (("local", local), ("spark", spark)):
        _reconcile(corpus, corpus / "statements-all", warehouse, engine, staging)
    tables = _assert_identical(local, spark)

    # The corpus really exercises the rules: every outcome, rejected lines, statement rows.
    with duckdb.connect(str(spark), read_only=True) as con:
        outcomes = {row[0] for row in con.execute("SELECT DISTINCT outcome FROM recon.order_outcomes").fetchall()}
        assert outcomes == set(OUTCOMES)
        assert con.execute("SELECT count(*) FROM recon.order_outcomes").fetchone()[0] >= ORDERS * 0.95
    assert tables["recon.rejected_lines"]
    assert tables["recon.statement_coverage"]
    # The run's staging folder is cleaned up behind it.
    assert not any(staging.rglob("*.parquet"))

    # Late statements arrive: both engines re-evaluate only what changed, and still agree.
    shutil.copytree(corpus / "statements-late", corpus / "statements-all", dirs_exist_ok=True)
    for engine, warehouse in (("local", local), ("spark", spark)):
        _reconcile(corpus, corpus / "statements-all", warehouse, engine, staging)
    _assert_identical(local, spark)


def test_both_engines_quarantine_an_unreadable_file_alike(tmp_path: Path) -> None:
    """A truncated .gz beside good files: recorded unreadable with the same counts and reason by both engines."""
    root = tmp_path / "in"
    generate_corpus(300, 3, root)
    good = sorted((root / "orders").glob("*.jsonl"))[0]
    (root / "orders" / "zz-truncated.jsonl.gz").write_bytes(gzip.compress(good.read_bytes() + b"\n")[:-40])
    (root / "statements").mkdir()
    staging = tmp_path / "staging"
    local, spark = tmp_path / "local.duckdb", tmp_path / "spark.duckdb"
    for engine, warehouse in (("local", local), ("spark", spark)):
        _reconcile(root, root / "statements", warehouse, engine, staging)
    tables = _assert_identical(local, spark)
    with duckdb.connect(str(spark), read_only=True) as con:
        status, reason, read, unreadable = con.execute(
            "SELECT status, reason, lines_read, lines_unreadable FROM recon.input_files "
            "WHERE file = 'zz-truncated.jsonl.gz'"
        ).fetchone()
    assert (status, reason.split(":")[0]) == ("unreadable", "truncated_gzip")
    assert read == unreadable > 0
    assert tables["recon.order_outcomes"]
