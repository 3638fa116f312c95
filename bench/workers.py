"""The benchmark's measured programs, each run by bench/run.py in a fresh process.

    python bench/workers.py floor --orders DIR --callbacks DIR --db FILE
    python bench/workers.py baseline --orders DIR --callbacks DIR --as-of T --out FILE.parquet

Each prints one JSON object on its last stdout line (row counts and its own inner timings);
the wall time and peak RSS are measured from outside by run.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ORDER_COLUMNS = {
    "order_id": "VARCHAR",
    "merchant_id": "VARCHAR",
    "provider": "VARCHAR",
    "amount": "DECIMAL(38,4)",
    "currency": "VARCHAR",
    "created_at": "TIMESTAMPTZ",
    "customer_id": "VARCHAR",
    "request_id": "VARCHAR",
    "source": "VARCHAR",
    "seq": "BIGINT",
}
CALLBACK_COLUMNS = {
    "order_id": "VARCHAR",
    "provider": "VARCHAR",
    "status": "VARCHAR",
    "amount": "DECIMAL(38,4)",
    "currency": "VARCHAR",
    "received_at": "TIMESTAMPTZ",
    "event_time": "TIMESTAMPTZ",
    "callback_id": "VARCHAR",
    "provider_txn_id": "VARCHAR",
    "source": "VARCHAR",
    "seq": "BIGINT",
}


def _files(folder: Path) -> list[str]:
    """Every log file under ``folder``, in sorted relative-path order."""
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _duckdb_struct(columns: dict[str, str]) -> str:
    """A ``columns={...}`` literal for DuckDB's read_json."""
    return "{" + ", ".join(f"{name}: '{dtype}'" for name, dtype in columns.items()) + "}"


def run_floor(orders: Path, callbacks: Path, db: Path) -> dict:
    """Read both logs fully into typed DuckDB tables, and nothing else: the I/O and parsing floor.

    Bad lines become null rows (``ignore_errors``): nothing is validated or classified.
    """
    import duckdb

    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    rows = {}
    for table, folder, columns in (("orders", orders, ORDER_COLUMNS), ("callbacks", callbacks, CALLBACK_COLUMNS)):
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_json(?, format = 'newline_delimited', "
            f"ignore_errors = true, columns = {_duckdb_struct(columns)})",
            [_files(folder)],
        )
        rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    con.close()
    return {"rows": rows}


def run_baseline(orders: Path, callbacks: Path, as_of: str, out: Path) -> dict:
    """The pandas baseline end to end; its outcomes are written to ``out`` for the comparison."""
    import baseline

    timings = {}
    started = time.perf_counter()
    order_lines = baseline.load_orders(orders)
    callback_lines = baseline.load_callbacks(callbacks)
    timings["read_validate"] = time.perf_counter() - started
    started = time.perf_counter()
    result = baseline.reconcile_frames(order_lines, callback_lines, as_of)
    timings["classify"] = time.perf_counter() - started
    result.to_parquet(out, index=False)
    return {
        "orders": len(result),
        "lines_landed": len(order_lines) + len(callback_lines),
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run one worker, print its JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worker", choices=("floor", "baseline"))
    parser.add_argument("--orders", type=Path, required=True)
    parser.add_argument("--callbacks", type=Path, required=True)
    parser.add_argument("--db", type=Path, help="floor: the DuckDB file to write")
    parser.add_argument("--as-of", help="baseline: the as-of time")
    parser.add_argument("--out", type=Path, help="baseline: the parquet file of outcomes")
    args = parser.parse_args(argv)
    if args.worker == "floor":
        summary = run_floor(args.orders, args.callbacks, args.db)
    else:
        summary = run_baseline(args.orders, args.callbacks, args.as_of, args.out)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
