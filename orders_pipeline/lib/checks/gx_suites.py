"""Great Expectations, run on the compact frames our checks reduce each table to.

Why compact frames. Great Expectations 1.x has no Polars engine, and its SQL datasource over
DuckDB returns empty metrics; its pandas engine works but would dominate a 10M-order run if
handed every row. So each check first reduces a table with Polars/DuckDB to a frame that
still carries the evidence (one row per input file, one row per summary group, or one row
of exact violation counts), and Great Expectations validates that frame. The reduction is
exact — nothing is sampled — and the failing rows are attached as a sample.

Why one or two expectations per suite. Great Expectations spends ~40 ms of Python per
expectation building its metric graph, whatever the data size: a suite of ten one-column
expectations cost 0.4 s. So a suite's checks are stated as :class:`AtMost` (each value of a
column is at most a limit: violation counts, rates) and :class:`Equal` (two columns agree on
every row: conservation, tie-outs), and :func:`validate` stacks them into one long frame —
one row per (check, row of the evidence frame) — that Great Expectations judges with at most
two expectations (``limit >= observed``, ``left == right``). Integer evidence (counts, minor
units) goes as Int64 when that is lossless, anything else as Python values in object columns
(ints of any size, floats, decimals), so nothing is rounded on the way. The ``check`` and
``row`` columns name each failing row in the result and in Data Docs. A suite now costs
~0.05 s after the first (which imports Great Expectations, ~5-8 s, unless
:func:`prefetch_context` did that on a background thread while the inputs were landing).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

_context: Any = None
# Held while the context is made, so a check that needs it while prefetch_context() is still
# importing waits for that import instead of starting a second one.
_context_lock = threading.Lock()

DATASOURCE = "orders_pipeline"
SAMPLE_SIZE = 10
COMPLETE_RESULT_MAX_ROWS = 1000


@dataclass(frozen=True)
class AtMost:
    """Every value of ``column`` is at most ``limit`` (a violation count, a rate, an amount)."""

    column: str
    limit: int | float


@dataclass(frozen=True)
class Equal:
    """``column_a`` equals ``column_b`` on every row (conservation, tie-outs)."""

    column_a: str
    column_b: str


Check = AtMost | Equal


@dataclass(frozen=True)
class ExpectationOutcome:
    """One check's verdict, in plain values for metadata and the ``runs`` table."""

    expectation: str
    column: str | None
    success: bool
    observed: Any
    unexpected_count: int | None
    sample: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    """A whole suite's verdict over one frame (``result``: Great Expectations' own, for Data Docs)."""

    suite: str
    success: bool
    expectations: list[ExpectationOutcome]
    result: Any = field(default=None, repr=False, compare=False)

    def failures(self) -> list[ExpectationOutcome]:
        """The expectations that did not hold."""
        return [e for e in self.expectations if not e.success]


def get_context() -> Any:
    """The process's ephemeral Great Expectations context (imported on first use: it takes seconds)."""
    global _context
    with _context_lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            import great_expectations.expectations  # noqa: F401 - GE imports it lazily, at the first check

            _context = context
    return _context


def prefetch_context() -> threading.Thread:
    """Import Great Expectations and make its context on a background thread; returns the thread.

    The import is 4-10 s of Python that no data depends on. Started when landing starts, it
    runs while DuckDB and Polars parse the inputs (they release the GIL, and landing leaves
    part of a core idle), so the first check finds the context ready instead of paying for
    it on the critical path. A check that comes first simply waits for it (see
    :func:`get_context`); a failed import fails that check, as it always did.
    """
    thread = threading.Thread(target=_prefetch, name="great-expectations-import", daemon=True)
    thread.start()
    return thread


def _prefetch() -> None:
    try:
        get_context()
    except Exception:  # noqa: BLE001, S110 - the first check retries and reports the failure itself
        pass


def expectation_types() -> Any:
    """``great_expectations.expectations``, imported with the context (GE imports it lazily)."""
    get_context()
    import great_expectations.expectations as gxe

    return gxe


def zero_violations(columns: Sequence[str]) -> list[AtMost]:
    """Checks that each violation-count column is exactly 0 (counts are never negative)."""
    return [AtMost(c, 0) for c in columns]


def columns_equal(pairs: Sequence[tuple[str, str]]) -> list[Equal]:
    """Checks that two columns are equal on every row (conservation and tie-outs)."""
    return [Equal(a, b) for a, b in pairs]


# Columns of the long frame Great Expectations validates.
_CHECK, _ROW = "check", "row"
_LIMIT, _OBSERVED = "limit", "observed"
_LEFT, _RIGHT = "left", "right"


