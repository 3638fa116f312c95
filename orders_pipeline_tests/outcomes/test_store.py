"""replace_days: outcomes are replaced whole or not at all, and bookkeeping is cleared with them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
from orders_pipeline.lib.outcomes.store import NEXT_OUTCOMES, OUTCOMES_TABLE, replace_days
from orders_pipeline.lib.warehouse.contracts import ORDER_OUTCOMES, TOUCHED_ORDERS, UNEVALUATED_FILES


def _outcomes(*order_ids: str, day: int = 20) -> pa.Table:
    rows = {name: [None] * len(order_ids) for name in ORDER_OUTCOMES.polars_schema()}
    rows["order_id"] = list(order_ids)
    rows["created_at"] = [datetime(2026, 11, day, 9, tzinfo=UTC)] * len(order_ids)
    rows["outcome"] = ["pending"] * len(order_ids)
    return pl.DataFrame(rows, schema=ORDER_OUTCOMES.polars_schema()).to_arrow()


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA recon")
    ensure_landing_tables(con)
    con.execute(f"INSERT INTO {UNEVALUATED_FILES.qualified()} VALUES ('orders', 'a.jsonl')")
    con.execute(f"INSERT INTO {TOUCHED_ORDERS.qualified()} VALUES ('run-1', 'o-old')")
    yield con
    con.close()


def _ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT order_id FROM {OUTCOMES_TABLE} ORDER BY 1").fetchall()]


def _pending(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        f"SELECT (SELECT count(*) FROM {UNEVALUATED_FILES.qualified()}) "
        f"+ (SELECT count(*) FROM {TOUCHED_ORDERS.qualified()})"
    ).fetchone()[0]


def test_full_evaluation_replaces_every_row_and_drops_a_half_built_table(con) -> None:
    replace_days(con, None, iter([_outcomes("o-old")]))
    con.execute(f"CREATE TABLE {NEXT_OUTCOMES.qualified()} AS SELECT * FROM {OUTCOMES_TABLE}")  # left by a killed run
    con.execute(f"INSERT INTO {UNEVALUATED_FILES.qualified()} VALUES ('orders', 'b.jsonl')")
    replace_days(con, None, iter([_outcomes("o1", "o2"), _outcomes("o3"), _outcomes()]))
    assert _ids(con) == ["o1", "o2", "o3"]
    assert _pending(con) == 0
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'recon'").fetchall()
    }
    assert tables == {"order_outcomes"}


def test_full_evaluation_with_no_batch_leaves_an_empty_table(con) -> None:
    replace_days(con, None, iter([]))
    assert _ids(con) == []
    assert _pending(con) == 0


@pytest.mark.parametrize("days", [None, [date(2026, 11, 20)]], ids=["full", "by-day"])
def test_a_failure_midway_keeps_the_old_outcomes_and_the_pending_lines(con, days) -> None:
    replace_days(con, None, iter([_outcomes("o-old")]))
    con.execute(f"INSERT INTO {UNEVALUATED_FILES.qualified()} VALUES ('orders', 'b.jsonl')")

    def batches() -> Iterator[pa.Table]:
        yield _outcomes("o1")
        raise RuntimeError("killed while classifying")

    with pytest.raises(RuntimeError):
        replace_days(con, days, batches())
    assert _ids(con) == ["o-old"]
    assert _pending(con) == 1


def test_by_day_replaces_those_days_and_keeps_the_others(con) -> None:
    replace_days(con, None, iter([_outcomes("o19", day=19), _outcomes("o20", day=20)]))
    replace_days(con, [date(2026, 11, 20)], iter([_outcomes("o20b", day=20)]))
    assert _ids(con) == ["o19", "o20b"]
