"""Alipay's trade bill (账务明细 / 业务明细, ``bill_type=trade``): GBK text, ``#`` comment lines, a CSV table.

Source: the file Alipay delivers through ``alipay.data.dataservice.bill.downloadurl.query``
(member ``<pid>_<yyyyMMdd>_业务明细.csv`` of the zip): a title and period in ``#`` lines, the
header, one line per business event, and ``#`` lines with the totals and the export time.
Cells may carry a trailing TAB.

Recognised by a first line starting ``#支付宝`` or a header holding 商户订单号 and 业务类型.

Mapping to the canonical statement line:

- provider: ``alipay``
- type: 业务类型: 交易 -> payment, 退款 -> refund (any other value is kept: ``bad_type``)
- order_id: 商户订单号
- amount: 订单金额（元） without its sign (refunds are negative)
- currency: ``CNY`` (the bill has no currency column)
- booked_at: 完成时间, Beijing time (+08:00)
- statement_date: the date of 完成时间
- provider_txn_id: 支付宝交易号
- fee: 服务费（元） without its sign
- net: 商家实收（元） without its sign

Every cell is stripped of surrounding blanks and TABs (the trailing TAB is an export artefact,
not part of the id). ``#`` lines are ignored records: the two totals lines (``#交易合计``,
``#退款合计``, or any ``#`` line holding 合计) as ``ignored:summary``, the others (title,
account, period, separators, export time) as ``ignored:header``.
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.statements.native import (
    IgnoredLine,
    NativeRecords,
    canonical_cells,
    choose,
    cleaned,
    date_of,
    native_columns,
    no_records,
    read_records,
    records_of,
    split_header,
    unsigned_decimal,
    with_offset,
)

NAME = "alipay"
ENCODING = "gb18030"  # a superset of GBK: every GBK bill decodes the same
_COLUMNS = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "商家实收（元）", "服务费（元）")
_TYPES = {"交易": "payment", "退款": "refund"}


def recognises(first_lines: list[str]) -> bool:
    """An Alipay bill: its title line, or its header."""
    if first_lines and first_lines[0].startswith("#支付宝"):
        return True
    header = next((line for line in first_lines if not line.startswith("#")), "")
    return "商户订单号" in header and "业务类型" in header


def read(lines: list[tuple[str, bool]], settings: Settings) -> NativeRecords:
    """The bill's rows as canonical statement cells; ``#`` lines ignored."""
    ignored: list[IgnoredLine] = []
    table: list[tuple[str, bool]] = []
    for number, (text, bad) in enumerate(lines, start=1):
        if text.lstrip().startswith("#"):
            raw = text.rstrip(" \t\r")
            summary = "合计" in raw
            ignored.append(
                IgnoredLine(
                    number,
                    raw,
                    "ignored:summary" if summary else "ignored:header",
                    "Alipay bill totals line (never summed)" if summary else "Alipay bill comment line",
                )
            )
            table.append(("", False))  # keeps the physical line numbers of the table's records
        else:
            table.append((text, bad))
    header, rows = split_header(read_records(table))
    if not header:
        return no_records(ignored)
    native = native_columns(header, rows, _COLUMNS)
    business = cleaned("业务类型")
    finished = cleaned("完成时间")
    cells = canonical_cells(
        native,
        {
            "provider": pl.lit(NAME),
            "type": choose(business.is_not_null(), _TYPES, business),
            "order_id": cleaned("商户订单号"),
            "amount": unsigned_decimal(cleaned("订单金额（元）")),
            "currency": pl.lit("CNY"),
            "booked_at": with_offset(finished, "+08:00"),
            "statement_date": date_of(finished),
            "provider_txn_id": cleaned("支付宝交易号"),
            "fee": unsigned_decimal(cleaned("服务费（元）")),
            "net": unsigned_decimal(cleaned("商家实收（元）")),
        },
    )
    return records_of(header, rows, cells, ignored)
