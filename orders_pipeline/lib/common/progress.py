"""Progress of the long steps (landing files, classifying buckets), for whoever is watching.

The steps report through :func:`task` and :func:`records`; nothing is shown unless a
:class:`ProgressListener` is installed with :func:`listening` (the command line installs one:
bars in a terminal, plain lines otherwise). Without one, reporting costs a global lookup, so
the Dagster UI, tests and Spark executors pay nothing for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass
class Task:
    """One step's progress: ``done`` of ``total`` units (files, buckets) and ``records`` (lines, orders) so far."""

    name: str
    total: int | None
    unit: str
    record_unit: str
    done: int = 0
    records: int = 0


class ProgressListener(Protocol):
    """Shows tasks as they progress; every call happens on the thread that runs the step."""

    def started(self, task: Task) -> None:
        """A task began."""

    def changed(self, task: Task) -> None:
        """A task's ``done`` or ``records`` moved."""

    def finished(self, task: Task) -> None:
        """A task ended (successfully or not)."""


_listener: ProgressListener | None = None
_active: list[Task] = []


@contextlib.contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    """Show the progress of everything run inside the block with ``listener``."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous


@contextlib.contextmanager
def task(name: str, total: int | None, unit: str, record_unit: str) -> Iterator[Task]:
    """A task of ``total`` units (``None``: unknown) whose records are counted with :func:`records`."""
    current = Task(name, total, unit, record_unit)
    listener = _listener
    if listener is None:
        yield current
        return
    _active.append(current)
    listener.started(current)
    try:
        yield current
    finally:
        _active.remove(current)
        listener.finished(current)


def advance(current: Task, units: int = 1, records_done: int = 0) -> None:
    """``units`` more of ``current`` are done (and ``records_done`` more records)."""
    current.done += units
    current.records += records_done
    if _listener is not None and current in _active:
        _listener.changed(current)


def records(count: int) -> None:
    """``count`` more records of the innermost running task were read (no task: nothing)."""
    if _listener is None or not _active or count <= 0:
        return
    current = _active[-1]
    current.records += count
    _listener.changed(current)
