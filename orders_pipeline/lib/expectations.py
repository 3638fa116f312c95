"""Great Expectations, run on the compact frames our checks reduce each table to.

Why compact frames. Great Expectations 1.x has no Polars engine, and its SQL datasource over
DuckDB returns empty metrics; its pandas engine works but would dominate a 10M-order run if
handed every row. So each check first reduces a table with Polars/DuckDB to a frame that
still carries the evidence (one row per input file, one row per summary group, or one row
of exact violation counts), and Great Expectations validates that frame. The reduction is
exact — nothing is sampled — and the failing rows are attached as a sample.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

_context: Any = None


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, in plain values for metadata and the ``runs`` table."""

    expectation: str
    column: str | None
    success: bool
    observed: Any
    unexpected_count: int | None
    sample: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    """A whole suite's verdict over one frame."""

    suite: str
    success: bool
    expectations: list[ExpectationOutcome]

    def failures(self) -> list[ExpectationOutcome]:
        """The expectations that did not hold."""
        return [e for e in self.expectations if not e.success]


def _get_context() -> Any:
    global _context
    if _context is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _context = context
    return _context


def expectation_types() -> Any:
    """``great_expectations.expectations``, imported after the context exists (GE imports lazily)."""
    _get_context()
    import great_expectations.expectations as gxe

    return gxe


def zero_violations(columns: Sequence[str]) -> list[Any]:
    """Expectations that each violation-count column of a one-row frame is exactly 0."""
    gxe = expectation_types()
    return [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=0) for c in columns]


def columns_equal(pairs: Sequence[tuple[str, str]]) -> list[Any]:
    """Expectations that two columns are equal on every row (conservation and tie-outs)."""
    gxe = expectation_types()
    return [gxe.ExpectColumnPairValuesToBeEqual(column_A=a, column_B=b) for a, b in pairs]


def validate(suite_name: str, frame: pl.DataFrame, expectations: Sequence[Any]) -> SuiteOutcome:
    """Validate ``frame`` against ``expectations`` with Great Expectations' pandas engine."""
    context = _get_context()
    import great_expectations as gx

    source = _get_or_add(
        lambda: context.data_sources.get("orders_pipeline"),
        lambda: context.data_sources.add_pandas("orders_pipeline"),
    )
    asset = _get_or_add(lambda: source.get_asset(suite_name), lambda: source.add_dataframe_asset(suite_name))
    batch_definition = _get_or_add(
        lambda: asset.get_batch_definition("whole"), lambda: asset.add_batch_definition_whole_dataframe("whole")
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    suite = gx.ExpectationSuite(name=suite_name, expectations=list(expectations))
    result = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10})
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        kwargs = config.kwargs
        column = kwargs.get("column") or (
            f"{kwargs['column_A']} = {kwargs['column_B']}" if "column_A" in kwargs else None
        )
        observed = details.get("observed_value")
        if observed is None and "column" in kwargs and frame.height == 1 and kwargs["column"] in frame.columns:
            observed = frame[kwargs["column"]][0]
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(item.success),
                observed=_plain(observed),
                unexpected_count=details.get("unexpected_count"),
                sample=[_plain(v) for v in details.get("partial_unexpected_list", [])],
            )
        )
    return SuiteOutcome(suite=suite_name, success=bool(result.success), expectations=outcomes)


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
