"""WeChat Pay's trade bill (交易账单, ``bill_type=ALL``): a header, backtick-prefixed rows, two summary lines.

Source: WeChat Pay, 交易账单详细说明
(https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html) and the v2
``downloadbill`` API: the first line is the header, every detail and summary cell starts with
a backtick (明细数据和汇总数据每个字段前会增加1个(`)字符, so Excel does not show long numbers in
scientific notation), and the last two lines are the summary header (总交易单数, ...) and its
values. Columns are read by name, so both layouts work: the current 27 columns (订单金额,
申请退款金额, ...) and the old 24 (总金额, 退款金额, ...).

Recognised by a header holding 商户订单号 and 交易状态.

Mapping to the canonical statement line:

- provider: ``wechatpay``
- type: 交易状态: SUCCESS -> payment; REFUND, REVOKED (a payment revoked after success) -> refund;
  any other value is kept (``bad_type``)
- order_id: 商户订单号 (on a refund row, the original order's number)
- amount: payment: 订单金额 (27 columns) or 总金额 (24); refund: 申请退款金额 (27) or 退款金额 (24)
- currency: 货币种类
- booked_at: 交易时间, Beijing time (+08:00); full-width colons (``16：33：45`` in the old example)
  read as ``:``
- statement_date: the date of 交易时间
- provider_txn_id: 微信订单号
- fee: 手续费 when it is exact in the currency (the bill prints five decimals; ``0.05940`` CNY is
  not a whole fen and is left out rather than rounded or rejecting the row)
- net: not in the bill

Each cell is stripped of its backtick and surrounding blanks. After the detail rows, the line
whose first cell is 总交易单数 and every line after it are ``ignored:summary`` (never summed:
the published examples' totals do not even tie out to their rows).
"""

from __future__ import annotations

import polars as pl

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.statements.native import (
    NativeRecords,
    canonical_cells,
    choose,
    date_of,
    first_cell,
    ignored_lines,
    native_columns,
    no_records,
    read_records,
    records_of,
    split_header,
    unsigned_decimal,
    with_offset,
)

NAME = "wechatpay"
ENCODING = "utf-8"
_COLUMNS = (
    "交易时间",
    "微信订单号",
    "商户订单号",
    "交易状态",
    "货币种类",
    "订单金额",
    "总金额",
    "申请退款金额",
    "退款金额",
    "手续费",
)
_TYPES = {"SUCCESS": "payment", "REFUND": "refund", "REVOKED": "refund"}
_SUMMARY_START = "总交易单数"
# At most two decimals once trailing zeros are dropped: exact in fen.
_EXACT_IN_FEN = r"^[0-9]+(\.[0-9]{0,2}0*)?$"


def recognises(first_lines: list[str]) -> bool:
    """A WeChat Pay trade bill: its header names 商户订单号 and 交易状态."""
    header = first_lines[0] if first_lines else ""
    return "商户订单号" in header and "交易状态" in header


def _cell(name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars(" \t\r").str.strip_prefix("`").str.strip_chars(" \t")
    return pl.when(text != "").then(text)


def read(lines: list[tuple[str, bool]], settings: Settings) -> NativeRecords:
    """The bill's detail rows as canonical statement cells; the summary lines ignored."""
    header, records = split_header(read_records(lines))
    if not header:
        return no_records()
    in_summary = (first_cell() == _SUMMARY_START).fill_null(False).cum_max()
    marked = records.with_columns(in_summary.alias("_summary"))
    rows = marked.filter(~pl.col("_summary")).drop("_summary")
    summary = marked.filter(pl.col("_summary")).drop("_summary")
    ignored = ignored_lines(summary, "ignored:summary", "WeChat Pay bill summary line")
    native = native_columns(header, rows, _COLUMNS)
    status = _cell("交易状态")
    refund = status.is_in(["REFUND", "REVOKED"])
    amount = (
        pl.when(refund)
        .then(pl.coalesce(_cell("申请退款金额"), _cell("退款金额")))
        .otherwise(pl.coalesce(_cell("订单金额"), _cell("总金额")))
    )
    traded = _cell("交易时间").str.replace_all("：", ":")
    fee = unsigned_decimal(_cell("手续费"))
    cells = canonical_cells(
        native,
        {
            "provider": pl.lit(NAME),
            "type": choose(status.is_not_null(), _TYPES, status),
            "order_id": _cell("商户订单号"),
            "amount": unsigned_decimal(amount),
            "currency": _cell("货币种类"),
            "booked_at": with_offset(traded, "+08:00"),
            "statement_date": date_of(traded),
            "provider_txn_id": _cell("微信订单号"),
            "fee": pl.when(fee.str.contains(_EXACT_IN_FEN)).then(fee),
        },
    )
    return records_of(header, rows, cells, ignored)
