"""How the command line shows a run's progress: bars in a terminal, plain lines in logs and CI.

:func:`terminal_listener` picks one for a stream: on a terminal, `rich` progress bars with the
files (or buckets) done, the records so far and their rate; otherwise one plain line when a
task ends and one every :data:`PLAIN_EVERY_SECONDS` while it runs, so a log shows that a long
landing is alive without a line per chunk.
"""

from __future__ import annotations

import time
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from orders_pipeline.lib.common.progress import ProgressListener, Task

PLAIN_EVERY_SECONDS = 10.0


def terminal_listener(stream: IO[str]) -> ProgressListener:
    """Bars when ``stream`` is a terminal, plain lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    return BarProgress(stream) if callable(isatty) and isatty() else PlainProgress(stream)


def _records_text(task: Task, seconds: float) -> tuple[str, str]:
    rate = task.records / seconds if seconds > 0 else 0.0
    return f"{task.records:,} {task.record_unit}", f"{rate:,.0f} {task.record_unit}/s"


class BarProgress:
    """`rich` bars on a terminal: one per task, left on screen when it ends."""

    def __init__(self, stream: IO[str]) -> None:
        """Draw on ``stream`` (a terminal)."""
        self.console = Console(file=stream, highlight=False)
        self.bars: Progress | None = None
        self.ids: dict[int, TaskID] = {}
        self.started_at: dict[int, float] = {}

    def _bars(self) -> Progress:
        if self.bars is None:
            self.bars = Progress(
                TextColumn("  {task.description:<17}"),
                BarColumn(bar_width=16),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TextColumn("{task.fields[records]:>14}"),
                TextColumn("{task.fields[rate]:>16}"),
                TimeElapsedColumn(),
                console=self.console,
                refresh_per_second=8,
            )
            self.bars.start()
        return self.bars

    def started(self, task: Task) -> None:
        """Add a bar."""
        self.started_at[id(task)] = time.perf_counter()
        records, rate = _records_text(task, 0)
        self.ids[id(task)] = self._bars().add_task(
            task.name, total=task.total, unit=task.unit, records=records, rate=rate
        )

    def changed(self, task: Task) -> None:
        """Move the bar, the record count and the rate."""
        if id(task) not in self.ids or self.bars is None:
            return
        records, rate = _records_text(task, time.perf_counter() - self.started_at[id(task)])
        self.bars.update(self.ids[id(task)], completed=task.done, total=task.total, records=records, rate=rate)

    def finished(self, task: Task) -> None:
        """Fill the bar (a task may end early: duplicates found), and stop drawing when none is left."""
        self.changed(task)
        if self.bars is None:
            return
        self.bars.update(self.ids.pop(id(task)), completed=task.done, total=task.done or task.total)
        self.started_at.pop(id(task), None)
        if not self.ids:
            self.bars.stop()
            self.bars = None


class PlainProgress:
    """Plain lines for logs and CI: when a task ends, and every :data:`PLAIN_EVERY_SECONDS` while it runs."""

    def __init__(self, stream: IO[str], every_seconds: float = PLAIN_EVERY_SECONDS) -> None:
        """Write to ``stream``, a progress line at most every ``every_seconds``."""
        self.stream = stream
        self.every_seconds = every_seconds
        self.started_at: dict[int, float] = {}
        self.printed_at: dict[int, float] = {}

    def started(self, task: Task) -> None:
        """Start timing the task (nothing printed: short tasks get one line, at the end)."""
        now = time.perf_counter()
        self.started_at[id(task)] = self.printed_at[id(task)] = now

    def changed(self, task: Task) -> None:
        """Print where the task is if the last line is old enough."""
        now = time.perf_counter()
        if now - self.printed_at.get(id(task), now) >= self.every_seconds:
            self.printed_at[id(task)] = now
            self._line(task, "so far", now)

    def finished(self, task: Task) -> None:
        """Print what the task did."""
        self._line(task, "done", time.perf_counter())
        self.started_at.pop(id(task), None)
        self.printed_at.pop(id(task), None)

    def _line(self, task: Task, when: str, now: float) -> None:
        seconds = now - self.started_at.get(id(task), now)
        records, rate = _records_text(task, seconds)
        of = f"/{task.total}" if task.total is not None and when != "done" else ""
        unit = task.unit[:-1] if task.done == 1 and not of and task.unit.endswith("s") else task.unit
        print(
            f"  {task.name}: {task.done}{of} {unit}, {records} ({rate}) {when} after {seconds:.1f}s",
            file=self.stream,
            flush=True,
        )
