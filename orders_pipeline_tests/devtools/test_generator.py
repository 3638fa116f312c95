"""The synthetic corpus generator: determinism, layout, exact amounts, and every planted scenario.

The generated files are read back with ``json``/``csv``/``gzip`` only (never through the pipeline),
with a tiny validator of the rules' line rules, to check that each scenario is *present*.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orders_pipeline.devtools.generator import AS_OF, GeneratedCorpus, generate_corpus
from orders_pipeline.lib.common.config import DEFAULT_PROFILES
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, to_minor_units

N_ORDERS = 2000
SEED = 3
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
SAMPLE_ORDERS, SAMPLE_SEED = 3500, 7

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_ORDER_REQUIRED = ("order_id", "merchant_id", "provider", "amount", "currency", "created_at")
_CALLBACK_REQUIRED = ("order_id", "provider", "status", "received_at")


# ---------------------------------------------------------------------------------------------
# Reading the corpus back (independently of the pipeline)
# ---------------------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_lines(path: Path) -> list[tuple[str, dict | None, str | None]]:
    """(raw text, record or None, structural rejection reason or None) per line of one file."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    out: list[tuple[str, dict | None, str | None]] = []
    if ".csv" in path.name:
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0]
        for cells in rows[1:]:
            raw = ",".join(cells)
            if len(cells) > len(header):
                out.append((raw, None, "malformed_csv"))
            else:
                out.append((raw, {k: v for k, v in zip(header, cells, strict=False) if v != ""}, None))
        return out
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=str, parse_int=str)  # keep JSON numbers' exact text
        except json.JSONDecodeError:
            out.append((line, None, "malformed_json"))
            continue
        out.append((line, record, None) if isinstance(record, dict) else (line, None, "malformed_json"))
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _timestamp(value: object) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise ValueError("bad_timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise ValueError("bad_timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _currency(value: object) -> str:
    code = str(value).strip().upper()
    if code not in CURRENCY_EXPONENTS:
        raise ValueError("bad_currency")
    return code


def _amount(value: object, currency: str) -> int:
    try:
        return to_minor_units(value, currency)  # exact; the JSON number's literal text is a str here
    except (ValueError, TypeError):
        raise ValueError("bad_amount") from None


def _seq(record: dict) -> int | None:
    """The seq, or None when absent or not a non-negative integer (it never rejects a line)."""
    text = str(record.get("seq", "")).strip()
    return int(text) if re.fullmatch(r"\d+", text) else None


def _order(record: dict) -> dict:
    for name in _ORDER_REQUIRED:
        if _missing(record.get(name)):
            raise ValueError(f"missing_field:{name}")
    currency = _currency(record["currency"])
    out = {
        "order_id": record["order_id"],
        "merchant_id": record["merchant_id"],
        "provider": record["provider"].strip().lower(),
        "currency": currency,
        "amount_minor": _amount(record["amount"], currency),
        "created_at": _timestamp(record["created_at"]),
        "source": record.get("source"),
    }
    out["seq"] = _seq(record)
    return out


def _callback(record: dict) -> dict:
    for name in _CALLBACK_REQUIRED:
        if _missing(record.get(name)):
            raise ValueError(f"missing_field:{name}")
    status = record["status"].strip().lower()
    if status not in ("success", "failed", "pending", "reversed"):
        raise ValueError("bad_status")
    if status in ("success", "reversed"):
        for name in ("amount", "currency"):
            if _missing(record.get(name)):
                raise ValueError(f"missing_field:{name}")
    currency = None if _missing(record.get("currency")) else _currency(record["currency"])
    amount = None
    if not _missing(record.get("amount")):
        if currency is None:
            raise ValueError("missing_field:currency")
        amount = _amount(record["amount"], currency)
    received = _timestamp(record["received_at"])
    event = received if _missing(record.get("event_time")) else _timestamp(record["event_time"])
    return {
        "order_id": record["order_id"],
        "provider": record["provider"].strip().lower(),
        "status": status,
        "amount_minor": amount,
        "currency": currency,
        "received_at": received,
        "event_time": event,
        "callback_id": record.get("callback_id"),
        "source": record.get("source"),
        "seq": _seq(record),
    }


class Corpus:
    """Every line of one generated corpus, validated; duplicate files (same content) skipped."""

    def __init__(self, root: Path) -> None:
        """Read and validate every file under ``root/orders`` and ``root/callbacks``."""
        self.root = root
        self.raw: dict[str, list[tuple[str, dict | None, str | None]]] = {}
        self.reasons: dict[str, Counter] = {}
        self.good: dict[str, list[dict]] = {}
        for kind, parse in (("orders", _order), ("callbacks", _callback)):
            seen: set[bytes] = set()
            lines, reasons, good = [], Counter(), []
            for path in sorted((root / kind).rglob("*")):
                content = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
                if content in seen:
                    continue
                seen.add(content)
                for raw, record, reason in _read_lines(path):
                    lines.append((raw, record, reason))
                    if reason is None:
                        try:
                            good.append(parse(record))
                        except ValueError as exc:
                            reason = str(exc)
                    if reason is not None:
                        reasons[reason] += 1
            self.raw[kind], self.reasons[kind], self.good[kind] = lines, reasons, good

    @property
    def orders(self) -> list[dict]:
        """The order lines that pass the line rules."""
        return self.good["orders"]

    @property
    def callbacks(self) -> list[dict]:
        """The callback lines that pass the line rules."""
        return self.good["callbacks"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedCorpus, Path]:
    """One corpus for the module (small, so the tests stay fast)."""
    root = tmp_path_factory.mktemp("corpus")
    return generate_corpus(N_ORDERS, SEED, root), root


@pytest.fixture(scope="module")
def corpus(generated: tuple[GeneratedCorpus, Path]) -> Corpus:
    """Read the module's corpus back."""
    return Corpus(generated[1])


# ---------------------------------------------------------------------------------------------
# Determinism, layout, options
# ---------------------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_files(generated, tmp_path):
    """Same (n_orders, seed, options): the same bytes; another seed: other bytes, same as-of."""
    result, root = generated
    again = generate_corpus(N_ORDERS, SEED, tmp_path / "again")
    assert _snapshot(tmp_path / "again") == _snapshot(root)
    assert (again.order_lines, again.callback_lines) == (result.order_lines, result.callback_lines)
    other = generate_corpus(N_ORDERS, SEED + 1, tmp_path / "other")
    assert _snapshot(tmp_path / "other") != _snapshot(root)
    assert other.as_of == result.as_of  # the as-of is fixed, whatever the seed


def test_layout_and_reported_counts(generated):
    """The expected files exist, ``files`` lists all of them, and the line counts are right."""
    result, root = generated
    assert result.as_of == AS_OF
    assert result.as_of.tzinfo is not None
    assert result.as_of.utcoffset() == timedelta(0)
    names = {str(p.relative_to(root)) for p in result.files}
    assert names == {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {
        "orders/orders-0000.jsonl",
        "orders/orders-c-0000.csv",
        "orders/orders-c-0000.resent.csv",
        "callbacks/callbacks-0000.jsonl",
        "callbacks/cb-gw3-0000.jsonl.gz",
        "callbacks/cb-gw3-0000.resent.jsonl",
        "callbacks/cb-gw3-pgsoft-0000.csv",
    } <= names
    counted = {"orders": 0, "callbacks": 0}
    for path in result.files:
        counted[path.parent.name] += len(_read_lines(path))
    assert counted == {"orders": result.order_lines, "callbacks": result.callback_lines}
    assert result.order_lines > 0.97 * N_ORDERS  # + retried and conflicting lines - sequence gaps
    assert 1.0 * N_ORDERS < result.callback_lines < 1.5 * N_ORDERS


def test_redelivered_files_have_the_same_content(generated):
    """The re-delivered files repeat an earlier file's (decompressed) content under another name."""
    _, root = generated
    orders = root / "orders"
    assert (orders / "orders-c-0000.csv").read_bytes() == (orders / "orders-c-0000.resent.csv").read_bytes()
    callbacks = root / "callbacks"
    gz = gzip.decompress((callbacks / "cb-gw3-0000.jsonl.gz").read_bytes())
    assert gz == (callbacks / "cb-gw3-0000.resent.jsonl").read_bytes()
    assert (callbacks / "cb-gw3-0000.jsonl.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_csv_files_have_a_header_and_one_malformed_row(generated):
    """Both CSV files start with a header and carry exactly one row with too many cells."""
    _, root = generated
    for path, first in (
        (root / "orders" / "orders-c-0000.csv", "order_id,merchant_id,provider,amount,currency,created_at"),
        (root / "callbacks" / "cb-gw3-pgsoft-0000.csv", "order_id,provider,status,amount,currency,received_at"),
    ):
        assert path.read_text().splitlines()[0].startswith(first)
        reasons = Counter(reason for _, _, reason in _read_lines(path))
        assert reasons["malformed_csv"] == 1
        assert reasons[None] > 3


def test_plain_jsonl_only_without_variety(tmp_path):
    """``formats_variety=False`` writes plain JSONL only; rate 0 writes no bad line."""
    result = generate_corpus(300, 1, tmp_path, formats_variety=False, bad_line_rate=0.0)
    assert sorted(str(p.relative_to(tmp_path)) for p in result.files) == [
        "callbacks/callbacks-0000.jsonl",
        "orders/orders-0000.jsonl",
    ]
    corpus = Corpus(tmp_path)
    assert sum(corpus.reasons["orders"].values()) == sum(corpus.reasons["callbacks"].values()) == 0
    assert len(corpus.orders) == result.order_lines
    assert len(corpus.callbacks) == result.callback_lines


def test_compress_option(tmp_path):
    """``compress=True`` gzips every JSONL file, ``False`` none; the content is the same."""
    result = generate_corpus(300, 1, tmp_path / "gz", compress=True)
    jsonl = [p for p in result.files if ".jsonl" in p.name and "resent" not in p.name]
    assert jsonl
    assert all(p.name.endswith(".jsonl.gz") for p in jsonl)
    assert all(p.read_bytes()[:2] == b"\x1f\x8b" for p in jsonl)
    plain = generate_corpus(300, 1, tmp_path / "plain", compress=False)
    assert not [p for p in plain.files if p.name.endswith(".gz")]
    assert Corpus(tmp_path / "gz").reasons == Corpus(tmp_path / "plain").reasons


def test_rewriting_a_directory_replaces_the_previous_corpus(tmp_path):
    """A second run into the same directory leaves no file of the first behind."""
    generate_corpus(300, 1, tmp_path)
    result = generate_corpus(200, 2, tmp_path, formats_variety=False)
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == set(result.files)


def test_bad_arguments_are_refused(tmp_path):
    """Nonsense sizes and rates are refused with a message naming the argument."""
    with pytest.raises(ValueError, match="n_orders"):
        generate_corpus(0, 1, tmp_path)
    with pytest.raises(ValueError, match="bad_line_rate"):
        generate_corpus(10, 1, tmp_path, bad_line_rate=2.0)


def test_tiny_corpora_still_work(tmp_path):
    """Very small corpora do not crash."""
    for n in (1, 7, 40):
        result = generate_corpus(n, 5, tmp_path / str(n))
        assert result.order_lines > 0
        assert result.callback_lines > 0
        assert Corpus(tmp_path / str(n)).orders or n < 10  # (1 order: its few lines are all planted bad ones)


# ---------------------------------------------------------------------------------------------
# Lines, amounts, rejections
# ---------------------------------------------------------------------------------------------


def test_every_rejection_kind_is_planted_and_rare(corpus):
    """Each rejection reason of the rules occurs, on a small share of the lines."""
    expected_orders = {
        "malformed_json",
        "malformed_csv",
        "bad_amount",
        "bad_currency",
        "bad_timestamp",
        *(f"missing_field:{f}" for f in _ORDER_REQUIRED),
    }
    expected_callbacks = {
        "malformed_json",
        "malformed_csv",
        "bad_amount",
        "bad_currency",
        "bad_timestamp",
        "bad_status",
        *(f"missing_field:{f}" for f in (*_CALLBACK_REQUIRED, "amount", "currency")),
    }
    assert set(corpus.reasons["orders"]) == expected_orders
    assert set(corpus.reasons["callbacks"]) == expected_callbacks
    for kind in ("orders", "callbacks"):
        assert sum(corpus.reasons[kind].values()) < 0.02 * len(corpus.raw[kind])
    raw_amounts = {str(r.get("amount")) for _, r, _ in corpus.raw["orders"] if r}
    assert {"-12.50", "abc", "1.234", "1.5", "1e3", "-5"} <= raw_amounts
    raw_times = {r.get("created_at") for _, r, _ in corpus.raw["orders"] if r}
    assert {"2026-13-01T00:00:00Z", "yesterday"} <= raw_times
    assert {"ok", "completed"} <= {r.get("status") for _, r, _ in corpus.raw["callbacks"] if r}
    # A log shipper's "seq": "n/a" is planted on both kinds, and such lines land.
    for kind in ("orders", "callbacks"):
        assert any(r and r.get("seq") == "n/a" and reason is None for _, r, reason in corpus.raw[kind])
        assert any(raw.endswith(",}") and reason == "malformed_json" for raw, _, reason in corpus.raw[kind])


def test_good_amounts_are_exact_decimals_within_the_currency_exponent(corpus):
    """Valid amounts are plain decimals within the exponent (0, 2 and 3 all occur), strings or numbers."""
    seen_exponents, as_numbers, as_strings = set(), 0, 0
    for kind in ("orders", "callbacks"):
        for raw, record, reason in corpus.raw[kind]:
            if reason or record is None or _missing(record.get("amount")) or _missing(record.get("currency")):
                continue
            try:
                currency = _currency(record["currency"])
                minor = to_minor_units(record["amount"], currency)
            except ValueError:
                continue  # one of the planted bad lines (counted in the test above)
            exponent = CURRENCY_EXPONENTS[currency]
            seen_exponents.add(exponent)
            text = record["amount"]
            assert re.fullmatch(r"\d+(\.\d+)?", text), raw
            fraction = text.partition(".")[2].rstrip("0")
            assert len(fraction) <= exponent, raw
            assert minor >= 0
            if f'"amount":{text}' in raw:
                as_numbers += 1
            else:
                as_strings += 1
    assert seen_exponents == {0, 2, 3}
    assert as_numbers > 50
    assert as_strings > 5 * as_numbers
    currencies = Counter(o["currency"] for o in corpus.orders)
    assert {"JPY", "KRW", "USD", "EUR", "CNY", "GBP", "KWD", "BHD"} <= set(currencies)
    assert currencies.most_common(1)[0][0] in ("USD", "CNY")


def test_amount_spellings_vary(corpus):
    """Canonical, trimmed and zero-padded spellings and zero amounts occur."""
    texts = [r["amount"] for _, r, reason in corpus.raw["orders"] if r and not reason and "amount" in r]
    assert any(re.fullmatch(r"\d+\.\d{2}", t) for t in texts)  # "12.50"
    assert any(re.fullmatch(r"\d+\.\d{3}", t) and t.endswith("0") for t in texts)  # "12.500" (2-digit currency)
    assert any(re.fullmatch(r"\d+\.\d", t) for t in texts)  # "12.5"
    assert any(o["amount_minor"] == 0 for o in corpus.orders)  # zero amounts are allowed


def test_timestamps_vary_in_offset_and_precision(corpus):
    """Z, +08:00, -05:00 and naive timestamps, with and without fractions, occur."""
    created = [r["created_at"] for _, r, _ in corpus.raw["orders"] if r and isinstance(r.get("created_at"), str)]
    assert any(t.endswith("Z") for t in created)
    assert any(t.endswith("+08:00") for t in created)
    assert any(re.search(r"-05:00$", t) for t in created)
    assert any(re.fullmatch(r"[\d-]+ [\d:.]+", t) for t in created)  # naive, space separator
    assert any(re.fullmatch(r"[\d-]+T[\d:]+", t) for t in created)  # naive, no fraction
    assert any(re.search(r"\.\d{6}", t) for t in created)
    assert any(re.search(r"\.\d{3}(Z|\+)", t) for t in created)


def test_created_at_spans_about_three_days_before_as_of(corpus):
    """Orders span a little over 72 h before as_of, a few come after it, and the rate has bursts."""
    times = sorted(o["created_at"] for o in corpus.orders)
    assert AS_OF - timedelta(hours=75) <= times[0] < AS_OF - timedelta(hours=72)
    assert AS_OF < times[-1] <= AS_OF + timedelta(minutes=11)
    per_ten_minutes = Counter(t.replace(minute=t.minute // 10, second=0, microsecond=0) for t in times if t <= AS_OF)
    assert max(per_ten_minutes.values()) > 3 * (len(times) / 444)  # bursts and daily peaks


# ---------------------------------------------------------------------------------------------
# Planted scenarios (presence and rough proportions, not outcomes)
# ---------------------------------------------------------------------------------------------


def _by_order(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["order_id"]].append(row)
    return grouped


def test_callback_mix(corpus):
    """Mostly success, some failed, pending and reversed; case and spacing vary; conflicts and mismatches."""
    orders, callbacks = _by_order(corpus.orders), _by_order(corpus.callbacks)
    statuses = Counter(c["status"] for c in corpus.callbacks)
    assert statuses["success"] > 0.75 * len(orders)
    assert 0.03 * len(orders) < statuses["failed"] < 0.12 * len(orders)
    assert statuses["pending"] > 0
    assert statuses["reversed"] > 0
    raw = [r for _, r, _ in corpus.raw["callbacks"] if r]
    assert any(r.get("status") in ("SUCCESS", "Success", " Success ") for r in raw)
    assert any(isinstance(r.get("provider"), str) and r["provider"] != r["provider"].strip() for r in raw)
    assert any(isinstance(r.get("currency"), str) and r["currency"].islower() for r in raw)
    assert sum(1 for c in corpus.callbacks if c["callback_id"] is None) > 0.02 * len(corpus.callbacks)
    assert sum(1 for c in corpus.callbacks if c["event_time"] == c["received_at"]) > 0  # no event_time
    # per order: conflict (success then failed), reversal, amount and currency mismatches
    conflicts = reversals = amount_off = currency_off = 0
    for order_id, cbs in callbacks.items():
        if order_id not in orders:
            continue
        order = min(orders[order_id], key=lambda o: o["created_at"])
        terminal = sorted((c for c in cbs if c["status"] != "pending"), key=lambda c: c["event_time"])
        kinds = [c["status"] for c in terminal]
        conflicts += "success" in kinds and "failed" in kinds[kinds.index("success") :]
        reversals += "success" in kinds and "reversed" in kinds[kinds.index("success") :]
        for c in terminal:
            if c["status"] == "success":
                currency_off += c["currency"] != order["currency"]
                amount_off += c["currency"] == order["currency"] and c["amount_minor"] != order["amount_minor"]
    assert conflicts >= 1
    assert reversals >= 1
    assert amount_off >= 1
    assert currency_off >= 1


def test_duplicate_callbacks_and_submissions(corpus):
    """Re-delivered callback ids, second distinct successes, duplicate and conflicting order lines."""
    ids = Counter(c["callback_id"] for c in corpus.callbacks if c["callback_id"])
    assert sum(1 for n in ids.values() if n > 1) > 0.01 * len(corpus.orders)  # re-delivered
    two_successes = [
        cbs
        for cbs in _by_order(corpus.callbacks).values()
        if len({c["callback_id"] for c in cbs if c["status"] == "success" and c["callback_id"]}) > 1
    ]
    assert two_successes  # a second, distinct success
    same, different = 0, 0
    for lines in _by_order(corpus.orders).values():
        if len(lines) > 1:
            keys = {(o["merchant_id"], o["provider"], o["amount_minor"], o["currency"]) for o in lines}
            same += len(keys) == 1
            different += len(keys) > 1
    assert same >= 3
    assert different >= 1


def test_time_scenarios(corpus):
    """Late, early-dated, cross-provider, young unanswered, acknowledged and long-lost orders occur."""
    orders = {oid: min(lines, key=lambda o: o["created_at"]) for oid, lines in _by_order(corpus.orders).items()}
    callbacks = _by_order(corpus.callbacks)
    assert sum(1 for c in corpus.callbacks if c["received_at"] > AS_OF) >= 5
    assert sum(1 for o in corpus.orders if o["created_at"] > AS_OF) >= 3
    late = early = mismatch = young_waiting = acknowledged = lost_old = 0
    for order_id, order in orders.items():
        cbs = callbacks.get(order_id, [])
        sla = DEFAULT_PROFILES.get(order["provider"], DEFAULT_PROFILES["default"]).sla
        terminal = [c for c in cbs if c["status"] != "pending"]
        if terminal and min(c["received_at"] for c in terminal) > order["created_at"] + sla:
            late += 1
        early += any(c["event_time"] < order["created_at"] - timedelta(minutes=5) for c in cbs)
        mismatch += any(c["provider"] != order["provider"] for c in cbs)
        seen = [c for c in cbs if c["received_at"] <= AS_OF]
        if AS_OF - timedelta(minutes=5) <= order["created_at"] <= AS_OF and not any(
            c["status"] != "pending" for c in seen
        ):
            young_waiting += 1
        acknowledged += bool(seen) and all(c["status"] == "pending" for c in seen)
        if (
            not cbs
            and order["provider"] in ("alipay", "wechatpay")
            and order["created_at"] < AS_OF - timedelta(hours=26)
        ):
            lost_old += 1
    assert 0.01 * len(orders) < late < 0.1 * len(orders)
    assert early >= 1
    assert mismatch >= 1
    assert young_waiting >= 5
    assert acknowledged >= 2
    assert lost_old >= 1


def test_orphan_callbacks(corpus):
    """Callbacks for order ids nobody logged: foreign ones and look-alikes."""
    known = {o["order_id"] for o in corpus.orders}
    orphans = [c for c in corpus.callbacks if c["order_id"] not in known]
    assert len(orphans) >= 3
    assert any(c["order_id"].startswith("ext_") for c in orphans)
    assert any(c["order_id"].startswith("ORD") for c in orphans)  # look-alikes and lost order lines


def test_sequence_gaps_and_repeats(corpus):
    """Every log stream has sequence gaps and repeated sequence numbers."""
    for kind, sources in (
        ("orders", {"orders-a", "orders-b", "orders-c"}),
        ("callbacks", {"cb-gw1", "cb-gw2", "cb-gw3"}),
    ):
        seqs: dict[str, list[int]] = defaultdict(list)
        for _, record, _ in corpus.raw[kind]:
            if record and re.fullmatch(r"\d+", str(record.get("seq", ""))):
                seqs[record["source"]].append(int(record["seq"]))
        assert set(seqs) == sources
        gaps = sum(max(v) - min(v) + 1 - len(set(v)) for v in seqs.values())
        repeats = sum(len(v) - len(set(v)) for v in seqs.values())
        assert gaps >= 2, kind
        assert repeats >= 2, kind


def test_planted_callback_outage(corpus):
    """Stripe sends no callback for at least 90 minutes while 20 or more stripe orders are created."""
    stripe = sorted(
        c["received_at"] for c in corpus.callbacks if c["provider"] == "stripe" and c["received_at"] <= AS_OF
    )
    longest, start, end = max((b - a, a, b) for a, b in zip(stripe, stripe[1:], strict=False))
    assert longest >= timedelta(minutes=90)
    created = [o for o in corpus.orders if o["provider"] == "stripe" and start < o["created_at"] < end]
    assert len(created) >= 20


# ---------------------------------------------------------------------------------------------
# The committed sample
# ---------------------------------------------------------------------------------------------


def test_committed_sample_matches_the_generator(tmp_path):
    """data/sample is what the generator writes for (3500, 7), under 2 MB, with its AS_OF."""
    assert SAMPLE_DIR.is_dir(), "data/sample is missing"
    as_of = (SAMPLE_DIR / "AS_OF").read_text().strip()
    assert datetime.fromisoformat(as_of.replace("Z", "+00:00")) == AS_OF
    size = sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert size < 2 * 1024 * 1024
    generate_corpus(SAMPLE_ORDERS, SAMPLE_SEED, tmp_path)
    committed = {k: v for k, v in _snapshot(SAMPLE_DIR).items() if k.startswith(("orders/", "callbacks/"))}
    assert committed == _snapshot(tmp_path), (
        f"data/sample is stale: regenerate it with generate_corpus({SAMPLE_ORDERS}, {SAMPLE_SEED}, Path('data/sample'))"
    )
