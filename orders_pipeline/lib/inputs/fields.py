"""The canonical fields of order, callback and statement lines, and the exact shapes their values must have.

The field tables of docs/rules.md#inputs and docs/rules.md#canonical-statement-line, in rule
order: the order of these tuples is the order in which missing and invalid fields are reported
(one reason per rejected line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS, InputKind
from orders_pipeline.lib.warehouse.contracts import CALLBACK_LINES, ORDER_LINES, STATEMENT_LINES, Table

# "money": an optional amount beside the main one (a statement's fee and net), "date": a
# calendar date (YYYY-MM-DD), "type": a statement row's type.
Role = Literal["id", "provider", "status", "currency", "amount", "money", "ts", "seq", "date", "type"]


@dataclass(frozen=True)
class Field:
    """One canonical field: its name, what kind of value it holds, and whether a line needs it."""

    name: str
    role: Role
    required: bool


ORDER_FIELDS = (
    Field("order_id", "id", True),
    Field("merchant_id", "id", True),
    Field("provider", "provider", True),
    Field("amount", "amount", True),
    Field("currency", "currency", True),
    Field("created_at", "ts", True),
    Field("customer_id", "id", False),
    Field("request_id", "id", False),
    Field("source", "id", False),
    Field("seq", "seq", False),
)

# amount and currency are required for success and reversed, and together (see validation).
CALLBACK_FIELDS = (
    Field("order_id", "id", True),
    Field("provider", "provider", True),
    Field("status", "status", True),
    Field("amount", "amount", False),
    Field("currency", "currency", False),
    Field("received_at", "ts", True),
    Field("event_time", "ts", False),
    Field("callback_id", "id", False),
    Field("provider_txn_id", "id", False),
    Field("source", "id", False),
    Field("seq", "seq", False),
)

# order_id is required for payment, refund and chargeback rows only (see validation).
STATEMENT_FIELDS = (
    Field("provider", "provider", True),
    Field("statement_date", "date", True),
    Field("type", "type", True),
    Field("order_id", "id", False),
    Field("amount", "amount", True),
    Field("currency", "currency", True),
    Field("booked_at", "ts", True),
    Field("provider_txn_id", "id", False),
    Field("fee", "money", False),
    Field("net", "money", False),
)

FIELDS: dict[InputKind, tuple[Field, ...]] = {
    ORDERS: ORDER_FIELDS,
    CALLBACKS: CALLBACK_FIELDS,
    STATEMENTS: STATEMENT_FIELDS,
}
LANDED: dict[InputKind, Table] = {ORDERS: ORDER_LINES, CALLBACKS: CALLBACK_LINES, STATEMENTS: STATEMENT_LINES}

# Fields whose JSON type matters beyond their text: a boolean/object/array is bad_field (for
# money, bad_amount), and a JSON number with a fraction is re-read exactly.
TYPED_ROLES: tuple[Role, ...] = ("id", "provider", "money")

# Timestamp shape (Polars regex). No surrounding whitespace; the date/time ranges are checked
# here and the calendar (Feb 30) by DuckDB's cast.
TS_RE = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
TS_OFFSET_RE = r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
OBJECT_RE = r"^[ \t\r\n]*\{"
# What DuckDB's JSON reader (yyjson) accepts but JSON does not: a trailing comma before ``}``
# or ``]``, and NaN/Infinity literals. A line where this matches (also inside a string, which
# is harmless) is re-read strictly with Python's json.
LENIENT_JSON_RE = r",[ \t\r\n]*[}\]]|[:\[,][ \t\r\n]*[+-]?(?i:nan|inf)"
SEQ_RE = r"^\s*([0-9]+)\s*$"
PLAIN_ASCII_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
NEGATIVE_DECIMAL = r"^-[0-9]+(\.[0-9]+)?$"
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# An id as DuckDB renders it that may not be its JSON text: a boolean, an object or array, or
# a number that DuckDB may have rounded (fraction, exponent, NaN...). Such lines are re-read.
NOT_A_PLAIN_ID = (
    r"^(?:true$|false$|[{\[]|-?[0-9]+(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$|-?(?:NaN|Infinity|nan|inf)$)"
)
# Timezone names that mean UTC: naive timestamps need no conversion.
UTC_NAMES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "Universal", "Etc/Universal", "GMT", "Etc/GMT")
