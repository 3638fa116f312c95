"""Synthetic provider statements for a generated corpus: per provider and day, in each provider's native layout.

Development tooling like :mod:`.generator` (``orders-pipeline generate --statements``). The
orders are redrawn with :func:`~orders_pipeline.devtools.generator.order_chunks`, so the
statements belong to the corpus the generator wrote for the same ``(n_orders, seed)``; what
each provider books follows the order's fate (:data:`STATEMENT_SCENARIOS`). The pipeline is
tested against the rules, not against this module.

Layout under ``out_dir``::

    statements/alipay/alipay-<day>.csv              Alipay trade bill (GBK, CNY rows)
    statements/wechatpay/wechatpay-<day>.csv        WeChat Pay trade bill (27 columns)
    statements/stripe/stripe-<day>.csv              Stripe itemized balance change report
    statements/adyen/settlement_detail_report_batch_<n>.csv   Adyen, one batch per day
    statements/paypal/STL-<yyyymmdd>.01.009.CSV      PayPal settlement report
    statements/pgsoft/pgsoft-<day>.jsonl            canonical lines (a game provider's bet history)
    statements/<provider>/<provider>-<day>.extra.jsonl   canonical lines for currencies the layout lacks
    statements/paypal/resent/...                     one PayPal file delivered twice
    statements-late/...                              the last day of Alipay and Adyen, delivered late
    statements.yaml                                  the statement timezones of the native layouts

Days run from the first order's day to the day before the as-of; Stripe also delivers the
as-of's own day (an intraday report, some of its rows booked after the as-of); WeChat Pay
never delivers the day two days before the as-of. ``native=False`` writes every day as
canonical JSON Lines instead (one file per provider and day).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from orders_pipeline.devtools.generator import (
    AS_OF,
    CURRENCIES,
    F_ACK_ONLY,
    F_CONFIRMED,
    F_CONFLICT,
    F_DUP_SUCCESS,
    F_FAILED,
    F_FAILED_THEN_SUCCESS,
    F_LOST,
    F_MISMATCH_AMOUNT,
    F_MISMATCH_CURRENCY,
    F_REVERSED,
    PROVIDERS,
    order_chunks,
)
from orders_pipeline.devtools.statement_layouts import NATIVE_WRITERS, canonical_lines

US = 1_000_000
DAY_US = 86_400 * US
HOUR_US = 3_600 * US
AS_OF_US = int(AS_OF.timestamp()) * US
# Hours the native layouts write their local times in (docs of each layout): Beijing for Alipay
# and WeChat Pay; UTC for the others here.
LOCAL_HOURS = {"alipay": 8, "wechatpay": 8}

STATEMENT_SCENARIOS = {
    "matched": "a payment row for almost every order the provider confirmed",
    "unsettled": "0.3% of confirmed orders never reach the statement",
    "callback_lost": "60% of the orders whose callback was lost (and 30% of acknowledged-only ones) were paid",
    "not_at_provider": "the other lost-callback orders are not on the statement",
    "statement_conflict": "1% of failed orders were paid anyway",
    "statement_amount_mismatch": "0.2% of payments booked for another amount",
    "statement_refund": "a refund row for every reversed order, a chargeback for 0.05% of confirmed ones",
    "fees_payouts": "per provider, day and currency: a fee row and a payout row",
    "orphans": "payments for order ids nobody logged",
    "late_missing_days": "Alipay and Adyen's last day delivered late, WeChat Pay's day before never",
    "future_rows": "Stripe's intraday report for the as-of's day, with rows booked after the as-of",
    "duplicate_file": "a PayPal file delivered twice",
}
_SETTLED = np.array(
    [F_CONFIRMED, F_MISMATCH_AMOUNT, F_MISMATCH_CURRENCY, F_REVERSED, F_DUP_SUCCESS, F_FAILED_THEN_SUCCESS]
)


@dataclass(frozen=True)
class GeneratedStatements:
    """What :func:`generate_statements` wrote."""

    rows: int
    files: list[Path]
    late_files: list[Path]
    config: Path


def _book(rng: np.random.Generator, n: int, low_s: float, high_s: float) -> np.ndarray:
    return (rng.uniform(low_s, high_s, n) * US).astype(np.int64)


def _rows(n_orders: int, seed: int) -> pl.DataFrame:
    """Every statement row: (provider, type, order_id, amount_minor, currency, booked_us, txn)."""
    parts = []
    for index, chunk in enumerate(order_chunks(n_orders, seed)):
        rng = np.random.default_rng([seed, 0x5EED, 9, index])
        n = chunk.fate.size
        fate = chunk.fate
        u = rng.random(n)
        paid = (np.isin(fate, _SETTLED) & (u >= 0.003)) | ((fate == F_CONFLICT) & (u < 0.5))
        paid |= ((fate == F_LOST) & (u < 0.6)) | ((fate == F_ACK_ONLY) & (u < 0.3)) | ((fate == F_FAILED) & (u < 0.01))
        booked = chunk.created_us + np.maximum(chunk.latency_us, 0) + _book(rng, n, 30, 6 * 3600)
        amount = chunk.amount_minor.copy()
        off = paid & (rng.random(n) < 0.002)
        amount[off] += np.maximum(1, amount[off] // 20)
        refund = paid & (fate == F_REVERSED)
        chargeback = paid & (fate == F_CONFIRMED) & (rng.random(n) < 0.0005)
        for kind, mask, delay in (
            ("payment", paid, np.zeros(n, np.int64)),
            ("refund", refund, _book(rng, n, 2 * 3600, 30 * 3600)),
            ("chargeback", chargeback, _book(rng, n, 86_400, 3 * 86_400)),
        ):
            pick = np.flatnonzero(mask)
            parts.append(
                pl.DataFrame(
                    {
                        "provider": np.array(PROVIDERS)[chunk.provider[pick]],
                        "type": kind,
                        "order_id": chunk.order_id[pick],
                        "amount_minor": np.where(kind == "payment", amount[pick], chunk.amount_minor[pick]),
                        "currency": np.array(CURRENCIES)[chunk.currency[pick]],
                        "booked_us": booked[pick] + delay[pick],
                    }
                )
            )
        k = max(2, n // 2000)
        ghosts = rng.integers(0, n, k)
        parts.append(
            pl.DataFrame(
                {
                    "provider": np.array(PROVIDERS)[chunk.provider[ghosts]],
                    "type": "payment",
                    "order_id": np.char.add(f"GHOST{index}-", np.arange(k).astype(str)),
                    "amount_minor": chunk.amount_minor[ghosts],
                    "currency": np.array(CURRENCIES)[chunk.currency[ghosts]],
                    "booked_us": chunk.created_us[ghosts] + 600 * US,
                }
            )
        )
    rows = pl.concat(parts).filter(pl.col("booked_us") < AS_OF_US + 6 * HOUR_US)
    local = pl.col("provider").replace_strict(LOCAL_HOURS, default=0, return_dtype=pl.Int64) * HOUR_US
    rows = rows.with_columns(((pl.col("booked_us") + local) // DAY_US).alias("day"))
    # Fees and payouts: one of each per provider, day and currency, of what the day booked.
    totals = rows.group_by("provider", "day", "currency").agg(
        pl.col("amount_minor").filter(pl.col("type") == "payment").sum().alias("paid"),
        pl.col("booked_us").max().alias("last"),
    )
    fees = totals.select(
        "provider",
        pl.lit("fee").alias("type"),
        pl.lit(None, pl.String).alias("order_id"),
        (pl.col("paid") // 40 + 1).alias("amount_minor"),
        "currency",
        (pl.col("last") + 1).alias("booked_us"),
        "day",
    )
    payouts = totals.select(
        "provider",
        pl.lit("payout").alias("type"),
        pl.lit(None, pl.String).alias("order_id"),
        (pl.col("paid") - pl.col("paid") // 40).alias("amount_minor"),
        "currency",
        (pl.col("last") + 2).alias("booked_us"),
        "day",
    )
    rows = pl.concat([rows, fees, payouts], how="vertical_relaxed").sort("provider", "day", "booked_us", "order_id")
    return rows.with_columns(
        pl.concat_str([pl.lit("ST"), pl.int_range(pl.len()).cast(pl.String).str.zfill(12)]).alias("txn")
    )


def generate_statements(n_orders: int, seed: int, out_dir: Path, *, native: bool = True) -> GeneratedStatements:
    """Write the statements of the corpus ``generate_corpus(n_orders, seed, out_dir)`` writes (module docstring).

    Earlier ``statements/`` and ``statements-late/`` folders under ``out_dir`` are replaced; the
    output is byte-identical for the same arguments.
    """
    out_dir = Path(out_dir)
    folders = {"on_time": out_dir / "statements", "late": out_dir / "statements-late"}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    rows = _rows(n_orders, seed)
    as_of_day = AS_OF_US // DAY_US
    files: list[Path] = []
    late: list[Path] = []
    for (provider, day_number), day_rows in rows.group_by("provider", "day", maintain_order=True):
        provider, day_number = str(provider), int(day_number)
        if day_number > as_of_day or (day_number == as_of_day and provider != "stripe"):
            continue  # not delivered yet (only Stripe's intraday report exists for the as-of's day)
        if provider == "wechatpay" and day_number == as_of_day - 2:
            continue  # never delivered
        day = np.datetime64(day_number, "D").astype(str)
        where = (
            folders["late"] if provider in ("alipay", "adyen") and day_number == as_of_day - 1 else folders["on_time"]
        )
        target = where / provider
        target.mkdir(parents=True, exist_ok=True)
        written = []
        if native and provider in NATIVE_WRITERS:
            write, name, holds = NATIVE_WRITERS[provider]
            fits = day_rows.select(holds.alias("fits"))["fits"]
            (target / name(day)).write_bytes(write(day_rows.filter(fits), day))
            written.append(target / name(day))
            if not fits.all():
                (target / f"{provider}-{day}.extra.jsonl").write_bytes(
                    canonical_lines(day_rows.filter(~fits), provider, day)
                )
                written.append(target / f"{provider}-{day}.extra.jsonl")
        else:
            (target / f"{provider}-{day}.jsonl").write_bytes(canonical_lines(day_rows, provider, day))
            written.append(target / f"{provider}-{day}.jsonl")
        (late if where == folders["late"] else files).extend(written)
    paypal = sorted(p for p in files if p.parent.name == "paypal")
    if paypal:
        (paypal[0].parent / "resent").mkdir()
        copy = paypal[0].parent / "resent" / paypal[0].name
        shutil.copyfile(paypal[0], copy)
        files.append(copy)
    config = out_dir / "statements.yaml"
    config.write_text(
        "# Statement timezones of the generated native layouts (Alipay and WeChat Pay cut their days in Beijing).\n"
        "providers:\n  alipay: {statement_timezone: Asia/Shanghai}\n  wechatpay: {statement_timezone: Asia/Shanghai}\n"
    )
    return GeneratedStatements(rows=rows.height, files=files, late_files=late, config=config)
