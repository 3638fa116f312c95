"""The Spark engine: the same landing and classification functions, run as Spark tasks.

Landing is a function of one file and classification a function of one hash bucket of
``order_id`` (:mod:`orders_pipeline.lib.engines`); this module runs them on a Spark cluster and
hands their results back to the work database's single writer, exactly as the local engine does:

* **Landing** (:func:`land_on_spark`): a DataFrame of one row per file, one partition per file,
  ``mapInArrow`` calls :func:`~orders_pipeline.lib.inputs.landing.land_file` on the executor
  that got it and writes the file's landed rows, rejected lines and ignored records as Parquet
  under ``<staging>/<run>/landing/file=<n>/``. The driver reads them back in reading order and
  the manifest writes them to the landing tables (one transaction per file, as always).
* **Classification** (:func:`classify_on_spark`): the hash buckets the work database spilled
  are copied to ``<staging>/<run>/spill/``; Spark reads them, groups by bucket and
  ``applyInArrow`` calls :func:`~orders_pipeline.lib.outcomes.batches.classify_bucket` once
  per bucket; the outcomes are written as Parquet partitioned by ``order_day`` and ``bucket``
  under ``<staging>/<run>/outcomes/``, read back a bucket at a time and written by the
  outcome store exactly as the local engine's are.

So the published tables are the same whichever engine ran, and DuckDB is never written by
Spark. ``staging`` is a local folder or any URI ``pyarrow.fs`` understands (``s3://``,
``gs://``, ``abfs://``, ``hdfs://``) that the driver and every executor can reach
(docs/cluster.md). Spark's own types are kept plain (``string``, ``list<string>``,
microsecond UTC timestamps) at the boundary; the contracts' types are restored on the way back.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orders_pipeline.lib.common import progress
from orders_pipeline.lib.common.config import Settings, SparkSettings
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS
from orders_pipeline.lib.engines import Engine
from orders_pipeline.lib.inputs.discovery import InputFile
from orders_pipeline.lib.inputs.ingest import FileCounts
from orders_pipeline.lib.inputs.landing import LandedFile, land_file, landing_arrow, landing_schema
from orders_pipeline.lib.outcomes.batches import BUCKET_COLUMNS, BucketSpill, classify_bucket
from orders_pipeline.lib.statements.coverage import StatementDays
from orders_pipeline.lib.warehouse.contracts import ORDER_OUTCOMES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RUNTIME_CONF = {
    # Timestamps cross the boundary as UTC instants, whatever the cluster's default zone.
    "spark.sql.session.timeZone": "UTC",
    # Parquet timestamps as microsecond INT64 (Spark's default INT96 is read back as nanoseconds).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""Session properties the engine's correctness depends on; set on whatever session it is given."""

START_CONF = {
    "spark.app.name": "orders_pipeline",
    "spark.ui.showConsoleProgress": "false",
    # Executors run the same Python (and so the same package) as the driver.
    "spark.pyspark.python": sys.executable,
    "spark.pyspark.driver.python": sys.executable,
}

_LANDED_TABLES = ("rows", "rejected", "ignored")
_LANDING_RESULT = (
    "index long, sha256 string, records_read long, landed long, rejected long, ignored long, "
    "unreadable long, unreadable_reason string"
)
_BUCKET = "bucket"
_ORDER_DAY = "order_day"


def connect_url(settings: SparkSettings, environ: dict[str, str] | None = None) -> str | None:
    """The Spark Connect URL from the environment variable the config names (``None``: use ``master``)."""
    if settings.connect_url_env is None:
        return None
    env = os.environ if environ is None else environ
    url = env.get(settings.connect_url_env, "").strip()
    if not url:
        raise ConfigError(
            f"spark.connect_url_env names {settings.connect_url_env}, which is not set; "
            "set it to the Spark Connect URL (sc://host:15002) or remove connect_url_env to use spark.master"
        )
    return url


