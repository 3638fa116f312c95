"""Incremental landing: keep the work database's landed lines in step with the landing folders.

The landed lines of a run are exactly those of the files under the order and callback paths
*now* — a deterministic function of the file set, whatever order the files arrived in — but
each file is parsed only once, ever:

* a file whose (size, mtime) is unchanged since it was last seen keeps its checksum and lines;
* a new file is hashed (SHA-256 of its decompressed content; while it is ingested when no
  other file has its size, so it is read once). Among files of one kind with
  the same checksum, the first in sorted relative-path order is the original and the others
  are duplicates (skipped, recorded with ``duplicate_of``) — so a re-delivery under another
  name changes nothing, and neither does the order the two arrived in;
* a file whose content changed after it was ingested is re-ingested (its old lines removed
  first) and reported with status ``changed``: never silently double-counted;
* a file that disappeared from the folder has its lines removed, and is reported ``removed``.

Landed lines keep ``read_order`` as the line's position within its file; the global reading
order the SPEC defines ("files in sorted relative-path order, lines in file order") is
recomputed at classification time from the current file ranks (:func:`ranked_lines_sql`).

The manifest is ``landing.ingested_files``. Each file is landed in its own transaction
together with its manifest row, so memory stays flat however much one run ingests (one
transaction over tens of millions of lines holds them all in memory until it commits), and a
run killed mid-ingestion keeps every file it finished: the next run goes on from there and
never lands a file twice. Files landed but not classified yet are listed in
``landing.unevaluated_files``, orders whose lines were removed in ``landing.touched_orders``;
the classification that re-evaluates their days clears both in the transaction that writes its
outcomes, so a run killed in between loses nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

from orders_pipeline.lib.config import Settings
from orders_pipeline.lib.ingestion import DuckDBSink, InputFile, file_sha256, ingest
from orders_pipeline.lib.schema import CALLBACKS, ORDERS
from orders_pipeline.lib.warehouse import transaction

MANIFEST = "landing.ingested_files"
LANDED_TABLE = {ORDERS: "landing.orders", CALLBACKS: "landing.callbacks"}

MANIFEST_DDL = f"""
CREATE TABLE IF NOT EXISTS {MANIFEST} (
    kind VARCHAR,
    file VARCHAR,
    size_bytes BIGINT,
    mtime_ns BIGINT,
    sha256 VARCHAR,
    duplicate_of VARCHAR,
    lines_read BIGINT,
    lines_landed BIGINT,
    lines_rejected BIGINT,
    ingested_run_id VARCHAR,
    status VARCHAR
)
"""

# Orders whose lines were removed by a sync (file changed or gone): their partitions must be
# re-evaluated even if final. Orders of newly landed files are found through UNEVALUATED.
TOUCHED = "landing.touched_orders"
TOUCHED_DDL = f"CREATE TABLE IF NOT EXISTS {TOUCHED} (run_id VARCHAR, order_id VARCHAR)"

# Files landed since the last classification (see the module docstring).
UNEVALUATED = "landing.unevaluated_files"
UNEVALUATED_DDL = f"CREATE TABLE IF NOT EXISTS {UNEVALUATED} (kind VARCHAR, file VARCHAR)"

# The published per-run view of the manifest (recon.input_files).
INPUT_FILES_COLUMNS = (
    "kind, file, size_bytes, sha256, duplicate_of, lines_read, lines_landed, lines_rejected, "
    "status, ingested_run_id"
)


@dataclass(frozen=True)
class SyncReport:
    """What a sync did, per file status (``ingested``, ``unchanged``, ``duplicate``, ``changed``, ``removed``)."""

    statuses: dict[str, int]
    removed: list[str]
    changed: list[str]


def _stat(file: InputFile) -> tuple[int, int]:
    stat = file.path.stat()
    return stat.st_size, stat.st_mtime_ns


def sync_landing(
    con: duckdb.DuckDBPyConnection,
    files_by_kind: dict[str, list[InputFile]],
    settings: Settings,
    run_id: str,
) -> SyncReport:
    """Bring the landed lines in step with ``files_by_kind`` (each list sorted), a file per transaction."""
    ensure_landing_tables(con)
    sink = DuckDBSink(con, schema="landing")  # creates the landing tables on the first run
    statuses: dict[str, int] = {}
    removed: list[str] = []
    changed: list[str] = []
    for kind in (ORDERS, CALLBACKS):
        report = _sync_kind(con, kind, files_by_kind.get(kind, []), settings, run_id, sink)
        for status, count in report.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
        removed += report.removed
        changed += report.changed
    return SyncReport(statuses, removed, changed)


def ensure_landing_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the manifest and the pending-evaluation tables if they do not exist (older work databases too)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS landing")
    for ddl in (MANIFEST_DDL, TOUCHED_DDL, UNEVALUATED_DDL):
        con.execute(ddl)


def _sync_kind(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    files: list[InputFile],
    settings: Settings,
    run_id: str,
    sink: DuckDBSink,
) -> SyncReport:
    columns = ("file", "size_bytes", "mtime_ns", "sha256", "duplicate_of", "lines_read", "lines_landed",
               "lines_rejected", "ingested_run_id")
    known = {
        row[0]: dict(zip(columns, row, strict=True))
        for row in con.execute(f"SELECT {', '.join(columns)} FROM {MANIFEST} WHERE kind = ?", [kind]).fetchall()
    }
    current = {f.relative: f for f in files}
    removed = sorted(set(known) - set(current))

    # Checksums: the known one when size and mtime are unchanged. A new file whose size no other
    # file has is hashed while it is ingested (one read instead of two); any other new or
    # modified file is hashed first, so a likely duplicate is not parsed for nothing.
    stats = {relative: _stat(file) for relative, file in current.items()}
    sizes = Counter(size for size, _ in stats.values())
    sha: dict[str, str] = {}
    changed: list[str] = []
    hash_while_ingesting: list[str] = []
    for relative, file in current.items():
        before = known.get(relative)
        if before is not None and (before["size_bytes"], before["mtime_ns"]) == stats[relative]:
            sha[relative] = before["sha256"]
        elif before is None and sizes[stats[relative][0]] == 1:
            hash_while_ingesting.append(relative)
        else:
            sha[relative] = file_sha256(file)
            if before is not None and before["sha256"] != sha[relative]:
                changed.append(relative)

    ingested: dict[str, dict] = {}
    for relative in sorted(hash_while_ingesting):
        ingested[relative] = _ingest_one(con, current[relative], stats[relative], settings, sink, run_id)
        sha[relative] = ingested[relative]["sha256"]

    # Originals: the first file, in sorted relative-path order, of each checksum.
    original: dict[str, str] = {}
    for relative in sorted(current):
        original.setdefault(sha[relative], relative)
    wanted = {relative for relative in current if original[sha[relative]] == relative}
    landed_before = {
        relative
        for relative, before in known.items()
        if before["duplicate_of"] is None and relative in current and relative not in changed
    }
    # A new file that turned out to be a copy of another (same content, another size: one of
    # them compressed) was parsed for nothing: its lines go again.
    copies = sorted(set(ingested) - wanted)
    with transaction(con):
        _delete_lines(con, kind, sorted(set(known) - (landed_before & wanted)), run_id)
        _delete_lines(con, kind, copies, run_id, remember_orders=False)
    for relative in copies:
        del ingested[relative]

    for relative in sorted(wanted - landed_before - set(ingested)):
        ingested[relative] = _ingest_one(con, current[relative], stats[relative], settings, sink, run_id)

    rows = []
    for relative in sorted(current):
        size, mtime = stats[relative]
        if relative not in wanted:
            status, counts, ingested_by = "duplicate", (0, 0, 0), None
        elif relative in ingested:
            done = ingested[relative]
            status = "changed" if relative in changed else "ingested"
            counts = (done["lines_read"], done["lines_landed"], done["lines_rejected"])
            ingested_by = run_id
        else:
            before = known[relative]
            status = "unchanged"
            counts = (before["lines_read"], before["lines_landed"], before["lines_rejected"])
            ingested_by = before["ingested_run_id"]
        duplicate_of = None if relative in wanted else original[sha[relative]]
        rows.append((kind, relative, size, mtime, sha[relative], duplicate_of, *counts, ingested_by, status))
    with transaction(con):
        con.execute(f"DELETE FROM {MANIFEST} WHERE kind = ?", [kind])
        if rows:
            con.executemany(f"INSERT INTO {MANIFEST} VALUES ({', '.join('?' * 11)})", rows)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[-1]] = statuses.get(row[-1], 0) + 1
    statuses["removed"] = len(removed)
    return SyncReport(statuses, [f"{kind}/{r}" for r in removed], [f"{kind}/{r}" for r in changed])


def _ingest_one(
    con: duckdb.DuckDBPyConnection,
    file: InputFile,
    stat: tuple[int, int],
    settings: Settings,
    sink: DuckDBSink,
    run_id: str,
) -> dict:
    """Land one file and its manifest row in one transaction; its counts and SHA-256."""
    with transaction(con):
        row = ingest(file.kind, [file], settings, sink).row(0, named=True)
        sink.flush()
        con.execute(f"DELETE FROM {MANIFEST} WHERE kind = ? AND file = ?", [file.kind, file.relative])
        con.execute(
            f"INSERT INTO {MANIFEST} VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 'ingested')",
            [file.kind, file.relative, *stat, row["sha256"], row["lines_read"], row["lines_landed"],
             row["lines_rejected"], run_id],
        )
        con.execute(f"INSERT INTO {UNEVALUATED} VALUES (?, ?)", [file.kind, file.relative])
    return row


def _delete_lines(
    con: duckdb.DuckDBPyConnection, kind: str, files: list[str], run_id: str, remember_orders: bool = True
) -> None:
    """Remove every landed and rejected line of these files (removed, changed or now duplicates).

    The orders those lines belonged to are remembered in ``landing.touched_orders`` so their
    outcomes are re-evaluated (not needed for lines landed earlier in this same run).
    """
    if not files:
        return
    if remember_orders:
        con.execute(
            f"INSERT INTO {TOUCHED} SELECT DISTINCT ?, order_id FROM {LANDED_TABLE[kind]} "
            "WHERE file IN (SELECT unnest(?::VARCHAR[]))",
            [run_id, files],
        )
    con.execute(f"DELETE FROM {LANDED_TABLE[kind]} WHERE file IN (SELECT unnest(?::VARCHAR[]))", [files])
    for table in ("landing.rejected_lines", MANIFEST, UNEVALUATED):
        con.execute(f"DELETE FROM {table} WHERE kind = ? AND file IN (SELECT unnest(?::VARCHAR[]))", [kind, files])


def ranked_lines_sql(kind: str) -> str:
    """A query over the landed lines of ``kind`` with the SPEC's global ``read_order``.

    Files are ranked in sorted relative-path order; a line's global reading position is its
    file's rank in the high 32 bits and its position within the file in the low 32 bits.
    """
    return f"""
        SELECT l.* REPLACE ((r.file_rank << 32) + l.read_order AS read_order)
        FROM {LANDED_TABLE[kind]} AS l
        JOIN (SELECT file, (row_number() OVER (ORDER BY file) - 1)::BIGINT AS file_rank
              FROM {MANIFEST} WHERE kind = '{kind}') AS r USING (file)
    """


def input_files_sql() -> str:
    """This run's view of the manifest: every current file with its status and counts."""
    return f"SELECT {INPUT_FILES_COLUMNS} FROM {MANIFEST} ORDER BY kind, file"
