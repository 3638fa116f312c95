"""Bad files and bad bytes a hostile but realistic user sends: each attack first, then what must happen.

docs/rules.md "Precise rules > Reading" and "Nothing is lost"; the choices the rules left open
(duplicate keys, line endings, CSV headers) are tested in test_csv_attacks.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import zlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from orders_pipeline.lib.log_quality.gaps import bad_seq_values, log_gaps
from orders_pipeline.lib.warehouse.contracts import REJECTED_LINES
from orders_pipeline_tests.conftest import write_jsonl
from orders_pipeline_tests.inputs.test_ingest import (
    callback,
    landed_order,
    order,
    order_reason,
    parse_callbacks,
    parse_orders,
    run,
    utc,
    write,
)


def reconcile(root: Path, capsys: Any, *extra: str) -> tuple[dict[str, str], Any]:
    """Run ``reconcile`` on root/orders and root/callbacks; the outcomes and a read-only connection."""
    import duckdb

    from orders_pipeline import cli
    from orders_pipeline_tests.conftest import AS_OF

    warehouse = root / "w.duckdb"
    args = ["reconcile", "--orders", str(root / "orders"), "--callbacks", str(root / "callbacks")]
    code = cli.main([*args, "--warehouse", str(warehouse), "--as-of", AS_OF, "--quiet", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    con = duckdb.connect(str(warehouse), read_only=True)
    outcomes = dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
    return outcomes, con


# --- row 9: JSON that only a lenient reader accepts ------------------------------------------

TRAILING_COMMAS = [
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    '"created_at":"2024-05-01T12:00:00Z",}',
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    '"created_at":"2024-05-01T12:00:00Z","tags":[1,2,]}',
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    '"created_at":"2024-05-01T12:00:00Z" , \t}',
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    '"created_at":"2024-05-01T12:00:00Z","x":{"y":[{},],}}',
]
NOT_JSON_CONSTANTS = [
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    f'"created_at":"2024-05-01T12:00:00Z","score":{constant}}}'
    for constant in ("NaN", "Infinity", "-Infinity", "nan", "inf")
]


@pytest.mark.parametrize("line", TRAILING_COMMAS + NOT_JSON_CONSTANTS)
def test_json_a_lenient_reader_accepts_is_malformed_json(line: str) -> None:
    assert order_reason(line) == "malformed_json"


@pytest.mark.parametrize("line", TRAILING_COMMAS)
def test_trailing_comma_is_malformed_json_on_the_exact_path_too(line: str) -> None:
    # A fractional JSON number amount whose key repeats in the line is re-read by Python's json:
    # the same line must be judged the same there.
    slow = line.replace('"amount":"12.50"', '"amount":12.5,"meta":{"amount":1}')
    assert order_reason(slow) == "malformed_json"
    assert order_reason(slow.replace(",}", "}").replace(",]", "]").replace(" , \t}", "}")) is None


def test_commas_and_constants_inside_strings_are_not_mistaken_for_lenient_json() -> None:
    row = landed_order(order(customer_id="a,}", request_id=":NaN,]", order_id="x:inf"))
    assert (row["order_id"], row["customer_id"], row["request_id"]) == ("x:inf", "a,}", ":NaN,]")


def test_lenient_json_in_a_callback_file_is_rejected_with_its_line_number(tmp_path: Path) -> None:
    good = json.dumps(callback())
    write(tmp_path / "c.jsonl", f"{good}\n{good[:-1]},}}\n{good}\n")
    files, landed, rejected = run(tmp_path, kind="callbacks")
    assert rejected.select("line_number", "reason").rows() == [(2, "malformed_json")]
    assert landed["line_number"].to_list() == [1, 3]
    assert files.row(0, named=True)["lines_read"] == 3


# --- row 10: timestamp fractions beyond microseconds -----------------------------------------


@pytest.mark.parametrize("digits", [7, 9, 10, 11, 12, 20])
def test_fraction_digits_beyond_microseconds_are_truncated(digits: int) -> None:
    fraction = ("987654" + "9" * 20)[:digits]
    row = landed_order(order(created_at=f"2024-05-01T12:00:00.{fraction}Z"))
    assert row["created_at"] == utc(2024, 5, 1, 12, 0, 0, 987654)
    landed, rejected = parse_callbacks(
        callback(received_at=f"2024-05-01T12:01:00.{fraction}+01:00", event_time=f"2024-05-01 11:00:00.{fraction}")
    )
    assert rejected.height == 0
    assert landed.select("received_at", "event_time").row(0) == (
        utc(2024, 5, 1, 11, 1, 0, 987654),
        utc(2024, 5, 1, 11, 0, 0, 987654),
    )


# --- row 11: source and seq never reject a line ----------------------------------------------


def test_a_log_shippers_seq_na_never_rejects_an_order_or_its_success_callback() -> None:
    landed, rejected = parse_orders(order(seq="n/a", source="api-1"))
    assert rejected.height == 0
    assert landed["order_id"].to_list() == ["o-1"]
    landed, rejected = parse_callbacks(callback(seq="n/a", source="hook-1"), callback(seq={"n": 1}, source=True))
    assert rejected.height == 0
    assert landed.select("status", "seq", "bad_seq", "source").rows() == [
        ("success", None, "n/a", "hook-1"),
        ("success", None, '{"n":1}', None),
    ]


@pytest.mark.parametrize("source", [True, {"a": 1}, [1, 2]])
def test_a_source_that_is_no_stream_name_counts_as_absent(source: Any) -> None:
    row = landed_order(order(source=source, seq=3))
    assert (row["source"], row["seq"]) == (None, 3)


def test_a_bad_seq_is_absent_for_gaps_and_reported_in_log_gaps() -> None:
    landed, _ = parse_orders(
        *(order(order_id=f"o{i}", source="api-1", seq=seq) for i, seq in enumerate([1, "n/a", 3, "n/a", "?", 5]))
    )
    callbacks, _ = parse_callbacks(callback(source="hook", seq=1), callback(source="hook", seq=2))
    rejected = REJECTED_LINES.empty_frame().lazy()
    gaps = log_gaps(landed.lazy(), callbacks.lazy(), rejected).collect()
    assert gaps.select("kind", "source", "gap_type", "seq_from", "seq_to").rows() == [
        ("orders", "api-1", "missing", 2, 2),
        ("orders", "api-1", "missing", 4, 4),
    ]
    bad = bad_seq_values(landed.lazy(), callbacks.lazy()).collect()
    assert bad.rows() == [("orders", "api-1", "bad_seq", None, None, 3, ["n/a", "?"])]


def test_bad_seq_values_show_at_most_five_values_most_frequent_first() -> None:
    values = ["a", "b", "b", "c", "c", "c", "d", "e", "f", "g"]
    landed, _ = parse_orders(*(order(source="s", seq=v) for v in values), order(seq="no-source"))
    none, _ = parse_callbacks()
    bad = bad_seq_values(landed.lazy(), none.lazy()).collect()
    assert bad.select("line_count", "bad_values").rows() == [(10, ["c", "b", "a", "d", "e"])]


def test_seq_na_end_to_end_the_paid_order_is_confirmed_and_log_gaps_says_why(tmp_path: Path, capsys) -> None:
    """Issue 15 row 11: the order line and its success callback both carry ``"seq": "n/a"``."""
    orders = [
        order(order_id=f"o{i}", source="api", seq=s, created_at="2026-11-20T10:00:00Z")
        for i, s in enumerate([1, 2, "n/a", 4])
    ]
    callbacks = [
        callback(order_id=f"o{i}", source="hook", seq=s, received_at="2026-11-20T10:01:00Z")
        for i, s in enumerate([1, "n/a", 3, 4])
    ]
    write(tmp_path / "orders" / "o.jsonl", "".join(json.dumps(line) + "\n" for line in orders))
    write(tmp_path / "callbacks" / "c.jsonl", "".join(json.dumps(line) + "\n" for line in callbacks))
    outcomes, con = reconcile(tmp_path, capsys)
    with con:
        assert outcomes == {f"o{i}": "confirmed" for i in range(4)}
        assert con.execute("SELECT count(*) FROM recon.rejected_lines").fetchone() == (0,)
        rows = con.execute(
            "SELECT kind, source, gap_type, seq_from, seq_to, line_count, bad_values FROM recon.log_gaps ORDER BY ALL"
        ).fetchall()
    assert rows == [
        ("callbacks", "hook", "bad_seq", None, None, 1, ["n/a"]),
        ("callbacks", "hook", "missing", 2, 2, 1, None),
        ("orders", "api", "bad_seq", None, None, 1, ["n/a"]),
        ("orders", "api", "missing", 3, 3, 1, None),
    ]


def test_landing_tables_of_an_older_layout_are_rebuilt(tmp_path: Path) -> None:
    """A work database whose landing tables lack a column is landed again, never a crash."""
    import duckdb

    from orders_pipeline.lib.inputs.manifest import ensure_landing_tables
    from orders_pipeline.lib.warehouse.contracts import ORDER_LINES

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA landing")
    old = [c for c in ORDER_LINES.columns if c.name != "bad_seq"]
    con.execute(f"CREATE TABLE landing.orders ({', '.join(f'{c.name} {c.type}' for c in old)})")
    con.execute("CREATE TABLE landing.ingested_files (kind VARCHAR, file VARCHAR)")
    con.execute("INSERT INTO landing.ingested_files VALUES ('orders', 'a.jsonl')")
    ensure_landing_tables(con)
    columns = [r[0] for r in con.execute("DESCRIBE landing.orders").fetchall()]
    assert columns == ORDER_LINES.column_names
    assert con.execute("SELECT count(*) FROM landing.ingested_files").fetchone() == (0,)
    ensure_landing_tables(con)  # idempotent once current
    con.close()


def test_frame_of_rows_has_the_contract_schema() -> None:
    landed, _ = parse_orders(order(seq="n/a"))
    assert landed.schema["bad_seq"] == pl.String


# --- row 4: a file edited in place with its size and mtime put back (touch -r) ---------------


def test_an_in_place_edit_with_size_and_mtime_restored_is_republished_as_changed(tmp_path, capsys) -> None:
    path = write_jsonl(tmp_path / "orders" / "a.jsonl", [order(order_id="o-1", amount="12.50")])
    (tmp_path / "callbacks").mkdir()
    _, con = reconcile(tmp_path, capsys)
    con.close()
    before = path.stat()
    time.sleep(0.01)  # a later clock tick for ctime
    with path.open("r+b") as handle:
        handle.write(path.read_bytes().replace(b'"12.50"', b'"99.99"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # touch -r a.jsonl.orig a.jsonl
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    _, con = reconcile(tmp_path, capsys)
    try:
        assert con.execute("SELECT amount_minor FROM recon.order_outcomes").fetchall() == [(9999,)]
        status, sha = con.execute("SELECT status, sha256 FROM recon.input_files WHERE kind = 'orders'").fetchone()
    finally:
        con.close()
    assert status == "changed"
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


# --- row 3: files that cannot be read, next to good ones ---------------------------------------


def _jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _decompressible_lines(data: bytes) -> int:
    """Lines zlib recovers from the start of a damaged gzip stream (an independent count)."""
    recovered = zlib.decompressobj(wbits=31).decompress(data)
    return recovered.count(b"\n") + (bool(recovered) and not recovered.endswith(b"\n"))


def test_unreadable_gz_files_are_quarantined_and_everything_else_is_published(tmp_path, capsys) -> None:
    import duckdb

    from orders_pipeline import cli
    from orders_pipeline_tests.conftest import AS_OF

    orders = tmp_path / "orders"
    write_jsonl(orders / "good.jsonl", [order(order_id="o-good")])
    many = [order(order_id=f"o-many-{i:03}", amount=f"{i}.00") for i in range(1, 400)]
    whole = gzip.compress(_jsonl_bytes(many))
    truncated = whole[: len(whole) // 2]
    (orders / "truncated.jsonl.gz").write_bytes(truncated)
    (orders / "not-gzip.jsonl.gz").write_bytes(_jsonl_bytes([order(order_id="o-plain")]))
    (orders / "trailing.jsonl.gz").write_bytes(gzip.compress(_jsonl_bytes([order(order_id="o-trail")])) + b"junk!")
    write_jsonl(tmp_path / "callbacks" / "a.jsonl", [callback(order_id="o-good")])
    warehouse = tmp_path / "w.duckdb"
    args = ["reconcile", "--orders", str(orders), "--callbacks", str(tmp_path / "callbacks")]
    args += ["--warehouse", str(warehouse), "--as-of", AS_OF, "--quiet"]

    code = cli.main(args)

    captured = capsys.readouterr()
    assert code == 0, captured.err
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        outcomes = dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
        files = {
            row[0]: row[1:]
            for row in con.execute(
                "SELECT file, status, reason, sha256, lines_read, lines_landed, lines_rejected, lines_ignored, "
                "lines_unreadable FROM recon.input_files WHERE kind = 'orders'"
            ).fetchall()
        }
        alert = con.execute(
            "SELECT breached, observed, message FROM recon.quality_alerts WHERE threshold = 'unreadable_files'"
        ).fetchone()
    finally:
        con.close()
    assert outcomes == {"o-good": "confirmed"}  # the good files were published, nothing of the bad ones
    assert files["good.jsonl"][:2] == ("ingested", None)
    expected = {
        "truncated.jsonl.gz": ("truncated_gzip: ", _decompressible_lines(truncated)),
        "not-gzip.jsonl.gz": ("not_gzip: ", 0),
        "trailing.jsonl.gz": ("gzip_trailing_bytes: ", 1),
    }
    assert 0 < expected["truncated.jsonl.gz"][1] < len(many)
    for name, (reason, lines) in expected.items():
        status, recorded_reason, sha, read, landed, rejected, ignored, unreadable = files[name]
        assert (status, sha) == ("unreadable", None), name
        assert recorded_reason.startswith(reason), (name, recorded_reason)
        assert "\n" not in recorded_reason
        assert (read, landed, rejected, ignored, unreadable) == (lines, 0, 0, 0, lines), name
    assert alert is not None
    assert (alert[0], alert[1]) == (True, "3")
    assert "orders/not-gzip.jsonl.gz" in alert[2]
    warned = [line for line in captured.err.splitlines() if "cannot be read" in line and "quarantined" in line]
    assert len(warned) == 3
    assert any("orders file truncated.jsonl.gz cannot be read (truncated_gzip" in line for line in warned)

    # A good copy delivered under the same name is ingested like any new file.
    (orders / "truncated.jsonl.gz").write_bytes(whole)
    assert cli.main(args) == 0, capsys.readouterr().err
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        status, sha, landed, unreadable = con.execute(
            "SELECT status, sha256, lines_landed, lines_unreadable FROM recon.input_files "
            "WHERE file = 'truncated.jsonl.gz'"
        ).fetchone()
        orders_now = con.execute("SELECT count(*) FROM recon.order_outcomes").fetchone()[0]
    finally:
        con.close()
    assert (status, sha, landed, unreadable) == ("ingested", hashlib.sha256(_jsonl_bytes(many)).hexdigest(), 399, 0)
    assert orders_now == 1 + len(many)
