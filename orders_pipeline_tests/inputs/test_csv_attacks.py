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
    assert rejected["message"][1].startswith("the file has no header row: line 1 names none")
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
    assert "orders file bare.csv has no header row (line 1 names none of the expected columns)" in warnings[0]
    assert "2 line(s) were rejected as no_header" in warnings[0]
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
