"""When the pipeline runs by itself: the schedules, and the sensor that reacts to new log files."""

from __future__ import annotations

import importlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from orders_pipeline.definitions import defs
from orders_pipeline.defs.automation import schedules
from orders_pipeline.defs.resources import ReconciliationResource
from orders_pipeline_tests.conftest import write_jsonl

ORDER = {
    "order_id": "o1",
    "merchant_id": "m1",
    "provider": "stripe",
    "amount": "1.00",
    "currency": "USD",
    "created_at": "2026-11-20T10:00:00Z",
}


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cron"), [("daily_reconcile_schedule", "0 1 * * *"), ("hourly_reconcile_schedule", "5 * * * *")]
)
def test_schedule_exists_with_its_cron_in_utc(name, cron) -> None:
    schedule = defs.resolve_schedule_def(name)
    assert schedule.cron_schedule == cron
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "reconcile_job"


@pytest.fixture
def reload_schedules(monkeypatch):
    """Re-import the schedules module under a given ORDERS_PIPELINE_SCHEDULE (restored afterwards)."""

    def reload(value: str | None):
        if value is None:
            monkeypatch.delenv("ORDERS_PIPELINE_SCHEDULE", raising=False)
        else:
            monkeypatch.setenv("ORDERS_PIPELINE_SCHEDULE", value)
        return importlib.reload(schedules)

    yield reload
    monkeypatch.undo()
    importlib.reload(schedules)


def test_daily_schedule_is_on_by_default_and_hourly_off(reload_schedules) -> None:
    module = reload_schedules(None)
    assert module.daily_reconcile_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert module.hourly_reconcile_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_hourly_schedule_is_switched_on_by_the_environment(reload_schedules) -> None:
    module = reload_schedules("hourly")
    assert module.daily_reconcile_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert module.hourly_reconcile_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_code_location_default_matches_the_environment() -> None:
    """The loaded code location: daily on unless ORDERS_PIPELINE_SCHEDULE chose otherwise at import."""
    daily_on = os.environ.get("ORDERS_PIPELINE_SCHEDULE", "daily") == "daily"
    status = defs.resolve_schedule_def("daily_reconcile_schedule").default_status
    assert (status == dg.DefaultScheduleStatus.RUNNING) is daily_on


@pytest.mark.parametrize("name", ["daily_reconcile_schedule", "hourly_reconcile_schedule"])
def test_schedule_tick_requests_one_reconcile_run(tmp_path, name) -> None:
    schedule = defs.resolve_schedule_def(name)
    # A context manager, as Dagster's daemon opens it: the resource has a teardown (the run lock).
    with dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 21, 1, 0, tzinfo=UTC),
        resources={"reconciliation": _resource(tmp_path)},
    ) as context:
        data = schedule.evaluate_tick(context)
    assert data.skip_message is None
    assert len(data.run_requests) == 1


# ---------------------------------------------------------------------------------------------
# The new-files sensor
# ---------------------------------------------------------------------------------------------


def _resource(root: Path) -> ReconciliationResource:
    (root / "orders").mkdir(parents=True, exist_ok=True)
    (root / "callbacks").mkdir(parents=True, exist_ok=True)
    return ReconciliationResource(
        orders_path=str(root / "orders"),
        callbacks_path=str(root / "callbacks"),
        warehouse_path=str(root / "wh" / "warehouse.duckdb"),
    )


def _tick(resource: ReconciliationResource, cursor: str | None):
    sensor = defs.resolve_sensor_def("new_log_files_sensor")
    with dg.build_sensor_context(cursor=cursor, resources={"reconciliation": resource}) as context:
        return sensor.evaluate_tick(context)


def test_sensor_targets_the_reconcile_job_and_is_off_by_default() -> None:
    sensor = defs.resolve_sensor_def("new_log_files_sensor")
    assert sensor.job_name == "reconcile_job"
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_sensor_skips_when_there_are_no_files(tmp_path) -> None:
    data = _tick(_resource(tmp_path), None)
    assert data.run_requests == []
    assert data.skip_message


