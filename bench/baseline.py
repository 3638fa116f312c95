"""The benchmark baseline: the outcome rules (docs/rules.md) written the way a pandas team would.

This is an independent implementation of docs/rules.md ("Outcome of an order, as of a
time" and "Precise rules"), written without looking at the pipeline's own code, so that the
benchmark can check that both give the same outcome, flags and action for every order.

It is idiomatic pandas, not a strawman: raw lines are parsed once by the standard library's C
JSON decoder, bad lines are dropped, and every check and rule after that is a vectorised column
operation, merge, sort or groupby.

Money stays exact: JSON numbers are kept as their literal text (``parse_float=str``,
``parse_int=str``), and decimal strings become int64 minor units with string operations only
(split integer and fraction digits, drop trailing fraction zeros, pad to the currency's
exponent, concatenate the digits, compare against the int64 maximum as text, then cast). No
value ever goes through a float.

Only what decides outcomes is implemented: JSON Lines (optionally ``.gz``) order and callback
logs. ``source`` and ``seq`` only feed gap detection and never reject a line, so they are not
read at all. CSV and provider-native payloads are out of scope for the benchmark.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from orders_pipeline.lib.common.config import DEFAULT_PROFILES
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS

ORDER_FIELDS = ("order_id", "merchant_id", "provider", "amount", "currency", "created_at")
CALLBACK_FIELDS = (
    "order_id",
    "provider",
    "status",
    "amount",
    "currency",
    "received_at",
    "event_time",
    "callback_id",
)
STATUSES = ("success", "failed", "pending", "reversed")
TERMINAL = ("success", "failed", "reversed")

FLAGS = (
    "acknowledged",
    "callback_before_order",
    "conflicting_submission",
    "duplicate_callback",
    "duplicate_submission",
    "late_callback",
    "provider_mismatch",
)
ACTIONS = {
    "confirmed": "none",
    "failed": "none",
    "pending": "none",
    "overdue": "query_provider",
    "missing": "investigate",
    "amount_mismatch": "review_amount",
    "conflict": "review_status",
    "reversed": "refund_review",
}

_PLAIN_DECIMAL = r"\d+(?:\.\d+)?"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?$"
# Low-cardinality text columns are categoricals: the usual pandas advice, it keeps sorts cheap.
_LOW_CARDINALITY = ("merchant_id", "provider", "currency", "status")
_INT64_MAX = str(2**63 - 1)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    """JSON has no NaN or Infinity: a line using them is malformed."""
    raise ValueError(f"not JSON: {name}")


_DECODER = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=_reject_constant)


def log_files(root: str | Path) -> list[Path]:
    """The log files under ``root`` in sorted relative-path order (hidden files ignored)."""
    root = Path(root)
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    for path in files:
        if path.name.endswith((".csv", ".csv.gz")):
            raise NotImplementedError(f"the pandas baseline reads JSON Lines only, not {path}")
    return files


def _read_bytes(path: Path) -> bytes:
    """The decompressed content of a log file."""
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _parse_line(line: str) -> dict | None:
    """The line's JSON object, or None when it is not one (malformed JSON, array, scalar)."""
    try:
        value = _DECODER.decode(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _decode_lines(data: bytes) -> list[str | None]:
    r"""Split file content into text lines (``\n`` only); None for a line that is not UTF-8."""
    try:
        return data.decode("utf-8-sig").split("\n")
    except UnicodeDecodeError:
        lines: list[str | None] = []
        for raw in data.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(None)
        return lines


def read_jsonl(files: Iterable[Path], fields: Sequence[str], chunk_rows: int = 250_000) -> tuple[pd.DataFrame, int]:
    """Parse every non-blank line of ``files`` into a frame of ``fields`` plus ``read_order``.

    Returns the parsed lines and the number of lines dropped as malformed. A file whose
    decompressed content has the same SHA-256 as an earlier one is a re-delivery and is skipped
    whole. ``read_order`` counts the non-blank lines read, in reading order, so "first read" is
    its minimum. Parsed dicts become a frame every ``chunk_rows`` lines, to bound memory.

    ``pd.read_json(lines=True)`` was measured slower than this loop on the same lines, stops at
    the first bad line, and reads JSON numbers as floats; hence the standard library decoder.
    """
    columns = list(fields)
    chunks: list[pd.DataFrame] = []
    records: list[dict] = []
    positions: list[int] = []

    def flush() -> None:
        chunk = pd.DataFrame.from_records(records, columns=columns)
        chunk["read_order"] = np.asarray(positions, dtype=np.int64)
        chunks.append(chunk)
        records.clear()
        positions.clear()

    seen_files: set[str] = set()
    read_order = 0
    malformed = 0
    for path in files:
        data = _read_bytes(path)
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen_files:
            continue
        seen_files.add(digest)
        for line in _decode_lines(data):
            if line is not None and not line.strip():
                continue
            record = _parse_line(line) if line is not None else None
            if record is None:
                malformed += 1
            else:
                records.append(record)
                positions.append(read_order)
                if len(records) >= chunk_rows:
                    flush()
            read_order += 1
    if records or not chunks:
        flush()
    return pd.concat(chunks, ignore_index=True), malformed


# --------------------------------------------------------------------------------------------
# Validating (vectorised)
# --------------------------------------------------------------------------------------------


def _as_text(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A string view of a raw JSON column, and where the value was not text at all.

    Numbers are already their literal text; objects, arrays and booleans make the line bad.
    """
    if column.dtype == object:
        is_other = column.map(lambda v: v is not None and not isinstance(v, str) and v == v)
        text = column.where(~is_other).astype("str")
    else:
        is_other = pd.Series(False, index=column.index)
        text = column.astype("str")
    return text, is_other


def _present(text: pd.Series) -> pd.Series:
    """Not absent, not null, not empty or blank."""
    return text.notna() & (text.str.strip() != "")


def amount_to_minor(amount: pd.Series, exponent: pd.Series) -> pd.Series:
    """Exact decimal text to int64 minor units (nullable); NA where the amount is not allowed.

    Not allowed: not a plain non-negative decimal, more significant decimals than the
    currency's exponent, an unknown currency (NA exponent), or beyond int64.
    """
    text = amount.str.strip()
    shaped = text.str.fullmatch(_PLAIN_DECIMAL).fillna(False).astype(bool)
    # replace() rather than extract(): it runs in Arrow instead of a Python loop.
    whole = text.str.replace(r"\..*$", "", regex=True).str.lstrip("0")
    fraction = text.str.replace(r"^\d*\.?", "", regex=True).str.rstrip("0")
    allowed = shaped & exponent.notna() & (fraction.str.len() <= exponent.fillna(-1))
    result = pd.Series(pd.NA, index=amount.index, dtype="Int64")
    for exp in exponent[allowed].unique():
        rows = allowed & (exponent == exp)
        digits = (whole[rows] + fraction[rows].str.pad(int(exp), side="right", fillchar="0")).str.lstrip("0")
        digits = digits.where(digits != "", "0")
        fits = (digits.str.len() < 19) | ((digits.str.len() == 19) & (digits <= _INT64_MAX))
        result[digits[fits].index] = digits[fits].astype("int64")
    return result


def parse_timestamps(text: pd.Series) -> pd.Series:
    """RFC 3339-like timestamps to UTC; NaT where the text is not one (naive means UTC).

    Any number of fraction digits; the rules keep microseconds (later digits are dropped).
    """
    stripped = text.str.strip()
    shaped = stripped.str.match(_TIMESTAMP).fillna(False).astype(bool)
    return pd.to_datetime(stripped.where(shaped), format="ISO8601", utc=True, errors="coerce").dt.floor("us")


def _categorize(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its low-cardinality text columns as categoricals."""
    return frame.astype({name: "category" for name in _LOW_CARDINALITY if name in frame})


def _currency_exponent(currency: pd.Series) -> pd.Series:
    """The ISO 4217 exponent of each (upper-cased) code; NA when unknown."""
    return currency.map(CURRENCY_EXPONENTS).astype("Int64")


def validate_orders(raw: pd.DataFrame) -> pd.DataFrame:
    """The landed order lines, typed; every line failing a reading rule is dropped."""
    good = pd.Series(True, index=raw.index)
    text = {}
    for name in ORDER_FIELDS:
        text[name], is_other = _as_text(raw[name])
        good &= ~is_other & _present(text[name])
    provider = text["provider"].str.strip().str.lower()
    currency = text["currency"].str.strip().str.upper()
    amount_minor = amount_to_minor(text["amount"], _currency_exponent(currency))
    created_at = parse_timestamps(text["created_at"])
    good &= amount_minor.notna() & created_at.notna()
    frame = pd.DataFrame(
        {
            "order_id": text["order_id"],
            "merchant_id": text["merchant_id"],
            "provider": provider,
            "amount_minor": amount_minor,
            "currency": currency,
            "created_at": created_at,
            "read_order": raw["read_order"],
        }
    )
    return _categorize(frame[good.to_numpy()].reset_index(drop=True))


def validate_callbacks(raw: pd.DataFrame) -> pd.DataFrame:
    """The landed callback lines, typed; ``event_time`` defaults to ``received_at``."""
    good = pd.Series(True, index=raw.index)
    text, present = {}, {}
    for name in CALLBACK_FIELDS:
        text[name], is_other = _as_text(raw[name])
        good &= ~is_other
        present[name] = _present(text[name])
    for name in ("order_id", "provider", "status", "received_at"):
        good &= present[name]
    provider = text["provider"].str.strip().str.lower()
    status = text["status"].str.strip().str.lower()
    good &= status.isin(STATUSES)

    # Amount and currency: required for success and reversed, validated whenever present.
    needs_money = status.isin(("success", "reversed"))
    good &= ~needs_money | (present["amount"] & present["currency"])
    currency = text["currency"].str.strip().str.upper().where(present["currency"])
    exponent = _currency_exponent(currency)
    good &= ~present["currency"] | exponent.notna()
    # An amount without a currency can only be judged by shape (the largest exponent is 4).
    amount_minor = amount_to_minor(text["amount"], exponent.fillna(4).where(present["amount"]))
    good &= ~present["amount"] | amount_minor.notna()
    amount_minor = amount_minor.where(present["currency"])

    received_at = parse_timestamps(text["received_at"])
    event_time = parse_timestamps(text["event_time"])
    good &= received_at.notna() & (~present["event_time"] | event_time.notna())
    frame = pd.DataFrame(
        {
            "order_id": text["order_id"],
            "provider": provider,
            "status": status,
            "amount_minor": amount_minor,
            "currency": currency,
            "received_at": received_at,
            "event_time": event_time.where(present["event_time"], received_at),
            "callback_id": text["callback_id"].where(present["callback_id"]),
            "read_order": raw["read_order"],
        }
    )
    return _categorize(frame[good.to_numpy()].reset_index(drop=True))


def load_orders(orders_dir: str | Path) -> pd.DataFrame:
    """Read and validate every order log under ``orders_dir``."""
    raw, _ = read_jsonl(log_files(orders_dir), ORDER_FIELDS)
    return validate_orders(raw)


def load_callbacks(callbacks_dir: str | Path) -> pd.DataFrame:
    """Read and validate every callback log under ``callbacks_dir``."""
    raw, _ = read_jsonl(log_files(callbacks_dir), CALLBACK_FIELDS)
    return validate_callbacks(raw)


# --------------------------------------------------------------------------------------------
# Classifying (vectorised)
# --------------------------------------------------------------------------------------------
#
# Orders are numbered 0..n-1 once (``key``), so that every later groupby, join and alignment is on
# integers rather than re-hashing the order_id strings: the usual pandas advice for big keys.


def _as_utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    """``as_of`` as a UTC timestamp (naive means UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def number_orders(
    orders: pd.DataFrame, callbacks: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """The order and callback lines that exist as of ``as_of``, keyed by order number.

    Order ids are factorised once over both kinds: order lines come first, so their orders
    get numbers 0..n-1 and ``order_ids[key]`` is the id. Callbacks of no order (orphans) are
    dropped: they have no outcome.
    """
    lines = orders[orders["created_at"] <= as_of]
    seen = callbacks[callbacks["received_at"] <= as_of]
    codes, order_ids = pd.factorize(pd.concat([lines["order_id"], seen["order_id"]], ignore_index=True))
    line_keys, callback_keys = codes[: len(lines)], codes[len(lines) :]
    n_orders = int(line_keys.max()) + 1 if len(lines) else 0
    lines = lines.drop(columns="order_id").assign(key=line_keys)
    seen = seen.drop(columns="order_id").assign(key=callback_keys)[callback_keys < n_orders]
    return lines, seen, order_ids[:n_orders]


def canonical_orders(lines: pd.DataFrame, order_ids: pd.Index, profiles: dict) -> pd.DataFrame:
    """One row per order (index ``key`` = 0..n-1): canonical submission, submission flags, profile."""
    lines = lines.sort_values(["created_at", "read_order"], kind="stable")
    canon = lines.drop_duplicates("key", keep="first").set_index("key").sort_index().drop(columns="read_order")
    canon["order_id"] = order_ids.array
    count = lines.groupby("key").size()
    variants = lines.drop_duplicates(["key", "merchant_id", "provider", "amount_minor", "currency"])
    variants = variants.groupby("key").size()
    canon["submission_count"] = count
    many = canon["submission_count"] > 1
    canon["duplicate_submission"] = many & (variants == 1)
    canon["conflicting_submission"] = many & (variants > 1)
    # Each provider's profile (``default`` for one the table does not name), looked up once per
    # category and spread by the categorical codes.
    providers = canon["provider"].cat
    for setting in ("sla", "retry_horizon"):
        durations = pd.to_timedelta(
            [getattr(profiles.get(name, profiles["default"]), setting) for name in providers.categories]
        )
        canon[setting] = durations[providers.codes.to_numpy()]
    return canon


def merged_callbacks(seen: pd.DataFrame, canon: pd.DataFrame) -> pd.DataFrame:
    """The callbacks of each order, re-deliveries merged on ``callback_id`` (earliest received kept).

    Adds the order's ``order_provider`` and ``order_created_at``, and ``deliveries`` (how many
    lines were merged into the row).
    """
    callback_number, _ = pd.factorize(seen["callback_id"])  # -1 where there is none
    seen = seen.drop(columns="callback_id").assign(callback=callback_number)
    seen = seen.join(canon[["provider", "created_at"]].add_prefix("order_"), on="key")
    seen = seen.sort_values(["received_at", "read_order"], kind="stable")
    with_id = seen[seen["callback"] >= 0]
    deliveries = with_id.groupby(["key", "callback"])["read_order"].transform("size")
    kept = with_id.assign(deliveries=deliveries).drop_duplicates(["key", "callback"], keep="first")
    single = seen[seen["callback"] < 0].assign(deliveries=1)
    return pd.concat([kept, single], ignore_index=True)


def _any_per_order(mask: pd.Series, key: pd.Series, n_orders: int) -> np.ndarray:
    """Whether ``mask`` holds for at least one row of each order (False for an order with no rows)."""
    hit = np.zeros(n_orders, dtype=bool)
    hit[key.to_numpy()[mask.to_numpy(dtype=bool)]] = True
    return hit


def _per_order(values: pd.Series, n_orders: int) -> pd.Series:
    """A per-order aggregate (indexed by ``key``) aligned on all orders, NaN where absent."""
    return values.reindex(pd.RangeIndex(n_orders))


def _differs(left: pd.Series, right: pd.Series) -> pd.Series:
    """Elementwise ``!=`` of two categoricals whose categories may differ (missing: differs)."""
    categories = left.cat.categories.union(right.cat.categories)
    left, right = left.cat.set_categories(categories), right.cat.set_categories(categories)
    return (left.cat.codes != right.cat.codes) | left.isna() | right.isna()


def _flag_text(flags: dict[str, np.ndarray], n_orders: int) -> np.ndarray:
    """Per order, the names of its flags in sorted order joined with ``","``.

    Flags are packed into a bit mask, and each distinct mask (at most 128) is spelled once.
    """
    mask = np.zeros(n_orders, dtype=np.int64)
    for bit, name in enumerate(FLAGS):
        mask |= flags[name].astype(np.int64) << bit
    spelled = {m: ",".join(name for bit, name in enumerate(FLAGS) if m >> bit & 1) for m in np.unique(mask).tolist()}
    return pd.Series(mask).map(spelled).to_numpy()


def reconcile_frames(
    orders: pd.DataFrame,
    callbacks: pd.DataFrame,
    as_of: datetime | str | pd.Timestamp,
    *,
    profiles: dict | None = None,
    amount_tolerance_minor: int = 0,
    clock_skew_allowance: timedelta = timedelta(minutes=5),
) -> pd.DataFrame:
    """Outcome, flags and action of every order, from landed order and callback lines."""
    as_of = _as_utc(as_of)
    profiles = profiles or DEFAULT_PROFILES
    lines, seen, order_ids = number_orders(orders, callbacks, as_of)
    canon = canonical_orders(lines, order_ids, profiles)
    n = len(canon)
    cbs = merged_callbacks(seen, canon)

    # Terminal callbacks in (event_time, received_at, read order); position within the order.
    terminal = cbs[cbs["status"].isin(TERMINAL)].sort_values(["event_time", "received_at", "read_order"], kind="stable")
    terminal = terminal.assign(position=terminal.groupby("key").cumcount())
    status = terminal["status"].astype(str)
    positions = terminal["position"].groupby([terminal["key"], status])
    first_pos = positions.min().unstack().reindex(columns=list(TERMINAL))
    last_pos = positions.max().unstack().reindex(columns=list(TERMINAL))
    first_success = _per_order(first_pos["success"], n)
    conflict = (first_success < _per_order(last_pos["failed"], n)).to_numpy()
    reversed_ = (first_success < _per_order(last_pos["reversed"], n)).to_numpy()
    last = _per_order(terminal.drop_duplicates("key", keep="last").set_index("key"), n)
    has_terminal = last["status"].notna().to_numpy()
    last_success = (last["status"] == "success").to_numpy(dtype=bool)
    other_currency = _differs(last["currency"], canon["currency"])
    too_far = ((last["amount_minor"] - canon["amount_minor"]).abs() > amount_tolerance_minor).fillna(True)
    mismatch = last_success & (other_currency | too_far).to_numpy(dtype=bool)

    age = as_of - canon["created_at"]
    rules = [
        ("conflict", conflict),
        ("reversed", reversed_),
        ("amount_mismatch", mismatch),
        ("confirmed", last_success),
        ("failed", has_terminal),
        ("missing", (age > canon["retry_horizon"]).to_numpy()),
        ("overdue", (age > canon["sla"]).to_numpy()),
    ]
    conditions = [matches for _, matches in rules]
    outcome = np.select(conditions, [name for name, _ in rules], "pending")
    action = np.select(conditions, [ACTIONS[name] for name, _ in rules], ACTIONS["pending"])
    action = np.where(canon["conflicting_submission"].to_numpy(), "review_submission", action)

    # Flags.
    same_status = terminal.groupby(["key", status])["position"].transform("size")
    first_terminal_received = _per_order(terminal.groupby("key")["received_at"].min(), n)
    before_order = cbs["event_time"] < cbs["order_created_at"] - clock_skew_allowance
    flags = {
        "acknowledged": _any_per_order(cbs["status"] == "pending", cbs["key"], n) & ~has_terminal,
        "callback_before_order": _any_per_order(before_order, cbs["key"], n),
        "conflicting_submission": canon["conflicting_submission"].to_numpy(),
        "duplicate_callback": _any_per_order((terminal["deliveries"] > 1) | (same_status > 1), terminal["key"], n),
        "duplicate_submission": canon["duplicate_submission"].to_numpy(),
        "late_callback": (first_terminal_received > canon["created_at"] + canon["sla"]).to_numpy(),
        "provider_mismatch": _any_per_order(_differs(cbs["provider"], cbs["order_provider"]), cbs["key"], n),
    }
    return pd.DataFrame(
        {"order_id": canon["order_id"].array, "outcome": outcome, "flags": _flag_text(flags, n), "action": action}
    )


def reconcile_with_pandas(
    orders_dir: str | Path, callbacks_dir: str | Path, as_of: datetime | str | pd.Timestamp
) -> pd.DataFrame:
    """Read both log directories and return ``order_id, outcome, flags, action`` per order.

    ``flags`` is the sorted flag names joined with ``","`` (empty string for none).
    """
    return reconcile_frames(load_orders(orders_dir), load_callbacks(callbacks_dir), as_of)
