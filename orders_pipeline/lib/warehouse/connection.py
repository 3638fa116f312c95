"""The DuckDB warehouse's files: a private work database, and the published read-only snapshot.

Why two files. DuckDB lets one process write a database file, and a reader that holds the
file open blocks that writer. Analysts must be able to keep the warehouse open while a run
happens, and must never see half a run. So:

* every step of a run writes into the *work database* (``<stem>.work.duckdb`` beside the
  warehouse), which only the pipeline opens;
* the last step copies the work database file, trims the copy to the published tables and
  atomically renames it over the warehouse (``os.replace``). A reader
  that had the old file open keeps reading the old, complete snapshot (its open file is never
  modified); the next connection sees the new one. A run that fails or is killed before the
  rename leaves the warehouse untouched.

Publishing itself is :mod:`orders_pipeline.lib.warehouse.publish`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orders_pipeline.lib.common.errors import WarehouseError
from orders_pipeline.lib.warehouse.contracts import RUN_LOG_TABLES

SCHEMAS = ("landing", "recon", "run_log")

# The storage format of the work database, and so of the published snapshot (a copy of it).
# DuckDB 2 writes v1.5.0 files on request, and DuckDB 1.5 (the CLI on the package registry,
# ``pip install duckdb-cli``) reads them; a file in DuckDB 2's own format it cannot open.
STORAGE_VERSION = "v1.5.0"

# What the operating system says when a write fails for want of space or rights, as DuckDB
# quotes it in its IO errors (it keeps no errno).
_NO_SPACE = ("No space left on device", "Disk quota exceeded")
_NO_ACCESS = ("Permission denied", "Read-only file system", "Operation not permitted")


def write_failure(exc: BaseException, folder: Path) -> WarehouseError | None:
    """The one-line error for a write that failed because the disk is full or not writable (else ``None``).

    Such a failure happens before the publishing rename, so the published snapshot is the
    previous one; the message names where the write failed (``folder`` when it is not known).
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        space = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        access = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        where = exc.filename or folder
    elif isinstance(exc, duckdb.Error):
        text = str(exc)
        space = any(phrase in text for phrase in _NO_SPACE)
        access = any(phrase in text for phrase in _NO_ACCESS)
        quoted = re.search(r'"(/[^"]+)"', text)
        where = quoted.group(1) if quoted else folder
    else:
        return None
    if space:
        return WarehouseError(f"no space left on device at {where}; free space and re-run")
    if access:
        return WarehouseError(f"permission denied writing {where}; restore write access to {folder} and re-run")
    return None


def configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Session settings every connection uses: UTC, so TIMESTAMPTZ round-trips as UTC."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def storage_version(con: duckdb.DuckDBPyConnection, database: str | None = None) -> str:
    """The storage format of ``database`` (the connection's own by default), e.g. ``v1.5.0+``."""
    row = con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = coalesce(?, current_database())",
        [database],
    ).fetchall()
    return str(row[0][0]) if row else ""


@dataclass(frozen=True)
class Warehouse:
    """Paths of one warehouse: the published snapshot and the pipeline's work database."""

    path: Path

    @classmethod
    def at(cls, path: str | Path) -> Warehouse:
        """Resolve ``path`` and make sure its folder exists and is writable."""
        resolved = Path(path).expanduser().resolve()
        if resolved.is_dir():
            raise WarehouseError(
                f"warehouse path {resolved} is a directory; pass a file name like data/warehouse.duckdb"
            )
        try:
            resolved.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create the warehouse folder {resolved.parent}: {exc.strerror}") from None
        # os.access says yes to root on a read-only mount: only writing a file proves the folder writable.
        try:
            with tempfile.NamedTemporaryFile(dir=resolved.parent, prefix=".orders-pipeline-probe-"):
                pass
        except OSError as exc:
            raise WarehouseError(
                f"warehouse folder {resolved.parent} is not writable ({exc.strerror}); choose another --warehouse"
            ) from None
        return cls(resolved)

    def check_work_unlocked(self) -> None:
        """Fail now, in one line, if another process holds the work database (before a run starts, not midway)."""
        if not self.work_path.exists():
            return
        try:
            duckdb.connect(str(self.work_path)).close()
        except duckdb.IOException as exc:
            raise WarehouseError(self._locked_message(exc)) from None

    def _locked_message(self, exc: duckdb.IOException) -> str:
        reason = str(exc).splitlines()[0].split(". See also")[0]
        return f"cannot open the work database {self.work_path}: {reason} (is another run writing it?)"

    @property
    def work_path(self) -> Path:
        """The pipeline's private work database beside the warehouse."""
        return self.path.with_name(f"{self.path.stem}.work{self.path.suffix or '.duckdb'}")

    @contextlib.contextmanager
    def work(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the work database, with the pipeline's schemas in place."""
        try:
            con = self._connect_work()
        except duckdb.IOException as exc:
            raise WarehouseError(self._locked_message(exc)) from None
        try:
            configure(con)
            # DuckDB's buffer pool would otherwise keep most of what a big run wrote in memory
            # (its default limit is 80% of RAM); the work database spills and evicts instead.
            memory = os.environ.get("ORDERS_PIPELINE_DUCKDB_MEMORY", "2GB")
            try:
                con.execute("SET memory_limit = ?", [memory])  # a parameter: the value is never SQL text
            except duckdb.Error as exc:
                raise WarehouseError(
                    f"ORDERS_PIPELINE_DUCKDB_MEMORY={memory!r} is not a memory size ({str(exc).splitlines()[0]}); "
                    "set it like 2GB or 512MB, or unset it"
                ) from None
            for schema in SCHEMAS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table in RUN_LOG_TABLES:
                con.execute(table.ddl())
            yield con
        except (OSError, duckdb.Error) as exc:
            failure = write_failure(exc, self.path.parent)
            if failure is None:
                raise
            raise failure from None
        finally:
            con.close()

    def _connect_work(self) -> duckdb.DuckDBPyConnection:
        """Open the work database in :data:`STORAGE_VERSION`, converting one written in a newer format first."""
        config: dict[str, str | bool | int | float | list[str]] = {"storage_compatibility_version": STORAGE_VERSION}
        con = duckdb.connect(str(self.work_path), config=config)
        if storage_version(con) == f"{STORAGE_VERSION}+":
            return con
        con.close()
        converted = self.work_path.with_name(f"{self.work_path.name}.converting")
        converted.unlink(missing_ok=True)
        with contextlib.closing(duckdb.connect()) as copier:
            copier.execute("ATTACH ? AS old (READ_ONLY)", [str(self.work_path)])
            copier.execute(f"ATTACH ? AS new (STORAGE_VERSION '{STORAGE_VERSION}')", [str(converted)])
            copier.execute("COPY FROM DATABASE old TO new")
        converted.replace(self.work_path)
        return duckdb.connect(str(self.work_path), config=config)

    @contextlib.contextmanager
    def scratch(self, purpose: str) -> Iterator[Path]:
        """A private, empty folder beside the work database for intermediate files, removed afterwards.

        Only the run holding the work database uses it, so a folder left by a killed run is
        simply cleared first.
        """
        folder = self.path.with_name(f"{self.path.stem}.{purpose}.tmp")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def read_published(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection to the published snapshot (``None`` before the first publish)."""
        if not self.path.exists():
            yield None
            return
        con = configure(duckdb.connect(str(self.path), read_only=True))
        try:
            yield con
        finally:
            con.close()
