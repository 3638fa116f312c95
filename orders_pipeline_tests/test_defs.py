"""The code location loads, and the whole graph materializes on a warehouse in tmp_path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline.definitions import build_definitions, defs
from orders_pipeline.defs.partitions import partition_range, range_tags
from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline_tests.conftest import AS_OF, EXPECTED_SMALL_OUTCOMES


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("reconcile_job") is not None


def test_structural_checks_block_and_business_checks_warn() -> None:
    graph = defs.resolve_asset_graph()
    blocking = {key.name: graph.get_check_spec(key).blocking for key in graph.asset_check_keys}
    for name in (
        "lines_conserved",
        "order_lines_typed",
        "callback_lines_typed",
        "one_outcome_per_order",
        "summary_ties_out",
        "exceptions_tie_out",
    ):
        assert blocking[name] is True, name
    for name in ("overdue_rate", "orphan_rate", "missing_amount", "callback_outages", "sequence_gaps"):
        assert blocking[name] is False, name


def test_materialize_whole_graph_publishes_every_table(tmp_path: Path, small_logs: tuple[Path, Path]) -> None:
    orders, callbacks = small_logs
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    resource = ReconciliationResource(
        orders_path=str(orders), callbacks_path=str(callbacks), warehouse_path=str(warehouse), as_of=AS_OF
    )
    result = (
        build_definitions(resource)
        .resolve_job_def("reconcile_job")
        .execute_in_process(
            tags=range_tags(partition_range(date(2026, 11, 18), date(2026, 11, 20))),
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert all(e.passed for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR)
    warned = {e.check_name for e in evaluations if not e.passed}
    assert warned == {"overdue_rate", "orphan_rate"}  # 1 of 5 orders overdue; 1 of 3 callbacks orphaned
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name='recon'").fetchall()}
    assert {
        "order_outcomes",
        "daily_summary",
        "exceptions",
        "orphan_callbacks",
        "log_gaps",
        "callback_outages",
        "rejected_lines",
        "outcome_changes",
        "runs",
        "input_files",
    } <= tables
    outcomes = dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall())
    assert outcomes == EXPECTED_SMALL_OUTCOMES
    assert con.execute("SELECT order_id FROM recon.orphan_callbacks").fetchall() == [("o-nobody",)]
    reasons = sorted(r[0] for r in con.execute("SELECT reason FROM recon.rejected_lines").fetchall())
    assert reasons == ["bad_amount", "bad_status", "malformed_json"]
    run = con.execute("SELECT lines_read, lines_landed, lines_rejected, checks_passed FROM recon.runs").fetchone()
    assert run == (11, 8, 3, True)


def test_classification_in_many_hash_batches_gives_the_same_outcomes(
    tmp_path: Path, small_logs: tuple[Path, Path], monkeypatch
) -> None:
    monkeypatch.setattr("orders_pipeline.lib.outcomes.batches.ORDERS_PER_BATCH", 2)
    orders, callbacks = small_logs
    warehouse = tmp_path / "warehouse.duckdb"
    resource = ReconciliationResource(
        orders_path=str(orders), callbacks_path=str(callbacks), warehouse_path=str(warehouse), as_of=AS_OF
    )
    result = (
        build_definitions(resource)
        .resolve_job_def("reconcile_job")
        .execute_in_process(
            tags=range_tags(partition_range(date(2026, 11, 18), date(2026, 11, 20))),
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    assert result.success
    materialization = result.asset_materializations_for_node("order_outcomes")[0]
    assert materialization.metadata["batches"].value == 3  # 6 order lines, at most 2 per batch
    con = duckdb.connect(str(warehouse), read_only=True)
    assert dict(con.execute("SELECT order_id, outcome FROM recon.order_outcomes").fetchall()) == EXPECTED_SMALL_OUTCOMES


def test_statements_are_their_own_assets_wired_into_the_outcomes() -> None:
    graph = defs.resolve_asset_graph()
    outcomes = graph.get(dg.AssetKey("order_outcomes"))
    assert {dg.AssetKey("statement_lines"), dg.AssetKey("statement_coverage")} <= set(outcomes.parent_keys)
    assert dg.AssetKey("statement_lines") in graph.get(dg.AssetKey("statement_coverage")).parent_keys
    assert dg.AssetKey("statement_lines") in graph.get(dg.AssetKey("orphan_statement_lines")).parent_keys
    blocking = {key.name: graph.get_check_spec(key).blocking for key in graph.asset_check_keys}
    assert blocking["statement_rows_conserved"] is True
    assert blocking["statement_coverage_ties_out"] is True
    assert blocking["unsettled_amount"] is False
    assert blocking["missing_statement_days"] is False
