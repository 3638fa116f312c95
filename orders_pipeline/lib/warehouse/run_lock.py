"""One writer per warehouse: a lock a run holds from its start to its end.

DuckDB's own lock on the work database is taken and dropped by every step, so on its own it
lets a second run slip in between two steps of the first and make the first fail. The run
lock closes that gap: an operating-system lock (``flock``) on ``<warehouse>.lock``, taken when
a run starts (the command line before it starts Dagster, a Dagster run when its resources are
set up) and released when the run ends. The kernel drops the lock when its process dies, so
a lock file left by a killed run never blocks the next one; the file's content (pid, host,
run id, start time, as JSON) only says who holds it, for the one-line refusal.

Within one process the lock is re-entrant: the steps of a run, and the command line around
the Dagster run it starts, share the one holder. Readers of the published warehouse never
take it. The file is never deleted (deleting a lock file lets two processes lock two
different files of the same name).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from orders_pipeline.lib.common.errors import WarehouseError

CLI_HINT = "wait for it or pass --wait"
"""How the command line tells a user to get past a running run."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a warehouse's run lock, as written in the lock file."""

    pid: int
    host: str
    run_id: str
    started: str  # RFC 3339, UTC

    def describe(self) -> str:
        """``pid 123 on host, run <id>, started <time>``."""
        return f"pid {self.pid} on {self.host}, run {self.run_id}, started {self.started}"


class RunLocked(WarehouseError):
    """Another run holds the warehouse; the message is the one line the user sees."""

    def __init__(self, warehouse: Path, holder: LockHolder | None, hint: str) -> None:
        """Say which run is writing ``warehouse`` (when the lock file says so) and what to do."""
        who = f"another run ({holder.describe()})" if holder else "another run"
        super().__init__(f"{who} is writing {warehouse}; {hint}")
        self.warehouse = warehouse
        self.holder = holder


def lock_path(warehouse: Path) -> Path:
    """The lock file of a warehouse: ``<warehouse path>.lock`` beside it."""
    return warehouse.with_name(f"{warehouse.name}.lock")


def read_holder(warehouse: Path) -> LockHolder | None:
    """What the lock file says about its last holder (``None``: no file, empty, or not ours).

    Informational only: whether the lock is held is the kernel's answer, not the file's.
    """
    try:
        data = json.loads(lock_path(warehouse).read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["run_id"]), str(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class _Held:
    fd: int
    holder: LockHolder
    depth: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


class RunLock:
    """A held run lock; :meth:`release` once (or use :func:`run_lock`)."""

    def __init__(self, key: Path, holder: LockHolder) -> None:
        """Wrap the process's hold on ``key``."""
        self._key = key
        self.holder = holder
        self._released = False

    def release(self) -> None:
        """Give up this hold; the lock is released when the process's outermost hold is."""
        if self._released:
            return
        self._released = True
        with _guard:
            held = _held[self._key]
            held.depth -= 1
            if held.depth:
                return
            del _held[self._key]
            try:
                os.ftruncate(held.fd, 0)  # the file says nothing about a run that has ended
            finally:
                os.close(held.fd)  # closing the last descriptor releases the flock


def held_by_this_process(warehouse: Path) -> LockHolder | None:
    """The holder, if this process holds the warehouse's run lock."""
    with _guard:
        held = _held.get(lock_path(warehouse))
        return held.holder if held else None


def acquire(
    warehouse: Path,
    run_id: str,
    *,
    wait: bool = False,
    hint: str = CLI_HINT,
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> RunLock:
    """Take the run lock of ``warehouse`` for run ``run_id``.

    Held by another process: raise :class:`RunLocked` at once, or with ``wait`` call
    ``on_wait`` with the holder and block until it is released. Held by this process: share
    that hold (the holder stays the run that took it first).
    """
    key = lock_path(warehouse)
    with _guard:
        if key in _held:
            _held[key].depth += 1
            return RunLock(key, _held[key].holder)
        fd = _open(key)
        if _try_lock(fd):
            return _register(key, fd, run_id)
    try:
        holder = read_holder(warehouse)
        if not wait:
            raise RunLocked(warehouse, holder, hint)
        if on_wait is not None:
            on_wait(holder)
        fcntl.flock(fd, fcntl.LOCK_EX)  # interruptible: Ctrl-C while waiting raises KeyboardInterrupt
    except BaseException:
        os.close(fd)
        raise
    with _guard:
        return _register(key, fd, run_id)


def _open(key: Path) -> int:
    try:
        return os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WarehouseError(
            f"cannot open the run lock {key}: {exc.strerror}; make the warehouse folder writable"
        ) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        os.close(fd)
        raise
    return True


def _register(key: Path, fd: int, run_id: str) -> RunLock:
    """Record the new hold (caller holds ``_guard``) and write who holds it into the file."""
    holder = LockHolder(
        pid=os.getpid(),
        host=socket.gethostname(),
        run_id=run_id,
        started=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    )
    # The kernel's lock is what counts; a full disk only leaves the file without details.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
    _held[key] = _Held(fd, holder, 1)
    return RunLock(key, holder)


@contextlib.contextmanager
def run_lock(
    warehouse: Path,
    run_id: str,
    *,
    wait: bool = False,
    hint: str = CLI_HINT,
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> Iterator[LockHolder]:
    """Hold the run lock of ``warehouse`` for the block; yields the holder (see :func:`acquire`)."""
    lock = acquire(warehouse, run_id, wait=wait, hint=hint, on_wait=on_wait)
    try:
        yield lock.holder
    finally:
        lock.release()
