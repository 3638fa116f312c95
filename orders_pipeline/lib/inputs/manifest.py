"""The file manifest: keep the work database's landed lines in step with the input folders.

The landed lines of a run are exactly those of the files under the order, callback and
statement paths *now* — a deterministic function of the file set, whatever order the files arrived in — but
each file is parsed only once, ever:

* a file whose status is unchanged since it was last seen keeps its checksum and lines without
  being read: the same size, mtime, inode and ctime. ctime moves on any write and cannot be set
  back (``touch -r`` restores mtime only), and a file renamed over another has a new inode. A
  file whose status differs in any of them, or was last seen within :data:`DOUBTFUL_NS` of its
  last change (a write in the same clock tick leaves ctime as it was), is hashed: the same
  checksum keeps it ``unchanged`` (its new status recorded), another makes it ``changed``;
* a new file is hashed (SHA-256 of its decompressed content; while it is ingested when no
  other file has its size, so it is read once). Among files of one kind with
  the same checksum, the first in sorted relative-path order is the original and the others
  are duplicates (skipped, recorded with ``duplicate_of``) — so a re-delivery under another
  name changes nothing, and neither does the order the two arrived in;
* a file whose content changed after it was ingested is re-ingested (its old lines removed
  first) and reported with status ``changed``: never silently double-counted;
* a file that disappeared from the folder has its lines removed, and is reported ``removed``;
* a file that cannot be read (a truncated ``.gz``, one that is not gzip, trailing bytes after
  the gzip stream, no permission) is quarantined: recorded ``unreadable`` with its reason, no
  checksum, nothing landed (earlier lines of it removed), and the lines that decompressed
  before the damage counted ``lines_unreadable`` (so read = landed + rejected + ignored +
  unreadable still holds). Without a checksum it is read again every run, so a good copy
  delivered later is ingested normally.

Landed lines keep ``read_order`` as the line's position within its file; the global reading
order the rules define ("files in sorted relative-path order, lines in file order") is
recomputed at classification time from the current file ranks (:func:`ranked_lines_sql`).

A file is a duplicate when it has the same SHA-256 of its decompressed content as another
file of the same kind (docs/rules.md#precise-reading): this module is the one place that rule lives.

The manifest is ``landing.ingested_files``. Each file is landed in its own transaction
together with its manifest row, so memory stays flat however much one run ingests (one
transaction over tens of millions of lines holds them all in memory until it commits), and a
run killed mid-ingestion keeps every file it finished: the next run goes on from there and
never lands a file twice. Files landed but not classified yet are listed in
``landing.unevaluated_files``, orders whose lines were removed in ``landing.touched_orders``
(and, for statements, the statement days whose rows were removed in
``landing.touched_statement_days``); the classification that re-evaluates their days clears
them in the transaction that writes its outcomes, so a run killed in between loses nothing.

Statement files go through the same manifest as log files (their records are parsed by
:func:`~orders_pipeline.lib.inputs.landing.land_file`, like every file); each kind is
synced on its own (:func:`land_inputs` with ``kinds``), so the statements asset and the logs
asset never undo each other's files.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field, replace

import duckdb

from orders_pipeline.lib.common import progress
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS, InputKind, LogKind
from orders_pipeline.lib.inputs.discovery import InputFile
from orders_pipeline.lib.inputs.envelopes.linking import (
    UNLINKED,
    resolve_links,
    unlinked_counts_sql,
    unlinked_rejected_sql,
)
from orders_pipeline.lib.inputs.landing import LandedFile, Lander, land_files, quarantined, write_landed_file
from orders_pipeline.lib.inputs.reading import UnreadableFile, file_sha256
from orders_pipeline.lib.warehouse.contracts import (
    CALLBACK_LINES,
    IGNORED_RECORDS,
    INPUT_FILES,
    LANDING_TABLES,
    MANIFEST,
    ORDER_LINES,
    PUBLISHED_IGNORED_RECORDS,
    PUBLISHED_REJECTED_LINES,
    REJECTED_LINES,
    STATEMENT_LINES,
    TOUCHED_ORDERS,
    TOUCHED_STATEMENT_DAYS,
    UNEVALUATED_FILES,
    Table,
)
from orders_pipeline.lib.warehouse.sql import replace_table_from_query, transaction

LANDED_TABLE: dict[InputKind, Table] = {ORDERS: ORDER_LINES, CALLBACKS: CALLBACK_LINES, STATEMENTS: STATEMENT_LINES}
LOG_KINDS_SYNCED: tuple[LogKind, ...] = (ORDERS, CALLBACKS)
_MANIFEST_COLUMNS = len(MANIFEST.columns)
_COUNT_NAMES = ("lines_read", "lines_landed", "lines_rejected", "lines_ignored", "lines_unreadable")
"""The manifest's count columns, in the order of :class:`~orders_pipeline.lib.inputs.ingest.FileCounts`."""
DOUBTFUL_NS = 2_000_000_000
"""A file seen less than this after its last status change is hashed again on the next run."""


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: files per status (``ingested``, ``unchanged``, ``duplicate``, ``changed``,
    ``unreadable``, ``removed``), and the files removed, changed, and unreadable (with why).
    """

    statuses: dict[str, int]
    removed: list[str]
    changed: list[str]
    unreadable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileStatus:
    """What the file system says about a file, and when it was asked."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    seen_ns: int

    def columns(self) -> tuple[int, int, int, int, int]:
        """The manifest's columns ``size_bytes``, ``mtime_ns``, ``inode``, ``ctime_ns``, ``seen_ns``."""
        return self.size, self.mtime_ns, self.inode, self.ctime_ns, self.seen_ns

    def proves_unchanged_since(self, before: dict) -> bool:
        """Whether this status alone shows the content is what it was when ``before`` was recorded."""
        same = (self.size, self.mtime_ns, self.inode, self.ctime_ns) == (
            before["size_bytes"],
            before["mtime_ns"],
            before["inode"],
            before["ctime_ns"],
        )
        settled = before["seen_ns"] is not None and before["seen_ns"] - before["ctime_ns"] >= DOUBTFUL_NS
        return same and settled


