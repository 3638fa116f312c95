"""Engines: where the two units of scale run — landing one file, classifying one hash bucket.

Both functions are plain and engine-free (:func:`~orders_pipeline.lib.inputs.landing.land_file`,
:func:`~orders_pipeline.lib.outcomes.batches.classify_bucket`). An :class:`Engine` only decides
where they are called: in process one after the other (:data:`LOCAL`, the default), or as
Spark tasks (:mod:`orders_pipeline.lib.engines.spark`). Whatever the engine, the work database's
connection stays the only writer of the landing tables, the outcomes and the published
snapshot, so the published tables do not depend on the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.inputs.landing import Lander, land_files
from orders_pipeline.lib.outcomes.batches import Classifier, classify_buckets

ENGINE_NAMES = ("local", "spark")
ENGINE_ENV = "ORDERS_PIPELINE_ENGINE"
"""The environment variable that picks the engine of Dagster runs (the CLI has ``--engine``)."""


@dataclass(frozen=True)
class Engine:
    """How a run lands files (``land``) and classifies buckets (``classify``).

    ``min_buckets``: the fewest hash buckets classification is split into (an engine with many
    workers wants at least one bucket per worker; in process one bucket is as fast as any).
    """

    name: str
    land: Lander
    classify: Classifier
    min_buckets: int = 1


LOCAL = Engine("local", land_files, classify_buckets)


def check_engine(name: str, where: str = "engine") -> str:
    """``name`` as an engine name (case-insensitive), or a one-line error listing the engines."""
    normalized = name.strip().lower()
    if normalized not in ENGINE_NAMES:
        raise ConfigError(f"{where}: unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    return normalized
