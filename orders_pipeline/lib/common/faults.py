"""Fault injection, for tests only: fail one chosen step or write as a full or read-only disk would.

``ORDERS_PIPELINE_FAULT=<point>:<kind>`` makes the point raise the ``OSError`` the operating
system would: ``enospc`` (no space left on device) or ``eacces`` (permission denied, e.g.
write access lost in the middle of a run). A point is a step of the run (its Dagster op name,
e.g. ``order_outcomes``, failing once the step holds the work database) or one of the
publishing writes in :data:`WRITE_POINTS`. Tests use it to prove each failure's message and
that the published warehouse stays intact, without mounting a full or read-only filesystem.
Never set it in production: a run it names fails on purpose.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from orders_pipeline.lib.common.errors import ConfigError

FAULT_ENV = "ORDERS_PIPELINE_FAULT"
KINDS = {"enospc": errno.ENOSPC, "eacces": errno.EACCES}
WRITE_POINTS = {
    "publish.copy": "copying the work database to the staging snapshot",
    "publish.snapshot": "trimming the staging snapshot and writing this run's history",
    "publish.rename": "renaming the staging snapshot over the warehouse",
}


def inject(point: str, path: Path) -> None:
    """Raise the configured fault if ``ORDERS_PIPELINE_FAULT`` names ``point`` (a write to ``path``)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    where, _, kind = spec.rpartition(":")
    if kind not in KINDS:
        raise ConfigError(
            f"{FAULT_ENV}={spec!r}: expected <step-or-write>:<kind> with kind one of {', '.join(KINDS)}; "
            "unset it outside tests"
        )
    if where == point:
        code = KINDS[kind]
        raise OSError(code, os.strerror(code), str(path))
