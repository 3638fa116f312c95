"""Field maps: the config's maps checked at load (one-line errors), then applied to JSONL and CSV files.

docs/field-maps.md; the rules' "Inputs from real systems > Field maps" section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from orders_pipeline import cli
from orders_pipeline.lib.common.config import Settings, load_settings, settings_from_mapping
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.inputs.discovery import InputFile
from orders_pipeline.lib.inputs.landing import LandedFile, land_file


def settings_with(**maps: dict[str, Any]) -> Settings:
    return settings_from_mapping({"field_maps": maps}, source="c.yaml")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def land(tmp_path: Path, kind: str, relative: str, text: str, settings: Settings) -> LandedFile:
    path = write(tmp_path / kind / relative, text)
    landed = land_file(InputFile(kind, path, relative), settings)  # type: ignore[arg-type]
    counts = landed.counts
    assert counts.read == counts.landed + counts.rejected + counts.ignored
    return landed


def rows(landed: LandedFile) -> list[dict[str, Any]]:
    return pl.from_arrow(landed.rows).to_dicts()  # type: ignore[union-attr]


def rejected(landed: LandedFile) -> list[tuple[int, str, str]]:
    frame = pl.from_arrow(landed.rejected)
    assert isinstance(frame, pl.DataFrame)
    return [(r["line_number"], r["reason"], r["message"]) for r in frame.to_dicts()]


ORDER_MAP = {
    "kind": "orders",
    "files": "shop/*.csv",
    "fields": {"order_id": "out_trade_no", "merchant_id": "mch_id", "amount": "total", "created_at": "gmt_create"},
    "constants": {"provider": "alipay", "currency": "CNY"},
}


# ---- one-line errors when the config is loaded ------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount_units": "minor"}, "c.yaml: field_maps.shop: unknown key 'amount_units'; allowed keys are"),
        ({"kind": "refunds"}, "c.yaml: field_maps.shop.kind: expected one of orders, callbacks, statements"),
        ({"files": []}, "c.yaml: field_maps.shop.files: expected a glob"),
        (
            {"fields": {"amout": "total"}},
            "c.yaml: field_maps.shop.fields: unknown canonical field 'amout' for orders; the orders fields are "
            "order_id, merchant_id",
        ),
        ({"fields": {"amount": "payment..total"}}, "c.yaml: field_maps.shop.fields.amount: 'payment..total' has an"),
        ({"fields": {"amount": "p", "order_id": "p.id"}}, "c.yaml: field_maps.shop.fields: amount reads 'p', which"),
        ({"constants": {"status": "success"}}, "unknown canonical field 'status' for orders"),
        ({"constants": {"currency": "EURO"}}, "field_maps.shop.constants.currency: 'EURO' is not an ISO 4217"),
        ({"constants": {"seq": "1"}}, "c.yaml: field_maps.shop.constants.seq: seq cannot be a constant"),
        ({"constants": {"order_id": "x"}}, "constants.order_id: order_id is also read from a field"),
        ({"amount_unit": "cents"}, "c.yaml: field_maps.shop.amount_unit: expected major or minor, got 'cents'"),
        ({"timestamps": "epoch_us"}, "field_maps.shop.timestamps: 'epoch_us' is not rfc3339, epoch_s, epoch_ms"),
        ({"timestamps": "%H:%M"}, "c.yaml: field_maps.shop.timestamps: pattern '%H:%M' cannot read a date and time"),
        ({"timestamps": "%Y-%m"}, "pattern '%Y-%m' cannot read a date and time"),
        ({"timezone": "Asia/Beijing"}, "c.yaml: field_maps.shop.timezone: unknown timezone 'Asia/Beijing'"),
        ({"status_values": {"1": "success"}}, "field_maps.shop.status_values: only callbacks have a status"),
    ],
)
def test_a_bad_map_is_one_line_naming_the_file_the_map_and_the_key(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(shop={**ORDER_MAP, **change})
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_status_values_must_name_canonical_statuses() -> None:
    bets = {"kind": "callbacks", "files": "*.jsonl", "status_values": {"1": "success", "2": "settled"}}
    with pytest.raises(ConfigError, match=r"field_maps.bets.status_values.2: 'settled' is not one of success"):
        settings_with(bets=bets)
    with pytest.raises(ConfigError, match=r"status is a constant; keep one of the two"):
        settings_with(bets={**bets, "status_values": {"1": "success"}, "constants": {"status": "success"}})


def test_a_bad_map_stops_the_cli_before_the_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "c.yaml", "field_maps:\n  shop:\n    kind: orders\n    files: '*.csv'\n    colour: red\n")
    write(tmp_path / "orders" / "o.jsonl", "")
    write(tmp_path / "callbacks" / "c.jsonl", "")
    argv = ["reconcile", "--orders", str(tmp_path / "orders"), "--callbacks", str(tmp_path / "callbacks")]
    argv += ["--warehouse", str(tmp_path / "w.duckdb"), "--config", str(config), "--quiet"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"orders-pipeline: error: {config}: field_maps.shop: unknown key 'colour'; allowed keys are amount_unit, "
        "constants, fields, files, kind, status_values, timestamps, timezone"
    )
    assert not (tmp_path / "w.duckdb").exists()


def test_maps_are_tried_in_config_order_and_only_for_their_kind(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "field_maps:\n"
        "  first: {kind: callbacks, files: 'shop/*.csv', constants: {provider: a}}\n"
        "  second: {kind: orders, files: 'shop/*.csv', constants: {provider: b}}\n"
        "  third: {kind: orders, files: ['shop/*', 'other/*.jsonl'], constants: {provider: c}}\n",
    )
    settings = load_settings(config)
    assert [m.name for m in settings.field_maps] == ["first", "second", "third"]
    assert settings.field_map("orders", "shop/x.csv").name == "second"  # type: ignore[union-attr]
    assert settings.field_map("orders", "shop/x.jsonl").name == "third"  # type: ignore[union-attr]
    assert settings.field_map("orders", "other/2026/x.jsonl").name == "third"  # type: ignore[union-attr]
    assert settings.field_map("orders", "x.csv") is None
    assert settings.field_map("statements", "shop/x.csv") is None


# ---- renames and constants ------------------------------------------------------------------


def test_csv_columns_are_renamed_and_constants_set(tmp_path: Path) -> None:
    settings = settings_with(shop=ORDER_MAP)
    text = "out_trade_no,gmt_create,total,mch_id\nT-1,2026-11-20T08:00:00Z,12.50,m-9\nT-2,2026-11-20T09:00:00Z,,m-9\n"
    landed = land(tmp_path, "orders", "shop/2026-11-20.csv", text, settings)
    assert [
        (r["order_id"], r["merchant_id"], r["provider"], r["currency"], r["amount_minor"]) for r in rows(landed)
    ] == [("T-1", "m-9", "alipay", "CNY", 1250)]
    assert rejected(landed) == [(3, "missing_field:amount", "required field 'amount' is missing or empty")]


def test_a_file_no_map_matches_is_canonical(tmp_path: Path) -> None:
    settings = settings_with(shop=ORDER_MAP)
    text = "out_trade_no,order_id,merchant_id,provider,amount,currency,created_at\n"
    text += "T-1,o-1,m,stripe,1,USD,2026-11-20T08:00:00Z\n"
    landed = land(tmp_path, "orders", "elsewhere/o.csv", text, settings)
    assert [(r["order_id"], r["provider"]) for r in rows(landed)] == [("o-1", "stripe")]


def test_quoted_csv_goes_through_the_same_map(tmp_path: Path) -> None:
    settings = settings_with(shop=ORDER_MAP)
    text = 'out_trade_no,mch_id,total,gmt_create\n"T,1",m,"7.00",2026-11-20T08:00:00Z\n'
    landed = land(tmp_path, "orders", "shop/q.csv", text, settings)
    assert [(r["order_id"], r["amount_minor"], r["provider"]) for r in rows(landed)] == [("T,1", 700, "alipay")]


def test_jsonl_nested_paths_are_read_and_unmapped_fields_keep_their_names(tmp_path: Path) -> None:
    gateway = {
        "kind": "callbacks",
        "files": "gw/*.jsonl",
        "fields": {
            "order_id": "order.ref",
            "amount": "payment.total.value",
            "currency": "payment.total.currency",
            "received_at": "meta.received",
            "callback_id": "meta.id",
        },
        "constants": {"provider": "inhouse"},
    }
    settings = settings_with(gw=gateway)
    line = {
        "order": {"ref": "o-1"},
        "payment": {"total": {"value": 12.500, "currency": "usd"}},
        "meta": {"received": "2026-11-20T10:00:00Z", "id": 123456789012345678},
        "status": "SUCCESS",
    }
    not_an_object = {**line, "payment": "12.50"}
    landed = land(tmp_path, "callbacks", "gw/a.jsonl", jsonl(line, not_an_object), settings)
    (row,) = rows(landed)
    assert (row["order_id"], row["amount_minor"], row["currency"], row["status"]) == ("o-1", 1250, "USD", "success")
    assert (row["callback_id"], row["provider"]) == ("123456789012345678", "inhouse")
    assert rejected(landed)[0][:2] == (2, "missing_field:amount")


def test_a_nested_json_number_keeps_its_exact_literal(tmp_path: Path) -> None:
    # 0.1 + 0.2 style literals that a double would round: judged by their text.
    settings = settings_with(
        gw={"kind": "callbacks", "files": "*.jsonl", "fields": {"amount": "p.amt"}, "constants": {"provider": "x"}}
    )
    base = {"order_id": "o", "status": "success", "currency": "USD", "received_at": "2026-11-20T10:00:00Z"}
    text = json.dumps(base)[:-1] + ', "p": {"amt": 12.500000000000000001}}\n'
    text += json.dumps({**base, "p": {"amt": 19.99}}) + "\n"
    landed = land(tmp_path, "callbacks", "a.jsonl", text, settings)
    assert [r["amount_minor"] for r in rows(landed)] == [1999]
    assert rejected(landed) == [
        (1, "bad_amount", "amount '12.500000000000000001' has more decimals than USD allows (2)")
    ]
