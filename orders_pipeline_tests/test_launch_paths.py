"""Every way a run is launched writes the warehouse one step and one run at a time.

DuckDB takes one writer process at a time, so a run whose steps ran in several processes
(Dagster's default multiprocess executor) would fail on the work database's lock. These
tests run the jobs the way Dagster's run worker does (``execute_job`` on a reconstructable
job, which uses the job's own executor, unlike ``execute_in_process``).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from orders_pipeline.definitions import build_definitions, defs
from orders_pipeline.defs.resources import DAGSTER_HINT, REPO_ROOT, resource_from_env
from orders_pipeline.lib.warehouse.run_lock import held_by_this_process, read_holder
from orders_pipeline_tests.conftest import AS_OF
from orders_pipeline_tests.warehouse.test_run_lock import LockWatcher, OtherProcess

BUNDLED_DAGSTER_HOME = REPO_ROOT / "data" / "dagster_home"


@dg.definitions
def ui_definitions() -> dg.Definitions:
    """The code location as the UI loads it, built when a run loads it (so after the test set the environment)."""
    return build_definitions(resource_from_env())


def ui_job(name: str) -> ReconstructableJob:
    """A job of the code location the way Dagster's run worker reconstructs it."""
    return ReconstructableRepository.for_module(__name__, "ui_definitions").get_reconstructable_job(name)


@pytest.fixture
def ui_environment(tmp_path: Path, small_logs: tuple[Path, Path], monkeypatch) -> Path:
    """The environment the UI's code location reads: the small logs and a warehouse in tmp_path."""
    orders, callbacks = small_logs
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    monkeypatch.setenv("ORDERS_PIPELINE_ORDERS", str(orders))
    monkeypatch.setenv("ORDERS_PIPELINE_CALLBACKS", str(callbacks))
    monkeypatch.setenv("ORDERS_PIPELINE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("ORDERS_PIPELINE_AS_OF", AS_OF)
    return warehouse


def range_run_tags(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def test_every_job_runs_its_steps_in_one_process() -> None:
    jobs = [defs.resolve_implicit_global_asset_job_def(), *defs.resolve_all_job_defs()]
    assert {job.name for job in jobs} >= {"__ASSET_JOB", "reconcile_job"}
    for job in jobs:
        assert job.executor_def.name == dg.in_process_executor.name, job.name


def test_partitioned_assets_backfill_a_range_in_one_run() -> None:
    graph = defs.resolve_asset_graph()
    partitioned = [graph.get(key) for key in graph.materializable_asset_keys if graph.get(key).is_partitioned]
    assert {node.key.to_user_string() for node in partitioned} >= {"order_outcomes", "daily_summary"}
    for node in partitioned:
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), node.key


def test_bundled_instance_launches_one_run_at_a_time(tmp_path: Path) -> None:
    """The bundled dagster.yaml queues runs and launches one at a time (read from a copy: no storage in data/)."""
    shutil.copy(BUNDLED_DAGSTER_HOME / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 1
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"


def _steps_ran_in_the_run_process(result: dg.ExecuteJobResult) -> bool:
    """Whether every step event came from the run's own process (no step subprocesses)."""
    run_pid = next(e.pid for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_START)
    return all(e.pid == run_pid for e in result.all_events if e.step_key is not None)


@pytest.mark.usefixtures("ui_environment")
def test_materialize_all_as_the_implicit_asset_job_succeeds() -> None:
    """What "Materialize all" launches for the days of the small logs: one run, every step in one process."""
    with dg.instance_for_test() as instance:
        result = dg.execute_job(ui_job("__ASSET_JOB"), instance, tags=range_run_tags("2026-11-18", "2026-11-20"))
        assert result.success
        assert _steps_ran_in_the_run_process(result)
        published = instance.get_latest_materialization_event(dg.AssetKey("reconciliation_warehouse"))
        assert published is not None


@pytest.mark.usefixtures("ui_environment")
def test_backfill_of_four_days_is_one_run_that_materializes_each_day() -> None:
    """What an asset backfill over four order days launches with single-run policies: one run over the range."""
    days = ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]
    with dg.instance_for_test() as instance:
        result = dg.execute_job(ui_job("__ASSET_JOB"), instance, tags=range_run_tags(days[0], days[-1]))
        assert result.success
        assert _steps_ran_in_the_run_process(result)
        for asset in ("order_outcomes", "daily_summary"):
            materialized = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert materialized >= set(days), asset


def _failure_messages(result: dg.ExecuteJobResult) -> list[str]:
    """The error messages of every failure event of a run (resource set-up, steps, the run)."""
    messages = []
    for event in result.all_events:
        if event.is_failure or event.event_type == dg.DagsterEventType.RUN_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return messages


def test_a_dagster_run_is_refused_at_once_while_another_process_holds_the_warehouse(ui_environment) -> None:
    """One writer: a run the daemon launches while the command line (or another instance) writes fails at start."""
    warehouse = ui_environment
    other = OtherProcess(warehouse, "the-command-line-run")
    try:
        with dg.instance_for_test() as instance:
            result = dg.execute_job(ui_job("reconcile_job"), instance)
    finally:
        other.stop()
    assert not result.success
    assert not any(e.event_type == dg.DagsterEventType.STEP_START for e in result.all_events)  # no step ran
    expected = f"another run (pid {other.pid} on {socket.gethostname()}, run the-command-line-run, started "
    assert any(expected in message and DAGSTER_HINT in message for message in _failure_messages(result))
    assert not warehouse.exists()
    assert not warehouse.with_name("warehouse.work.duckdb").exists()


def test_a_dagster_run_holds_the_warehouse_lock_from_start_to_end_without_a_gap(ui_environment) -> None:
    """Between two steps no other writer could take the lock: watched in /proc/locks, which takes no lock itself."""
    warehouse = ui_environment
    watcher = LockWatcher(warehouse)
    with watcher, dg.instance_for_test() as instance:
        result = dg.execute_job(ui_job("reconcile_job"), instance, tags=range_run_tags("2026-11-18", "2026-11-20"))
    assert result.success
    assert watcher.held_throughout(os.getpid())
    assert held_by_this_process(warehouse) is None
    assert read_holder(warehouse) is None  # emptied on release
    OtherProcess(warehouse, "next").stop()  # free for the next writer
