"""When the pipeline runs by itself: a daily schedule, and an hourly one for busier platforms."""


import os

import dagster as dg

from orders_pipeline.defs.jobs import reconcile_job

# Daily at 01:00 UTC, after the day's logs have been shipped; a run evaluates as of its start.
daily_reconcile_schedule = dg.ScheduleDefinition(
    name="daily_reconcile_schedule",
    job=reconcile_job,
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING
    if os.environ.get("ORDERS_PIPELINE_SCHEDULE", "daily") == "daily"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Reconcile every day at 01:00 UTC (ORDERS_PIPELINE_SCHEDULE=daily, the default).",
)

# The hourly variant: on when ORDERS_PIPELINE_SCHEDULE=hourly (or switched on in the UI).
hourly_reconcile_schedule = dg.ScheduleDefinition(
    name="hourly_reconcile_schedule",
    job=reconcile_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING
    if os.environ.get("ORDERS_PIPELINE_SCHEDULE") == "hourly"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Reconcile every hour at :05 (ORDERS_PIPELINE_SCHEDULE=hourly).",
)