def spark_config(settings: SparkSettings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The Spark properties a session for this config starts with: master (or Connect URL), the engine's, the user's."""
    conf = {**START_CONF, **RUNTIME_CONF, "spark.sql.shuffle.partitions": str(settings.min_buckets)}
    url = connect_url(settings, environ)
    if url is not None:
        conf["spark.remote"] = url
    else:
        conf["spark.master"] = settings.master
    conf.update(settings.conf)
    return conf


def check_spark_ready(settings: SparkSettings) -> None:
    """A one-line error if the Spark engine cannot start here: PySpark missing, Java missing, Connect URL unset."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the Spark engine needs PySpark: pip install 'orders_pipeline[spark]' (or run with --engine local)"
        ) from None
    if connect_url(settings) is None and settings.master.startswith("local"):
        java_home = os.environ.get("JAVA_HOME")
        has_java = bool(java_home and Path(java_home, "bin", "java").exists()) or shutil.which("java") is not None
        if not has_java:
            raise ConfigError(
                "the Spark engine runs on Java 17 and no java was found; install a JDK 17 "
                "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
            )


def use_this_python() -> None:
    """Make Spark's Python workers run this interpreter (and so this environment's packages).

    PySpark takes the workers' interpreter from ``PYSPARK_PYTHON`` when the session starts (the
    ``spark.pyspark.python`` property only reaches jobs launched by spark-submit); unset, it
    runs whatever ``python3`` is first on the PATH, which may lack this package.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def start_session(settings: SparkSettings) -> SparkSession:
    """A Spark session for this config (the one already running in this process, if any)."""
    check_spark_ready(settings)
    from pyspark.sql import SparkSession

    use_this_python()
    builder = SparkSession.builder
    for key, value in spark_config(settings).items():
        builder = builder.config(key, value)
    return prepare_session(builder.getOrCreate())


def prepare_session(session: SparkSession) -> SparkSession:
    """Set the properties the engine depends on, and quiet Spark's console logging."""
    for key, value in RUNTIME_CONF.items():
        session.conf.set(key, value)
    context = getattr(session, "sparkContext", None)  # absent on Spark Connect
    try:
        if context is not None:
            context.setLogLevel("ERROR")
    except Exception:  # noqa: BLE001 (Connect sessions raise on sparkContext access)
        pass
    return session


def spark_engine(session: SparkSession, settings: Settings, staging: str, run_id: str | None = None) -> Engine:
    """The Spark engine on ``session``, writing its Parquet under ``<staging>/<run_id>/``."""
    prepare_session(session)
    root = Staging.at(staging, run_id or uuid.uuid4().hex)
    return Engine(
        name="spark",
        land=partial(land_on_spark, session, root),
        classify=partial(classify_on_spark, session, root),
        min_buckets=settings.spark.min_buckets,
    )


@dataclass(frozen=True)
class Staging:
    """A run's folder on the staging filesystem: ``path`` on ``filesystem`` (``uri`` for Spark)."""

    filesystem: pafs.FileSystem
    path: str
    uri: str

    @classmethod
    def at(cls, staging: str, run_id: str) -> Staging:
        """The run's folder under ``staging`` (a local folder or a ``pyarrow.fs`` URI)."""
        if "://" in staging:
            filesystem, base = pafs.FileSystem.from_uri(staging)
            prefix = staging.rstrip("/")
        else:
            filesystem, base = pafs.LocalFileSystem(), str(Path(staging).resolve())
            prefix = Path(base).as_uri()
        return cls(filesystem, f"{base.rstrip('/')}/{run_id}", f"{prefix}/{run_id}")

    def child(self, name: str) -> Staging:
        """A folder inside this one."""
        return Staging(self.filesystem, f"{self.path}/{name}", f"{self.uri}/{name}")

    def remove(self) -> None:
        """Delete the folder and what is in it (nothing when it does not exist)."""
        info = self.filesystem.get_file_info(self.path)
        if info.type != pafs.FileType.NotFound:
            self.filesystem.delete_dir(self.path)

    def remove_parent_if_empty(self) -> None:
        """Delete the run's folder once both engines' steps are done with it."""
        parent = self.path.rsplit("/", 1)[0]
        try:
            if not self.filesystem.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
                self.filesystem.delete_dir(parent)
        except OSError:
            pass


# ---- Landing -------------------------------------------------------------------------------


