"""The main job: land the logs, classify, check, publish — every asset and check, in one process."""


import dagster as dg

# DuckDB takes one writer process at a time, and each step is short: run the whole job in
# process instead of paying a subprocess per step.
reconcile_job = dg.define_asset_job(
    "reconcile_job",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Reconcile orders against callbacks as of now (or the configured as_of) and publish the warehouse.",
)