def _check_name(check: Check) -> str:
    return check.column if isinstance(check, AtMost) else f"{check.column_a} = {check.column_b}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _violates(check: Check, a: Any, b: Any) -> bool:
    """The rule Great Expectations applies to one long-frame row (a missing value never passes)."""
    if isinstance(check, AtMost):  # a = observed, b = limit
        return _missing(a) or not a <= b
    if _missing(a) and _missing(b):
        return False  # like GE's ignore_row_if="both_values_are_missing"
    return _missing(a) or _missing(b) or a != b


def _long_frame(frame: pl.DataFrame, checks: Sequence[Check]) -> tuple[Any, list[list[int]]]:
    """Stack ``checks`` over ``frame`` into one pandas frame; also return, per check, the
    evidence-frame rows that break it by the same rule Great Expectations applies (used to
    break a SUMMARY result down per check; a COMPLETE result lists them itself).
    """
    return _long_frame_int64(frame, checks) or _long_frame_exact(frame, checks)


def _int64_columns(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame | None:
    """``columns`` as non-null Int64, when that is lossless (integers and whole decimals that fit)."""
    for column in columns:
        dtype = frame.schema[column]
        if not (dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0)):
            return None
    try:
        cast = frame.select(pl.col(c).cast(pl.Int64, strict=True) for c in dict.fromkeys(columns))
    except pl.exceptions.PolarsError:  # out of the Int64 range
        return None
    return None if any(cast[c].null_count() for c in cast.columns) else cast


def _is_int64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _long_frame_int64(frame: pl.DataFrame, checks: Sequence[Check]) -> tuple[Any, list[list[int]]] | None:
    """The fast path, vectorised: checks of one kind over integer columns (counts, minor units),
    as an Int64 long frame. ``None`` when that could lose a value or a missing one.
    """
    kinds = {type(c) for c in checks}
    if len(kinds) != 1 or frame.height == 0:
        return None
    at_most = [c for c in checks if isinstance(c, AtMost)]
    equal = [c for c in checks if isinstance(c, Equal)]
    if at_most:
        exact_ints = (
            isinstance(c.limit, int) and not isinstance(c.limit, bool) and abs(c.limit) < 2**63 for c in at_most
        )
        if not all(exact_ints):
            return None
        values = _int64_columns(frame, [c.column for c in at_most])
        pairs = [(pl.lit(c.limit, pl.Int64), pl.col(c.column)) for c in at_most]
        names = (_LIMIT, _OBSERVED)
    else:
        values = _int64_columns(frame, [name for c in equal for name in (c.column_a, c.column_b)])
        pairs = [(pl.col(c.column_a), pl.col(c.column_b)) for c in equal]
        names = (_LEFT, _RIGHT)
    if values is None:
        return None
    row = pl.int_range(pl.len(), dtype=pl.Int64).alias(_ROW)
    long = pl.concat(
        values.select(pl.lit(_check_name(c)).alias(_CHECK), row, a.alias(names[0]), b.alias(names[1]))
        for c, (a, b) in zip(checks, pairs, strict=True)
    )
    # no nulls here, so the rule is the plain comparison
    broken = (pl.col(names[0]) < pl.col(names[1])) if AtMost in kinds else (pl.col(names[0]) != pl.col(names[1]))
    failing_rows = long.with_columns(broken.alias("_broken")).partition_by(_CHECK, as_dict=True, maintain_order=True)
    failing = [failing_rows[(_check_name(c),)].filter(pl.col("_broken"))[_ROW].to_list() for c in checks]
    return long.to_pandas(), failing


def _long_frame_exact(frame: pl.DataFrame, checks: Sequence[Check]) -> tuple[Any, list[list[int]]]:
    """The general path: Python values in object columns, so ints of any size, floats and
    decimals compare exactly, and a missing value (NaN to pandas) stays missing.
    """
    import pandas as pd

    names: list[str] = []
    rows: list[int] = []
    columns: dict[str, list[Any]] = {}
    kinds = {type(c) for c in checks}
    for column in ([_LIMIT, _OBSERVED] if AtMost in kinds else []) + ([_LEFT, _RIGHT] if Equal in kinds else []):
        columns[column] = []
    failing: list[list[int]] = []
    height = frame.height
    for check in checks:
        if isinstance(check, AtMost):
            a_values = frame[check.column].to_list()
            b_values = [check.limit] * height
            targets, blanks = (_OBSERVED, _LIMIT), (_LEFT, _RIGHT)
        else:
            a_values = frame[check.column_a].to_list()
            b_values = frame[check.column_b].to_list()
            targets, blanks = (_LEFT, _RIGHT), (_LIMIT, _OBSERVED)
        names += [_check_name(check)] * height
        rows += range(height)
        columns[targets[0]] += a_values
        columns[targets[1]] += b_values
        for blank in blanks:
            if blank in columns:
                columns[blank] += [None] * height
        failing.append([i for i, (a, b) in enumerate(zip(a_values, b_values, strict=True)) if _violates(check, a, b)])
    data = {_CHECK: names, _ROW: rows} | {
        # object dtype keeps ints exact (no float64 round trip) and None as missing
        name: pd.Series([float("nan") if v is None else v for v in values], dtype=object)
        for name, values in columns.items()
    }
    return pd.DataFrame(data), failing