def land_on_spark(
    session: SparkSession, staging: Staging, files: Sequence[InputFile], settings: Settings
) -> Iterator[LandedFile]:
    """Land ``files`` as Spark tasks (one per file); each file's :class:`LandedFile`, in the order given."""
    if not files:
        return
    landing = staging.child(f"landing-{uuid.uuid4().hex[:8]}")
    try:
        rows = [(index, file.kind, str(file.path), file.relative) for index, file in enumerate(files)]
        frame = session.createDataFrame(rows, "index long, kind string, path string, relative string")
        results = (
            frame.repartitionByRange(len(files), "index")
            .mapInArrow(partial(_land_partition, landing, settings), _LANDING_RESULT)
            .collect()
        )
        by_index = {int(row["index"]): row for row in results}
        for index, file in enumerate(files):
            result = by_index[index]
            progress.records(result["records_read"])  # landed on an executor: counted as it arrives
            folder = f"{landing.path}/file={index}"
            tables = {
                name: _read_landed(landing.filesystem, f"{folder}/{name}.parquet", sink_table)
                for name, sink_table in zip(
                    _LANDED_TABLES, (file.kind, "rejected_lines", "ignored_records"), strict=True
                )
            }
            yield LandedFile(
                kind=file.kind,
                relative=file.relative,
                sha256=result["sha256"],
                counts=FileCounts(
                    result["records_read"],
                    result["landed"],
                    result["rejected"],
                    result["ignored"],
                    result["unreadable"],
                ),
                rows=tables["rows"],
                rejected=tables["rejected"],
                ignored=tables["ignored"],
                unreadable=result["unreadable_reason"],  # a quarantined file (None: read)
            )
    finally:
        landing.remove()
        landing.remove_parent_if_empty()


