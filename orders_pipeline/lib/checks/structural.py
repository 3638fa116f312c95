"""The structural rules (docs/rules.md#gaps-and-duplicates), each reduced to exact evidence for Great Expectations.

Each function takes a DuckDB connection on the work database (tables as the pipeline writes
them) and returns a :class:`CheckEvidence`: Great Expectations' verdict plus the sample rows
that explain a failure. A failure blocks publishing. The reductions run in DuckDB because they touch every row of
the biggest tables; Great Expectations then judges the small frame (see ``expectations``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import duckdb
import polars as pl

from orders_pipeline.lib.checks import gx_suites
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS
from orders_pipeline.lib.common.vocabulary import (
    ACTION_BY_OUTCOME,
    ACTIONS,
    CONFLICTING_SUBMISSION_ACTION,
    FLAGS,
    OUTCOMES,
    STATUSES,
    LogKind,
)
from orders_pipeline.lib.warehouse.sql import fetch_first


@dataclass(frozen=True)
class CheckEvidence:
    """A suite's verdict plus the offending rows (at most a handful) that explain it."""

    outcome: gx_suites.SuiteOutcome
    observed: dict[str, Any]
    failing_sample: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return self.outcome.success


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    frame = con.sql(query, params=params).pl()
    return [
        {k: (str(v) if v is not None and not isinstance(v, int | float | bool | str) else v) for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def lines_conserved(con: duckdb.DuckDBPyConnection) -> CheckEvidence:
    """Per input file: lines read = lines landed + lines rejected, and the tables hold exactly those rows."""
    frame = con.sql(
        """
        WITH landed AS (
            SELECT 'orders' AS kind, file, count(*) AS n FROM landing.orders GROUP BY ALL
            UNION ALL
            SELECT 'callbacks', file, count(*) FROM landing.callbacks GROUP BY ALL
        ), rejected AS (
            SELECT kind, file, count(*) AS n FROM recon.rejected_lines GROUP BY ALL
        )
        SELECT f.kind, f.file, f.lines_read,
               f.lines_landed + f.lines_rejected AS lines_accounted,
               f.lines_landed, coalesce(l.n, 0) AS rows_in_landing_table,
               f.lines_rejected, coalesce(r.n, 0) AS rows_in_rejected_lines
        FROM recon.input_files AS f
        LEFT JOIN landed AS l USING (kind, file)
        LEFT JOIN rejected AS r USING (kind, file)
        ORDER BY f.kind, f.file
        """
    ).pl()
    orphan_rows = fetch_first(
        con,
        """
        SELECT count(*) FROM (
            SELECT file FROM landing.orders EXCEPT SELECT file FROM recon.input_files WHERE kind = 'orders'
            UNION ALL
            SELECT file FROM landing.callbacks EXCEPT SELECT file FROM recon.input_files WHERE kind = 'callbacks'
        )
        """,
    )
    outcome = gx_suites.validate(
        "input_files_conservation",
        frame,
        gx_suites.columns_equal(
            [
                ("lines_read", "lines_accounted"),
                ("lines_landed", "rows_in_landing_table"),
                ("lines_rejected", "rows_in_rejected_lines"),
            ]
        ),
    )
    totals = frame.select(pl.col("lines_read", "lines_landed", "lines_rejected").sum()).row(0, named=True)
    observed = {
        **{k: int(v or 0) for k, v in totals.items()},
        "files": frame.height,
        "landed_rows_from_unknown_files": int(orphan_rows[0] if orphan_rows else 0),
    }
    failing = frame.filter(
        (pl.col("lines_read") != pl.col("lines_accounted"))
        | (pl.col("lines_landed") != pl.col("rows_in_landing_table"))
        | (pl.col("lines_rejected") != pl.col("rows_in_rejected_lines"))
    ).head(10)
    passed_extra = observed["landed_rows_from_unknown_files"] == 0
    if not passed_extra:
        outcome = replace(outcome, success=False)
    return CheckEvidence(outcome, observed, failing.to_dicts())


def one_outcome_per_order(con: duckdb.DuckDBPyConnection, as_of: Any) -> CheckEvidence:
    """Every order existing as of the run has exactly one outcome row, keyed and typed as the rules say.

    Final order days keep the as-of of their last evaluation, so rows may carry an earlier
    as-of than the run's, never a later one.
    """
    violations = con.sql(
        f"""
        WITH evaluation AS (SELECT $as_of::TIMESTAMPTZ AS as_of),
        -- Per order id: its existing lines and its outcome rows, in one group-by over both
        -- (two anti-joins and two distincts cost four times as much at 10M orders).
        keyed AS (
            SELECT order_id, count(*) FILTER (WHERE side = 0) AS lines, count(*) FILTER (WHERE side = 1) AS outcomes
            FROM (SELECT order_id, 0 AS side FROM landing.orders, evaluation WHERE created_at <= evaluation.as_of
                  UNION ALL SELECT order_id, 1 AS side FROM recon.order_outcomes)
            GROUP BY order_id
        ),
        key_counts AS (
            SELECT count(*) FILTER (WHERE outcomes > 1) AS duplicate_order_ids,
                   count(*) FILTER (WHERE outcomes = 0) AS orders_without_outcome,
                   count(*) FILTER (WHERE lines = 0) AS outcomes_without_order
            FROM keyed
        )
        SELECT
            key_counts.duplicate_order_ids,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE order_id IS NULL OR merchant_id IS NULL OR provider IS NULL OR currency IS NULL
                 OR created_at IS NULL OR outcome IS NULL OR action IS NULL OR flags IS NULL
                 OR amount_minor IS NULL OR as_of IS NULL) AS null_keys,
            key_counts.orders_without_outcome,
            key_counts.outcomes_without_order,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE NOT list_contains({_sql_list(OUTCOMES)}, outcome)) AS unknown_outcomes,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE NOT list_contains({_sql_list(ACTIONS)}, action)) AS unknown_actions,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE NOT list_has_all({_sql_list(FLAGS)}, flags)) AS unknown_flags,
            (SELECT count(*) FROM recon.order_outcomes WHERE action <> CASE
                WHEN list_contains(flags, 'conflicting_submission') THEN '{CONFLICTING_SUBMISSION_ACTION}'
                {" ".join(f"WHEN outcome = '{o}' THEN '{a}'" for o, a in ACTION_BY_OUTCOME.items())}
                END) AS wrong_actions,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE amount_minor < 0 OR callback_amount_minor < 0) AS negative_amounts,
            (SELECT count(*) FROM recon.order_outcomes, evaluation
              WHERE order_outcomes.as_of > evaluation.as_of) AS evaluated_after_run_as_of
        FROM key_counts
        """,
        params={"as_of": as_of},
    ).pl()
    counts = violations.row(0, named=True)
    outcome = gx_suites.validate("order_outcomes_structure", violations, gx_suites.zero_violations(violations.columns))
    sample: list[dict[str, Any]] = []
    if counts["duplicate_order_ids"]:
        sample += _rows(
            con,
            "SELECT order_id, count(*) AS outcome_rows FROM recon.order_outcomes "
            "GROUP BY order_id HAVING count(*) > 1 ORDER BY order_id LIMIT 10",
        )
    if counts["orders_without_outcome"]:
        sample += _rows(
            con,
            "SELECT DISTINCT o.order_id, 'no outcome' AS problem FROM landing.orders o "
            "ANTI JOIN recon.order_outcomes r USING (order_id) "
            "WHERE o.created_at <= ? ORDER BY 1 LIMIT 10",
            [as_of],
        )
    return CheckEvidence(outcome, {k: int(v) for k, v in counts.items()}, sample)


def summary_ties_out(con: duckdb.DuckDBPyConnection) -> CheckEvidence:
    """``daily_summary`` counts and amounts add up, per group and per outcome, to ``order_outcomes``."""
    outcome_counts = " + ".join(f"{o}_count" for o in OUTCOMES)
    outcome_amounts = " + ".join(f"{o}_amount_minor" for o in OUTCOMES)
    frame = con.sql(
        f"""
        WITH recomputed AS (
            SELECT CAST(created_at AS DATE) AS order_date, merchant_id, provider, currency,
                   count(*) AS outcomes_order_count, sum(amount_minor) AS outcomes_amount_minor
            FROM recon.order_outcomes GROUP BY ALL
        )
        SELECT coalesce(s.order_date, r.order_date) AS order_date,
               coalesce(s.merchant_id, r.merchant_id) AS merchant_id,
               coalesce(s.provider, r.provider) AS provider,
               coalesce(s.currency, r.currency) AS currency,
               coalesce(s.order_count, 0) AS order_count,
               coalesce({outcome_counts}, 0) AS sum_of_outcome_counts,
               coalesce(r.outcomes_order_count, 0) AS outcomes_order_count,
               coalesce(s.amount_minor, 0) AS amount_minor,
               coalesce({outcome_amounts}, 0) AS sum_of_outcome_amounts,
               coalesce(r.outcomes_amount_minor, 0) AS outcomes_amount_minor
        FROM recon.daily_summary AS s
        FULL JOIN recomputed AS r
          ON s.order_date = r.order_date AND s.merchant_id = r.merchant_id
         AND s.provider = r.provider AND s.currency = r.currency
        ORDER BY ALL
        """
    ).pl()
    outcome = gx_suites.validate(
        "daily_summary_tie_out",
        frame,
        gx_suites.columns_equal(
            [
                ("order_count", "sum_of_outcome_counts"),
                ("order_count", "outcomes_order_count"),
                ("amount_minor", "sum_of_outcome_amounts"),
                ("amount_minor", "outcomes_amount_minor"),
            ]
        ),
    )
    failing = frame.filter(
        (pl.col("order_count") != pl.col("sum_of_outcome_counts"))
        | (pl.col("order_count") != pl.col("outcomes_order_count"))
        | (pl.col("amount_minor") != pl.col("sum_of_outcome_amounts"))
        | (pl.col("amount_minor") != pl.col("outcomes_amount_minor"))
    ).head(10)
    totals = frame.select(pl.col("order_count", "amount_minor").sum()).row(0, named=True)
    return CheckEvidence(
        outcome,
        {"groups": frame.height, **{k: int(v or 0) for k, v in totals.items()}},
        failing.with_columns(pl.col("order_date").cast(pl.String)).to_dicts(),
    )


def exceptions_tie_out(con: duckdb.DuckDBPyConnection) -> CheckEvidence:
    """``exceptions`` holds exactly the orders whose action is not ``none``, each once."""
    frame = con.sql(
        """
        SELECT
          (SELECT count(*) FROM (SELECT order_id FROM recon.order_outcomes WHERE action <> 'none'
                                 EXCEPT ALL SELECT order_id FROM recon.exceptions)) AS missing_from_exceptions,
          (SELECT count(*) FROM (SELECT order_id FROM recon.exceptions
                                 EXCEPT ALL SELECT order_id FROM recon.order_outcomes WHERE action <> 'none'))
              AS unexpected_in_exceptions
        """
    ).pl()
    outcome = gx_suites.validate("exceptions_tie_out", frame, gx_suites.zero_violations(frame.columns))
    return CheckEvidence(outcome, {k: int(v) for k, v in frame.row(0, named=True).items()}, [])


def typed_lines_valid(con: duckdb.DuckDBPyConnection, kind: LogKind) -> CheckEvidence:
    """Landed lines of one kind are typed as the rules say: keys present, known currencies and
    statuses, money as non-negative minor units, amount and currency on success/reversed.

    Ingestion should never land a line breaking these; the check makes sure it did not.
    """
    currencies = _sql_list(tuple(CURRENCY_EXPONENTS))
    if kind == "orders":
        counts = f"""
          (SELECT count(*) FROM landing.orders
            WHERE order_id IS NULL OR merchant_id IS NULL OR provider IS NULL OR currency IS NULL
               OR created_at IS NULL OR amount_minor IS NULL) AS order_lines_with_null_fields,
          (SELECT count(*) FROM landing.orders WHERE amount_minor < 0) AS order_lines_with_negative_amount,
          (SELECT count(*) FROM landing.orders WHERE NOT list_contains({currencies}, currency))
              AS order_lines_with_unknown_currency
        """
    else:
        counts = f"""
          (SELECT count(*) FROM landing.callbacks
            WHERE order_id IS NULL OR provider IS NULL OR status IS NULL OR received_at IS NULL
               OR event_time IS NULL) AS callback_lines_with_null_fields,
          (SELECT count(*) FROM landing.callbacks WHERE NOT list_contains({_sql_list(STATUSES)}, status))
              AS callback_lines_with_unknown_status,
          (SELECT count(*) FROM landing.callbacks
            WHERE status IN ('success', 'reversed') AND (amount_minor IS NULL OR currency IS NULL))
              AS settled_callbacks_without_amount,
          (SELECT count(*) FROM landing.callbacks WHERE amount_minor < 0) AS callback_lines_with_negative_amount,
          (SELECT count(*) FROM landing.callbacks
            WHERE currency IS NOT NULL AND NOT list_contains({currencies}, currency))
              AS callback_lines_with_unknown_currency
        """
    frame = con.sql(f"SELECT {counts}").pl()
    outcome = gx_suites.validate(f"typed_{kind}_lines", frame, gx_suites.zero_violations(frame.columns))
    return CheckEvidence(outcome, {k: int(v) for k, v in frame.row(0, named=True).items()}, [])
