"""``history``: one order's story from the published warehouse, for support ("where is my order?")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.reports.formatting import duration_text, extras_text, money_text, timestamp_text, where_read
from orders_pipeline.lib.reports.published import NOT_PUBLISHED, open_published, query_rows, table_columns
from orders_pipeline.lib.warehouse.sql import fetch_first, table_exists


@dataclass(frozen=True)
class OrderHistory:
    """Everything the published warehouse knows about one order id.

    ``outcome`` is the order's ``recon.order_outcomes`` row (``None`` when no order line was
    landed for the id — then ``orphans`` may hold callbacks received for it). ``submissions`` and
    ``callbacks`` are the id's landed lines, ``None`` when the warehouse does not publish them.
    """

    order_id: str
    as_of: datetime | None
    outcome: dict[str, Any] | None
    changes: list[dict[str, Any]]
    submissions: list[dict[str, Any]] | None
    callbacks: list[dict[str, Any]] | None
    orphans: list[dict[str, Any]]

    @property
    def found(self) -> bool:
        """Whether the warehouse has an order, or at least orphan callbacks, for this id."""
        return self.outcome is not None or bool(self.orphans)


def _lines_of(
    con: duckdb.DuckDBPyConnection, table: str, order_id: str, time_column: str
) -> list[dict[str, Any]] | None:
    """The landed lines of one order id from a published line table, oldest first; None if not published."""
    if not table_exists(con, table):
        return None
    columns = table_columns(con, table)
    if "order_id" not in columns:
        return None
    order_by = [c for c in (time_column, "file", "line_number", "read_order") if c in columns]
    order = f"ORDER BY {', '.join(order_by)}" if order_by else ""
    return query_rows(con, f"SELECT * FROM {table} WHERE order_id = ? {order}", [order_id])


def order_history(warehouse_path: Path, order_id: str) -> OrderHistory:
    """Read one order's outcome, outcome changes, submissions and callbacks from the published warehouse."""
    with open_published(warehouse_path) as con:
        outcomes = query_rows(con, "SELECT * FROM recon.order_outcomes WHERE order_id = ?", [order_id])
        as_of_row = fetch_first(con, "SELECT max(as_of) FROM recon.runs")
        changes = (
            query_rows(
                con,
                "SELECT * FROM recon.outcome_changes WHERE order_id = ? ORDER BY as_of, previous_as_of",
                [order_id],
            )
            if table_exists(con, "recon.outcome_changes")
            else []
        )
        orphans = (
            query_rows(con, "SELECT * FROM recon.orphan_callbacks WHERE order_id = ? ORDER BY received_at", [order_id])
            if table_exists(con, "recon.orphan_callbacks")
            else []
        )
        submissions = _lines_of(con, "recon.order_lines", order_id, "created_at")
        callbacks = _lines_of(con, "recon.callback_lines", order_id, "received_at")
    outcome = outcomes[0] if outcomes else None
    as_of = outcome["as_of"] if outcome else (as_of_row[0] if as_of_row else None)
    return OrderHistory(order_id, as_of, outcome, changes, submissions, callbacks, orphans)


def order_history_text(history: OrderHistory) -> str:
    """The ``history`` command's output: current outcome, outcome changes, submissions, callbacks."""
    lines: list[str] = []
    as_of = history.as_of
    o = history.outcome
    if o is None:
        lines.append(f"order {history.order_id}: no order line landed for this id (as of {timestamp_text(as_of)})")
        lines.append("")
        lines.append(f"orphan callbacks ({len(history.orphans)}): the provider called back for an order nobody logged")
        for i, cb in enumerate(history.orphans, 1):
            lines.append(
                f"  {i}. received {timestamp_text(cb.get('received_at'))}  {cb.get('status')}  "
                f"{money_text(cb.get('amount_minor'), cb.get('currency'))}  provider {cb.get('provider')}"
                + extras_text(cb, ("callback_id", "provider_txn_id"))
                + (f"  deliveries {cb['delivery_count']}" if (cb.get("delivery_count") or 1) > 1 else "")
                + where_read(cb)
            )
        return "\n".join(lines)

    flags = ", ".join(o["flags"]) if o.get("flags") else "-"
    if o.get("terminal_status"):
        terminal = f"{o['terminal_status']} received {timestamp_text(o.get('terminal_received_at'))}"
        if o.get("callback_amount_minor") is not None or o.get("callback_currency") is not None:
            terminal += f", {money_text(o.get('callback_amount_minor'), o.get('callback_currency'))}"
    else:
        terminal = "- (no terminal callback)"
    latency = o.get("latency_seconds")
    fields = [
        ("outcome", o["outcome"]),
        ("flags", flags),
        ("action", o["action"]),
        ("amount", money_text(o["amount_minor"], o["currency"])),
        ("merchant", o["merchant_id"]),
        ("provider", o["provider"]),
        ("created_at", timestamp_text(o["created_at"])),
        ("age", f"{duration_text(o['age_seconds'])} ({o['age_seconds']} s)"),
        ("terminal", terminal),
        ("latency", "-" if latency is None else f"{duration_text(latency)} ({latency} s)"),
        ("submissions", str(o["submission_count"])),
        ("callbacks", str(o["callback_count"])),
    ]
    lines.append(f"order {history.order_id} as of {timestamp_text(as_of)}")
    lines += [f"  {name:<12} {value}" for name, value in fields]

    lines.append("")
    lines.append(f"outcome changes ({len(history.changes)})")
    if not history.changes:
        lines.append("  (none: same outcome in every published run)")
    for change in history.changes:
        run = (change.get("run_id") or "")[:8]
        lines.append(
            f"  {timestamp_text(change['previous_as_of'])} {change['previous_outcome']} -> "
            f"{timestamp_text(change['as_of'])} "
            f"{change['outcome']}  ({money_text(change.get('amount_minor'), change.get('currency'))}"
            f"{f', run {run}' if run else ''})"
        )

    lines.append("")
    if history.submissions is None:
        lines.append(f"submissions {NOT_PUBLISHED}")
    else:
        lines.append(f"submissions ({len(history.submissions)})")
        for i, sub in enumerate(history.submissions, 1):
            late = as_of is not None and sub.get("created_at") is not None and sub["created_at"] > as_of
            lines.append(
                f"  {i}. created {timestamp_text(sub.get('created_at'))}  "
                f"{money_text(sub.get('amount_minor'), sub.get('currency'))}"
                f"  merchant {sub.get('merchant_id')}  provider {sub.get('provider')}"
                + extras_text(sub, ("request_id", "customer_id", "source", "seq"))
                + where_read(sub)
                + ("  (created after as_of: not counted)" if late else "")
            )

    lines.append("")
    if history.callbacks is None:
        lines.append(f"callbacks {NOT_PUBLISHED}")
    else:
        lines.append(f"callbacks ({len(history.callbacks)})")
        for i, cb in enumerate(history.callbacks, 1):
            late = as_of is not None and cb.get("received_at") is not None and cb["received_at"] > as_of
            event = cb.get("event_time")
            lines.append(
                f"  {i}. received {timestamp_text(cb.get('received_at'))}  {cb.get('status')}"
                f"  {money_text(cb.get('amount_minor'), cb.get('currency'))}  provider {cb.get('provider')}"
                + (
                    f"  event_time {timestamp_text(event)}"
                    if event is not None and event != cb.get("received_at")
                    else ""
                )
                + extras_text(cb, ("callback_id", "provider_txn_id", "source", "seq"))
                + where_read(cb)
                + ("  (received after as_of: not counted)" if late else "")
            )
    return "\n".join(lines)
