"""File-level problems found while reading: one warning line per file, from what the landing tables recorded.

A file that cannot be read is quarantined (:mod:`~orders_pipeline.lib.inputs.manifest`,
status ``unreadable``); this module names it, with its reason.

A CSV file without a header row has every line rejected ``no_header``, one whose header names
a read column twice ``duplicate_column`` (:mod:`~orders_pipeline.lib.inputs.ingest`); the
reason is recorded line by line, and this module turns it into one line naming the file, for
the run's log. Computed from the landing
tables, so the warning comes back every run until the file is fixed, not only the run that
read it.
"""

from __future__ import annotations

import duckdb

from orders_pipeline.lib.warehouse.contracts import MANIFEST, REJECTED_LINES


def file_warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One line per current input file with a file-level problem, sorted by kind and file."""
    unreadable = con.execute(
        f"SELECT kind, file, reason, lines_unreadable FROM {MANIFEST.qualified()} "
        "WHERE status = 'unreadable' ORDER BY kind, file"
    ).fetchall()
    rows = con.execute(
        f"SELECT kind, file, reason, count(*), arg_min(message, line_number) FROM {REJECTED_LINES.qualified()} "
        "WHERE reason IN ('no_header', 'duplicate_column') GROUP BY ALL ORDER BY kind, file"
    ).fetchall()
    return [
        f"{kind} file {file} cannot be read ({reason}): quarantined, its {lines} readable line(s) counted "
        "unreadable and nothing landed; re-deliver a good copy"
        for kind, file, reason, lines in unreadable
    ] + [
        f"{kind} file {file}: {message.split('; ')[0]}: all {count} line(s) rejected as {reason}"
        for kind, file, reason, count, message in rows
    ]
