"""When the pipeline runs by itself: a daily schedule, and an hourly one for busier platforms.

Each run covers the live window of order days (those whose orders can still change as of the
run); the outcome step adds any other day that received new lines.
"""

import os
from typing import Literal

import dagster as dg

from orders_pipeline.defs.jobs import reconcile_job
from orders_pipeline.defs.partitions import live_window_tags
from orders_pipeline.defs.resources import ReconciliationResource

Cadence = Literal["daily", "hourly"]


def live_window_request(context: dg.ScheduleEvaluationContext, reconciliation: ReconciliationResource) -> dg.RunRequest:
    """A run over the live window of order days, as of the scheduled tick."""
    tags = live_window_tags(context.scheduled_execution_time, reconciliation.settings())
    return dg.RunRequest(run_key=None, tags={**tags, "orders_pipeline/trigger": "schedule"})


def _status(cadence: Cadence) -> dg.DefaultScheduleStatus:
    chosen = os.environ.get("ORDERS_PIPELINE_SCHEDULE", "daily")
    return dg.DefaultScheduleStatus.RUNNING if chosen == cadence else dg.DefaultScheduleStatus.STOPPED


def _reconcile_schedule(name: str, cadence: Cadence, cron: str, description: str) -> dg.ScheduleDefinition:
    """A schedule of ``reconcile_job`` over the live window, on when ORDERS_PIPELINE_SCHEDULE names its cadence."""

    @dg.schedule(
        name=name,
        job=reconcile_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=_status(cadence),
        description=f"{description} (ORDERS_PIPELINE_SCHEDULE={cadence}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, reconciliation: ReconciliationResource):
        return live_window_request(context, reconciliation)

    return _schedule


# Daily after the day's logs have been shipped (the default); hourly for platforms that want
# overdue orders queried within the hour.
daily_reconcile_schedule = _reconcile_schedule(
    "daily_reconcile_schedule", "daily", "0 1 * * *", "Reconcile every day at 01:00 UTC"
)
hourly_reconcile_schedule = _reconcile_schedule(
    "hourly_reconcile_schedule", "hourly", "5 * * * *", "Reconcile every hour at :05"
)
