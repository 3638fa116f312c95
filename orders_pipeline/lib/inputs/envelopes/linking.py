"""Linking: a refund or chargeback without an order_id of its own takes its payment's order_id.

docs/rules.md#envelopes-and-provider-adapters. An adapter record without ``order_id`` but with a
``parent_txn_id`` lands in ``landing.callbacks`` with ``linked`` true and no ``order_id`` yet.
After every sync of the callback files, :func:`resolve_links` gives each such record the
``order_id`` of the first callback read (files in sorted path order, lines in file order) of
the same provider whose ``provider_txn_id`` is its ``parent_txn_id`` and that has an order_id
of its own (canonical lines included, whatever their ``received_at``; no chains). The links
are recomputed from all landed callbacks every run, so a refund landed before its payment is
linked as soon as the payment's file lands, and unlinked again if that file disappears.

A record still without ``order_id`` is rejected ``missing_field:order_id``: it stays in
``landing.callbacks`` (it may be linked later) but every reader skips it, it is listed in
``recon.rejected_lines`` (:func:`unlinked_rejected_sql`, with its envelope line as ``raw``) and
counted as rejected, not landed, in ``recon.input_files`` (:func:`unlinked_counts_sql`).
"""

from __future__ import annotations

import duckdb

from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, MANIFEST, TOUCHED_ORDERS

UNLINKED = "linked AND order_id IS NULL"
"""The callback records that are rejected: no order_id, and no payment to link to."""


def resolve_links(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Link every ``linked`` callback record to its payment's order; returns how many have no order.

    Orders that gain or lose a linked record are added to ``landing.touched_orders`` so their
    outcomes are evaluated again.
    """
    callbacks = CALLBACK_LINES.qualified()
    if not con.execute(f"SELECT count(*) FROM {callbacks} WHERE linked").fetchone()[0]:  # type: ignore[index]
        return 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE __links AS
        WITH ranked AS (
            SELECT c.provider, c.provider_txn_id, c.order_id, r.file_rank, c.read_order, c.record_index
            FROM {callbacks} AS c
            JOIN (SELECT file, row_number() OVER (ORDER BY file) AS file_rank
                  FROM {MANIFEST.qualified()} WHERE kind = 'callbacks') AS r USING (file)
            WHERE NOT c.linked AND c.provider_txn_id IS NOT NULL AND c.order_id IS NOT NULL
        ),
        parents AS (
            SELECT provider, provider_txn_id,
                   arg_min(order_id, (file_rank, read_order, coalesce(record_index, -1))) AS order_id
            FROM ranked GROUP BY ALL
        ),
        wanted AS (SELECT DISTINCT provider, parent_txn_id FROM {callbacks} WHERE linked)
        SELECT w.provider, w.parent_txn_id, p.order_id
        FROM wanted AS w LEFT JOIN parents AS p
          ON p.provider = w.provider AND p.provider_txn_id = w.parent_txn_id
        """
    )
    con.execute(
        f"""
        INSERT INTO {TOUCHED_ORDERS.qualified()}
        SELECT DISTINCT ?, order_id FROM (
            SELECT c.order_id FROM {callbacks} AS c JOIN __links AS l
              ON c.provider = l.provider AND c.parent_txn_id = l.parent_txn_id
            WHERE c.linked AND c.order_id IS DISTINCT FROM l.order_id
            UNION ALL
            SELECT l.order_id FROM {callbacks} AS c JOIN __links AS l
              ON c.provider = l.provider AND c.parent_txn_id = l.parent_txn_id
            WHERE c.linked AND c.order_id IS DISTINCT FROM l.order_id
        ) WHERE order_id IS NOT NULL
        """,
        [run_id],
    )
    con.execute(
        f"""
        UPDATE {callbacks} SET order_id = l.order_id FROM __links AS l
        WHERE {callbacks}.linked AND {callbacks}.provider = l.provider
          AND {callbacks}.parent_txn_id = l.parent_txn_id AND {callbacks}.order_id IS DISTINCT FROM l.order_id
        """
    )
    con.execute("DROP TABLE __links")
    return int(con.execute(f"SELECT count(*) FROM {callbacks} WHERE {UNLINKED}").fetchone()[0])  # type: ignore[index]


def unlinked_rejected_sql() -> str:
    """The unlinked callback records as ``rejected_lines`` rows (reason ``missing_field:order_id``)."""
    return f"""
        SELECT 'callbacks' AS kind, file, line_number, envelope_raw AS raw, 'missing_field:order_id' AS reason,
               'no order_id, and parent_txn_id ''' || parent_txn_id || ''' matches no landed ' || provider
               || ' callback with an order_id of its own' AS message,
               source, seq
        FROM {CALLBACK_LINES.qualified()} WHERE {UNLINKED}
    """


def unlinked_counts_sql() -> str:
    """Per callback file, how many of its landed records are unlinked (kind, file, n)."""
    return (
        f"SELECT 'callbacks' AS kind, file, count(*) AS n FROM {CALLBACK_LINES.qualified()} "
        f"WHERE {UNLINKED} GROUP BY ALL"
    )
