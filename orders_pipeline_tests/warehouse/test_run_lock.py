"""The run lock: one writer per warehouse, held by a process for a whole run.

Another holder must be a real other process (``flock`` is per open file, and within one
process the lock is shared on purpose), so these tests start one that holds the lock until
told to stop, or until it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orders_pipeline.lib.warehouse.run_lock import (
    CLI_HINT,
    LockHolder,
    RunLocked,
    acquire,
    held_by_this_process,
    lock_path,
    read_holder,
    run_lock,
)

HOLDER = """
import sys
from pathlib import Path
from orders_pipeline.lib.warehouse.run_lock import acquire
lock = acquire(Path(sys.argv[1]), sys.argv[2])
print("held", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


class OtherProcess:
    """A process holding the run lock of a warehouse until :meth:`stop` (or a kill)."""

    def __init__(self, warehouse: Path, run_id: str) -> None:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(warehouse), run_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "held\n"
        self._stopping = threading.Lock()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        with self._stopping:
            if self.process.returncode is None:
                self.process.communicate("\n", timeout=30)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


class LockWatcher:
    """Who holds a warehouse's run lock, sampled from /proc/locks every few milliseconds while in use.

    Reading /proc/locks takes no lock, so watching never competes with the run it watches.
    """

    def __init__(self, warehouse: Path) -> None:
        lock_path(warehouse).parent.mkdir(parents=True, exist_ok=True)
        lock_path(warehouse).touch()  # its inode is what /proc/locks names
        self._inode = lock_path(warehouse).stat().st_ino
        self.samples: list[frozenset[int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def holders(self) -> frozenset[int]:
        """The pids holding an flock on the lock file now."""
        pids = set()
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and "->" not in fields and fields[-3].endswith(f":{self._inode}"):
                pids.add(int(fields[-4]))
        return frozenset(pids)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.holders())
            time.sleep(0.005)

    def __enter__(self) -> LockWatcher:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def held_throughout(self, pid: int) -> bool:
        """Whether ``pid`` took the lock and held it alone, without a gap, until it let it go for good."""
        held = [i for i, sample in enumerate(self.samples) if pid in sample]
        if len(held) < 10:
            return False
        between = self.samples[held[0] : held[-1] + 1]
        return all(sample == {pid} for sample in between)


def test_the_watcher_sees_a_gap(warehouse: Path) -> None:
    """The watcher the run tests rely on can fail: a lock dropped and re-taken midway is a gap."""
    with LockWatcher(warehouse) as watcher:
        for _ in range(2):
            with run_lock(warehouse, "step"):
                time.sleep(0.2)
            time.sleep(0.2)
    assert not watcher.held_throughout(os.getpid())
    with LockWatcher(warehouse) as watcher, run_lock(warehouse, "run"):
        time.sleep(0.3)
    assert watcher.held_throughout(os.getpid())


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


@pytest.fixture
def other(warehouse: Path):
    holder = OtherProcess(warehouse, "run-of-the-other")
    yield holder
    holder.stop()


def test_the_lock_file_sits_beside_the_warehouse(warehouse: Path) -> None:
    assert lock_path(warehouse) == warehouse.parent / "warehouse.duckdb.lock"


def test_a_held_lock_file_says_who_holds_it_and_is_emptied_on_release(warehouse: Path) -> None:
    warehouse.parent.mkdir(parents=True)
    before = time.time()
    with run_lock(warehouse, "run-1") as holder:
        written = json.loads(lock_path(warehouse).read_text())
        me = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": "run-1"}
        assert written == me | {"started": holder.started}
        assert holder.started.endswith("Z")
        started = time.mktime(time.strptime(holder.started, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert before - 1 <= started <= time.time() + 1
        assert read_holder(warehouse) == holder
    assert lock_path(warehouse).exists()  # never deleted: see the module's docstring
    assert lock_path(warehouse).read_text() == ""
    assert read_holder(warehouse) is None


def test_a_second_process_is_refused_at_once_in_one_line_naming_the_holder(warehouse: Path, other) -> None:
    started = time.monotonic()
    with pytest.raises(RunLocked) as refused:
        acquire(warehouse, "run-2")
    assert time.monotonic() - started < 1
    holder = refused.value.holder
    assert holder is not None
    assert (holder.pid, holder.host, holder.run_id) == (other.pid, socket.gethostname(), "run-of-the-other")
    message = str(refused.value)
    assert message == (
        f"another run (pid {other.pid} on {socket.gethostname()}, run run-of-the-other, started {holder.started}) "
        f"is writing {warehouse}; {CLI_HINT}"
    )
    assert "\n" not in message
    assert held_by_this_process(warehouse) is None


def test_the_lock_is_free_again_once_the_holder_releases_it(warehouse: Path, other) -> None:
    other.stop()
    with run_lock(warehouse, "run-2") as holder:
        assert holder.run_id == "run-2"


def test_a_lock_file_left_by_a_killed_run_does_not_block(warehouse: Path, other) -> None:
    other.kill()
    stale = read_holder(warehouse)
    assert stale is not None  # the dead run's details are still in the file ...
    assert stale.pid == other.pid
    with run_lock(warehouse, "after-the-kill") as holder:  # ... but the kernel released its lock
        assert holder.pid == os.getpid()
        assert read_holder(warehouse) == holder


def test_a_lock_file_with_foreign_content_does_not_block(warehouse: Path) -> None:
    warehouse.parent.mkdir(parents=True)
    lock_path(warehouse).write_text("not json {")
    assert read_holder(warehouse) is None
    with run_lock(warehouse, "run-1") as holder:
        assert read_holder(warehouse) == holder


def test_waiting_blocks_until_the_holder_releases(warehouse: Path, other) -> None:
    seen: list[LockHolder | None] = []
    release = threading.Timer(1.0, other.stop)
    release.start()
    started = time.monotonic()
    try:
        with run_lock(warehouse, "patient", wait=True, on_wait=seen.append) as holder:
            waited = time.monotonic() - started  # it had to release first, 1 s in
            assert holder.run_id == "patient"
            assert read_holder(warehouse) == holder
    finally:
        release.cancel()
    assert waited >= 0.9
    assert [h.run_id if h else None for h in seen] == ["run-of-the-other"]


def test_within_one_process_the_lock_is_shared_and_held_until_the_outermost_release(warehouse: Path) -> None:
    warehouse.parent.mkdir(parents=True)
    outer = acquire(warehouse, "the-run")
    inner = acquire(warehouse, "a-step-of-it")
    assert inner.holder == outer.holder  # the run that took it first stays the holder
    inner.release()
    inner.release()  # releasing one hold twice does not give up the other
    assert held_by_this_process(warehouse) == outer.holder
    probe = subprocess.run(
        [sys.executable, "-c", HOLDER, str(warehouse), "intruder"],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0
    assert "RunLocked" in probe.stderr
    outer.release()
    assert held_by_this_process(warehouse) is None
    other = OtherProcess(warehouse, "next")
    other.stop()


def test_an_unwritable_folder_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        folder = Path("/proc")  # refuses new files even to root
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o500)
    with pytest.raises(Exception, match=r"^cannot open the run lock .*; make the warehouse folder writable$"):
        acquire(folder / "w.duckdb", "run-1")