def _stat(file: InputFile) -> FileStatus:
    seen = time.time_ns()
    stat = file.path.stat()
    return FileStatus(stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns, seen)


def sync_landing(
    con: duckdb.DuckDBPyConnection,
    files_by_kind: dict[InputKind, list[InputFile]],
    settings: Settings,
    run_id: str,
    kinds: tuple[InputKind, ...] = LOG_KINDS_SYNCED,
    land: Lander = land_files,
) -> SyncReport:
    """Bring the landed lines of ``kinds`` in step with ``files_by_kind`` (each list sorted), a file per transaction.

    A kind in ``kinds`` without files in ``files_by_kind`` has none: its landed files are removed.
    ``land`` is the engine that parses the files this sync wants landed (in process by default);
    whatever it is, this connection is the only writer of the landing tables.
    """
    ensure_landing_tables(con)
    statuses: dict[str, int] = {}
    removed: list[str] = []
    changed: list[str] = []
    unreadable: dict[str, str] = {}
    for kind in kinds:
        report = _sync_kind(con, kind, files_by_kind.get(kind, []), settings, run_id, land)
        for status, count in report.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
        removed += report.removed
        changed += report.changed
        unreadable |= report.unreadable
    return SyncReport(statuses, removed, changed, unreadable)


def ensure_landing_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the landing tables, the manifest and the pending-evaluation tables if they do not exist."""
    con.execute("CREATE SCHEMA IF NOT EXISTS landing")
    # The landing tables are a cache of the input files. Written by an older version with other
    # columns, they are dropped whole: every file is then landed again, and every order day
    # evaluated again, from the files themselves.
    existing: dict[str, list[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'landing' ORDER BY table_name, ordinal_position"
    ).fetchall():
        existing.setdefault(f"landing.{table}", []).append(column)
    if any(t.name in existing and existing[t.name] != t.column_names for t in LANDING_TABLES):
        for table in LANDING_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table.qualified()}")
    for table in LANDING_TABLES:
        con.execute(table.ddl())


def _sync_kind(
    con: duckdb.DuckDBPyConnection,
    kind: InputKind,
    files: list[InputFile],
    settings: Settings,
    run_id: str,
    land: Lander,
) -> SyncReport:
    columns = (
        "file",
        "size_bytes",
        "mtime_ns",
        "inode",
        "ctime_ns",
        "seen_ns",
        "sha256",
        "duplicate_of",
        *_COUNT_NAMES,
        "ingested_run_id",
    )
    known = {
        row[0]: dict(zip(columns, row, strict=True))
        for row in con.execute(
            f"SELECT {', '.join(columns)} FROM {MANIFEST.qualified()} WHERE kind = ?", [kind]
        ).fetchall()
    }
    current = {f.relative: f for f in files}
    removed = sorted(set(known) - set(current))

    # Checksums: the known one when the file's status proves it unchanged. A new file whose size no other
    # file has is hashed while it is ingested (one read instead of two); any other new or
    # modified file is hashed first, so a likely duplicate is not parsed for nothing. A file
    # that could not be read last time has no checksum: it is read again, as if new.
    stats = {relative: _stat(file) for relative, file in current.items()}
    sizes = Counter(stat.size for stat in stats.values())
    sha: dict[str, str] = {}
    changed: list[str] = []
    hash_while_ingesting: list[str] = []
    unreadable: dict[str, LandedFile] = {}
    for relative, file in current.items():
        before = known.get(relative)
        if before is not None and before["sha256"] is None:
            before = None
        if before is not None and stats[relative].proves_unchanged_since(before):
            sha[relative] = before["sha256"]
            stats[relative] = replace(stats[relative], seen_ns=before["seen_ns"])  # syncing again changes nothing
        elif before is None and sizes[stats[relative].size] == 1:
            hash_while_ingesting.append(relative)
        else:
            try:
                sha[relative] = file_sha256(file)
            except UnreadableFile as exc:
                unreadable[relative] = quarantined(file, exc)
                continue
            if before is not None and before["sha256"] != sha[relative]:
                changed.append(relative)

    ingested: dict[str, dict] = {}
    for landed in _shown(kind, land, [current[relative] for relative in sorted(hash_while_ingesting)], settings):
        if landed.unreadable is not None:
            unreadable[landed.relative] = landed
            continue
        ingested[landed.relative] = _write_one(con, landed, stats[landed.relative], run_id)
        sha[landed.relative] = landed.sha256

    # Originals: the first readable file, in sorted relative-path order, of each checksum.
    original: dict[str, str] = {}
    for relative in sorted(set(current) - set(unreadable)):
        original.setdefault(sha[relative], relative)
    wanted = {relative for relative in sha if relative in current and original[sha[relative]] == relative}
    landed_before = {
        relative
        for relative, before in known.items()
        if before["duplicate_of"] is None
        and before["sha256"] is not None
        and relative in current
        and relative not in changed
        and relative not in unreadable
    }
    # A new file that turned out to be a copy of another (same content, another size: one of
    # them compressed) was parsed for nothing: its lines go again.
    copies = sorted(set(ingested) - wanted)
    with transaction(con):
        # An unreadable file's earlier lines go too: what it says now cannot be read. A file
        # unreadable last time and landed just now (a good copy) keeps what was just landed.
        _delete_lines(con, kind, sorted(set(known) - (landed_before & wanted) - set(ingested)), run_id)
        _delete_lines(con, kind, copies, run_id, remember_orders=False)
    for relative in copies:
        del ingested[relative]

    later = [current[relative] for relative in sorted(wanted - landed_before - set(ingested))]
    for landed in _shown(kind, land, later, settings):
        if landed.unreadable is not None:
            unreadable[landed.relative] = landed
            continue
        ingested[landed.relative] = _write_one(con, landed, stats[landed.relative], run_id)

    rows = []
    for relative in sorted(current):
        reason = None
        if relative in unreadable:
            bad = unreadable[relative]
            status, counts, ingested_by, reason = "unreadable", astuple(bad.counts), run_id, bad.unreadable
        elif relative not in wanted:
            status, counts, ingested_by = "duplicate", (0,) * len(_COUNT_NAMES), None
        elif relative in ingested:
            done = ingested[relative]
            status = "changed" if relative in changed else "ingested"
            counts = tuple(done[name] for name in _COUNT_NAMES)
            ingested_by = run_id
        else:
            before = known[relative]
            status = "unchanged"
            counts = tuple(before[name] for name in _COUNT_NAMES)
            ingested_by = before["ingested_run_id"]
        checksum = sha.get(relative) if relative not in unreadable else None
        duplicate_of = None if relative in wanted or relative in unreadable else original[sha[relative]]
        rows.append(
            (kind, relative, *stats[relative].columns(), checksum, duplicate_of, *counts, ingested_by, status, reason)
        )
    with transaction(con):
        con.execute(f"DELETE FROM {MANIFEST.qualified()} WHERE kind = ?", [kind])
        if rows:
            con.executemany(f"INSERT INTO {MANIFEST.qualified()} VALUES ({', '.join('?' * _MANIFEST_COLUMNS)})", rows)
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[-2]] = statuses.get(row[-2], 0) + 1
    statuses["removed"] = len(removed)
    return SyncReport(
        statuses,
        [f"{kind}/{r}" for r in removed],
        [f"{kind}/{r}" for r in changed if r not in unreadable],
        {f"{kind}/{r}": unreadable[r].unreadable or "" for r in sorted(unreadable)},
    )


def _shown(kind: InputKind, land: Lander, files: list[InputFile], settings: Settings) -> Iterator[LandedFile]:
    """``land(files)``, its progress shown to whoever watches (files landed, lines read, rate)."""
    if not files:
        return
    with progress.task(f"landing {kind}", len(files), "files", "lines") as shown:
        for landed in land(files, settings):
            yield landed
            progress.advance(shown)


def _write_one(con: duckdb.DuckDBPyConnection, ingested: LandedFile, stat: FileStatus, run_id: str) -> dict:
    """Write one landed file and its manifest row in one transaction; its counts and SHA-256."""
    with transaction(con):
        write_landed_file(con, ingested)
        counts = ingested.counts
        row = {"sha256": ingested.sha256, **dict(zip(_COUNT_NAMES, astuple(counts), strict=True))}
        con.execute(
            f"DELETE FROM {MANIFEST.qualified()} WHERE kind = ? AND file = ?", [ingested.kind, ingested.relative]
        )
        con.execute(
            f"INSERT INTO {MANIFEST.qualified()} "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, 'ingested', NULL)",
            [ingested.kind, ingested.relative, *stat.columns(), row["sha256"], *astuple(counts), run_id],
        )
        con.execute(f"INSERT INTO {UNEVALUATED_FILES.qualified()} VALUES (?, ?)", [ingested.kind, ingested.relative])
    return row


def _delete_lines(
    con: duckdb.DuckDBPyConnection, kind: InputKind, files: list[str], run_id: str, remember_orders: bool = True
) -> None:
    """Remove every landed, rejected and ignored record of these files (removed, changed or now duplicates).

    The orders those lines belonged to are remembered in ``landing.touched_orders`` so their
    outcomes are re-evaluated (not needed for lines landed earlier in this same run); for
    statements also the statement days they were for, in ``landing.touched_statement_days``,
    since a day's coverage can change every order it covers.
    """
    if not files:
        return
    landed = LANDED_TABLE[kind].qualified()
    if remember_orders:
        con.execute(
            f"INSERT INTO {TOUCHED_ORDERS.qualified()} "
            f"SELECT DISTINCT ?, order_id FROM {landed} "
            "WHERE file IN (SELECT unnest(?::VARCHAR[])) AND order_id IS NOT NULL",
            [run_id, files],
        )
        if kind == STATEMENTS:
            con.execute(
                f"INSERT INTO {TOUCHED_STATEMENT_DAYS.qualified()} "
                f"SELECT DISTINCT ?, provider, statement_date FROM {landed} "
                "WHERE file IN (SELECT unnest(?::VARCHAR[]))",
                [run_id, files],
            )
    con.execute(f"DELETE FROM {landed} WHERE file IN (SELECT unnest(?::VARCHAR[]))", [files])
    for table in (REJECTED_LINES, IGNORED_RECORDS, MANIFEST, UNEVALUATED_FILES):
        con.execute(
            f"DELETE FROM {table.qualified()} WHERE kind = ? AND file IN (SELECT unnest(?::VARCHAR[]))", [kind, files]
        )


def ranked_lines_sql(kind: InputKind) -> str:
    """A query over the landed lines of ``kind`` with the rules' global ``read_order``.

    Files are ranked in sorted relative-path order; a line's global reading position is its
    file's rank in the high 32 bits and its position within the file in the low 32 bits.
    """
    # A callback record still waiting for its link has no order: it is rejected (envelopes.linking).
    unlinked = f"WHERE NOT ({UNLINKED})" if kind == CALLBACKS else ""
    return f"""
        SELECT l.* REPLACE ((r.file_rank << 32) + l.read_order AS read_order)
        FROM {LANDED_TABLE[kind].qualified()} AS l
        JOIN (SELECT file, (row_number() OVER (ORDER BY file) - 1)::BIGINT AS file_rank
              FROM {MANIFEST.qualified()} WHERE kind = '{kind}') AS r USING (file)
        {unlinked}
    """


def input_files_sql() -> str:
    """The run's view of the manifest: every current file with its status and counts (``recon.input_files``).

    A callback record landed but still unlinked (no order_id, no payment to link to) counts as
    rejected (:mod:`~orders_pipeline.lib.inputs.envelopes.linking`).
    """
    columns = ", ".join(INPUT_FILES.column_names)
    return f"""
        SELECT {columns} FROM (
            SELECT m.* REPLACE (m.lines_landed - coalesce(u.n, 0) AS lines_landed,
                                m.lines_rejected + coalesce(u.n, 0) AS lines_rejected)
            FROM {MANIFEST.qualified()} AS m LEFT JOIN ({unlinked_counts_sql()}) AS u USING (kind, file)
        ) ORDER BY kind, file
    """


@dataclass(frozen=True)
class KindCounts:
    """Records of one input kind in the current files: read = landed + rejected + ignored."""

    read: int
    landed: int
    rejected: int
    ignored: int = 0


@dataclass(frozen=True)
class LandingReport:
    """What landing did this run: the sync, the counts per kind, and the rejections per reason."""

    sync: SyncReport
    per_kind: dict[InputKind, KindCounts]
    rejections_by_reason: list[tuple[str, int]]
    ignored_by_reason: list[tuple[str, int]]


def land_inputs(
    con: duckdb.DuckDBPyConnection,
    files_by_kind: dict[InputKind, list[InputFile]],
    settings: Settings,
    run_id: str,
    kinds: tuple[InputKind, ...] = LOG_KINDS_SYNCED,
    land: Lander = land_files,
) -> LandingReport:
    """Sync the landed lines of ``kinds`` with the input files, then refresh the published input tables.

    ``recon.input_files``, ``recon.rejected_lines`` and ``recon.ignored_records`` always show
    every kind's files, whichever kinds this call synced. The counts and reasons reported are
    those of ``kinds``.
    """
    sync = sync_landing(con, files_by_kind, settings, run_id, kinds, land)
    if CALLBACKS in kinds:
        with transaction(con):
            resolve_links(con, run_id)
    replace_table_from_query(con, INPUT_FILES, input_files_sql())
    rejected_columns = ", ".join(REJECTED_LINES.column_names)
    replace_table_from_query(
        con,
        PUBLISHED_REJECTED_LINES,
        f"SELECT {rejected_columns} FROM (SELECT * FROM {REJECTED_LINES.qualified()} "
        f"UNION ALL BY NAME {unlinked_rejected_sql()}) ORDER BY kind, file, line_number",
    )
    replace_table_from_query(
        con,
        PUBLISHED_IGNORED_RECORDS,
        f"SELECT * FROM {IGNORED_RECORDS.qualified()} ORDER BY kind, file, line_number, record_index",
    )
    totals = con.execute(
        "SELECT kind, sum(lines_read), sum(lines_landed), sum(lines_rejected), sum(lines_ignored) "
        f"FROM {INPUT_FILES.qualified()} GROUP BY kind"
    ).fetchall()
    per_kind = {kind: KindCounts(0, 0, 0) for kind in kinds}
    for kind, read, landed, rejected, ignored in totals:
        if kind in per_kind:
            per_kind[kind] = KindCounts(int(read or 0), int(landed or 0), int(rejected or 0), int(ignored or 0))
    wanted = {"kinds": list(kinds)}
    reasons = con.execute(
        f"SELECT reason, count(*) FROM {PUBLISHED_REJECTED_LINES.qualified()} "
        "WHERE list_contains($kinds, kind) GROUP BY reason ORDER BY 2 DESC, 1",
        wanted,
    ).fetchall()
    ignored_reasons = con.execute(
        f"SELECT reason, count(*) FROM {PUBLISHED_IGNORED_RECORDS.qualified()} "
        "WHERE list_contains($kinds, kind) GROUP BY reason ORDER BY 2 DESC, 1",
        wanted,
    ).fetchall()
    return LandingReport(
        sync,
        per_kind,
        [(reason, int(count)) for reason, count in reasons],
        [(reason, int(count)) for reason, count in ignored_reasons],
    )
