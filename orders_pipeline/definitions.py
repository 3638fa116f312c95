"""The Dagster code location: everything under ``defs/``, with the reconciliation resource.

Definitions are loaded from every module of :mod:`orders_pipeline.defs`, so a new file there
cannot be forgotten. Every job runs in one process: DuckDB takes one writer at a time, and
each step is short, so a subprocess per step would only add cost and lock contention.
"""

import warnings

import dagster as dg

import orders_pipeline.defs
from orders_pipeline.defs.resources import ReconciliationResource, pyspark_resource, resource_from_env


def build_definitions(
    resource: ReconciliationResource | None = None, loggers: dict[str, dg.LoggerDefinition] | None = None
) -> dg.Definitions:
    """All definitions, with the given reconciliation resource (the CLI passes its own, and a quieter logger)."""
    # Loading imports the defs modules; these two APIs are the supported way to do what we need
    # (load every module; one run per backfill range) and their beta/preview notices would
    # otherwise print on every CLI run and every `dagster dev` reload.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", r"Function `load_definitions_from_\w+` is currently in preview", dg.PreviewWarning
        )
        warnings.filterwarnings("ignore", r"Parameter `backfill_policy` of function `asset`", dg.BetaWarning)
        reconciliation = resource or resource_from_env()
        return dg.load_definitions_from_package_module(
            orders_pipeline.defs,
            resources={"reconciliation": reconciliation, "pyspark": pyspark_resource(reconciliation)},
            loggers=loggers,
            executor=dg.in_process_executor,
        )


defs = build_definitions()
