"""Issue 15 rows 1-2 and the "decide and document" items: broken CSV files, each attack first.

docs/rules.md "Precise rules > Reading" and "Nothing is lost": every physical record is landed
or rejected with a reason, and per file read = landed + rejected (+ ignored).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.csv_records import MAX_RECORD_LINES, decoded_records
from orders_pipeline_tests.inputs.test_ingest import run, write

HEADER = "order_id,merchant_id,provider,amount,currency,created_at\n"


def order_csv(i: int) -> str:
    return f"o{i},m-1,stripe,12.50,USD,2024-05-01T12:00:00Z\n"


def conserved(files: pl.DataFrame) -> None:
    for row in files.iter_rows(named=True):
        assert row["lines_read"] == row["lines_landed"] + row["lines_rejected"], row


# --- row 1: an unterminated quote -------------------------------------------------------------


@pytest.mark.parametrize("chunk_lines", [1_000_000, 7])
def test_an_unterminated_quote_costs_its_line_only(tmp_path: Path, chunk_lines: int) -> None:
    """Row 2 of 1,002 opens a quote that never closes: the other 1,000 orders still land."""
    broken = 'o-broken,m-1,"stripe,12.50,USD,2024-05-01T12:00:00Z\n'
    write(tmp_path / "o.csv", HEADER + broken + "".join(order_csv(i) for i in range(1000)))
    files, landed, rejected = run(tmp_path, chunk_lines=chunk_lines)
    assert rejected.select("line_number", "reason", "raw").rows() == [
        (2, "malformed_csv", broken.rstrip("\n")),
    ]
    assert "not closed" in rejected["message"][0]
    assert landed["order_id"].to_list() == [f"o{i}" for i in range(1000)]
    assert landed["line_number"].to_list() == list(range(3, 1003))
    assert files.select("lines_read", "lines_landed", "lines_rejected").rows() == [(1001, 1000, 1)]


def test_a_stray_quote_closed_by_a_later_quote_costs_only_its_line(tmp_path: Path) -> None:
    # Leniently, lines 2..6 would be one record with a cell spanning five lines; strictly the
    # quote that closes it on line 6 is followed by text, so the record is broken at line 2.
    lines = [order_csv(i) for i in range(8)]
    lines[0] = 'o0,m-1,"stripe,12.50,USD,2024-05-01T12:00:00Z\n'
    lines[4] = 'o4,m-1,"stripe"x,12.50,USD,2024-05-01T12:00:00Z\n'
    write(tmp_path / "o.csv", HEADER + "".join(lines))
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason").rows() == [(2, "malformed_csv")]
    # Line 6 alone is read as the csv module reads one line: the text after the quote is kept.
    assert landed.select("order_id", "provider").rows() == [
        *[(f"o{i}", "stripe") for i in (1, 2, 3)],
        ("o4", "stripex"),
        *[(f"o{i}", "stripe") for i in (5, 6, 7)],
    ]
    conserved(files)


def test_two_stray_quotes_that_make_a_well_formed_record_are_one_record(tmp_path: Path) -> None:
    """Documented limit: a quote opened on one line and closed before a comma on a later line is valid CSV."""
    lines = [order_csv(i) for i in range(4)]
    lines[0] = 'o0,m-1,"stripe,12.50,USD,2024-05-01T12:00:00Z\n'
    lines[2] = 'o2,m-1,stripe",12.50,USD,2024-05-01T12:00:00Z\n'
    write(tmp_path / "o.csv", HEADER + "".join(lines))
    files, landed, rejected = run(tmp_path)
    # Lines 2-4 are one record (its provider cell spans them); line 5 is its own.
    assert landed.select("order_id", "line_number").rows() == [("o0", 2), ("o3", 5)]
    assert files.select("lines_read", "lines_landed").rows() == [(2, 2)]


def test_a_valid_multiline_quoted_cell_is_still_one_record(tmp_path: Path) -> None:
    write(
        tmp_path / "o.csv",
        HEADER.rstrip("\n") + ",customer_id\n" + 'o1,m-1,stripe,1,USD,2024-05-01T12:00:00Z,"a\nb\nc"\n' + order_csv(2),
    )
    files, landed, rejected = run(tmp_path)
    assert landed.select("order_id", "customer_id", "line_number").rows() == [
        ("o1", "a\nb\nc", 2),
        ("o2", None, 5),
    ]
    assert rejected.is_empty()


def test_a_record_longer_than_the_limit_is_broken_and_reading_restarts() -> None:
    lines = [("h1,h2", False), ('a,"never closed', False)] + [(f"x{i},y", False) for i in range(MAX_RECORD_LINES + 5)]
    records = list(decoded_records(lines))
    assert (records[1].line_number, records[1].cells) == (2, None)
    assert [r.line_number for r in records[2:]] == list(range(3, MAX_RECORD_LINES + 8))
    assert records[-1].cells == [f"x{MAX_RECORD_LINES + 4}", "y"]


def test_a_well_formed_multiline_record_with_too_many_cells_is_one_malformed_record() -> None:
    lines = [("a,b", False), ('1,"x', False), ('y",3', False), ("4,5", False)]
    records = list(decoded_records(lines))
    assert [(r.line_number, r.cells) for r in records] == [(1, ["a", "b"]), (2, ["1", "x\ny", "3"]), (4, ["4", "5"])]


def test_a_quote_closed_and_followed_by_text_on_a_later_line_is_broken_at_its_first_line() -> None:
    lines = [("a,b", False), ('1,"x', False), ('y"z,3', False), ("4,5", False)]
    records = list(decoded_records(lines))
    assert [(r.line_number, r.cells) for r in records] == [
        (1, ["a", "b"]),
        (2, None),
        (3, ['y"z', "3"]),
        (4, ["4", "5"]),
    ]


def test_a_huge_cell_reads_the_same_on_both_paths(tmp_path: Path) -> None:
    # The csv module caps cells at 128 KiB by default; the vectorised path has no cap.
    big = "x" * 300_000
    write(tmp_path / "plain" / "o.csv", HEADER + f"{big},m-1,stripe,1,USD,2024-05-01T12:00:00Z\n")
    write(tmp_path / "quoted" / "o.csv", HEADER + f'"{big}",m-1,stripe,1,USD,2024-05-01T12:00:00Z\n')
    for sub in ("plain", "quoted"):
        _, landed, rejected = run(tmp_path / sub)
        assert landed["order_id"].to_list() == [big], sub
        assert rejected.is_empty()


# --- row 2: no header row ---------------------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True])
def test_a_csv_without_header_loses_no_line_and_says_why(tmp_path: Path, quoted: bool) -> None:
    body = [order_csv(i) for i in range(5)]
    if quoted:
        body[3] = 'o3,"m-1",stripe,12.50,USD,2024-05-01T12:00:00Z\n'
    write(tmp_path / "o.csv", "".join(body))
    files, landed, rejected = run(tmp_path, chunk_lines=2)
    assert landed.is_empty()
    assert rejected.select("line_number", "reason").rows() == [(n, "no_header") for n in range(1, 6)]
    assert rejected["raw"].to_list() == [b.rstrip("\n") for b in body]
    assert rejected["message"][0].startswith("line 1 is not a header: it names none of the expected columns (order_id")
    assert (
        rejected["message"][1] == "the file has no header row: line 1 is not one; re-deliver the file with its header"
    )
    assert files.select("lines_read", "lines_rejected").rows() == [(5, 5)]


def test_a_header_naming_one_expected_field_is_a_header(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", "order_id,x,y\no1,a,b\n")
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason").rows() == [(2, "missing_field:merchant_id")]


def test_no_header_follows_the_field_map(tmp_path: Path) -> None:
    from orders_pipeline.lib.inputs.field_maps import FieldMap

    mapped = FieldMap(name="legacy", kind="orders", files=("*.csv",), sources=(("order_id", ("OrderRef",)),))
    settings = Settings(field_maps=(mapped,))
    # order_id is read from OrderRef: a header naming only order_id names none of the map's columns.
    write(tmp_path / "o.csv", "order_id\no1\n")
    files, landed, rejected = run(tmp_path, settings=settings)
    assert rejected["reason"].to_list() == ["no_header", "no_header"]
    assert "OrderRef" in rejected["message"][0]


def test_a_run_with_a_headerless_csv_warns_in_one_line_naming_the_file(tmp_path: Path, capsys) -> None:
    from orders_pipeline import cli
    from orders_pipeline_tests.conftest import AS_OF

    write(tmp_path / "orders" / "good.csv", HEADER + order_csv(1))
    write(tmp_path / "orders" / "bare.csv", order_csv(2) + order_csv(3))
    write(tmp_path / "callbacks" / "c.jsonl", "")
    warehouse = tmp_path / "w.duckdb"
    args = ["reconcile", "--orders", str(tmp_path / "orders"), "--callbacks", str(tmp_path / "callbacks")]
    assert cli.main([*args, "--warehouse", str(warehouse), "--as-of", AS_OF, "--quiet"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "bare.csv" in line]
    assert len(warnings) == 1, err
    assert "orders file bare.csv: line 1 is not a header: it names none of the expected columns" in warnings[0]
    assert "all 2 line(s) rejected as no_header" in warnings[0]
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT file, lines_read, lines_landed, lines_rejected FROM recon.input_files "
            "WHERE kind = 'orders' ORDER BY file"
        ).fetchall()
        assert rows == [("bare.csv", 2, 0, 2), ("good.csv", 1, 1, 0)]
        assert con.execute("SELECT line_number, reason FROM recon.rejected_lines ORDER BY 1").fetchall() == [
            (1, "no_header"),
            (2, "no_header"),
        ]


# --- decided: duplicate JSON keys -------------------------------------------------------------

DUPLICATED = [
    # the first amount would win leniently
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","amount":"99.99",'
    '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}',
    # a fractional JSON number amount: the path that reads the literal from the line
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":12.5,"amount":99.99,'
    '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}',
    # the same key spelled with an escape
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","\\u0061mount":"99.99",'
    '"currency":"USD","created_at":"2024-05-01T12:00:00Z"}',
    # an optional field given twice
    '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
    '"created_at":"2024-05-01T12:00:00Z","customer_id":"c1","customer_id":"c2"}',
]


@pytest.mark.parametrize("line", DUPLICATED)
def test_a_key_given_twice_rejects_the_line(line: str) -> None:
    from orders_pipeline_tests.inputs.test_ingest import parse_orders

    landed, rejected = parse_orders(line)
    assert rejected["reason"].to_list() == ["duplicate_key"]
    assert "occurs more than once" in rejected["message"][0]
    assert rejected["source"].to_list() == [None]


@pytest.mark.parametrize(
    "line",
    [
        # an unread key repeated, a read key's name repeated in a nested object or in a value
        '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
        '"created_at":"2024-05-01T12:00:00Z","x":1,"x":2}',
        '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
        '"created_at":"2024-05-01T12:00:00Z","meta":{"amount":"1","amount":"2"},"note":"\\"amount\\""}',
        '{"order_id":"caf\\u00e9","merchant_id":"m-1","provider":"stripe","amount":"12.50","currency":"USD",'
        '"created_at":"2024-05-01T12:00:00Z"}',
    ],
)
def test_repeats_that_do_not_touch_a_read_field_land(line: str) -> None:
    from orders_pipeline_tests.inputs.test_ingest import parse_orders

    landed, rejected = parse_orders(line)
    assert rejected.is_empty(), rejected.to_dicts()
    assert landed["amount_minor"].to_list() == [1250]


def test_duplicate_key_is_the_same_on_the_fast_and_the_exact_path() -> None:
    """Every candidate line is re-read exactly; forcing every line there gives the same verdicts."""
    from orders_pipeline.lib.inputs import extraction
    from orders_pipeline_tests.inputs.test_ingest import parse_orders

    lines = [
        *DUPLICATED,
        '{"order_id":"o-2","merchant_id":"m-1","provider":"stripe","amount":"1","currency":"USD",'
        '"created_at":"2024-05-01T12:00:00Z"}',
    ]
    fast = parse_orders(*lines)
    original = extraction.LineParser._maybe_repeated
    extraction.LineParser._maybe_repeated = lambda self, text: pl.Series([True] * len(text))  # type: ignore[method-assign]
    try:
        exact = parse_orders(*lines)
    finally:
        extraction.LineParser._maybe_repeated = original  # type: ignore[method-assign]
    assert fast[0].equals(exact[0])
    assert fast[1].equals(exact[1])
    assert fast[1]["reason"].to_list() == ["duplicate_key"] * len(DUPLICATED)


def test_a_field_map_parent_object_given_twice_is_a_duplicate_key() -> None:
    import pyarrow as pa

    from orders_pipeline.lib.inputs.extraction import PARSERS
    from orders_pipeline.lib.inputs.field_maps import FieldMap
    from orders_pipeline_tests.inputs.test_ingest import lines_frame

    mapped = FieldMap(name="nested", kind="orders", files=("*",), sources=(("amount", ("money", "value")),))
    line = (
        '{"order_id":"o-1","merchant_id":"m-1","provider":"stripe","money":{"value":"12.50"},'
        '"money":{"value":"99.99"},"currency":"USD","created_at":"2024-05-01T12:00:00Z"}'
    )
    frame = lines_frame([line, line.replace(',"money":{"value":"99.99"}', "")])
    parser = PARSERS.acquire("orders", "UTC", mapped)
    try:
        raw = frame["raw"].to_arrow().cast(pa.large_string())
        landed, rejected = parser.parse_json(raw, frame.select("file", "line_number", "read_order"))
    finally:
        PARSERS.release(parser)
    assert rejected.select("line_number", "reason").rows() == [(1, "duplicate_key")]
    assert "key 'money' occurs more than once" in rejected["message"][0]
    assert landed["amount_minor"].to_list() == [1250]


# --- decided: a header that names a read column twice -----------------------------------------


@pytest.mark.parametrize("quoted", [False, True])
def test_a_header_naming_a_read_column_twice_rejects_every_line(tmp_path: Path, quoted: bool) -> None:
    header = "order_id,merchant_id,provider,amount,currency,created_at,amount\n"
    body = "".join(order_csv(i).rstrip("\n") + ",99.99\n" for i in range(3))
    if quoted:
        body = body.replace("m-1", '"m-1"', 1)
    write(tmp_path / "o.csv", header + body)
    files, landed, rejected = run(tmp_path)
    assert landed.is_empty()
    assert rejected.select("line_number", "reason").rows() == [(n, "duplicate_column") for n in (2, 3, 4)]
    assert rejected["message"][0].startswith("the header (line 1) names column 'amount' twice (columns 4 and 7)")
    assert files.select("lines_read", "lines_rejected").rows() == [(3, 3)]


def test_a_repeated_column_no_field_reads_is_harmless(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", HEADER.rstrip("\n") + ",note,note\n" + order_csv(1).rstrip("\n") + ",a,b\n")
    files, landed, rejected = run(tmp_path)
    assert landed["order_id"].to_list() == ["o1"]
    assert rejected.is_empty()


# --- decided: CR-only line endings ------------------------------------------------------------


def test_a_cr_only_jsonl_file_is_one_rejected_line_that_says_why(tmp_path: Path) -> None:
    import json

    from orders_pipeline_tests.inputs.test_ingest import order

    lines = [json.dumps(order(order_id=f"o{i}")) for i in range(3)]
    write(tmp_path / "o.jsonl", "\r".join(lines) + "\r")
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason").rows() == [(1, "malformed_json")]
    assert "carriage return without a newline" in rejected["message"][0]
    assert files.select("lines_read", "lines_rejected").rows() == [(1, 1)]


def test_a_cr_only_csv_file_is_no_header_and_says_why(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", (HEADER + order_csv(1) + order_csv(2)).replace("\n", "\r"))
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason").rows() == [(1, "no_header")]
    assert "carriage return without a newline" in rejected["message"][0]
    assert files.select("lines_read", "lines_rejected").rows() == [(1, 1)]


def test_a_lone_cr_inside_a_csv_line_is_malformed_csv_that_says_why(tmp_path: Path) -> None:
    write(tmp_path / "o.csv", HEADER + order_csv(1).replace("m-1", "m\r1") + order_csv(2) + 'o3,"a\rb",x\n')
    files, landed, rejected = run(tmp_path)
    assert rejected.select("line_number", "reason").rows() == [(2, "malformed_csv"), (4, "missing_field:amount")]
    assert "carriage return without a newline" in rejected["message"][0]
    assert landed["order_id"].to_list() == ["o2"]


# --- decided: broken symbolic links -----------------------------------------------------------


def test_a_broken_symlink_is_named_in_one_warning_line_never_skipped_silently(tmp_path: Path, capsys) -> None:
    from orders_pipeline import cli
    from orders_pipeline.lib.inputs.discovery import broken_links, discover_files
    from orders_pipeline_tests.conftest import AS_OF

    write(tmp_path / "orders" / "good.csv", HEADER + order_csv(1))
    (tmp_path / "orders" / "sub").mkdir()
    (tmp_path / "orders" / "sub" / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (tmp_path / "orders" / "notes.txt").symlink_to(tmp_path / "nowhere.txt")  # not an input name: not one
    write(tmp_path / "callbacks" / "c.jsonl", "")
    assert [f.relative for f in discover_files(tmp_path / "orders", "orders")] == ["good.csv"]
    assert broken_links(tmp_path / "orders", "orders") == [
        f"orders file sub/gone.jsonl is a broken symbolic link (to {tmp_path / 'nowhere.jsonl'}): not read; "
        "fix the link or remove it"
    ]
    args = ["reconcile", "--orders", str(tmp_path / "orders"), "--callbacks", str(tmp_path / "callbacks")]
    assert cli.main([*args, "--warehouse", str(tmp_path / "w.duckdb"), "--as-of", AS_OF, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "gone.jsonl" in line] == [
        f"  warning: orders file sub/gone.jsonl is a broken symbolic link (to {tmp_path / 'nowhere.jsonl'}): "
        "not read; fix the link or remove it"
    ]
