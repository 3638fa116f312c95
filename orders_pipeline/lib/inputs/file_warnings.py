"""File-level problems found while reading: one warning line per file, from what the landing tables recorded.

A CSV file without a header row has every line rejected ``no_header``
(:mod:`~orders_pipeline.lib.inputs.ingest`); the reason is recorded line by line, and this
module turns it into one line naming the file, for the run's log. Computed from the landing
tables, so the warning comes back every run until the file is fixed, not only the run that
read it.
"""

from __future__ import annotations

import duckdb

from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES


def file_warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per current input file with a file-level problem, sorted by kind and file."""
    rows = con.execute(
        f"SELECT kind, file, min(line_number), count(*) FROM {REJECTED_LINES.qualified()} "
        "WHERE reason = 'no_header' GROUP BY kind, file ORDER BY kind, file"
    ).fetchall()
    return [
        f"{kind} file {file} has no header row (line {first} names none of the expected columns): "
        f"its {count} line(s) were rejected as no_header; re-deliver it with its header"
        for kind, file, first, count in rows
    ]
