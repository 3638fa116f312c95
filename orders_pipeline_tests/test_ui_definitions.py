"""What a person sees in the Dagster UI: a description on everything, partitions over real days
(first order day to today), and each day's partition carrying that day's figures.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from orders_pipeline import cli
from orders_pipeline.definitions import build_definitions, defs
from orders_pipeline.defs.partitions import FIRST_DAY_ENV, first_order_day, order_days, range_tags
from orders_pipeline.defs.resources import REPO_ROOT, ReconciliationResource
from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.outcomes.order_days import longest_retry_horizon
from orders_pipeline_tests.conftest import AS_OF

TODAY = date(2026, 12, 6)


def test_every_asset_check_job_schedule_and_sensor_has_a_description() -> None:
    graph = defs.resolve_asset_graph()
    described: dict[str, str | None] = {}
    for key in graph.get_all_asset_keys():
        described[f"asset {key.to_user_string()}"] = graph.get(key).description
    for key in graph.asset_check_keys:
        described[f"check {key.name}"] = graph.get_check_spec(key).description
    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]  # not Dagster's implicit job
    described |= {f"job {job.name}": job.description for job in jobs}
    described |= {f"schedule {s.name}": s.description for s in defs.schedules or []}
    described |= {f"sensor {s.name}": s.description for s in defs.sensors or []}
    kinds = {name.split()[0] for name in described}
    assert kinds == {"asset", "check", "job", "schedule", "sensor"}
    assert len(described) > 30
    missing = sorted(name for name, text in described.items() if not (text or "").strip())
    assert missing == []


def test_the_first_partition_is_the_configured_day() -> None:
    assert first_order_day({FIRST_DAY_ENV: "2026-01-31"}, today=TODAY) == date(2026, 1, 31)
    with pytest.raises(ConfigError, match=f"{FIRST_DAY_ENV}='31/01/2026' is not a day"):
        first_order_day({FIRST_DAY_ENV: "31/01/2026"}, today=TODAY)


def test_the_first_partition_is_the_first_order_day_of_the_published_warehouse(tmp_path, small_logs) -> None:
    orders, callbacks = small_logs
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    env = {
        "ORDERS_PIPELINE_WAREHOUSE": str(warehouse),
        "ORDERS_PIPELINE_ORDERS": str(orders),
        "ORDERS_PIPELINE_AS_OF": AS_OF,
    }
    before = first_order_day(env, today=TODAY)  # nothing published yet: the live window as of the as-of
    horizon = longest_retry_horizon(Settings())
    assert before == (datetime.fromisoformat(AS_OF.replace("Z", "+00:00")) - horizon).date()
    argv = ["reconcile", "--orders", str(orders), "--callbacks", str(callbacks), "--warehouse", str(warehouse)]
    assert cli.main([*argv, "--as-of", AS_OF, "--quiet"]) == 0
    assert first_order_day(env, today=TODAY) == date(2026, 11, 18)  # o-missing, the earliest order of the logs


def test_without_data_or_as_of_the_partitions_open_on_the_live_window_of_now(tmp_path) -> None:
    env = {"ORDERS_PIPELINE_WAREHOUSE": str(tmp_path / "none.duckdb"), "ORDERS_PIPELINE_ORDERS": str(tmp_path)}
    now = datetime.now(UTC)
    assert first_order_day(env) == (now - longest_retry_horizon(Settings())).date()


def test_partitions_end_today_and_start_on_the_first_order_day() -> None:
    keys = order_days.get_partition_keys()
    assert keys[-1] == datetime.now(UTC).date().isoformat()
    assert keys[0] == first_order_day().isoformat()
    assert len(keys) < 3 * 366  # not 2015 to a year ahead


def _partition_metadata(instance: dg.DagsterInstance, asset: str, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1
    ).records
    assert records, f"{asset} {day} not materialized"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {key: value.value for key, value in materialization.metadata.items()}


def test_each_partition_carries_its_own_days_figures(tmp_path: Path, small_logs: tuple[Path, Path]) -> None:
    orders, callbacks = small_logs
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    resource = ReconciliationResource(
        orders_path=str(orders), callbacks_path=str(callbacks), warehouse_path=str(warehouse), as_of=AS_OF
    )
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    instance = dg.DagsterInstance.ephemeral()
    result = (
        build_definitions(resource)
        .resolve_job_def("reconcile_job")
        .execute_in_process(tags=range_tags(dg.PartitionKeyRange(days[0], days[-1])), instance=instance)
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        published = dict(
            con.execute("SELECT created_at::DATE::VARCHAR, count(*) FROM recon.order_outcomes GROUP BY ALL").fetchall()
        )
        overdue = dict(
            con.execute(
                "SELECT created_at::DATE::VARCHAR, count(*) FROM recon.order_outcomes WHERE outcome = 'overdue' "
                "GROUP BY ALL"
            ).fetchall()
        )
        summary_rows = dict(
            con.execute("SELECT order_date::VARCHAR, count(*) FROM recon.daily_summary GROUP BY ALL").fetchall()
        )
    assert published["2026-11-18"] != published["2026-11-20"]  # the days differ, so the check can fail
    assert "2026-11-19" not in published
    for day in days:
        outcomes = _partition_metadata(instance, "order_outcomes", day)
        assert outcomes["dagster/row_count"] == published.get(day, 0), day
        assert outcomes["outcome/overdue"] == overdue.get(day, 0), day
        assert outcomes["run/orders_evaluated"] == sum(published.values())
        summary = _partition_metadata(instance, "daily_summary", day)
        assert summary["dagster/row_count"] == summary_rows.get(day, 0), day
        assert summary["orders"] == published.get(day, 0), day


def test_the_code_location_is_named_orders_pipeline_for_dg_and_dagster_dev() -> None:
    tool = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]
    assert tool["dg"]["project"]["code_location_name"] == "orders_pipeline"
    assert tool["dg"]["project"]["code_location_target_module"] == "orders_pipeline.definitions"
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"] == [
        {
            "python_module": {
                "module_name": "orders_pipeline.definitions",
                "location_name": "orders_pipeline",
                "working_directory": ".",
            }
        }
    ]
