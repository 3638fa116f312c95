"""Plain-text reports read from the published warehouse (what the CLI prints)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.lib.money import format_minor_units
from orders_pipeline.lib.schema import OUTCOMES
from orders_pipeline.lib.warehouse import configure, fetch_first, table_exists


def summary_text(warehouse_path: Path) -> str:
    """Outcomes with order counts and amounts per currency, plus the run's headline counts."""
    con = configure(duckdb.connect(str(warehouse_path), read_only=True))
    try:
        run = fetch_first(con, 
            "SELECT as_of, lines_read, lines_landed, lines_rejected, files_skipped_duplicate, orphan_callbacks, "
            "checks_passed FROM recon.runs ORDER BY finished_at DESC LIMIT 1"
        )
        rows = con.execute(
            "SELECT outcome, currency, count(*), sum(amount_minor) FROM recon.order_outcomes "
            "GROUP BY ALL ORDER BY outcome, currency"
        ).fetchall()
        exceptions = con.execute("SELECT action, count(*) FROM recon.exceptions GROUP BY 1 ORDER BY 2 DESC").fetchall()
    finally:
        con.close()
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
        entries = per_outcome.get(outcome, [])
        count = sum(c for _, c, _ in entries)
        total += count
        amounts = ", ".join(f"{cur} {format_minor_units(amt, cur)}" for cur, _, amt in entries) or "-"
        lines.append(f"{outcome:<16} {count:>9}  {amounts}")
    lines.append(f"{'total':<16} {total:>9}")
    if exceptions:
        lines.append("")
        lines.append("exceptions: " + ", ".join(f"{action} {count}" for action, count in exceptions))
    lines.append(f"warehouse: {warehouse_path}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Support and audit views: one order's story (``history``) and the run log (``runs``)
# --------------------------------------------------------------------------------------------


class ReportError(RuntimeError):
    """The warehouse cannot be read (missing, not a DuckDB file, not a pipeline warehouse); one line."""


NOT_PUBLISHED = "(not published in this warehouse)"


@contextlib.contextmanager
def open_published(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a published warehouse, or :class:`ReportError` saying what is wrong."""
    path = Path(warehouse_path).expanduser()
    if not path.exists():
        raise ReportError(
            f"warehouse {path} does not exist; run `orders-pipeline reconcile` first or pass --warehouse FILE"
        )
    if path.is_dir():
        raise ReportError(f"warehouse path {path} is a directory; pass the warehouse file, e.g. data/warehouse.duckdb")
    try:
        with path.open("rb") as handle:
            magic = handle.read(12)[8:12]
    except OSError as exc:
        raise ReportError(f"cannot read warehouse {path}: {exc.strerror}") from None
    if magic != b"DUCK":
        raise ReportError(
            f"{path} is not a DuckDB database file; pass the warehouse written by `orders-pipeline reconcile`"
        )
    try:
        con = configure(duckdb.connect(str(path), read_only=True))
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportError(f"cannot open warehouse {path}: {first}") from None
    try:
        if not table_exists(con, "recon.order_outcomes") or not table_exists(con, "recon.runs"):
            raise ReportError(f"{path} is not an orders-pipeline warehouse (no recon.order_outcomes / recon.runs)")
        yield con
    finally:
        con.close()


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


def _rows(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, name],
        ).fetchall()
    ]


def _lines_of(
    con: duckdb.DuckDBPyConnection, table: str, order_id: str, time_column: str
) -> list[dict[str, Any]] | None:
    """The landed lines of one order id from a published line table, oldest first; None if not published."""
    if not table_exists(con, table):
        return None
    columns = _columns(con, table)
    if "order_id" not in columns:
        return None
    order_by = [c for c in (time_column, "file", "line_number", "read_order") if c in columns]
    order = f"ORDER BY {', '.join(order_by)}" if order_by else ""
    return _rows(con, f"SELECT * FROM {table} WHERE order_id = ? {order}", [order_id])


def order_history(warehouse_path: Path, order_id: str) -> OrderHistory:
    """Read one order's outcome, outcome changes, submissions and callbacks from the published warehouse."""
    with open_published(warehouse_path) as con:
        outcomes = _rows(con, "SELECT * FROM recon.order_outcomes WHERE order_id = ?", [order_id])
        as_of_row = fetch_first(con, "SELECT max(as_of) FROM recon.runs")
        changes = (
            _rows(
                con,
                "SELECT * FROM recon.outcome_changes WHERE order_id = ? ORDER BY as_of, previous_as_of",
                [order_id],
            )
            if table_exists(con, "recon.outcome_changes")
            else []
        )
        orphans = (
            _rows(con, "SELECT * FROM recon.orphan_callbacks WHERE order_id = ? ORDER BY received_at", [order_id])
            if table_exists(con, "recon.orphan_callbacks")
            else []
        )
        submissions = _lines_of(con, "recon.order_lines", order_id, "created_at")
        callbacks = _lines_of(con, "recon.callback_lines", order_id, "received_at")
    outcome = outcomes[0] if outcomes else None
    as_of = outcome["as_of"] if outcome else (as_of_row[0] if as_of_row else None)
    return OrderHistory(order_id, as_of, outcome, changes, submissions, callbacks, orphans)


def _ts(value: datetime | None) -> str:
    """A timestamp in UTC, RFC 3339 with ``Z`` (``-`` when missing)."""
    if value is None:
        return "-"
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(seconds: float | int | None) -> str:
    """``93784`` -> ``1d 2h 3m 4s``; leading zero units are left out (``-`` when missing)."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return sign + " ".join(f"{n}{unit}" for n, unit in parts)


def _money(amount_minor: int | None, currency: str | None) -> str:
    if amount_minor is None:
        return f"{currency} -" if currency else "-"
    if currency is None:
        return f"{amount_minor} (minor units, no currency)"
    return f"{currency} {format_minor_units(int(amount_minor), currency)}"


def _where(line: dict[str, Any]) -> str:
    if line.get("file") is None:
        return ""
    number = line.get("line_number")
    return f"  [{line['file']}{'' if number is None else f':{number}'}]"


def _extras(line: dict[str, Any], names: tuple[str, ...]) -> str:
    return "".join(f"  {name} {line[name]}" for name in names if line.get(name) is not None)


def order_history_text(history: OrderHistory) -> str:
    """The ``history`` command's output: current outcome, outcome changes, submissions, callbacks."""
    lines: list[str] = []
    as_of = history.as_of
    o = history.outcome
    if o is None:
        lines.append(f"order {history.order_id}: no order line landed for this id (as of {_ts(as_of)})")
        lines.append("")
        lines.append(f"orphan callbacks ({len(history.orphans)}): the provider called back for an order nobody logged")
        for i, cb in enumerate(history.orphans, 1):
            lines.append(
                f"  {i}. received {_ts(cb.get('received_at'))}  {cb.get('status')}  "
                f"{_money(cb.get('amount_minor'), cb.get('currency'))}  provider {cb.get('provider')}"
                + _extras(cb, ("callback_id", "provider_txn_id"))
                + (f"  deliveries {cb['delivery_count']}" if (cb.get("delivery_count") or 1) > 1 else "")
                + _where(cb)
            )
        return "\n".join(lines)

    flags = ", ".join(o["flags"]) if o.get("flags") else "-"
    if o.get("terminal_status"):
        terminal = f"{o['terminal_status']} received {_ts(o.get('terminal_received_at'))}"
        if o.get("callback_amount_minor") is not None or o.get("callback_currency") is not None:
            terminal += f", {_money(o.get('callback_amount_minor'), o.get('callback_currency'))}"
    else:
        terminal = "- (no terminal callback)"
    latency = o.get("latency_seconds")
    fields = [
        ("outcome", o["outcome"]),
        ("flags", flags),
        ("action", o["action"]),
        ("amount", _money(o["amount_minor"], o["currency"])),
        ("merchant", o["merchant_id"]),
        ("provider", o["provider"]),
        ("created_at", _ts(o["created_at"])),
        ("age", f"{_duration(o['age_seconds'])} ({o['age_seconds']} s)"),
        ("terminal", terminal),
        ("latency", "-" if latency is None else f"{_duration(latency)} ({latency} s)"),
        ("submissions", str(o["submission_count"])),
        ("callbacks", str(o["callback_count"])),
    ]
    lines.append(f"order {history.order_id} as of {_ts(as_of)}")
    lines += [f"  {name:<12} {value}" for name, value in fields]

    lines.append("")
    lines.append(f"outcome changes ({len(history.changes)})")
    if not history.changes:
        lines.append("  (none: same outcome in every published run)")
    for change in history.changes:
        run = (change.get("run_id") or "")[:8]
        lines.append(
            f"  {_ts(change['previous_as_of'])} {change['previous_outcome']} -> {_ts(change['as_of'])} "
            f"{change['outcome']}  ({_money(change.get('amount_minor'), change.get('currency'))}"
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
                f"  {i}. created {_ts(sub.get('created_at'))}  {_money(sub.get('amount_minor'), sub.get('currency'))}"
                f"  merchant {sub.get('merchant_id')}  provider {sub.get('provider')}"
                + _extras(sub, ("request_id", "customer_id", "source", "seq"))
                + _where(sub)
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
                f"  {i}. received {_ts(cb.get('received_at'))}  {cb.get('status')}"
                f"  {_money(cb.get('amount_minor'), cb.get('currency'))}  provider {cb.get('provider')}"
                + (f"  event_time {_ts(event)}" if event is not None and event != cb.get("received_at") else "")
                + _extras(cb, ("callback_id", "provider_txn_id", "source", "seq"))
                + _where(cb)
                + ("  (received after as_of: not counted)" if late else "")
            )
    return "\n".join(lines)


def runs_text(warehouse_path: Path, last: int = 10) -> str:
    """The ``runs`` command's output: the last ``last`` published runs, newest first."""
    with open_published(warehouse_path) as con:
        runs = _rows(
            con,
            "SELECT run_id, finished_at, as_of, status, lines_read, lines_landed, lines_rejected, orders, "
            "checks_passed, check_warnings, duration_seconds, stage_seconds FROM recon.runs "
            "ORDER BY finished_at DESC NULLS LAST, run_id DESC LIMIT ?",
            [last],
        )
        total = fetch_first(con, "SELECT count(*) FROM recon.runs")[0]
    if not runs:
        return f"no runs recorded in {warehouse_path}"
    header = (
        f"{'finished_at':<20}  {'as_of':<20}  {'run':<8}  {'status':<9}  {'read':>8}  {'landed':>8}  "
        f"{'rejected':>8}  {'orders':>8}  {'checks':<18}  {'duration':>8}  stage seconds"
    )
    lines = [f"last {len(runs)} of {total} run(s) in {warehouse_path}, newest first (times UTC)", header]
    for run in runs:
        warnings = int(run["check_warnings"] or 0)
        plural = "" if warnings == 1 else "s"
        checks = f"{'passed' if run['checks_passed'] else 'FAILED'}, {warnings} warning{plural}"
        duration = "-" if run["duration_seconds"] is None else f"{run['duration_seconds']:.1f}s"
        try:
            stages = json.loads(run["stage_seconds"]) if run["stage_seconds"] else {}
        except (TypeError, ValueError):
            stages = {}
        stage_text = " ".join(f"{name}={float(sec):.2f}" for name, sec in sorted(stages.items())) or "-"
        finished = run["finished_at"].replace(microsecond=0) if run["finished_at"] is not None else None
        lines.append(
            f"{_ts(finished):<20}  {_ts(run['as_of']):<20}  {(run['run_id'] or '-')[:8]:<8}  "
            f"{run['status'] or '-':<9}  "
            f"{_count(run['lines_read']):>8}  {_count(run['lines_landed']):>8}  {_count(run['lines_rejected']):>8}  "
            f"{_count(run['orders']):>8}  {checks:<18}  {duration:>8}  {stage_text}"
        )
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
