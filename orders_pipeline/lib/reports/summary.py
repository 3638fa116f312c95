"""The run summary the command line prints: outcomes with order counts and amounts per currency.

The outcomes only statements can give are listed when some order was judged by a statement,
plus a line on the statements themselves (rows, orphans, covered days).
"""

from __future__ import annotations

from pathlib import Path

from orders_pipeline.lib.common.money import format_minor_units
from orders_pipeline.lib.common.vocabulary import OUTCOMES, STATEMENT_OUTCOMES
from orders_pipeline.lib.reports.published import open_published
from orders_pipeline.lib.warehouse.sql import fetch_first


def summary_text(warehouse_path: Path) -> str:
    """Outcomes with order counts and amounts per currency, plus the run's headline counts."""
    with open_published(warehouse_path) as con:
        run = fetch_first(
            con,
            "SELECT as_of, lines_read, lines_landed, lines_rejected, files_skipped_duplicate, orphan_callbacks, "
            "checks_passed FROM recon.runs ORDER BY finished_at DESC LIMIT 1",
        )
        rows = con.execute(
            "SELECT outcome, currency, count(*), sum(amount_minor) FROM recon.order_outcomes "
            "GROUP BY ALL ORDER BY outcome, currency"
        ).fetchall()
        exceptions = con.execute(
            "SELECT action, count(*) FROM recon.exceptions GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        statements = fetch_first(
            con,
            "SELECT (SELECT count(*) FROM recon.order_outcomes WHERE statement_status <> 'none'), "
            "(SELECT coalesce(sum(rows), 0) FROM recon.statement_coverage), "
            "(SELECT count(*) FROM recon.orphan_statement_lines), "
            "(SELECT count(DISTINCT (provider, statement_date)) FROM recon.statement_coverage WHERE covered)",
        )
    judged_by_statements = bool(statements and statements[0])
    per_outcome: dict[str, list[tuple[str, int, int]]] = {}
    for outcome, currency, count, amount in rows:
        per_outcome.setdefault(outcome, []).append((currency, int(count), int(amount)))
    lines = [f"as of {run[0].isoformat()}" if run else "as of ?"]
    if run:
        lines.append(
            f"lines read {run[1]}, landed {run[2]}, rejected {run[3]}; duplicate files skipped {run[4]}; "
            f"orphan callbacks {run[5]}; checks {'passed' if run[6] else 'FAILED'}"
        )
    lines.append("")
    lines.append(f"{'outcome':<16} {'orders':>9}  amount per currency")
    total = 0
    for outcome in OUTCOMES:
        if outcome in STATEMENT_OUTCOMES and not judged_by_statements:
            continue
        entries = per_outcome.get(outcome, [])
        count = sum(c for _, c, _ in entries)
        total += count
        amounts = ", ".join(f"{cur} {format_minor_units(amt, cur)}" for cur, _, amt in entries) or "-"
        lines.append(f"{outcome:<16} {count:>9}  {amounts}")
    lines.append(f"{'total':<16} {total:>9}")
    if statements and (statements[0] or statements[1]):
        lines.append(
            f"statements: {statements[1]} rows, {statements[3]} covered provider days, "
            f"{statements[0]} orders judged, {statements[2]} orphan statement rows"
        )
    if exceptions:
        lines.append("")
        lines.append("exceptions: " + ", ".join(f"{action} {count}" for action, count in exceptions))
    lines.append(f"warehouse: {warehouse_path}")
    return "\n".join(lines)