def _land_partition(
    landing: Staging, settings: Settings, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """On an executor: land each file of this partition, write its tables to staging, yield its counts."""
    for batch in batches:
        for row in batch.to_pylist():
            file = InputFile(kind=row["kind"], path=Path(row["path"]), relative=row["relative"])
            landed = land_file(file, settings)
            folder = f"{landing.path}/file={row['index']}"
            landing.filesystem.create_dir(folder, recursive=True)
            for name, table in zip(_LANDED_TABLES, (landed.rows, landed.rejected, landed.ignored), strict=True):
                pq.write_table(table, f"{folder}/{name}.parquet", filesystem=landing.filesystem)
            counts = landed.counts
            yield pa.RecordBatch.from_pylist(
                [
                    {
                        "index": row["index"],
                        "sha256": landed.sha256,
                        "records_read": counts.read,
                        "landed": counts.landed,
                        "rejected": counts.rejected,
                        "ignored": counts.ignored,
                        "unreadable": counts.unreadable,
                        "unreadable_reason": landed.unreadable,
                    }
                ],
                schema=pa.schema(
                    [
                        ("index", pa.int64()),
                        ("sha256", pa.string()),
                        ("records_read", pa.int64()),
                        ("landed", pa.int64()),
                        ("rejected", pa.int64()),
                        ("ignored", pa.int64()),
                        ("unreadable", pa.int64()),
                        ("unreadable_reason", pa.string()),
                    ]
                ),
            )


def _read_landed(filesystem: pafs.FileSystem, path: str, table: Any) -> pa.Table:
    return pq.read_table(path, filesystem=filesystem).cast(landing_schema(table))


# ---- Classification ------------------------------------------------------------------------


def outcome_schema() -> pa.Schema:
    """``recon.order_outcomes`` as Arrow, the types the outcome store expects."""
    return landing_arrow(pl.DataFrame(schema=ORDER_OUTCOMES.polars_schema())).schema


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with large strings and lists made plain: what Spark's Arrow exchange accepts."""
    return pa.schema([pa.field(f.name, _plain_type(f.type), f.nullable) for f in schema])


def _plain_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_list(type_) or pa.types.is_list(type_):
        return pa.list_(_plain_type(type_.value_type))
    return type_


def _bucket_output_schema() -> pa.Schema:
    schema = plain_schema(outcome_schema())
    return schema.append(pa.field(_BUCKET, pa.int64())).append(pa.field(_ORDER_DAY, pa.date32()))


def classify_on_spark(
    session: SparkSession,
    staging: Staging,
    spill: BucketSpill,
    as_of: datetime,
    settings: Settings,
    evidence: StatementDays,
) -> Iterator[pa.Table]:
    """Classify every bucket of ``spill`` as Spark tasks; the outcome table of each bucket, in bucket order."""
    from pyspark.sql import functions as F  # noqa: N812 (PySpark's convention)
    from pyspark.sql.pandas.types import from_arrow_schema

    run = staging.child(f"classify-{uuid.uuid4().hex[:8]}")
    try:
        spill_copy = run.child("spill")
        run.filesystem.create_dir(spill_copy.path, recursive=True)
        pafs.copy_files(str(spill.folder), spill_copy.path, pafs.LocalFileSystem(), run.filesystem)
        kinds = [ORDERS, CALLBACKS] + ([STATEMENTS] if spill.with_statements else [])
        frames = []
        for kind in kinds:
            if not any(spill.kind_folder(kind).glob("batch=*/*.parquet")):
                continue
            frame = session.read.option("basePath", spill_copy.child(kind).uri).parquet(spill_copy.child(kind).uri)
            frames.append(frame.withColumn("kind", F.lit(kind)))
        outcomes = run.child("outcomes")
        if frames:
            lines = reduce(lambda left, right: left.unionByName(right, allowMissingColumns=True), frames)
            output = _bucket_output_schema()

            # A plain function of one argument: PySpark reads the kind of UDF from the function's
            # signature (and fails on a functools.partial).
            def classify_group(lines):  # noqa: ANN001, ANN202
                return _classify_group(as_of, settings, evidence, output, lines)

            classified = lines.groupBy("batch").applyInArrow(classify_group, from_arrow_schema(output))
            classified.write.mode("overwrite").partitionBy(_ORDER_DAY, _BUCKET).parquet(outcomes.uri)
        yield from _read_outcomes(outcomes, spill.buckets)
    finally:
        run.remove()
        run.remove_parent_if_empty()


def _classify_group(
    as_of: datetime, settings: Settings, evidence: StatementDays, output: pa.Schema, lines: pa.Table
) -> pa.Table:
    """On an executor: one bucket's lines (every kind, tagged ``kind``) -> its outcomes, with bucket and order day."""
    bucket = int(lines["batch"][0].as_py())
    statements = _kind_rows(lines, STATEMENTS) if evidence.providers else None
    outcomes = classify_bucket(
        _kind_rows(lines, ORDERS), _kind_rows(lines, CALLBACKS), statements, as_of, settings, evidence
    )
    outcomes = outcomes.append_column(_BUCKET, pa.array([bucket] * outcomes.num_rows, pa.int64()))
    outcomes = outcomes.append_column(_ORDER_DAY, pc.cast(outcomes["created_at"], pa.date32()))
    return outcomes.cast(output)


def _kind_rows(lines: pa.Table, kind: str) -> pa.Table:
    columns = BUCKET_COLUMNS[kind]
    if any(name not in lines.column_names for name in columns):  # no line of this kind in the whole run
        return pl.DataFrame(schema=columns).to_arrow()
    rows = lines.filter(pc.equal(lines["kind"], kind))
    frame = pl.from_arrow(rows.select(list(columns)))
    assert isinstance(frame, pl.DataFrame)
    return frame.select([pl.col(name).cast(dtype) for name, dtype in columns.items()]).to_arrow()


def _read_outcomes(outcomes: Staging, buckets: int) -> Iterator[pa.Table]:
    """The classified outcomes, a bucket at a time, sorted by ``order_id`` and in the contract's types."""
    schema = outcome_schema()
    info = outcomes.filesystem.get_file_info(outcomes.path)
    dataset = (
        ds.dataset(outcomes.path, filesystem=outcomes.filesystem, format="parquet", partitioning="hive")
        if info.type == pafs.FileType.Directory
        else None
    )
    for bucket in range(buckets):
        if dataset is None:
            yield schema.empty_table()
            continue
        table = dataset.to_table(columns=schema.names, filter=pc.field(_BUCKET) == bucket)
        yield table.sort_by("order_id").cast(schema)


def staging_for(warehouse_path: str | Path, settings: SparkSettings) -> str:
    """Where the Spark engine stages its Parquet: the configured folder, else ``<warehouse>.spark`` beside it."""
    if settings.staging:
        return settings.staging
    warehouse = Path(warehouse_path).resolve()
    return str(warehouse.with_name(warehouse.name + ".spark"))
