"""Synthetic order and callback logs for tests, the committed sample and the benchmark.

Development tooling, not runtime code (the CLI imports it only for ``generate``). It is one
long module because every scenario shares one vectorised world of orders and callbacks;
new kinds of input (provider envelopes, statements) belong in modules of their own beside it.

:func:`generate_corpus` writes ``out_dir/orders/`` and ``out_dir/callbacks/`` for a fixed as-of
(:data:`AS_OF`, 2026-11-20T12:00:00Z), so the output never depends on today's date, and is
byte-identical for the same ``(n_orders, seed, options)``.

The generator does not compute expected outcomes: it only makes every scenario of the rules
(docs/rules.md) *present* (see :data:`SCENARIOS`). The pipeline is tested against the rules, not against this
module.

Scale: columns are drawn with numpy and lines are formatted with Polars string expressions,
one chunk of :data:`CHUNK_ORDERS` orders at a time (one order file and one callback file per
chunk), so memory stays bounded and there is no Python loop per row. Orders are spread over
the timeline in global-index order, so chunk ``k`` covers a slice of time and its file reads
like a rotated log.

Layout (``formats_variety=True`` adds the last four kinds of file)::

    orders/orders-0000.jsonl            one per chunk (``.jsonl.gz`` with compress=True)
    callbacks/callbacks-0000.jsonl      one per chunk, the callbacks of that chunk's orders
    orders/orders-c-0000.csv            the "orders-c" stream of chunk 0, as CSV with a header
    orders/orders-c-0000.resent.csv     the same file delivered again (duplicate file)
    callbacks/cb-gw3-0000.jsonl.gz      the "cb-gw3" stream of chunk 0, gzip-compressed
    callbacks/cb-gw3-0000.resent.jsonl  its decompressed content delivered again (duplicate)
    callbacks/cb-gw3-pgsoft-0000.csv    cb-gw3's pgsoft bet records of chunk 0, as CSV
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from orders_pipeline.lib.common.config import DEFAULT_PROFILES
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS

# ---------------------------------------------------------------------------------------------
# Fixed world
# ---------------------------------------------------------------------------------------------

AS_OF = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
"""The as-of every corpus is built for (independent of the seed and of today's date)."""

ORDER_SPAN = timedelta(hours=74)
"""Orders are created over this span before :data:`AS_OF` (a little over stripe's 72 h horizon)."""

AFTER_AS_OF = timedelta(minutes=10)
"""A thin tail of order lines is created after :data:`AS_OF` (they must not count)."""

CHUNK_ORDERS = 1_000_000
"""Orders per chunk, i.e. per ``orders-NNNN.jsonl`` / ``callbacks-NNNN.jsonl`` pair."""

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE

PROVIDERS = ("stripe", "adyen", "alipay", "wechatpay", "paypal", "pgsoft")
PROVIDER_WEIGHTS = np.array([0.30, 0.18, 0.15, 0.12, 0.15, 0.10])
OUTAGE_PROVIDER = 0  # stripe: the largest volume, so dozens of orders fall in the outage
CURRENCIES = ("USD", "EUR", "GBP", "CNY", "JPY", "KRW", "KWD", "BHD")
EXPONENTS = np.array([CURRENCY_EXPONENTS[c] for c in CURRENCIES], dtype=np.int64)
# Median order amount in major units per currency.
MEDIAN_MAJOR = np.array([25.0, 22.0, 20.0, 120.0, 2500.0, 25000.0, 7.5, 9.0])
# Currency mix per provider (rows follow PROVIDERS, columns CURRENCIES).
CURRENCY_MIX = np.array(
    [
        [0.55, 0.20, 0.12, 0.00, 0.08, 0.02, 0.02, 0.01],  # stripe
        [0.25, 0.33, 0.15, 0.00, 0.05, 0.07, 0.10, 0.05],  # adyen
        [0.05, 0.00, 0.00, 0.85, 0.05, 0.05, 0.00, 0.00],  # alipay
        [0.00, 0.00, 0.00, 0.95, 0.03, 0.02, 0.00, 0.00],  # wechatpay
        [0.60, 0.20, 0.12, 0.00, 0.06, 0.00, 0.01, 0.01],  # paypal
        [0.30, 0.00, 0.00, 0.30, 0.00, 0.30, 0.00, 0.10],  # pgsoft (game bets)
    ]
)
# A different currency with the same exponent, for currency mismatches and conflicting lines.
OTHER_CURRENCY = np.array([1, 0, 1, 0, 5, 4, 7, 6])  # USD->EUR, EUR->USD, GBP->EUR, CNY->USD, ...
N_MERCHANTS = 48
MERCHANT_WEIGHTS = 1.0 / np.arange(1, N_MERCHANTS + 1) ** 0.9
MERCHANT_WEIGHTS /= MERCHANT_WEIGHTS.sum()

SLA_US = np.array(
    [int(DEFAULT_PROFILES.get(p, DEFAULT_PROFILES["default"]).sla.total_seconds() * US) for p in PROVIDERS]
)
# Median callback latency (seconds) per provider.
LATENCY_MEDIAN_S = np.array([1.5, 2.5, 3.0, 2.0, 4.0, 0.8])

ORDER_SOURCES = ("orders-a", "orders-b", "orders-c")
ORDER_SOURCE_WEIGHTS = np.array([0.48, 0.48, 0.04])
CALLBACK_SOURCES = ("cb-gw1", "cb-gw2", "cb-gw3")
CALLBACK_SOURCE_WEIGHTS = np.array([0.45, 0.45, 0.10])

STATUSES = ("success", "failed", "pending", "reversed")
SUCCESS, FAILED, PENDING, REVERSED = range(4)

# Per-order fates: what the provider does with the order.
(
    F_CONFIRMED,
    F_FAILED,
    F_LOST,
    F_ACK_ONLY,
    F_MISMATCH_AMOUNT,
    F_MISMATCH_CURRENCY,
    F_CONFLICT,
    F_REVERSED,
    F_REVERSED_ONLY,
    F_DUP_SUCCESS,
    F_FAILED_THEN_SUCCESS,
) = range(11)
# (fate, share of orders, minimum per chunk)
FATE_SHARES = (
    (F_FAILED, 0.06, 3),
    (F_LOST, 0.012, 5),
    (F_ACK_ONLY, 0.004, 3),
    (F_MISMATCH_AMOUNT, 0.0015, 3),
    (F_MISMATCH_CURRENCY, 0.0005, 3),
    (F_CONFLICT, 0.001, 3),
    (F_REVERSED, 0.003, 3),
    (F_REVERSED_ONLY, 0.0003, 2),
    (F_DUP_SUCCESS, 0.002, 3),
    (F_FAILED_THEN_SUCCESS, 0.004, 3),
)

# Timestamp styles: (date/time separator, fraction digits, suffix, offset in hours).
TS_STYLES = (
    ("T", 3, "Z", 0),
    ("T", 0, "Z", 0),
    ("T", 6, "Z", 0),
    ("T", 3, "+08:00", 8),
    (" ", 6, "", 0),  # naive: read in the configured timezone (UTC)
    ("T", 0, "", 0),  # naive
    ("T", 0, "-05:00", -5),
)
ORDER_TS_WEIGHTS = np.array([0.55, 0.12, 0.08, 0.10, 0.07, 0.05, 0.03])
CALLBACK_TS_WEIGHTS = np.array([0.50, 0.15, 0.10, 0.12, 0.06, 0.04, 0.03])

# Bad-line variants: (reason the pipeline should give, {field: replacement JSON fragment or None
# to drop the field}); "__line__" replaces the whole line. Each variant has exactly one problem.
# Reason None: an odd value the rules accept, so the line lands (a log shipper's "seq": "n/a"
# only counts as an absent seq and is reported in log_gaps; it never rejects the line).
_TRUNCATE, _TEXT, _ARRAY, _TRAILING_COMMA = "truncate", "text", "array", "trailing_comma"
ORDER_BAD_VARIANTS: tuple[tuple[str | None, dict[str, str | None]], ...] = (
    ("malformed_json", {"__line__": _TRUNCATE}),
    ("malformed_json", {"__line__": _TRAILING_COMMA}),
    ("malformed_json", {"__line__": _TEXT}),
    ("malformed_json", {"__line__": _ARRAY}),
    ("missing_field:order_id", {"order_id": None}),
    ("missing_field:merchant_id", {"merchant_id": '"merchant_id":null'}),
    ("missing_field:provider", {"provider": '"provider":""'}),
    ("missing_field:amount", {"amount": None}),
    ("missing_field:currency", {"currency": '"currency":"  "'}),
    ("missing_field:created_at", {"created_at": None}),
    ("bad_amount", {"amount": '"amount":"-12.50"', "currency": '"currency":"USD"'}),
    ("bad_amount", {"amount": '"amount":"abc"'}),
    ("bad_amount", {"amount": '"amount":"1.234"', "currency": '"currency":"USD"'}),
    ("bad_amount", {"amount": '"amount":"1.5"', "currency": '"currency":"JPY"'}),
    ("bad_amount", {"amount": '"amount":"1e3"', "currency": '"currency":"EUR"'}),
    ("bad_amount", {"amount": '"amount":-5', "currency": '"currency":"GBP"'}),
    ("bad_currency", {"currency": '"currency":"XYZ"'}),
    ("bad_timestamp", {"created_at": '"created_at":"2026-13-01T00:00:00Z"'}),
    ("bad_timestamp", {"created_at": '"created_at":"yesterday"'}),
    (None, {"seq": '"seq":"n/a"'}),
)
CALLBACK_BAD_VARIANTS: tuple[tuple[str | None, dict[str, str | None]], ...] = (
    ("malformed_json", {"__line__": _TRUNCATE}),
    ("malformed_json", {"__line__": _TRAILING_COMMA}),
    ("malformed_json", {"__line__": _TEXT}),
    ("malformed_json", {"__line__": _ARRAY}),
    ("missing_field:order_id", {"order_id": None}),
    ("missing_field:provider", {"provider": '"provider":null'}),
    ("missing_field:status", {"status": '"status":""'}),
    ("missing_field:received_at", {"received_at": None}),
    ("missing_field:amount", {"status": '"status":"success"', "amount": None, "currency": '"currency":"USD"'}),
    (
        "missing_field:currency",
        {"status": '"status":"success"', "amount": '"amount":"10.00"', "currency": '"currency":null'},
    ),
    ("bad_status", {"status": '"status":"ok"'}),
    ("bad_status", {"status": '"status":"completed"'}),
    ("bad_amount", {"status": '"status":"failed"', "amount": '"amount":"abc"', "currency": '"currency":"USD"'}),
    ("bad_amount", {"status": '"status":"success"', "amount": '"amount":"-3.00"', "currency": '"currency":"USD"'}),
    ("bad_amount", {"status": '"status":"success"', "amount": '"amount":"1.5"', "currency": '"currency":"JPY"'}),
    ("bad_currency", {"status": '"status":"success"', "amount": '"amount":"10.00"', "currency": '"currency":"XYZ"'}),
    ("bad_timestamp", {"received_at": '"received_at":"2026-13-01T00:00:00Z"'}),
    ("bad_timestamp", {"event_time": '"event_time":"yesterday"'}),
    (None, {"seq": '"seq":"n/a"'}),
)

ORDER_FIELDS = (
    "order_id",
    "merchant_id",
    "provider",
    "amount",
    "currency",
    "created_at",
    "customer_id",
    "request_id",
    "source",
    "seq",
)
CALLBACK_FIELDS = (
    "order_id",
    "provider",
    "status",
    "amount",
    "currency",
    "received_at",
    "event_time",
    "callback_id",
    "provider_txn_id",
    "source",
    "seq",
)

SCENARIOS = {
    "confirmed": "one success callback with the order's amount (the majority)",
    "failed": "a failed callback; also failed-then-success retries and a reversed with no success",
    "pending": "orders created in the last minutes before as_of whose callback arrives after as_of",
    "overdue/missing": "orders whose callback is lost (1.2%), plus the planted callback outage",
    "amount_mismatch": "success with the amount off, or in another currency of the same exponent",
    "conflict": "success, then a later failed",
    "reversed": "success, then a reversed hours later (sometimes after as_of)",
    "duplicate_submission": "a retried order line (same merchant/provider/amount/currency)",
    "conflicting_submission": "a second order line with another amount, currency, merchant or provider",
    "duplicate_callback": "the same callback_id re-delivered, and a second distinct success",
    "late_callback": "a latency tail past each provider's sla, and the outage's late re-deliveries",
    "callback_before_order": "event_time 10 min to 3 h before created_at",
    "acknowledged": "a pending callback and nothing after it",
    "provider_mismatch": "all callbacks of the order come from another provider",
    "orphans": "callbacks for ids nobody logged (ext_..., ORD... look-alikes, dropped or rejected lines)",
}


@dataclass(frozen=True)
class GeneratedCorpus:
    """What :func:`generate_corpus` wrote."""

    as_of: datetime
    """The as-of (UTC, aware) the corpus was built for."""
    order_lines: int
    """Order lines written (incl. bad ones and the duplicate file's lines; CSV headers excluded)."""
    callback_lines: int
    """Callback lines written (same counting)."""
    files: list[Path]
    """Every file written, in writing order."""


# ---------------------------------------------------------------------------------------------
# Helpers: ids, timeline, formatting
# ---------------------------------------------------------------------------------------------

_MASK40 = (1 << 40) - 1


def _scramble(values: np.ndarray, multiplier: int, salt: int) -> np.ndarray:
    """Map ids through a bijection of [0, 2**40) (add a per-kind salt, multiply by an odd number), to 13 digits."""
    offset = np.uint64((salt ^ multiplier) & _MASK40)
    with np.errstate(over="ignore"):
        y = ((values.astype(np.uint64) + offset) * np.uint64(multiplier)) & np.uint64(_MASK40)
    return (y + np.uint64(10**12)).astype(np.int64)


_ORDER_ID_MULT = 0x9E3779B97F4B
_REQUEST_ID_MULT = 0xC2B2AE3D27D5
_CALLBACK_ID_MULT = 0x165667B19E37
_TXN_ID_MULT = 0x27D4EB2F1657
_EXT_ID_MULT = 0x85EBCA77C2B3
_LOOKALIKE_BASE = 1 << 39  # order-index space of orphan look-alike ids (real orders stay below)


@dataclass(frozen=True)
class _World:
    n_orders: int
    seed: int
    salt: int
    t0: int  # first possible created_at (µs since epoch)
    as_of: int
    minute_cdf: np.ndarray  # len M + 1, from 0 to 1
    outage_start: int
    outage_end: int
    day0: int  # first day (since epoch) of the date table


def _as_us(value: datetime) -> int:
    return int(value.timestamp()) * US


def _circular_hours(hours: np.ndarray, center: float) -> np.ndarray:
    d = np.abs(hours - center) % 24
    return np.minimum(d, 24 - d)


def _build_world(n_orders: int, seed: int) -> _World:
    """Timeline (diurnal peaks plus a few bursts) and the planted outage, from the seed."""
    rng = np.random.default_rng([seed, 0x5EED, 1])
    as_of = _as_us(AS_OF)
    t0 = as_of - int(ORDER_SPAN.total_seconds()) * US
    t1 = as_of + int(AFTER_AS_OF.total_seconds()) * US
    n_minutes = (t1 - t0) // MINUTE
    minute_start = t0 + np.arange(n_minutes, dtype=np.int64) * MINUTE
    hours = (minute_start // US % 86400) / 3600.0
    intensity = (
        0.25
        + 1.0 * np.exp(-0.5 * (_circular_hours(hours, 12.5) / 2.5) ** 2)  # Asia evening (20:30 CST)
        + 0.8 * np.exp(-0.5 * (_circular_hours(hours, 1.5) / 2.5) ** 2)  # US evening
        + 0.5 * np.exp(-0.5 * (_circular_hours(hours, 19.0) / 2.5) ** 2)  # Europe evening
    )
    for _ in range(4):  # promotions, game tournaments: a few times the normal rate for a while
        start = int(rng.integers(0, n_minutes - 60))
        length = int(rng.integers(15, 50))
        intensity[start : start + length] *= rng.uniform(4.0, 8.0)
    intensity[minute_start >= as_of] *= 0.25  # the log tail past as_of is thin
    cdf = np.concatenate([[0.0], np.cumsum(intensity)])
    cdf /= cdf[-1]

    # Callback outage of the outage provider, about 30 h before as_of, long enough that dozens of
    # its orders are created inside it whatever the corpus size.
    share = PROVIDER_WEIGHTS[OUTAGE_PROVIDER]
    start = as_of - 30 * HOUR + int(rng.integers(-120, 120)) * MINUTE
    duration = 90 * MINUTE
    while duration < 10 * HOUR:
        lo, hi = (start - t0) // MINUTE, (start + duration - t0) // MINUTE
        if n_orders * share * (cdf[hi] - cdf[lo]) >= 40:
            break
        duration += 15 * MINUTE
    salt = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK40
    return _World(
        n_orders=n_orders,
        seed=seed,
        salt=salt,
        t0=t0,
        as_of=as_of,
        minute_cdf=cdf,
        outage_start=start,
        outage_end=start + duration,
        day0=as_of // (86400 * US) - 40,
    )


def _created_times(world: _World, global_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverse-CDF sampling of the timeline; increasing with the global order index."""
    q = (global_index + rng.random(global_index.size)) / world.n_orders
    cdf = world.minute_cdf
    m = np.clip(np.searchsorted(cdf, q, side="right") - 1, 0, cdf.size - 2)
    frac = (q - cdf[m]) / (cdf[m + 1] - cdf[m])
    return world.t0 + m.astype(np.int64) * MINUTE + (frac * MINUTE).astype(np.int64)


def _take_counts(rng: np.random.Generator, n: int, shares: tuple[tuple[int, float, int], ...]) -> np.ndarray:
    """Assign exact counts of each code (at least its minimum) to random rows; the rest get 0."""
    codes = np.zeros(n, dtype=np.int8)
    perm = rng.permutation(n)
    pos = 0
    for code, share, minimum in shares:
        count = min(max(minimum, round(share * n)), n - pos)
        codes[perm[pos : pos + count]] = code
        pos += count
    return codes


def _pick(
    rng: np.random.Generator, n: int, share: float, minimum: int, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Return a mask with exactly max(minimum, share * n) random (eligible) rows set, as available."""
    mask = np.zeros(n, dtype=bool)
    candidates = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    count = min(candidates.size, max(minimum, round(share * n)))
    if count:
        mask[rng.choice(candidates, count, replace=False)] = True
    return mask


def _uniform_us(rng: np.random.Generator, low_s: float, high_s: float, size: int) -> np.ndarray:
    return (rng.uniform(low_s, high_s, size) * US).astype(np.int64)


def _table(values: list[str]) -> pl.Series:
    return pl.Series(values, dtype=pl.String)


_TIME_OF_DAY = _table([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])


_TS_OFFSET_US = np.array([hours * HOUR for _, _, _, hours in TS_STYLES], dtype=np.int64)
_TS_SPACE = np.array([1 if sep == " " else 0 for sep, _, _, _ in TS_STYLES], dtype=np.int64)
_TS_DIGITS = np.array([digits for _, digits, _, _ in TS_STYLES], dtype=np.int64)
_TS_SUFFIX = _table([suffix for _, _, suffix, _ in TS_STYLES])
_DOT_MILLIS = _table([f".{i:03d}" for i in range(1000)] + [""])
_MICROS_REST = _table([f"{i:03d}" for i in range(1000)] + [""])
_N_DAYS = 120


@lru_cache(maxsize=4)
def _date_table(day0: int) -> pl.Series:
    """``YYYY-MM-DD`` + ``T`` or space for ``_N_DAYS`` days from ``day0``; the last entry is null."""
    out: list[str | None] = []
    for i in range(_N_DAYS):
        day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day0 + i)).strftime("%Y-%m-%d")
        out += [day + "T", day + " "]
    return pl.Series([*out, None], dtype=pl.String)


def _ts_columns(world: _World, name: str, us: np.ndarray, style: np.ndarray, present: np.ndarray | None = None):
    """Index columns from which :func:`_ts_value` assembles the text (numpy does the arithmetic)."""
    local = us + _TS_OFFSET_US[style]
    seconds = local // US
    day = np.clip(seconds // 86400 - world.day0, 0, _N_DAYS - 1)
    date_index = day * 2 + _TS_SPACE[style]
    if present is not None:
        date_index = np.where(present, date_index, 2 * _N_DAYS)
    digits = _TS_DIGITS[style]
    return {
        f"{name}_d": date_index,
        f"{name}_t": seconds % 86400,
        f"{name}_m": np.where(digits >= 3, (local // 1000) % 1000, 1000),
        f"{name}_u": np.where(digits == 6, local % 1000, 1000),
        f"{name}_z": style,
    }


def _ts_value(world: _World, name: str) -> pl.Expr:
    """RFC 3339 text in the row's :data:`TS_STYLES` style (null where absent), by table lookups."""
    return pl.concat_str(
        [
            pl.lit(_date_table(world.day0)).gather(pl.col(f"{name}_d")),
            pl.lit(_TIME_OF_DAY).gather(pl.col(f"{name}_t")),
            pl.lit(_DOT_MILLIS).gather(pl.col(f"{name}_m")),
            pl.lit(_MICROS_REST).gather(pl.col(f"{name}_u")),
            pl.lit(_TS_SUFFIX).gather(pl.col(f"{name}_z")),
        ]
    )


def _fraction_table() -> pl.Series:
    """Fraction texts by (style class, exponent, digits): canonical, trailing zeros dropped, one extra zero."""
    canonical = ["", *[f".{i:02d}" for i in range(100)], *[f".{i:03d}" for i in range(1000)]]
    trimmed = [c.rstrip("0").rstrip(".") for c in canonical]
    extra = [".0", *[c + "0" for c in canonical[1:]]]
    return pl.Series([*canonical, *trimmed, *extra, None], dtype=pl.String)


_FRACTIONS = _fraction_table()
_FRACTION_BLOCK = 1101
_FRACTION_NULL = 3 * _FRACTION_BLOCK
# Amount styles: 0 canonical string "12.50", 1 JSON number with trailing zeros dropped (12.5),
# 2 string with trailing zeros dropped ("12.5"), 3 string with one extra zero ("12.500").
_AMOUNT_STYLE_CLASS = np.array([0, 1, 1, 2])


def _amount_columns(amount: np.ndarray, cur: np.ndarray, style: np.ndarray, present: np.ndarray | None = None):
    """Exact major-unit text parts of integer minor units: whole part and a fraction-table index."""
    exp = EXPONENTS[cur]
    scale = 10**exp
    base = np.where(exp == 0, 0, np.where(exp == 2, 1, 101))
    fraction = _AMOUNT_STYLE_CLASS[style] * _FRACTION_BLOCK + base + amount % scale
    if present is not None:
        fraction = np.where(present, fraction, _FRACTION_NULL)
    return {"amt_w": amount // scale, "amt_f": fraction, "amt_q": (style == 1).astype(np.int64)}


def _amount_value() -> pl.Expr:
    return pl.concat_str([pl.col("amt_w").cast(pl.String), pl.lit(_FRACTIONS).gather(pl.col("amt_f"))])


def _prefixed(prefixes: tuple[str | None, ...], index_column: str, number: pl.Expr) -> pl.Expr:
    """``prefixes[index] + number``; null where the prefix is null (the field is absent)."""
    table = pl.Series(list(prefixes), dtype=pl.String)
    return pl.concat_str([pl.lit(table).gather(pl.col(index_column)), number.cast(pl.String)])


_AMOUNT_OPEN = _table(['"amount":"', '"amount":'])
_AMOUNT_CLOSE = _table(['"', ""])


def _quoted(name: str, value: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(f'"{name}":"'), value, pl.lit('"')])


def _raw(name: str, value: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(f'"{name}":'), value])


def _json_lines(
    fragments: dict[str, pl.Expr], variants: tuple[tuple[str | None, dict[str, str | None]], ...], id_text: pl.Expr
) -> pl.Expr:
    """One JSON object per row from per-field fragments (null = field absent), bad rows mutated."""
    bad = pl.col("bad")
    parts = []
    for name, fragment in fragments.items():
        expr: Any = None
        for code, (_, overrides) in enumerate(variants, start=1):
            if name in overrides:
                replacement = overrides[name]
                value = pl.lit(replacement, pl.String) if replacement is not None else pl.lit(None, pl.String)
                expr = (pl.when(bad == code) if expr is None else expr.when(bad == code)).then(value)
        parts.append(fragment if expr is None else expr.otherwise(fragment))
    line = pl.concat_str([pl.lit("{"), pl.concat_str(parts, separator=",", ignore_nulls=True), pl.lit("}")])
    codes = {kind: code for code, (_, o) in enumerate(variants, start=1) for kind in [o.get("__line__")] if kind}
    return (
        pl.when(bad == codes[_TRUNCATE])
        .then(line.str.slice(0, line.str.len_chars() // 2))
        .when(bad == codes[_TRAILING_COMMA])
        .then(pl.concat_str([line.str.strip_suffix("}"), pl.lit(",}")]))
        .when(bad == codes[_TEXT])
        .then(pl.concat_str([pl.lit("2026-11-19 03:12:44 WARN retrying write for "), id_text, pl.lit(" (timeout)")]))
        .when(bad == codes[_ARRAY])
        .then(pl.concat_str([pl.lit('["'), id_text, pl.lit('", null]')]))
        .otherwise(line)
    )


def _styled_table(names: tuple[str, ...]) -> pl.Series:
    """Build the names x 3 styles table: as is, ' Capitalized ' (untrimmed), UPPER."""
    out = []
    for name in names:
        out += [name, f" {name.capitalize()} ", name.upper()]
    return _table(out)


def _assign_seq(source: np.ndarray, next_seq: np.ndarray) -> np.ndarray:
    """Per-source consecutive sequence numbers in row order, continuing from ``next_seq``."""
    seq = np.zeros(source.size, dtype=np.int64)
    for s in range(next_seq.size):
        mask = source == s
        count = int(mask.sum())
        seq[mask] = next_seq[s] + np.arange(count, dtype=np.int64)
        next_seq[s] += count
    return seq


def _reship_and_gap(
    rng: np.random.Generator, source: np.ndarray, seq: np.ndarray, first_seq: np.ndarray, n_events: int
) -> np.ndarray:
    """Row indices to write: a few lines shipped twice (repeated seq), a few seq ranges dropped."""
    n = source.size
    reps = np.ones(n, dtype=np.int64)
    if n:
        reps[rng.choice(n, min(n, n_events + 2), replace=False)] = 2
    take = np.repeat(np.arange(n), reps)
    keep = np.ones(take.size, dtype=bool)
    for _ in range(n_events):
        s = int(rng.integers(0, first_seq.size))
        mask_s = source[take] == s
        count = int(mask_s.sum())
        if count < 20:
            continue
        start = int(first_seq[s]) + int(rng.integers(1, int(count * 0.9)))
        length = int(rng.integers(1, 6)) if rng.random() < 0.8 else int(rng.integers(6, 40))
        keep &= ~(mask_s & (seq[take] >= start) & (seq[take] < start + length))
    return take[keep]


def _choose_bad(rng: np.random.Generator, eligible: np.ndarray, rate: float, n_variants: int) -> np.ndarray:
    """Variant code per row (0 = good): about ``rate`` of eligible rows, every variant at least once."""
    bad = np.zeros(eligible.size, dtype=np.int16)
    if rate <= 0:
        return bad
    candidates = np.flatnonzero(eligible)
    count = min(candidates.size, max(n_variants, round(rate * eligible.size)))
    chosen = rng.choice(candidates, count, replace=False)
    bad[chosen] = (np.arange(count) % n_variants + 1).astype(np.int16)
    return bad


# ---------------------------------------------------------------------------------------------
# One chunk: orders, their lines, their callbacks
# ---------------------------------------------------------------------------------------------


def _make_orders(
    world: _World, rng: np.random.Generator, lo: int, hi: int, first_chunk: bool, last_chunk: bool
) -> dict[str, np.ndarray]:
    """One chunk of distinct orders (global indices ``lo..hi``) and what their providers will do."""
    n = hi - lo
    idx = np.arange(lo, hi, dtype=np.int64)
    created = _created_times(world, idx, rng)
    prov = rng.choice(len(PROVIDERS), n, p=PROVIDER_WEIGHTS).astype(np.int64)
    merchant = rng.choice(N_MERCHANTS, n, p=MERCHANT_WEIGHTS).astype(np.int64)
    cum = np.cumsum(CURRENCY_MIX, axis=1)
    cum /= cum[:, -1:]
    cur = np.minimum((rng.random(n)[:, None] > cum[prov]).sum(axis=1), len(CURRENCIES) - 1).astype(np.int64)
    exp = EXPONENTS[cur]
    scale = 10**exp
    major = MEDIAN_MAJOR[cur] * np.exp(rng.normal(0.0, 1.0, n))
    major[prov == 5] *= 0.15  # game bets are small
    amount = np.maximum(1, np.rint(major * scale)).astype(np.int64)
    unit = np.where(cur == 5, 1000, np.where(cur == 4, 100, scale))  # KRW, JPY: round numbers
    nice = rng.random(n) < 0.4
    amount[nice] = np.maximum(unit[nice], np.rint(amount[nice] / unit[nice]).astype(np.int64) * unit[nice])
    amount[_pick(rng, n, 0.001, 2)] = 0  # zero-amount authorisations: allowed

    fate = _take_counts(rng, n, FATE_SHARES)
    pre_pending = rng.random(n) < np.where((prov == 2) | (prov == 3), 0.20, 0.03)
    pre_pending |= fate == F_ACK_ONLY
    redeliver = rng.random(n) < 0.03
    has_terminal = (fate != F_LOST) & (fate != F_ACK_ONLY)
    provider_mismatch = _pick(rng, n, 0.0005, 3, has_terminal)
    before_order = _pick(rng, n, 0.0005, 3, has_terminal)
    no_callback_id = rng.random(n) < np.where(prov == 5, 0.6, 0.005)

    # Callback latency: seconds mostly, some minutes, a tail past the sla, a few very late ones.
    latency = (LATENCY_MEDIAN_S[prov] * np.exp(rng.normal(0.0, 0.8, n)) * US).astype(np.int64) + 200_000
    u = rng.random(n)
    minutes = u < 0.05
    latency[minutes] = _uniform_us(rng, 20, 240, int(minutes.sum()))
    late = (u >= 0.05) & (u < 0.07)
    latency[late] = SLA_US[prov[late]] + (rng.exponential(30 * 60, int(late.sum())) * US).astype(np.int64) + US
    very_late = (u >= 0.07) & (u < 0.073)
    latency[very_late] = _uniform_us(rng, 2 * 3600, 30 * 3600, int(very_late.sum()))

    if first_chunk:
        # Lost callbacks of the oldest orders of 72 h-horizon providers (stripe, paypal, pgsoft).
        old = np.flatnonzero((created < world.t0 + 90 * MINUTE) & np.isin(prov, [0, 4, 5]))
        fate[rng.choice(old, min(old.size, 3), replace=False)] = F_LOST
    if last_chunk:
        # Order lines created after as_of (they must not count).
        plain = (fate == F_CONFIRMED) & ~provider_mismatch & ~before_order & (created <= world.as_of)
        future = rng.choice(np.flatnonzero(plain), min(int(plain.sum()), 5), replace=False)
        created[future] = world.as_of + _uniform_us(rng, 1, 600, future.size)
        # Young orders: created minutes before as_of, callback only after as_of (pending), two of
        # them acknowledged by a pending callback before as_of.
        plain[future] = False
        young = rng.choice(np.flatnonzero(plain), min(int(plain.sum()), 8), replace=False)
        created[young] = world.as_of - _uniform_us(rng, 5, 240, young.size)
        latency[young] = (world.as_of - created[young]) + _uniform_us(rng, 1, 900, young.size)
        fate[young] = F_CONFIRMED
        pre_pending[young] = False
        pre_pending[young[:2]] = True
        provider_mismatch[young] = False
        before_order[young] = False

    return {
        "idx": idx,
        "created": created,
        "prov": prov,
        "merchant": merchant,
        "cur": cur,
        "amount": amount,
        "customer": rng.integers(1, max(100, world.n_orders // 3), n),
        "fate": fate,
        "pre_pending": pre_pending,
        "redeliver": redeliver,
        "provider_mismatch": provider_mismatch,
        "before_order": before_order,
        "no_callback_id": no_callback_id,
        "latency": latency,
        "young_recent": (created > world.as_of - 4 * MINUTE) & (created <= world.as_of),
    }


def _order_lines(world: _World, rng: np.random.Generator, o: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One line per order, plus retried (identical) and conflicting second lines, in time order."""
    n = o["idx"].size
    dup = np.flatnonzero(_pick(rng, n, 0.005, 3))
    conflicting = np.flatnonzero(_pick(rng, n, 0.0008, 3))
    rows = np.concatenate([np.arange(n), dup, conflicting])
    kind = np.concatenate([np.zeros(n, np.int8), np.ones(dup.size, np.int8), np.full(conflicting.size, 2, np.int8)])
    created = o["created"][rows].copy()
    merchant = o["merchant"][rows].copy()
    prov = o["prov"][rows].copy()
    cur = o["cur"][rows].copy()
    amount = o["amount"][rows].copy()
    request = o["idx"][rows].copy()

    is_dup = kind == 1
    created[is_dup] += _uniform_us(rng, 0.5, 120, int(is_dup.sum()))
    new_request = is_dup & (rng.random(rows.size) < 0.5)
    request[new_request] += _LOOKALIKE_BASE  # another idempotency key for the retry

    is_conf = np.flatnonzero(kind == 2)
    shift = _uniform_us(rng, 1, 600, is_conf.size)
    created[is_conf] += np.where(rng.random(is_conf.size) < 0.2, -shift, shift)
    request[is_conf] += _LOOKALIKE_BASE
    what = rng.random(is_conf.size)
    a = is_conf[what < 0.6]
    amount[a] = amount[a] + np.maximum(1, amount[a] // 10)
    c = is_conf[(what >= 0.6) & (what < 0.8)]
    cur[c] = OTHER_CURRENCY[cur[c]]
    m = is_conf[(what >= 0.8) & (what < 0.9)]
    merchant[m] = (merchant[m] + 1) % N_MERCHANTS
    p = is_conf[what >= 0.9]
    prov[p] = (prov[p] + 1 + rng.integers(0, len(PROVIDERS) - 1, p.size)) % len(PROVIDERS)

    order = np.argsort(created, kind="stable")
    size = rows.size
    return {
        "order_num": _scramble(o["idx"][rows][order], _ORDER_ID_MULT, world.salt),
        "merchant": merchant[order],
        "prov": prov[order],
        "prov_style": np.where(rng.random(size) < 0.003, rng.integers(1, 3, size), 0),
        "cur": cur[order],
        "cur_style": (rng.random(size) < 0.003).astype(np.int64),
        "amount": amount[order],
        "amount_style": rng.choice(4, size, p=[0.85, 0.08, 0.04, 0.03]),
        "created": created[order],
        "ts_style": rng.choice(len(TS_STYLES), size, p=ORDER_TS_WEIGHTS),
        "customer": np.where(rng.random(size) < 0.9, o["customer"][rows][order], -1),
        "request_num": np.where(rng.random(size) < 0.85, _scramble(request[order], _REQUEST_ID_MULT, world.salt), -1),
    }


def _callbacks(world: _World, rng: np.random.Generator, o: dict[str, np.ndarray], chunk: int) -> dict[str, np.ndarray]:
    """Draw the callbacks of one chunk's orders, plus orphans, minus what the outage swallowed."""
    n = o["idx"].size
    fate, created, latency = o["fate"], o["created"], o["latency"]
    events: list[dict[str, np.ndarray]] = []

    def add(pos: np.ndarray, status: int, received: np.ndarray, slot: int, event: np.ndarray | None = None) -> None:
        if event is None:
            back = np.minimum((received - created[pos]) // 2, 2 * US)
            event = received - (rng.random(pos.size) * back).astype(np.int64)
        events.append(
            {
                "pos": pos,
                "status": np.full(pos.size, status, np.int64),
                "received": received,
                "event": event,
                "slot": np.full(pos.size, slot, np.int64),
                "amount": o["amount"][pos].copy(),
                "cur": o["cur"][pos].copy(),
            }
        )

    # Slot 0: the pending acknowledgement before the terminal callback.
    pos = np.flatnonzero(o["pre_pending"] & (fate != F_LOST))
    ack_latency = np.where(
        fate[pos] == F_ACK_ONLY, latency[pos], (latency[pos] * rng.uniform(0.1, 0.6, pos.size)).astype(np.int64)
    )
    young = o["young_recent"][pos] & (fate[pos] != F_ACK_ONLY)
    ack_latency[young] = ((world.as_of - created[pos][young]) * rng.uniform(0.2, 0.8, int(young.sum()))).astype(
        np.int64
    )
    add(pos, PENDING, created[pos] + ack_latency, 0)

    # Slot 1: the primary terminal callback.
    primary = np.flatnonzero((fate != F_LOST) & (fate != F_ACK_ONLY))
    pstatus = np.full(primary.size, SUCCESS)
    pstatus[np.isin(fate[primary], [F_FAILED, F_FAILED_THEN_SUCCESS])] = FAILED
    pstatus[fate[primary] == F_REVERSED_ONLY] = REVERSED
    received = created[primary] + latency[primary]
    for status in (SUCCESS, FAILED, REVERSED):
        sel = pstatus == status
        add(primary[sel], status, received[sel], 1)
    # Amount / currency mismatches and callbacks dated well before the order, on the primary.
    for ev in events[-3:]:
        f = fate[ev["pos"]]
        off = f == F_MISMATCH_AMOUNT
        delta = np.maximum(1, (ev["amount"][off] * rng.uniform(0.01, 0.3, int(off.sum()))).astype(np.int64))
        sign = np.where(rng.random(delta.size) < 0.5, -1, 1)
        changed = ev["amount"][off] + sign * delta
        ev["amount"][off] = np.where(changed < 0, ev["amount"][off] + delta, changed)
        other = f == F_MISMATCH_CURRENCY
        ev["cur"][other] = OTHER_CURRENCY[ev["cur"][other]]
        early = o["before_order"][ev["pos"]]
        ev["event"][early] = created[ev["pos"][early]] - _uniform_us(rng, 600, 3 * 3600, int(early.sum()))

    # Re-deliveries of the primary (same callback_id, same payload, received later).
    first = {k: np.concatenate([e[k] for e in events[-3:]]) for k in events[-1]}
    again = o["redeliver"][first["pos"]]
    redelivered = {k: v[again].copy() for k, v in first.items()}
    redelivered["received"] += (rng.exponential(600, again.sum()) * US).astype(np.int64) + US
    events.append(redelivered)
    prim_received = np.zeros(n, np.int64)
    prim_event = np.zeros(n, np.int64)
    prim_received[first["pos"]] = first["received"]
    prim_event[first["pos"]] = first["event"]

    # Slot 2: the second terminal event.
    def later(fate_code: int, status: int, low_s: float, high_s: float) -> None:
        pos = np.flatnonzero(fate == fate_code)
        gap = _uniform_us(rng, low_s, high_s, pos.size)
        add(pos, status, prim_received[pos] + gap, 2, event=prim_event[pos] + gap)

    later(F_CONFLICT, FAILED, 5, 1800)
    later(F_REVERSED, REVERSED, 1800, 30 * 3600)
    later(F_DUP_SUCCESS, SUCCESS, 2, 600)
    later(F_FAILED_THEN_SUCCESS, SUCCESS, 30, 900)

    cb = {k: np.concatenate([e[k] for e in events]) for k in events[0]}
    pos = cb["pos"]
    cb["prov"] = o["prov"][pos].copy()
    mism = o["provider_mismatch"][pos]
    cb["prov"][mism] = (cb["prov"][mism] + 1 + (o["idx"][pos][mism] % (len(PROVIDERS) - 1))) % len(PROVIDERS)
    cb["kind"] = np.zeros(pos.size, np.int64)  # 0: our order id, 1: look-alike orphan, 2: foreign orphan
    cb["order_key"] = o["idx"][pos]
    cb["callback_key"] = np.where(o["no_callback_id"][pos], -1, o["idx"][pos] * 4 + cb["slot"])
    cb["txn_key"] = np.where(rng.random(pos.size) < 0.85, o["idx"][pos], -1)
    cb["has_amount"] = np.isin(cb["status"], [SUCCESS, REVERSED]) | (rng.random(pos.size) < 0.5)
    cb["has_event"] = (rng.random(pos.size) < 0.9) | o["before_order"][pos]
    del cb["pos"], cb["slot"]

    # Orphans: foreign traffic and look-alike ids of orders nobody logged.
    n_foreign = max(2, round(0.0015 * n))
    n_lookalike = max(2, round(0.0005 * n))
    k = n_foreign + n_lookalike
    oprov = rng.choice(len(PROVIDERS), k, p=PROVIDER_WEIGHTS)
    ocur = np.minimum((rng.random(k)[:, None] > np.cumsum(CURRENCY_MIX, axis=1)[oprov]).sum(axis=1), 7)
    oreceived = rng.integers(created.min(), created.max() + 5 * MINUTE, k)
    serial = np.int64(chunk) * CHUNK_ORDERS + np.arange(k)
    orphan = {
        "status": rng.choice([SUCCESS, FAILED, PENDING], k, p=[0.85, 0.1, 0.05]),
        "received": oreceived,
        "event": oreceived - _uniform_us(rng, 0, 2, k),
        "amount": np.maximum(
            1, np.rint(MEDIAN_MAJOR[ocur] * np.exp(rng.normal(0, 1, k)) * 10 ** EXPONENTS[ocur])
        ).astype(np.int64),
        "cur": ocur,
        "prov": oprov,
        "kind": np.where(np.arange(k) < n_foreign, 2, 1),
        "order_key": np.where(np.arange(k) < n_foreign, serial, _LOOKALIKE_BASE + serial),
        "callback_key": (1 << 38) + serial,
        "txn_key": (1 << 38) + serial,
        "has_amount": np.ones(k, bool),
        "has_event": np.ones(k, bool),
    }
    cb = {key: np.concatenate([cb[key], orphan[key]]) for key in cb}

    # The outage: the outage provider's callbacks received inside the window never arrive,
    # except a quarter that the provider re-delivers after the window (late).
    hit = (cb["prov"] == OUTAGE_PROVIDER) & (cb["received"] >= world.outage_start) & (cb["received"] < world.outage_end)
    retried = hit & (rng.random(hit.size) < 0.25)
    cb["received"][retried] = world.outage_end + _uniform_us(rng, 60, 3 * 3600, int(retried.sum()))
    keep = ~hit | retried
    cb = {key: value[keep] for key, value in cb.items()}
    # event_time never after received_at
    cb["event"] = np.minimum(cb["event"], cb["received"])
    order = np.argsort(cb["received"], kind="stable")
    return {key: value[order] for key, value in cb.items()}


# ---------------------------------------------------------------------------------------------
# Formatting and writing
# ---------------------------------------------------------------------------------------------


_PROVIDER_TABLE = _styled_table(PROVIDERS)
_STATUS_TABLE = _styled_table(STATUSES)
_CURRENCY_TABLE = pl.Series([*[c for code in CURRENCIES for c in (code, code.lower())], None], dtype=pl.String)
_CURRENCY_NULL = 2 * len(CURRENCIES)
_MERCHANT_TABLE = _table([f"m{i:03d}" for i in range(1, N_MERCHANTS + 1)])
_CALLBACK_ID_PREFIXES = ("evt_", "psp", "ntf", "wx", "WH-", "bet-", None)
_TXN_PREFIXES = ("pi_", "88", "2026", "42", "PAYID-", "tx", None)


def _fragments(values: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
    """JSON ``"name":value`` fragments (null where the value is null, i.e. the field is absent)."""
    out = {}
    for name, value in values.items():
        if name == "seq":
            out[name] = _raw(name, value)
        elif name == "amount":
            open_, close = pl.lit(_AMOUNT_OPEN).gather(pl.col("amt_q")), pl.lit(_AMOUNT_CLOSE).gather(pl.col("amt_q"))
            out[name] = pl.concat_str([open_, value, close])
        else:
            out[name] = _quoted(name, value)
    return out


def _line_expr(fields: tuple[tuple[str, str, str | None], ...], values: dict[str, pl.Expr]) -> pl.Expr:
    """One flat ``concat_str`` building a JSON object per row (the fast path for good rows).

    ``fields``: (name, kind, presence column) with kind ``str`` (quoted), ``raw`` (JSON literal)
    or ``amount`` (quoted or number per ``amt_q``); an optional field's value is null where the
    presence column is 1, and then its key, value and quotes all vanish (``ignore_nulls``).
    """
    parts: list[str | pl.Expr] = []
    for i, (name, kind, presence) in enumerate(fields):
        comma = "," if i else "{"
        if kind == "amount":
            index = pl.col("amt_q") if presence is None else pl.col("amt_q") + 2 * pl.col(presence)
            opening = pl.Series([f'{comma}"{name}":"', f'{comma}"{name}":', None, None], dtype=pl.String)
            closing = pl.Series(['"', "", None, None], dtype=pl.String)
            parts += [pl.lit(opening).gather(index), values[name], pl.lit(closing).gather(index)]
            continue
        opening_text = f'{comma}"{name}":"' if kind == "str" else f'{comma}"{name}":'
        closing_text = '"' if kind == "str" else ""
        if presence is None:
            parts += [opening_text, values[name], closing_text]
        else:
            index = pl.col(presence)
            parts += [
                pl.lit(pl.Series([opening_text, None], dtype=pl.String)).gather(index),
                values[name],
                pl.lit(pl.Series([closing_text, None], dtype=pl.String)).gather(index),
            ]
    parts.append("}")
    merged: list[pl.Expr] = []
    pending = ""
    for part in parts:
        if isinstance(part, str):
            pending += part
            continue
        if pending:
            merged.append(pl.lit(pending))
            pending = ""
        merged.append(part)
    if pending:
        merged.append(pl.lit(pending))
    return pl.concat_str(merged, ignore_nulls=True)


def _with_bad_lines(
    df: pl.DataFrame, values: dict[str, pl.Expr], variants: tuple[tuple[str | None, dict[str, str | None]], ...]
) -> pl.DataFrame:
    """Add ``bad_line``: the mutated text of the few bad rows (null elsewhere), built on the subset."""
    bad_rows = np.flatnonzero(df["bad"].to_numpy())
    column = pl.repeat(None, df.height, dtype=pl.String, eager=True).alias("bad_line")
    if bad_rows.size:
        subset = df[bad_rows].with_columns(**{f"v_{k}": v for k, v in values.items()})
        fragments = _fragments({k: pl.col(f"v_{k}") for k in values})
        mutated = subset.select(_json_lines(fragments, variants, pl.col("v_order_id")).alias("line"))["line"]
        column = column.scatter(bad_rows, mutated)
    return df.with_columns(column)


def _lines(fields: tuple[tuple[str, str, str | None], ...], values: dict[str, pl.Expr]) -> pl.Expr:
    """Give the text of every row: the mutated line where there is one, else the fast-path line."""
    return pl.coalesce([pl.col("bad_line"), _line_expr(fields, values)]).alias("line")


ORDER_LAYOUT: tuple[tuple[str, str, str | None], ...] = (
    ("order_id", "str", None),
    ("merchant_id", "str", None),
    ("provider", "str", None),
    ("amount", "amount", None),
    ("currency", "str", None),
    ("created_at", "str", None),
    ("customer_id", "str", "customer_p"),
    ("request_id", "str", "request_p"),
    ("source", "str", None),
    ("seq", "raw", None),
)
CALLBACK_LAYOUT: tuple[tuple[str, str, str | None], ...] = (
    ("order_id", "str", None),
    ("provider", "str", None),
    ("status", "str", None),
    ("amount", "amount", "amount_p"),
    ("currency", "str", "amount_p"),
    ("received_at", "str", None),
    ("event_time", "str", "event_p"),
    ("callback_id", "str", "callback_absent"),
    ("provider_txn_id", "str", "txn_absent"),
    ("source", "str", None),
    ("seq", "raw", None),
)


def _order_values(world: _World) -> dict[str, pl.Expr]:
    return {
        "order_id": pl.concat_str([pl.lit("ORD"), pl.col("order_num").cast(pl.String)]),
        "merchant_id": pl.lit(_MERCHANT_TABLE).gather(pl.col("merchant")),
        "provider": pl.lit(_PROVIDER_TABLE).gather(pl.col("prov_i")),
        "amount": _amount_value(),
        "currency": pl.lit(_CURRENCY_TABLE).gather(pl.col("cur_i")),
        "created_at": _ts_value(world, "created"),
        "customer_id": _prefixed(("cus_", None), "customer_p", pl.col("customer") + 10_000_000),
        "request_id": _prefixed(("req_", None), "request_p", pl.col("request_num")),
        "source": pl.lit(_table(list(ORDER_SOURCES))).gather(pl.col("source")),
        "seq": pl.col("seq").cast(pl.String),
    }


def _order_table(world: _World, lines: dict[str, np.ndarray]) -> pl.DataFrame:
    """Build the numeric columns :func:`_order_values` formats (indices into text tables)."""
    return pl.DataFrame(
        {
            "order_num": lines["order_num"],
            "merchant": lines["merchant"],
            "prov_i": lines["prov"] * 3 + lines["prov_style"],
            "cur_i": lines["cur"] * 2 + lines["cur_style"],
            **_amount_columns(lines["amount"], lines["cur"], lines["amount_style"]),
            **_ts_columns(world, "created", lines["created"], lines["ts_style"]),
            "customer": lines["customer"],
            "customer_p": (lines["customer"] < 0).astype(np.int64),
            "request_num": lines["request_num"],
            "request_p": (lines["request_num"] < 0).astype(np.int64),
            "source": lines["source"],
            "seq": lines["seq"],
            "bad": lines["bad"],
            "route": lines["route"],
        }
    )


def _callback_values(world: _World) -> dict[str, pl.Expr]:
    return {
        "order_id": _prefixed(("ORD", "ORD", "ext_"), "kind", pl.col("order_num")),
        "provider": pl.lit(_PROVIDER_TABLE).gather(pl.col("prov_i")),
        "status": pl.lit(_STATUS_TABLE).gather(pl.col("status_i")),
        "amount": _amount_value(),
        "currency": pl.lit(_CURRENCY_TABLE).gather(pl.col("cur_i")),
        "received_at": _ts_value(world, "received"),
        "event_time": _ts_value(world, "event"),
        "callback_id": _prefixed(_CALLBACK_ID_PREFIXES, "callback_p", pl.col("callback_num")),
        "provider_txn_id": _prefixed(_TXN_PREFIXES, "txn_p", pl.col("txn_num")),
        "source": pl.lit(_table(list(CALLBACK_SOURCES))).gather(pl.col("source")),
        "seq": pl.col("seq").cast(pl.String),
    }


def _callback_table(world: _World, cb: dict[str, np.ndarray]) -> pl.DataFrame:
    """Build the numeric columns :func:`_callback_values` formats (indices into text tables)."""
    absent = len(PROVIDERS)
    return pl.DataFrame(
        {
            "order_num": cb["order_num"],
            "kind": cb["kind"],
            "prov_i": cb["prov"] * 3 + cb["prov_style"],
            "status_i": cb["status"] * 3 + cb["status_style"],
            **_amount_columns(cb["amount"], cb["cur"], cb["amount_style"], cb["has_amount"]),
            "cur_i": np.where(cb["has_amount"], cb["cur"] * 2 + cb["cur_style"], _CURRENCY_NULL),
            **_ts_columns(world, "received", cb["received"], cb["ts_style"]),
            **_ts_columns(world, "event", cb["event"], cb["ts_style"], cb["has_event"]),
            "amount_p": (~cb["has_amount"]).astype(np.int64),
            "event_p": (~cb["has_event"]).astype(np.int64),
            "callback_num": cb["callback_num"],
            "callback_p": np.where(cb["callback_num"] >= 0, cb["prov"], absent),
            "callback_absent": (cb["callback_num"] < 0).astype(np.int64),
            "txn_num": cb["txn_num"],
            "txn_p": np.where(cb["txn_num"] >= 0, cb["prov"], absent),
            "txn_absent": (cb["txn_num"] < 0).astype(np.int64),
            "source": cb["source"],
            "seq": cb["seq"],
            "bad": cb["bad"],
            "route": cb["route"],
        }
    )


def _csv_values(df: pl.DataFrame, values: dict[str, pl.Expr]) -> pl.DataFrame:
    """Format the raw text values of a (small) subset of rows, for the CSV route."""
    return df.select(**values)


def _text(lines: pl.Series) -> bytes:
    """Lines joined with newlines (trailing newline included), byte for byte."""
    buffer = io.BytesIO()
    lines.to_frame("line").write_csv(buffer, include_header=False, quote_style="never", line_terminator="\n")
    return buffer.getvalue()


def _gzip(data: bytes) -> bytes:
    """Deterministic gzip (no file name, mtime 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=6, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def _csv_text(frame: pl.DataFrame, fields: tuple[str, ...], malformed_row: int, quoted_row: int | None) -> bytes:
    """CSV with a header; one row gets an extra cell (malformed_csv), one a quoted comma."""
    table = frame.select(*[pl.col(f).fill_null("") for f in fields])
    rows = (
        _text(table.select(pl.concat_str([pl.col(f) for f in fields], separator=",").alias("line"))["line"])
        .decode()
        .splitlines()
    )
    if quoted_row is not None and quoted_row != malformed_row and "customer_id" in fields and rows:
        cells = rows[quoted_row].split(",")
        i = fields.index("customer_id")
        cells[i] = f'"{cells[i] or "cus_guest"}, vip"'
        rows[quoted_row] = ",".join(cells)
    if rows:
        cells = rows[malformed_row].split(",")
        i = fields.index("amount")
        if cells[i] and "." in cells[i]:
            whole, frac = cells[i].split(".", 1)
            cells[i] = f"{whole},{frac}"  # "1,234.50"-style thousands separator leaking in: one cell too many
        else:
            cells.append("EXTRA")
        rows[malformed_row] = ",".join(cells)
    return ("\n".join([",".join(fields), *rows]) + "\n").encode()


@dataclass(frozen=True)
class OrderChunk:
    """The distinct orders of one chunk as :func:`generate_corpus` draws them (for the statement generator).

    ``order_id`` is the id the order lines carry; ``provider`` and ``currency`` index
    :data:`PROVIDERS` and :data:`CURRENCIES`; ``created_us`` is the canonical ``created_at`` in
    microseconds since the epoch; ``fate`` is what the provider does with the order (the
    ``F_*`` codes).
    """

    order_id: np.ndarray
    provider: np.ndarray
    currency: np.ndarray
    amount_minor: np.ndarray
    created_us: np.ndarray
    fate: np.ndarray
    latency_us: np.ndarray


def order_chunks(n_orders: int, seed: int) -> Iterator[OrderChunk]:
    """Redraw, chunk by chunk, the orders :func:`generate_corpus` writes for ``(n_orders, seed)``.

    Each chunk's orders are the first draw of that chunk's random stream, so they are the same
    orders, without formatting or writing any line.
    """
    world = _build_world(n_orders, seed)
    n_chunks = -(-n_orders // CHUNK_ORDERS)
    for chunk in range(n_chunks):
        lo, hi = chunk * CHUNK_ORDERS, min(n_orders, (chunk + 1) * CHUNK_ORDERS)
        rng = np.random.default_rng([seed, 0x5EED, 2, chunk])
        o = _make_orders(world, rng, lo, hi, first_chunk=chunk == 0, last_chunk=chunk == n_chunks - 1)
        yield OrderChunk(
            order_id=np.char.add("ORD", _scramble(o["idx"], _ORDER_ID_MULT, world.salt).astype(str)),
            provider=o["prov"],
            currency=o["cur"],
            amount_minor=o["amount"],
            created_us=o["created"],
            fate=o["fate"],
            latency_us=o["latency"],
        )


def generate_corpus(
    n_orders: int,
    seed: int,
    out_dir: Path,
    *,
    bad_line_rate: float = 0.001,
    compress: bool | None = None,
    formats_variety: bool = True,
) -> GeneratedCorpus:
    """Write a synthetic corpus of order and callback logs under ``out_dir``.

    ``n_orders`` distinct orders (plus retried and conflicting lines, orphans, and so on) are
    spread over :data:`ORDER_SPAN` before :data:`AS_OF`. ``bad_line_rate`` of the JSONL lines are
    replaced by invalid ones (every kind at least once per chunk unless the rate is 0).
    ``compress``: ``True`` gzips every JSONL file; ``False`` gzips nothing (the variety ``.gz``
    file is then written plain); ``None`` (default) gzips only the variety file.
    ``formats_variety=False`` writes plain JSONL only (the benchmark's shape).

    Earlier generator files in ``out_dir/orders`` and ``out_dir/callbacks`` are replaced; the
    output is byte-identical for the same arguments.
    """
    if n_orders < 1:
        raise ValueError(f"n_orders must be at least 1, got {n_orders}")
    if not 0 <= bad_line_rate <= 0.5:
        raise ValueError(f"bad_line_rate must be between 0 and 0.5, got {bad_line_rate}")
    out_dir = Path(out_dir)
    orders_dir, callbacks_dir = out_dir / "orders", out_dir / "callbacks"
    for folder in (orders_dir, callbacks_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for pattern in ("orders-*", "callbacks-*", "cb-gw3-*"):
            for stale in folder.glob(pattern):
                stale.unlink()

    world = _build_world(n_orders, seed)
    n_chunks = -(-n_orders // CHUNK_ORDERS)
    next_order_seq = np.ones(len(ORDER_SOURCES), np.int64)
    next_callback_seq = np.ones(len(CALLBACK_SOURCES), np.int64)
    files: list[Path] = []
    counts = {"orders": 0, "callbacks": 0}
    compress_main = compress is True
    compress_variety = compress is not False

    def write(path: Path, kind: str, data: bytes, gz: bool = False) -> None:
        """Write ready text (JSONL or CSV), counting its lines (CSV headers excluded)."""
        path.write_bytes(_gzip(data) if gz else data)
        counts[kind] += data.count(b"\n") - (1 if path.name.endswith(".csv") and data else 0)
        files.append(path)

    def sink(path: Path, kind: str, table: pl.DataFrame, line: pl.Expr, keep: np.ndarray) -> None:
        """Stream the kept rows' lines straight to ``path`` (the big path: no text in memory)."""
        table.lazy().filter(pl.lit(pl.Series(keep))).select(line).sink_csv(
            path,
            include_header=False,
            quote_style="never",
            line_terminator="\n",
            check_extension=False,
            compression="gzip" if compress_main else "uncompressed",
            engine="streaming",
        )
        counts[kind] += int(keep.sum())
        files.append(path)

    for chunk in range(n_chunks):
        lo, hi = chunk * CHUNK_ORDERS, min(n_orders, (chunk + 1) * CHUNK_ORDERS)
        rng = np.random.default_rng([seed, 0x5EED, 2, chunk])
        orders = _make_orders(world, rng, lo, hi, first_chunk=chunk == 0, last_chunk=chunk == n_chunks - 1)
        variety = formats_variety and chunk == 0
        gap_events = 2 + (hi - lo) // 500_000

        # ---- order lines
        lines = _order_lines(world, rng, orders)
        source = rng.choice(len(ORDER_SOURCES), lines["created"].size, p=ORDER_SOURCE_WEIGHTS)
        first_seq = next_order_seq.copy()
        seq = _assign_seq(source, next_order_seq)
        take = _reship_and_gap(rng, source, seq, first_seq, gap_events)
        lines = {k: v[take] for k, v in lines.items()}
        lines["source"], lines["seq"] = source[take], seq[take]
        lines["route"] = (lines["source"] == 2) & variety  # orders-c of chunk 0 -> CSV
        lines["bad"] = _choose_bad(rng, ~lines["route"], bad_line_rate, len(ORDER_BAD_VARIANTS))
        table = _order_table(world, lines)
        del lines
        values = _order_values(world)
        table = _with_bad_lines(table, values, ORDER_BAD_VARIANTS)
        route = table["route"].to_numpy()
        suffix = ".jsonl.gz" if compress_main else ".jsonl"
        sink(orders_dir / f"orders-{chunk:04d}{suffix}", "orders", table, _lines(ORDER_LAYOUT, values), ~route)
        if variety and route.any():
            routed = _csv_values(table.filter(pl.col("route")), values)
            csv = _csv_text(routed, ORDER_FIELDS, malformed_row=routed.height // 2, quoted_row=routed.height // 3)
            write(orders_dir / f"orders-c-{chunk:04d}.csv", "orders", csv)
            write(orders_dir / f"orders-c-{chunk:04d}.resent.csv", "orders", csv)
        del table

        # ---- callbacks
        cb = _callbacks(world, rng, orders, chunk)
        del orders
        size = cb["received"].size
        cb["order_num"] = np.where(
            cb["kind"] == 2,
            _scramble(cb["order_key"], _EXT_ID_MULT, world.salt),
            _scramble(cb["order_key"], _ORDER_ID_MULT, world.salt),
        )
        cb["callback_num"] = np.where(
            cb["callback_key"] >= 0, _scramble(np.maximum(cb["callback_key"], 0), _CALLBACK_ID_MULT, world.salt), -1
        )
        cb["txn_num"] = np.where(
            cb["txn_key"] >= 0, _scramble(np.maximum(cb["txn_key"], 0), _TXN_ID_MULT, world.salt), -1
        )
        for key in ("order_key", "callback_key", "txn_key"):
            del cb[key]
        cb["prov_style"] = np.where(rng.random(size) < 0.01, rng.integers(1, 3, size), 0)
        cb["status_style"] = np.where(rng.random(size) < 0.015, rng.integers(1, 3, size), 0)
        cb["cur_style"] = (rng.random(size) < 0.005).astype(np.int64)
        cb["amount_style"] = rng.choice(4, size, p=[0.82, 0.10, 0.05, 0.03])
        cb["ts_style"] = rng.choice(len(TS_STYLES), size, p=CALLBACK_TS_WEIGHTS)
        source = rng.choice(len(CALLBACK_SOURCES), size, p=CALLBACK_SOURCE_WEIGHTS)
        first_seq = next_callback_seq.copy()
        seq = _assign_seq(source, next_callback_seq)
        take = _reship_and_gap(rng, source, seq, first_seq, gap_events)
        cb = {k: v[take] for k, v in cb.items()}
        cb["source"], cb["seq"] = source[take], seq[take]
        # cb-gw3 of chunk 0: pgsoft bet records -> CSV (route 2), the rest -> .jsonl.gz (route 1)
        gw3 = (cb["source"] == 2) & variety
        cb["route"] = np.where(gw3, np.where(cb["prov"] == 5, 2, 1), 0)
        cb["bad"] = _choose_bad(rng, cb["route"] != 2, bad_line_rate, len(CALLBACK_BAD_VARIANTS))
        table = _callback_table(world, cb)
        del cb
        values = _callback_values(world)
        table = _with_bad_lines(table, values, CALLBACK_BAD_VARIANTS)
        route = table["route"].to_numpy()
        line = _lines(CALLBACK_LAYOUT, values)
        sink(callbacks_dir / f"callbacks-{chunk:04d}{suffix}", "callbacks", table, line, route == 0)
        if variety:
            gz_text = _text(table.filter(pl.col("route") == 1).select(line)["line"])
            gz_name = f"cb-gw3-{chunk:04d}.jsonl.gz" if compress_variety else f"cb-gw3-{chunk:04d}.jsonl"
            write(callbacks_dir / gz_name, "callbacks", gz_text, gz=compress_variety)
            write(callbacks_dir / f"cb-gw3-{chunk:04d}.resent.jsonl", "callbacks", gz_text)
            if (route == 2).any():
                routed = _csv_values(table.filter(pl.col("route") == 2), values)
                csv = _csv_text(routed, CALLBACK_FIELDS, malformed_row=routed.height // 2, quoted_row=None)
                write(callbacks_dir / f"cb-gw3-pgsoft-{chunk:04d}.csv", "callbacks", csv)
        del table

    return GeneratedCorpus(as_of=AS_OF, order_lines=counts["orders"], callback_lines=counts["callbacks"], files=files)
