"""The Dagster code location: every asset, check, job and schedule of the pipeline."""


import os

import dagster as dg

from orders_pipeline.defs import jobs
from orders_pipeline.defs.automation import schedules, sensors
from orders_pipeline.defs.ingestion import assets as ingestion_assets
from orders_pipeline.defs.outcomes import assets as outcome_assets
from orders_pipeline.defs.publishing import assets as publishing_assets
from orders_pipeline.defs.quality import assets as quality_assets
from orders_pipeline.defs.quality import checks as quality_checks
from orders_pipeline.defs.reconciliation import assets as reconciliation_assets
from orders_pipeline.defs.resources import ReconciliationResource, sample_as_of

ASSET_MODULES = [ingestion_assets, outcome_assets, reconciliation_assets, quality_assets, publishing_assets]


def reconciliation_resource_from_env() -> ReconciliationResource:
    """The resource as the UI/daemon sees it: the bundled sample unless ORDERS_PIPELINE_* say otherwise."""
    defaults = ReconciliationResource()
    uses_sample = "ORDERS_PIPELINE_ORDERS" not in os.environ and "ORDERS_PIPELINE_CALLBACKS" not in os.environ
    return ReconciliationResource(
        orders_path=os.environ.get("ORDERS_PIPELINE_ORDERS", defaults.orders_path),
        callbacks_path=os.environ.get("ORDERS_PIPELINE_CALLBACKS", defaults.callbacks_path),
        warehouse_path=os.environ.get("ORDERS_PIPELINE_WAREHOUSE", defaults.warehouse_path),
        config_file=os.environ.get("ORDERS_PIPELINE_CONFIG") or None,
        as_of=os.environ.get("ORDERS_PIPELINE_AS_OF") or (sample_as_of() if uses_sample else None),
    )


def build_definitions(
    resource: ReconciliationResource | None = None, loggers: dict[str, dg.LoggerDefinition] | None = None
) -> dg.Definitions:
    """All definitions, with the given reconciliation resource (the CLI passes its own, and a quieter logger)."""
    return dg.Definitions(
        loggers=loggers,
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        asset_checks=dg.load_asset_checks_from_modules([quality_checks]),
        jobs=[jobs.reconcile_job],
        schedules=[schedules.daily_reconcile_schedule, schedules.hourly_reconcile_schedule],
        sensors=[sensors.new_log_files_sensor],
        resources={"reconciliation": resource or reconciliation_resource_from_env()},
    )


defs = build_definitions()
