"""The statement rows of a run: which landed rows exist as of the run, and which of them count (once).

docs/rules.md#precise-statements, as DuckDB SQL over ``landing.statement_lines`` (statement
rows are as many as orders; they are reduced in the work database before anything reaches
Polars):

* A row exists for the run when ``booked_at <= as_of``; a later row is landed but is nothing
  for the run: not a payment, refund or orphan, no coverage, no evidence that its provider
  has statements.
* The same row in two files: rows with the same key (provider, type, ``order_id``,
  ``provider_txn_id``, amount by value) in several files count once, in the earliest-read file
  (files ranked by relative path, like log lines); identical rows within one file all count.
  Missing ``order_id`` or ``provider_txn_id`` values are equal to each other in the key, and
  only rows that exist for the run take part (a row booked after the as-of drops nothing).
  "By value" compares the amount as a number, whatever the currency's exponent: 10 JPY
  (``amount_minor`` 10) and 10.00 USD (1000) are the same amount.
"""

from __future__ import annotations

from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS
from orders_pipeline.lib.common.vocabulary import ORDER_STATEMENT_TYPES, STATEMENTS
from orders_pipeline.lib.inputs.manifest import ranked_lines_sql

_MAX_EXPONENT = max(CURRENCY_EXPONENTS.values())


def _value_key_sql() -> str:
    """The amount scaled to the largest exponent (an exact HUGEINT), so amounts compare by value."""
    by_exponent: dict[int, list[str]] = {}
    for code, exponent in CURRENCY_EXPONENTS.items():
        by_exponent.setdefault(exponent, []).append(code)
    cases = " ".join(
        f"WHEN currency IN ({', '.join(repr(code) for code in sorted(codes))}) THEN {10 ** (_MAX_EXPONENT - exponent)}"
        for exponent, codes in sorted(by_exponent.items())
    )
    return f"amount_minor::HUGEINT * (CASE {cases} END)"


def statement_rows_sql() -> str:
    """Every landed statement row that exists for the run (``$as_of``), with ``counted`` and its file's rank.

    ``counted`` is false for a row dropped by the duplicate-row rule. Columns: those of
    ``landing.statement_lines`` (``read_order`` the global reading position), plus ``counted``.
    """
    return f"""
        SELECT * EXCLUDE (value_key, first_file_rank), read_order >> 32 = first_file_rank AS counted
        FROM (
            SELECT *, min(read_order >> 32) OVER (
                       PARTITION BY provider, type, order_id, provider_txn_id, value_key) AS first_file_rank
            FROM (SELECT *, {_value_key_sql()} AS value_key FROM ({ranked_lines_sql(STATEMENTS)}) AS ranked
                  WHERE booked_at <= $as_of) AS existing
        ) AS keyed
    """


def order_rows_sql() -> str:
    """The payment, refund and chargeback rows that count for the run: the statement evidence of orders."""
    types = ", ".join(f"'{t}'" for t in ORDER_STATEMENT_TYPES)
    return f"SELECT * FROM ({statement_rows_sql()}) AS rows WHERE counted AND type IN ({types})"
