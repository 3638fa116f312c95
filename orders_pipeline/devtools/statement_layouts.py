"""How the statement generator writes a provider-day of rows: each provider's native layout, or canonical lines.

One writer per layout (:data:`NATIVE_WRITERS`), each following the layout its parser reads
(``orders_pipeline/lib/inputs/statements/``); the rows come from
:mod:`orders_pipeline.devtools.statements` (columns ``type``, ``order_id``, ``amount_minor``,
``currency``, ``booked_us``, ``txn``).
"""

from __future__ import annotations

import io

import polars as pl

from orders_pipeline.devtools.generator import CURRENCIES, EXPONENTS

US = 1_000_000
HOUR_US = 3_600 * US


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


def canonical_lines(rows: pl.DataFrame, provider: str, day: str) -> bytes:
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
NATIVE_WRITERS = {
    "alipay": (_alipay, lambda day: f"alipay-{day}.csv", _ORDER_ROWS & (pl.col("currency") == "CNY")),
    "wechatpay": (_wechatpay, lambda day: f"wechatpay-{day}.csv", _ORDER_ROWS),
    "stripe": (_stripe, lambda day: f"stripe-{day}.csv", pl.lit(True)),
    "adyen": (_adyen, lambda day: f"settlement_detail_report_batch_{day.replace('-', '')}.csv", pl.lit(True)),
    "paypal": (_paypal, lambda day: f"STL-{day.replace('-', '')}.01.009.CSV", _exponent(pl.col("currency")) <= 2),
}
