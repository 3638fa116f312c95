"""The main job: land the inputs, classify, check, publish — every asset and check, in one process."""

import dagster as dg

reconcile_job = dg.define_asset_job(
    "reconcile_job",
    selection=dg.AssetSelection.all(),
    description="Reconcile orders against callbacks as of the run's as-of and publish the warehouse.",
)
