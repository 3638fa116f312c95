"""The published warehouse as an analyst meets it: only ``recon``, every table and column described,
exact major-unit amounts beside the minor units, a currencies table, typed JSON, no reserved
words, and a file the DuckDB CLI from the package registry opens read-only.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders_pipeline import cli
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, major_units_sql
from orders_pipeline.lib.warehouse.connection import STORAGE_VERSION, Warehouse, configure, storage_version
from orders_pipeline.lib.warehouse.contracts import RUNS, published_contracts, quote_identifier
from orders_pipeline_tests.conftest import AS_OF, write_small_logs

# The DuckDB CLI the test extra installs (duckdb-cli on the package registry), beside this Python.
DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


# How duckdb_columns() spells the contracts' types that it spells differently.
_DUCKDB_SPELLING = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("analyst")
    orders, callbacks = write_small_logs(folder)
    path = folder / "warehouse.duckdb"
    argv = ["reconcile", "--orders", str(orders), "--callbacks", str(callbacks), "--warehouse", str(path)]
    for as_of in (AS_OF, "2026-11-20T12:30:00Z"):  # twice: history is carried into the second snapshot
        assert cli.main([*argv, "--as-of", as_of, "--quiet"]) == 0
    return path


@pytest.fixture
def con(warehouse: Path):
    connection = configure(duckdb.connect(str(warehouse), read_only=True))
    yield connection
    connection.close()


def test_only_recon_is_published_and_every_table_and_column_is_described(con) -> None:
    schemas = {row[0] for row in con.execute("SELECT schema_name FROM duckdb_schemas() WHERE NOT internal").fetchall()}
    assert schemas <= {"recon", "main"}
    objects = con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name, view_name, comment FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    expected = {table.name: table for table in published_contracts()}
    assert {f"{schema}.{name}" for schema, name, _ in objects} == set(expected)
    for schema, name, comment in objects:
        assert comment == expected[f"{schema}.{name}"].description
    columns = con.execute(
        "SELECT schema_name || '.' || table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() ORDER BY schema_name, table_name, column_index"
    ).fetchall()
    published: dict[str, list[tuple[str, str, str]]] = {}
    for table, column, data_type, comment in columns:
        assert (comment or "").strip(), f"{table}.{column} has no comment"
        published.setdefault(table, []).append((column, data_type, comment))
    for name, table in expected.items():
        described = [(c.name, _DUCKDB_SPELLING.get(c.type, c.type), c.description) for c in table.published_columns]
        assert published[name] == described, name


def test_no_published_column_is_a_reserved_word(con) -> None:
    reserved = {
        row[0]
        for row in con.execute(
            "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
        ).fetchall()
    }
    assert "limit" in reserved  # the check itself can fail: quality_alerts once had a "limit" column
    names = {row[0] for row in con.execute("SELECT column_name FROM duckdb_columns() WHERE NOT internal").fetchall()}
    assert not names & reserved
    assert "threshold" in {row[0] for row in con.execute("DESCRIBE recon.quality_alerts").fetchall()}


def test_json_columns_are_typed_json_and_hold_json(con) -> None:
    json_columns = [c.name for c in RUNS.columns if c.type == "JSON"]
    assert json_columns == [
        "input_files",
        "callback_verification",
        "outcome_counts",
        "check_results",
        "stage_seconds",
    ]
    types = dict(
        con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'runs'").fetchall()
    )
    assert {name: types[name] for name in json_columns} == dict.fromkeys(json_columns, "JSON")
    counts = con.execute(
        "SELECT outcome_counts->>'confirmed', json_array_length(input_files), stage_seconds->>'publish' IS NOT NULL "
        "FROM recon.runs ORDER BY finished_at DESC LIMIT 1"
    ).fetchone()
    assert counts == ("1", 2, True)


def test_currencies_table_holds_every_accepted_code_with_its_exponent(con) -> None:
    rows = {code: (exponent, unit) for code, exponent, unit in con.execute("SELECT * FROM recon.currencies").fetchall()}
    assert {code: exponent for code, (exponent, _) in rows.items()} == CURRENCY_EXPONENTS
    assert rows["USD"] == (2, Decimal("0.0100"))
    assert rows["JPY"] == (0, Decimal("1.0000"))
    assert rows["KWD"] == (3, Decimal("0.0010"))
    assert rows["CLF"] == (4, Decimal("0.0001"))


def test_major_amounts_are_exact_beside_the_minor_units(con) -> None:
    by_order = dict(con.execute("SELECT order_id, amount FROM recon.order_outcomes").fetchall())
    assert by_order["o-confirmed"] == Decimal("12.50")  # 1250 USD minor units
    assert by_order["o-mismatch"] == Decimal("1000")  # JPY has no minor unit
    assert by_order["o-missing"] == Decimal("100")
    checked = 0
    for table in published_contracts():
        for major in table.major_amounts():
            wrong, non_null = con.execute(
                f"SELECT count(*) FILTER (WHERE t.{quote_identifier(major.column.name)} IS DISTINCT FROM "
                f"t.{quote_identifier(major.minor)} * c.minor_unit), count(t.{quote_identifier(major.column.name)}) "
                f"FROM {table.qualified()} AS t LEFT JOIN recon.currencies AS c "
                f"ON c.code = t.{quote_identifier(major.currency)}"
            ).fetchone()
            assert wrong == 0, f"{table.name}.{major.column.name}"
            checked += non_null
    assert checked > 50


@settings(max_examples=200, deadline=None)
@given(minor=st.integers(min_value=-(2**63), max_value=2**63 - 1), currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_major_units_sql_is_exact_for_any_bigint(minor: int, currency: str) -> None:
    value = duckdb.sql(
        f"SELECT {major_units_sql('m', 'c')} FROM (SELECT ?::BIGINT AS m, ? AS c)", params=[minor, currency]
    )
    assert value.fetchall()[0][0] == Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency])


def test_unknown_or_missing_currency_gives_no_major_amount() -> None:
    rows = duckdb.sql(
        f"SELECT {major_units_sql('m', 'c')} FROM (VALUES (5::BIGINT, 'XAU'), (5, NULL), (NULL, 'USD')) t(m, c)"
    )
    assert rows.fetchall() == [(None,), (None,), (None,)]


def test_the_registry_duckdb_cli_opens_the_warehouse_read_only(warehouse: Path) -> None:
    """The README's analyst command, with the CLI the extras install (the test extra includes it)."""
    assert DUCKDB_CLI.exists(), f"{DUCKDB_CLI} missing: pip install -e '.[test]' installs duckdb-cli"
    version = subprocess.run([str(DUCKDB_CLI), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1.5."), version  # the registry's CLI is DuckDB 1.5, not the library's 2.x
    before = warehouse.read_bytes()
    done = subprocess.run(
        [
            str(DUCKDB_CLI),
            "-readonly",
            "-csv",
            str(warehouse),
            "SELECT outcome, count(*) AS orders, sum(amount) AS amount FROM recon.order_outcomes "
            "WHERE currency = 'USD' GROUP BY ALL ORDER BY outcome",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "outcome,orders,amount"
    assert "confirmed,1,12.5000" in done.stdout.splitlines()
    assert warehouse.read_bytes() == before
    comment = subprocess.run(
        [
            str(DUCKDB_CLI),
            "-readonly",
            "-noheader",
            "-list",
            str(warehouse),
            "SELECT comment FROM duckdb_tables() WHERE table_name = 'currencies'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert comment.startswith("Every ISO 4217 currency")


def test_a_work_database_in_a_newer_storage_format_is_converted_keeping_its_tables(tmp_path) -> None:
    warehouse = Warehouse.at(tmp_path / "warehouse.duckdb")
    old = duckdb.connect(str(warehouse.work_path))  # DuckDB 2's own format, as earlier versions wrote it
    old.execute("CREATE SCHEMA landing; CREATE TABLE landing.kept AS SELECT range AS n FROM range(1000)")
    assert storage_version(old) != f"{STORAGE_VERSION}+"
    old.close()
    with warehouse.work() as con:
        assert storage_version(con) == f"{STORAGE_VERSION}+"
        assert con.execute("SELECT count(*), sum(n) FROM landing.kept").fetchone() == (1000, 499500)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.work.duckdb"]
