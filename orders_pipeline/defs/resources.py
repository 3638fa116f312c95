"""The one resource every asset uses: where the inputs and the warehouse are, the rules, and the run's as-of.

Settings are loaded once per run (when the resource is set up), and the as-of is resolved from
what the run was launched with (:meth:`ReconciliationResource.as_of`), so every step of a run
evaluates the same instant and none falls back to "now".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from orders_pipeline.lib.common.config import Settings, load_settings
from orders_pipeline.lib.common.errors import ConfigError, UserError
from orders_pipeline.lib.common.faults import inject
from orders_pipeline.lib.common.time import parse_as_of
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS, InputKind
from orders_pipeline.lib.engines import ENGINE_ENV, LOCAL, Engine, check_engine
from orders_pipeline.lib.inputs.discovery import InputFile, discover_files
from orders_pipeline.lib.warehouse.connection import Warehouse
from orders_pipeline.lib.warehouse.run_lock import RunLock
from orders_pipeline.lib.warehouse.run_lock import acquire as acquire_run_lock
from orders_pipeline.lib.warehouse.run_log import timed_stage

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / "data" / "warehouse.duckdb"

DAGSTER_HINT = "wait for it to finish, then launch this run again"
"""What a Dagster run refused by the run lock tells the user."""

AS_OF_TAG = "orders_pipeline/as_of"
"""Run tag holding the as-of a run evaluates (RFC 3339); set by the CLI, the schedules and the sensor."""


def sample_as_of() -> str | None:
    """The as-of the bundled sample corpus was generated for (``data/sample/AS_OF``)."""
    marker = SAMPLE_DIR / "AS_OF"
    return marker.read_text().strip() if marker.exists() else None


class ReconciliationResource(dg.ConfigurableResource):
    """Inputs, warehouse and rules of a reconciliation run.

    Defaults are the bundled sample corpus and ``data/warehouse.duckdb``; in the Dagster UI
    override them in the Launchpad, or set ``ORDERS_PIPELINE_*`` environment variables.
    ``statements_path`` is optional: without it no provider has statements (the (S) rules
    are inert), and statement files landed by an earlier run are removed.
    """

    orders_path: str = str(SAMPLE_DIR / "orders")
    callbacks_path: str = str(SAMPLE_DIR / "callbacks")
    statements_path: str | None = None
    warehouse_path: str = str(DEFAULT_WAREHOUSE)
    config_file: str | None = None
    as_of: str | None = None
    engine: str = "local"
    """Where landing and classification run: ``local`` (in process) or ``spark`` (the ``pyspark`` resource)."""

    _settings: Settings | None = PrivateAttr(default=None)
    _run_lock: RunLock | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Load the settings once for the run, and take the warehouse's run lock for the whole run.

        Every job runs its steps in the run's own process, so this is once per run: the run is
        the one holder, and a second writer (another Dagster instance, the command line) is
        refused until it ends. A run started by the command line already holds the lock, which
        is shared. Sensors and schedules set the resource up outside any run and take no lock.
        """
        self._settings = load_settings(self.config_file)
        check_engine(self.engine, "reconciliation.engine")
        if context.run is not None:
            self._run_lock = acquire_run_lock(self.warehouse().path, context.run.run_id, hint=DAGSTER_HINT)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Release the run lock at the end of the run (whether it published, failed or was stopped)."""
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    def run_engine(
        self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, pyspark: dg.ConfigurableResource
    ) -> Engine:
        """The engine this run lands and classifies with; for ``spark``, on the ``pyspark`` resource's session."""
        if check_engine(self.engine, "reconciliation.engine") == LOCAL.name:
            return LOCAL
        from orders_pipeline.lib.engines.spark import check_spark_ready, spark_engine, staging_for, use_this_python

        settings = self.settings()
        check_spark_ready(settings.spark)
        use_this_python()
        # LazyPySparkResource starts the session on first use, so a local run never starts Spark.
        session = pyspark.spark_session  # type: ignore[attr-defined]
        return spark_engine(session, settings, staging_for(self.warehouse_path, settings.spark), context.run.run_id)

    def settings(self) -> Settings:
        """The provider profiles and thresholds (the rules' defaults unless a config file overrides them)."""
        if self._settings is None:  # used outside a run (schedules, sensors, tests)
            self._settings = load_settings(self.config_file)
        return self._settings

    def warehouse(self) -> Warehouse:
        """The warehouse this run publishes to."""
        return Warehouse.at(self.warehouse_path)

    def input_files(self) -> dict[InputKind, list[InputFile]]:
        """The order and callback files under the configured paths, each list in reading order."""
        return {
            ORDERS: discover_files(self.orders_path, ORDERS),
            CALLBACKS: discover_files(self.callbacks_path, CALLBACKS),
        }

    def statement_files(self) -> list[InputFile]:
        """The statement files under the configured path, in reading order (none without a path)."""
        return discover_files(self.statements_path, STATEMENTS) if self.statements_path else []

    def input_path(self, kind: InputKind) -> str | None:
        """The configured folder (or file) of one kind of input (``None``: no statements path)."""
        return {ORDERS: self.orders_path, CALLBACKS: self.callbacks_path, STATEMENTS: self.statements_path}[kind]

    def run_as_of(self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> datetime:
        """The as-of this run evaluates, resolved from how it was launched, the same for every step.

        In order: the run's :data:`AS_OF_TAG` (the CLI's ``--as-of``, a schedule's tick, the
        sensor's evaluation time, or set by hand in the Launchpad), the resource's configured
        ``as_of``, and otherwise the time the run was created, to the second.
        """
        tagged = context.run.tags.get(AS_OF_TAG)
        if tagged:
            return parse_as_of(tagged, self.settings().timezone)
        if self.as_of:
            return parse_as_of(self.as_of, self.settings().timezone)
        record = context.instance.get_run_record_by_id(context.run.run_id)
        if record is None or record.create_timestamp is None:
            raise RuntimeError(
                f"run {context.run.run_id} has no record to take its launch time from; tag it {AS_OF_TAG}"
            )
        return record.create_timestamp.astimezone(UTC).replace(microsecond=0)

    @contextlib.contextmanager
    def work(
        self, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, stage: str
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The work database, with the block timed as part of one stage of the run (ingest, classify, checks)."""
        warehouse = self.warehouse()
        with warehouse.work() as con, timed_stage(con, context.run.run_id, stage):
            inject(context.op_def.name, warehouse.work_path)  # tests only (ORDERS_PIPELINE_FAULT)
            yield con


def resource_from_env() -> ReconciliationResource:
    """The resource as the UI and daemon see it: the bundled sample unless ``ORDERS_PIPELINE_*`` say otherwise."""
    defaults = ReconciliationResource()
    uses_sample = not any(f"ORDERS_PIPELINE_{kind}" in os.environ for kind in ("ORDERS", "CALLBACKS", "STATEMENTS"))

    def from_env(name: str) -> dg.EnvVar | None:
        # An EnvVar (resolved by Dagster at launch, shown as such in the UI) only for set variables.
        return dg.EnvVar(name) if os.environ.get(name) else None

    return ReconciliationResource(
        orders_path=from_env("ORDERS_PIPELINE_ORDERS") or defaults.orders_path,
        callbacks_path=from_env("ORDERS_PIPELINE_CALLBACKS") or defaults.callbacks_path,
        statements_path=from_env("ORDERS_PIPELINE_STATEMENTS"),
        warehouse_path=from_env("ORDERS_PIPELINE_WAREHOUSE") or defaults.warehouse_path,
        config_file=from_env("ORDERS_PIPELINE_CONFIG"),
        as_of=from_env("ORDERS_PIPELINE_AS_OF") or (sample_as_of() if uses_sample else None),
        engine=from_env(ENGINE_ENV) or defaults.engine,
    )


class SparkUnavailable(dg.ConfigurableResource):
    """Stands in for the ``pyspark`` resource where no Spark run can happen: using it says why, in one line."""

    reason: str

    @property
    def spark_session(self) -> None:
        """Never a session: the reason, as a one-line error."""
        raise ConfigError(self.reason)


def pyspark_resource(reconciliation: ReconciliationResource) -> dg.ConfigurableResource:
    """The ``pyspark`` resource for a code location whose engine is ``spark``: dagster-pyspark's lazy session.

    It is configured from the config file's ``spark:`` section and starts Spark only when a run
    first uses it. With the local engine (or without PySpark installed) a stand-in is bound
    instead, so a local run never imports PySpark (half a second per run) and a mistaken
    Spark run fails with a one-line message saying what to set or install.
    """
    engine = reconciliation.engine if isinstance(reconciliation.engine, str) else os.environ.get(ENGINE_ENV, "")
    if engine.strip().lower() != "spark":
        return SparkUnavailable(
            reason=f"this code location was loaded with the local engine; set {ENGINE_ENV}=spark "
            "before starting Dagster (or pass --engine spark) to run on Spark"
        )
    from orders_pipeline.lib.engines.spark import spark_config

    try:
        from dagster_pyspark import LazyPySparkResource
    except ImportError:
        return SparkUnavailable(
            reason="the Spark engine needs PySpark: pip install 'orders_pipeline[spark]' (or use the local engine)"
        )
    config_file = reconciliation.config_file
    if not isinstance(config_file, str):  # an EnvVar of the UI's resource
        config_file = os.environ.get("ORDERS_PIPELINE_CONFIG") or None
    try:
        spark = load_settings(config_file).spark
        conf = spark_config(spark)
    except UserError:
        # A bad config file fails the run when the reconciliation resource loads it, with its
        # own message; the definitions still load so the UI can show that run.
        conf = spark_config(load_settings(None).spark)
    return LazyPySparkResource(spark_config=conf)


def requested_days(context: dg.AssetExecutionContext) -> tuple[date, date] | None:
    """The order days a run was launched for (its partition range), if it was launched for any."""
    if not context.has_partition_key_range:
        return None
    window = context.partition_key_range
    return date.fromisoformat(window.start), date.fromisoformat(window.end)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A small Markdown table for asset metadata previews in the Dagster UI."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