def validate(suite_name: str, frame: pl.DataFrame, checks: Sequence[Check]) -> SuiteOutcome:
    """Validate ``checks`` over ``frame`` with Great Expectations' pandas engine.

    ``frame`` is a compact evidence frame; the checks are stacked into one long frame judged by
    at most two expectations (see the module docstring). Returns one
    :class:`ExpectationOutcome` per check, in order: observed value (for a one-row frame), how
    many rows break it, and a sample of them.
    """
    checks = list(checks)
    for check in checks:
        if not isinstance(check, AtMost | Equal):
            raise TypeError(f"validate() takes AtMost and Equal checks, not {type(check).__name__}")
    context = get_context()
    import great_expectations as gx

    gxe = expectation_types()
    long_frame, failing = _long_frame(frame, checks)
    expectations = []
    if any(isinstance(c, AtMost) for c in checks):
        expectations.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=_LIMIT, column_B=_OBSERVED, or_equal=True)
        )
    if any(isinstance(c, Equal) for c in checks):
        expectations.append(gxe.ExpectColumnPairValuesToBeEqual(column_A=_LEFT, column_B=_RIGHT))

    source = _get_or_add(
        lambda: context.data_sources.get(DATASOURCE),
        lambda: context.data_sources.add_pandas(DATASOURCE),
    )
    asset = _get_or_add(lambda: source.get_asset(suite_name), lambda: source.add_dataframe_asset(suite_name))
    batch_definition = _get_or_add(
        lambda: asset.get_batch_definition("whole"), lambda: asset.add_batch_definition_whole_dataframe("whole")
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": long_frame})
    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    result = batch.validate(
        suite,
        result_format={
            # COMPLETE lists every failing (check, row), which Data Docs then show; on a big
            # evidence frame a sample of 20 is enough (the per-check counts stay exact)
            "result_format": "COMPLETE" if len(long_frame) <= COMPLETE_RESULT_MAX_ROWS else "SUMMARY",
            "partial_unexpected_count": 20,
            "unexpected_index_column_names": [_CHECK, _ROW],
        },
    )
    # an expectation that raised judged nothing: every check it covers fails
    raised = {
        item.expectation_config.type
        for item in result.results
        if item.exception_info and item.exception_info.get("raised_exception")
    }
    complete = _failing_rows_from_result(result)
    if complete is not None:
        # the full list of failing (check, row) from Great Expectations itself
        failing = [sorted(complete.get(_check_name(check), ())) for check in checks]
    outcomes = []
    for check, bad in zip(checks, failing, strict=True):
        expectation = (
            "expect_column_pair_values_a_to_be_greater_than_b"
            if isinstance(check, AtMost)
            else "expect_column_pair_values_to_be_equal"
        )
        if isinstance(check, AtMost):
            observed = _plain(frame[check.column][0]) if frame.height == 1 else None
            sample = [_plain(frame[check.column][i]) for i in bad[:SAMPLE_SIZE]]
        else:
            observed = None
            sample = [[_plain(frame[check.column_a][i]), _plain(frame[check.column_b][i])] for i in bad[:SAMPLE_SIZE]]
        outcomes.append(
            ExpectationOutcome(
                expectation=expectation,
                column=_check_name(check),
                success=not bad and expectation not in raised,
                observed=observed,
                unexpected_count=len(bad),
                sample=sample,
            )
        )
    success = bool(result.success) and all(o.success for o in outcomes)
    return SuiteOutcome(suite=suite_name, success=success, expectations=outcomes, result=result)


def _failing_rows_from_result(result: Any) -> dict[str, set[int]] | None:
    """Per check name, the evidence rows Great Expectations found failing; ``None`` unless every
    expectation's result is COMPLETE (then it lists all of them).
    """
    failing: dict[str, set[int]] = {}
    for item in result.results:
        details = item.result or {}
        if "unexpected_index_list" not in details:
            if details.get("unexpected_count"):
                return None  # a SUMMARY result: only a sample of the failing rows
            continue
        for entry in details["unexpected_index_list"]:
            failing.setdefault(str(entry[_CHECK]), set()).add(int(entry[_ROW]))
    return failing


def _get_or_add(get: Any, add: Any) -> Any:
    try:
        return get()
    except (KeyError, LookupError, ValueError) as exc:
        if "not found" not in str(exc).lower() and not isinstance(exc, KeyError | LookupError):
            raise
        return add()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