def test_sensor_skips_when_the_folders_do_not_exist(tmp_path) -> None:
    resource = ReconciliationResource(
        orders_path=str(tmp_path / "nope"),
        callbacks_path=str(tmp_path / "nada"),
        warehouse_path=str(tmp_path / "w.duckdb"),
    )
    data = _tick(resource, None)
    assert data.run_requests == []
    assert data.skip_message


def test_sensor_requests_a_run_for_a_new_file(tmp_path) -> None:
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "2026-11-20.jsonl", [ORDER])
    data = _tick(resource, None)
    assert len(data.run_requests) == 1
    assert data.run_requests[0].run_key
    assert data.cursor


def test_sensor_skips_the_same_state_again(tmp_path) -> None:
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "2026-11-20.jsonl", [ORDER])
    first = _tick(resource, None)
    again = _tick(resource, first.cursor)
    assert again.run_requests == []
    assert again.skip_message


def test_sensor_requests_a_new_run_for_a_changed_file(tmp_path) -> None:
    resource = _resource(tmp_path)
    path = write_jsonl(tmp_path / "callbacks" / "2026-11-20.jsonl", [{"order_id": "o1"}])
    first = _tick(resource, None)
    write_jsonl(path, [{"order_id": "o1"}, {"order_id": "o2"}])
    changed = _tick(resource, first.cursor)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert changed.cursor != first.cursor


def test_sensor_requests_a_new_run_for_a_second_file(tmp_path) -> None:
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "a.jsonl", [ORDER])
    first = _tick(resource, None)
    write_jsonl(tmp_path / "callbacks" / "a.jsonl", [{"order_id": "o1"}])
    second = _tick(resource, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_sensor_run_key_is_a_function_of_the_landing_state(tmp_path) -> None:
    """Two evaluations of one state give one run key, so Dagster launches one run for it."""
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "a.jsonl", [ORDER])
    assert _tick(resource, None).run_requests[0].run_key == _tick(resource, None).run_requests[0].run_key


def test_sensor_ignores_hidden_partial_uploads(tmp_path) -> None:
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / ".2026-11-20.jsonl", [ORDER])
    write_jsonl(tmp_path / "orders" / "notes.txt", ["not a log"])
    data = _tick(resource, None)
    assert data.run_requests == []


def test_sensor_requests_a_run_when_a_file_is_removed(tmp_path) -> None:
    """A removed file's lines must leave the published tables, so its removal triggers a run."""
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "a.jsonl", [ORDER])
    first = _tick(resource, None)
    later = write_jsonl(tmp_path / "orders" / "b.jsonl", [ORDER])
    second = _tick(resource, first.cursor)
    later.unlink()
    third = _tick(resource, second.cursor)
    assert len(third.run_requests) == 1
    assert third.run_requests[0].tags["orders_pipeline/removed_files"] == "1"
    # Back to the first state: still a run of its own, with a run key Dagster has not seen.
    keys = {first.run_requests[0].run_key, second.run_requests[0].run_key, third.run_requests[0].run_key}
    assert len(keys) == 3
    assert _tick(resource, third.cursor).run_requests == []


def test_sensor_reads_a_cursor_of_the_older_format(tmp_path) -> None:
    """Cursors saved before the request count was kept hold the files alone."""
    resource = _resource(tmp_path)
    write_jsonl(tmp_path / "orders" / "a.jsonl", [ORDER])
    files = json.loads(_tick(resource, None).cursor)["files"]
    assert _tick(resource, json.dumps(files)).run_requests == []


def test_sensor_also_watches_the_statement_files(tmp_path) -> None:
    base = _resource(tmp_path)
    (tmp_path / "statements").mkdir()
    watching = ReconciliationResource(
        orders_path=base.orders_path,
        callbacks_path=base.callbacks_path,
        statements_path=str(tmp_path / "statements"),
        warehouse_path=base.warehouse_path,
    )
    write_jsonl(tmp_path / "orders" / "a.jsonl", [ORDER])
    first = _tick(watching, None)
    (tmp_path / "statements" / "STL-20261118.01.009.CSV").write_text('"SH","2026/11/18 00:00:00 -0800"\n')
    second = _tick(watching, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].tags["orders_pipeline/new_files"] == "1"
    assert "statements/STL-20261118.01.009.CSV" in json.loads(second.cursor)["files"]
