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

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from orders_pipeline.devtools.generator import (
    AS_OF,
    CURRENCIES,
    EXPONENTS,
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


def _exponent(currency: pl.Expr) -> pl.Expr:
    return currency.replace_strict(dict(zip(CURRENCIES, EXPONENTS.tolist(), strict=True)), return_dtype=pl.Int64)


def _major(amount: pl.Expr, currency: pl.Expr) -> pl.Expr:
    """Exact major-unit text of minor units (``1250`` USD -> ``12.50``)."""
    exponent = _exponent(currency)
    scale = pl.lit(10, pl.Int64).pow(exponent)
    fraction = (amount % scale).cast(pl.String).str.zfill(exponent)
    return (
        pl.when(exponent == 0)
        .then(amount.cast(pl.String))
        .otherwise((amount // scale).cast(pl.String) + "." + fraction)
    )


def _local(booked: pl.Expr, hours: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> pl.Expr:
    return pl.from_epoch(booked + hours * HOUR_US, time_unit="us").dt.strftime(fmt)


def _text(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    frame.write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    return buffer.getvalue()


def _canonical(rows: pl.DataFrame, provider: str, day: str) -> bytes:
    """Canonical statement lines (JSON Lines; a fee or payout row has a null order_id)."""
    buffer = io.BytesIO()
    rows.select(
        provider=pl.lit(provider),
        statement_date=pl.lit(day),
        type="type",
        order_id="order_id",
        amount=_major(pl.col("amount_minor"), pl.col("currency")),
        currency="currency",
        booked_at=_local(pl.col("booked_us"), 0, "%Y-%m-%dT%H:%M:%S%.6fZ"),
        provider_txn_id="txn",
    ).write_ndjson(buffer)
    return buffer.getvalue()


def _signed(rows: pl.DataFrame) -> pl.Expr:
    amount = _major(pl.col("amount_minor"), pl.col("currency"))
    return pl.when(pl.col("type") == "payment").then(amount).otherwise("-" + amount)


def _alipay(rows: pl.DataFrame, day: str) -> bytes:
    table = rows.select(
        pl.concat_str(
            [
                pl.col("txn"),
                pl.lit("\t,"),
                pl.col("order_id"),
                pl.lit("\t,"),
                pl.when(pl.col("type") == "payment").then(pl.lit("交易")).otherwise(pl.lit("退款")),
                pl.lit("\t,商品,"),
                _local(pl.col("booked_us") - 20 * US, 8),
                pl.lit(","),
                _local(pl.col("booked_us"), 8),
                pl.lit(",,,,,*买家(b***@example.org)\t,"),
                _signed(rows),
                pl.lit(","),
                _signed(rows),
                pl.lit(",0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,"),
            ]
        )
    )
    compact = day.replace("-", "")
    head = [
        "#支付宝业务明细查询",
        "#账号：[20880000000000000000]",
        f"#起始日期：[{day[:4]}年{day[5:7]}月{day[8:]}日 00:00:00]   终止日期：[次日 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
        "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,"
        "卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注",
    ]
    tail = [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{rows.filter(pl.col('type') == 'payment').height}笔",
        f"#退款合计：{rows.filter(pl.col('type') != 'payment').height}笔",
        f"#导出时间：[{compact} 09:00:00]",
    ]
    return ("\n".join(head) + "\n" + _text(table) + "\n".join(tail) + "\n").encode("gb18030")


def _wechatpay(rows: pl.DataFrame, day: str) -> bytes:
    amount = _major(pl.col("amount_minor"), pl.col("currency"))
    refund = pl.col("type") != "payment"
    zero = pl.lit("0.00")
    cells = [
        _local(pl.col("booked_us"), 8),
        pl.lit("wx0000000000000000"),
        pl.lit("1900000000"),
        pl.lit("0"),
        pl.lit(""),
        pl.col("txn"),
        pl.col("order_id"),
        pl.lit("oUser"),
        pl.lit("JSAPI"),
        pl.when(refund).then(pl.lit("REFUND")).otherwise(pl.lit("SUCCESS")),
        pl.lit("OTHERS"),
        pl.col("currency"),
        pl.when(refund).then(zero).otherwise(amount),
        zero,
        pl.when(refund).then(pl.col("txn")).otherwise(pl.lit("0")),
        pl.lit("0"),
        pl.when(refund).then(amount).otherwise(zero),
        zero,
        pl.lit(""),
        pl.lit(""),
        pl.lit("商品"),
        pl.lit(""),
        pl.lit("0.00000"),
        pl.lit("0.60%"),
        pl.when(refund).then(zero).otherwise(amount),
        pl.when(refund).then(amount).otherwise(zero),
        pl.lit(""),
    ]
    table = rows.select(pl.concat_str([pl.lit("`") + c for c in cells], separator=","))
    header = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注"
    )
    summary = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    return (header + "\n" + _text(table) + summary + f"\n`{rows.height},`0.00,`0.00,`0.00,`0.00,`0.00,`0.00\n").encode()


def _stripe(rows: pl.DataFrame, day: str) -> bytes:
    category = pl.col("type").replace_strict({"payment": "charge", "chargeback": "dispute"}, default=pl.col("type"))
    created = _local(pl.col("booked_us"), 0)
    table = rows.select(
        pl.concat_str(
            [
                pl.col("txn"),
                created,
                created,
                pl.col("currency").str.to_lowercase(),
                _signed(rows),
                pl.lit("0"),
                _signed(rows),
                category,
                pl.col("order_id").fill_null(""),
            ],
            separator=",",
        )
    )
    return (
        "balance_transaction_id,created_utc,created,currency,gross,fee,net,reporting_category,payment_metadata[order_id]\n"
        + _text(table)
    ).encode()


def _adyen(rows: pl.DataFrame, day: str) -> bytes:
    amount = _major(pl.col("amount_minor"), pl.col("currency"))
    kind = pl.col("type")
    journal = kind.replace_strict(
        {
            "payment": "Settled",
            "refund": "Refunded",
            "chargeback": "Chargeback",
            "fee": "Fee",
            "payout": "MerchantPayout",
        }
    )
    order = kind.is_in(["payment", "refund", "chargeback"])
    debit, credit = kind.is_in(["refund", "chargeback"]), kind == "payment"
    booked = _local(pl.col("booked_us"), 0)
    empty = pl.lit("")
    cells = [
        pl.lit("ExampleCompany"),
        pl.lit("ExampleShop"),
        pl.when(order).then(pl.col("txn")).otherwise(empty),
        pl.col("order_id").fill_null(""),
        pl.when(order).then(pl.lit("visa")).otherwise(empty),
        booked,
        pl.lit("GMT"),
        journal,
        pl.col("txn"),
        pl.when(order).then(pl.col("currency")).otherwise(empty),
        pl.when(debit).then(amount).otherwise(empty),
        pl.when(credit).then(amount).otherwise(empty),
        empty,
        pl.col("currency"),
        pl.when(credit).then(empty).otherwise(amount),
        pl.when(credit).then(amount).otherwise(empty),
        *[empty] * 6,
        pl.lit(day.replace("-", "")),
        *[empty] * 7,
        booked,
        pl.lit("GMT"),
    ]
    header = (
        "Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,"
        "Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,"
        "Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),"
        "Payment Method Variant,Modification Merchant Reference,Batch Number,Reserved4,Reserved5,Reserved6,Reserved7,"
        "Reserved8,Reserved9,Reserved10,Booking Date,Booking Date TimeZone"
    )
    return (header + "\n" + _text(rows.select(pl.concat_str(cells, separator=",")))).encode()


def _paypal(rows: pl.DataFrame, day: str) -> bytes:
    hundredths = pl.col("amount_minor") * pl.lit(10, pl.Int64).pow(2 - _exponent(pl.col("currency")))
    kind = pl.col("type")
    code = kind.replace_strict(
        {"payment": "T0006", "refund": "T1107", "chargeback": "T1201", "fee": "T0106", "payout": "T0400"}
    )
    stamp = _local(pl.col("booked_us"), 0, "%Y/%m/%d %H:%M:%S +0000")
    cells = [
        pl.lit("SB"),
        pl.col("txn"),
        pl.col("order_id").fill_null(""),
        pl.lit(""),
        pl.lit(""),
        code,
        stamp,
        stamp,
        pl.when(kind == "payment").then(pl.lit("CR")).otherwise(pl.lit("DR")),
        hundredths.cast(pl.String),
        pl.col("currency"),
        pl.lit(""),
        pl.lit(""),
        pl.lit(""),
        pl.col("order_id").fill_null(""),
    ]
    slash = day.replace("-", "/")
    head = (
        f"SH,{slash} 00:00:00 +0000,{slash} 23:59:59 +0000,EXAMPLEACCT01\n"
        "CH,Transaction ID,Invoice ID,PayPal Reference ID,PayPal Reference ID Type,Transaction Event Code,"
        "Transaction Initiation Date,Transaction Completion Date,Transaction Debit or Credit,Gross Transaction Amount,"
        "Gross Transaction Currency,Fee Debit or Credit,Fee Amount,Fee Currency,Custom Field\n"
    )
    return (
        head + _text(rows.select(pl.concat_str(cells, separator=","))) + f"SC,{rows.height}\nFF,{rows.height}\n"
    ).encode()


_ORDER_ROWS = pl.col("type").is_in(["payment", "refund", "chargeback"])
# (writer, file name for a day, the rows the layout can hold: the others go to canonical lines)
_NATIVE = {
    "alipay": (_alipay, lambda day: f"alipay-{day}.csv", _ORDER_ROWS & (pl.col("currency") == "CNY")),
    "wechatpay": (_wechatpay, lambda day: f"wechatpay-{day}.csv", _ORDER_ROWS),
    "stripe": (_stripe, lambda day: f"stripe-{day}.csv", pl.lit(True)),
    "adyen": (_adyen, lambda day: f"settlement_detail_report_batch_{day.replace('-', '')}.csv", pl.lit(True)),
    "paypal": (_paypal, lambda day: f"STL-{day.replace('-', '')}.01.009.CSV", _exponent(pl.col("currency")) <= 2),
}


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
        if native and provider in _NATIVE:
            write, name, holds = _NATIVE[provider]
            fits = day_rows.select(holds.alias("fits"))["fits"]
            (target / name(day)).write_bytes(write(day_rows.filter(fits), day))
            written.append(target / name(day))
            if not fits.all():
                (target / f"{provider}-{day}.extra.jsonl").write_bytes(
                    _canonical(day_rows.filter(~fits), provider, day)
                )
                written.append(target / f"{provider}-{day}.extra.jsonl")
        else:
            (target / f"{provider}-{day}.jsonl").write_bytes(_canonical(day_rows, provider, day))
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
