"""The structural rules (docs/rules.md#gaps-and-duplicates), each reduced to exact evidence for Great Expectations.

Each function takes a DuckDB connection on the work database (tables as the pipeline writes
them) and returns a :class:`CheckEvidence`: Great Expectations' verdict plus the sample rows
that explain a failure. A failure blocks publishing. The reductions run in DuckDB because they touch every row of
the biggest tables; Great Expectations then judges the small frame (see ``expectations``).

The module is a little over 400 lines because each blocking rule is one exact SQL reduction
with its evidence; they stay together so the blocking rules read as one list.
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
    CALLBACKS,
    CONFLICTING_SUBMISSION_ACTION,
    FLAGS,
    ORDERS,
    OUTCOMES,
    STATEMENT_AMOUNT_ACTION,
    STATEMENT_OUTCOMES,
    STATEMENT_REFUND_ACTION,
    STATEMENT_STATUSES,
    STATEMENTS,
    STATUSES,
    InputKind,
    LogKind,
)
from orders_pipeline.lib.inputs.envelopes.linking import UNLINKED
from orders_pipeline.lib.inputs.fields import LANDED
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
    """Per order and callback file: lines read = landed + rejected + ignored, and the tables hold exactly those rows."""
    return records_conserved(con, (ORDERS, CALLBACKS), "input_files_conservation")


def statement_rows_conserved(con: duckdb.DuckDBPyConnection) -> CheckEvidence:
    """Per statement file: records read = landed + rejected + ignored, and the tables hold exactly those rows."""
    return records_conserved(con, (STATEMENTS,), "statement_files_conservation")


def records_conserved(con: duckdb.DuckDBPyConnection, kinds: tuple[InputKind, ...], suite: str) -> CheckEvidence:
    """Per input file of ``kinds``: records read = landed + rejected + ignored, and the tables hold those rows."""
    # A callback record still waiting for its link is rejected, not landed (envelopes.linking).
    landed = " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, file, count(*) AS n FROM {table.qualified()} "
        f"{f'WHERE NOT ({UNLINKED}) ' if kind == CALLBACKS else ''}GROUP BY ALL"
        for kind, table in LANDED.items()
        if kind in kinds
    )
    wanted = {"kinds": list(kinds)}
    frame = con.sql(
        f"""
        WITH landed AS ({landed}),
        rejected AS (SELECT kind, file, count(*) AS n FROM recon.rejected_lines GROUP BY ALL),
        ignored AS (SELECT kind, file, count(*) AS n FROM recon.ignored_records GROUP BY ALL)
        SELECT f.kind, f.file, f.lines_read,
               f.lines_landed + f.lines_rejected + f.lines_ignored + f.lines_unreadable AS lines_accounted,
               f.lines_landed, coalesce(l.n, 0) AS rows_in_landing_table,
               f.lines_rejected, coalesce(r.n, 0) AS rows_in_rejected_lines,
               f.lines_ignored, coalesce(i.n, 0) AS rows_in_ignored_records
        FROM recon.input_files AS f
        LEFT JOIN landed AS l USING (kind, file)
        LEFT JOIN rejected AS r USING (kind, file)
        LEFT JOIN ignored AS i USING (kind, file)
        WHERE list_contains($kinds, f.kind)
        ORDER BY f.kind, f.file
        """,
        params=wanted,
    ).pl()
    orphan_rows = fetch_first(
        con,
        f"""
        SELECT count(*) FROM (
            SELECT kind, file FROM ({landed})
            UNION ALL SELECT kind, file FROM recon.rejected_lines WHERE list_contains($kinds, kind)
            UNION ALL SELECT kind, file FROM recon.ignored_records WHERE list_contains($kinds, kind)
        ) AS rows ANTI JOIN recon.input_files USING (kind, file)
        """,
        wanted,
    )
    outcome = gx_suites.validate(
        suite,
        frame,
        gx_suites.columns_equal(
            [
                ("lines_read", "lines_accounted"),
                ("lines_landed", "rows_in_landing_table"),
                ("lines_rejected", "rows_in_rejected_lines"),
                ("lines_ignored", "rows_in_ignored_records"),
            ]
        ),
    )
    totals = frame.select(pl.col("lines_read", "lines_landed", "lines_rejected", "lines_ignored").sum()).row(
        0, named=True
    )
    observed = {
        **{k: int(v or 0) for k, v in totals.items()},
        "files": frame.height,
        "landed_rows_from_unknown_files": int(orphan_rows[0] if orphan_rows else 0),
    }
    failing = frame.filter(
        (pl.col("lines_read") != pl.col("lines_accounted"))
        | (pl.col("lines_landed") != pl.col("rows_in_landing_table"))
        | (pl.col("lines_rejected") != pl.col("rows_in_rejected_lines"))
        | (pl.col("lines_ignored") != pl.col("rows_in_ignored_records"))
    ).head(10)
    if observed["landed_rows_from_unknown_files"]:
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
                 OR amount_minor IS NULL OR as_of IS NULL OR statement_status IS NULL) AS null_keys,
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
                WHEN outcome = 'confirmed' AND list_contains(flags, 'statement_refund')
                    THEN '{STATEMENT_REFUND_ACTION}'
                WHEN outcome = 'confirmed' AND list_contains(flags, 'statement_amount_mismatch')
                    THEN '{STATEMENT_AMOUNT_ACTION}'
                {" ".join(f"WHEN outcome = '{o}' THEN '{a}'" for o, a in ACTION_BY_OUTCOME.items())}
                END) AS wrong_actions,
            (SELECT count(*) FROM recon.order_outcomes
              WHERE NOT list_contains({_sql_list(STATEMENT_STATUSES)}, statement_status)
                 OR (statement_status = 'amount_differs') <> list_contains(flags, 'statement_amount_mismatch')
                 OR (statement_status = 'none' AND (statement_amount_minor IS NOT NULL
                     OR list_contains({_sql_list(STATEMENT_OUTCOMES)}, outcome)))) AS inconsistent_statement_fields,
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
            WHERE (order_id IS NULL AND NOT coalesce(linked, false))
               OR provider IS NULL OR status IS NULL OR received_at IS NULL
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


def statement_coverage_ties_out(con: duckdb.DuckDBPyConnection, as_of: Any) -> CheckEvidence:
    """``statement_coverage`` adds up, per provider, statement day and currency, to the statement rows of the run.

    Recomputed here from ``landing.statement_lines`` on its own terms: the rows booked by the
    as-of, each counted in the first file (by relative path) that holds its key, the others
    duplicates; a day is covered exactly when its end is before the as-of.
    """
    scale = max(CURRENCY_EXPONENTS.values())
    factors = ", ".join(f"('{code}', {10 ** (scale - e)})" for code, e in sorted(CURRENCY_EXPONENTS.items()))
    frame = con.sql(
        f"""
        WITH existing AS (
            SELECT l.*, l.amount_minor::HUGEINT * e.factor AS by_value
            FROM landing.statement_lines AS l JOIN (VALUES {factors}) AS e(currency, factor) USING (currency)
            WHERE l.booked_at <= $as_of
        ),
        first_file AS (
            SELECT provider, type, order_id, provider_txn_id, by_value, min(file) AS first
            FROM existing GROUP BY ALL
        ),
        judged AS (
            SELECT x.*, x.file = f.first AS once
            FROM existing AS x JOIN first_file AS f
              ON x.provider = f.provider AND x.type = f.type AND x.by_value = f.by_value
             AND x.order_id IS NOT DISTINCT FROM f.order_id
             AND x.provider_txn_id IS NOT DISTINCT FROM f.provider_txn_id
        ),
        recomputed AS (
            SELECT provider, statement_date, currency,
                   count(*) FILTER (WHERE once) AS rows_counted,
                   count(*) FILTER (WHERE NOT once) AS rows_duplicate,
                   count(*) FILTER (WHERE once AND type = 'payment') AS payments,
                   coalesce(sum(amount_minor) FILTER (WHERE once AND type = 'payment'), 0) AS paid,
                   count(*) FILTER (WHERE once AND type = 'refund') AS refunds,
                   coalesce(sum(amount_minor) FILTER (WHERE once AND type = 'refund'), 0) AS refunded,
                   count(*) FILTER (WHERE once AND type = 'chargeback') AS chargebacks,
                   coalesce(sum(amount_minor) FILTER (WHERE once AND type = 'chargeback'), 0) AS charged_back
            FROM judged GROUP BY ALL
        ),
        day_files AS (
            SELECT provider, statement_date, count(DISTINCT file) AS files_of_day FROM existing GROUP BY ALL
        )
        SELECT coalesce(c.provider, r.provider) AS provider,
               coalesce(c.statement_date, r.statement_date) AS statement_date,
               coalesce(c.currency, r.currency) AS currency,
               coalesce(c.rows, -1) AS rows, coalesce(r.rows_counted, -1) AS rows_counted,
               coalesce(c.duplicate_rows, -1) AS duplicate_rows, coalesce(r.rows_duplicate, -1) AS rows_duplicate,
               coalesce(c.payment_count, -1) AS payment_count, coalesce(r.payments, -1) AS payments,
               coalesce(c.payment_amount_minor, -1) AS payment_amount_minor, coalesce(r.paid, -1) AS paid,
               coalesce(c.refund_count, -1) AS refund_count, coalesce(r.refunds, -1) AS refunds,
               coalesce(c.refund_amount_minor, -1) AS refund_amount_minor, coalesce(r.refunded, -1) AS refunded,
               coalesce(c.chargeback_count, -1) AS chargeback_count, coalesce(r.chargebacks, -1) AS chargebacks,
               coalesce(c.chargeback_amount_minor, -1) AS chargeback_amount_minor,
               coalesce(r.charged_back, -1) AS charged_back,
               coalesce(c.files, -1) AS files, coalesce(d.files_of_day, -1) AS files_of_day,
               coalesce(c.covered::INTEGER, -1) AS covered,
               coalesce((c.day_ends_at < $as_of)::INTEGER, -1) AS day_ended
        FROM recon.statement_coverage AS c
        FULL JOIN recomputed AS r
          ON c.provider = r.provider AND c.statement_date = r.statement_date AND c.currency = r.currency
        LEFT JOIN day_files AS d
          ON d.provider = coalesce(c.provider, r.provider)
         AND d.statement_date = coalesce(c.statement_date, r.statement_date)
        ORDER BY ALL
        """,
        params={"as_of": as_of},
    ).pl()
    pairs = [
        ("rows", "rows_counted"),
        ("duplicate_rows", "rows_duplicate"),
        ("payment_count", "payments"),
        ("payment_amount_minor", "paid"),
        ("refund_count", "refunds"),
        ("refund_amount_minor", "refunded"),
        ("chargeback_count", "chargebacks"),
        ("chargeback_amount_minor", "charged_back"),
        ("files", "files_of_day"),
        ("covered", "day_ended"),
    ]
    outcome = gx_suites.validate("statement_coverage_tie_out", frame, gx_suites.columns_equal(pairs))
    failing = frame.filter(pl.any_horizontal(pl.col(a) != pl.col(b) for a, b in pairs)) if frame.height else frame
    totals = frame.select(pl.col("rows", "payment_amount_minor").sum()).row(0, named=True) if frame.height else {}
    return CheckEvidence(
        outcome,
        {"groups": frame.height, **{k: int(v or 0) for k, v in totals.items()}},
        failing.head(10).with_columns(pl.col("statement_date").cast(pl.String)).to_dicts(),
    )
