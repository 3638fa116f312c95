"""Choosing and configuring an engine: names, the config's spark: section, and what is checked before a run."""

from __future__ import annotations

import pyarrow as pa
import pytest

from orders_pipeline.cli import main
from orders_pipeline.lib.common.config import SparkSettings, settings_from_mapping
from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.engines import LOCAL, check_engine
from orders_pipeline.lib.engines.spark import Staging, check_spark_ready, plain_schema, spark_config, staging_for
from orders_pipeline_tests.conftest import AS_OF


def test_engine_names_are_checked_case_insensitively() -> None:
    assert check_engine("Spark") == "spark"
    assert check_engine(" local ") == LOCAL.name
    with pytest.raises(ConfigError, match=r"unknown engine 'dask'; choose one of local, spark"):
        check_engine("dask")


def test_spark_section_defaults_and_overrides() -> None:
    assert settings_from_mapping({}).spark == SparkSettings()
    spark = settings_from_mapping(
        {
            "spark": {
                "master": "spark://head:7077",
                "staging": "s3://bucket/orders-pipeline",
                "conf": {"spark.executor.memory": "4g", "spark.dynamicAllocation.enabled": True, "x.cores": 2},
                "min_buckets": 64,
            }
        }
    ).spark
    assert spark.master == "spark://head:7077"
    assert spark.staging == "s3://bucket/orders-pipeline"
    assert spark.conf == {"spark.executor.memory": "4g", "spark.dynamicAllocation.enabled": "true", "x.cores": "2"}
    assert spark.min_buckets == 64


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"masters": "local[2]"}, r"spark: unknown key 'masters'"),
        ({"min_buckets": 0}, r"spark.min_buckets: expected a whole number >= 1"),
        ({"conf": {"spark.jars": ["a.jar"]}}, r"spark.conf.spark.jars: expected a single value"),
        ({"connect_url_env": "sc://host:15002/;token=abc"}, r"NAME of an environment variable"),
    ],
)
def test_bad_spark_section_is_a_one_line_error(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        settings_from_mapping({"spark": section})
    assert "\n" not in str(error.value)


def test_spark_config_sets_what_correctness_depends_on_and_keeps_the_users_properties() -> None:
    conf = spark_config(SparkSettings(master="local[3]", conf={"spark.executor.memory": "2g"}, min_buckets=12))
    assert conf["spark.master"] == "local[3]"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert conf["spark.sql.shuffle.partitions"] == "12"
    assert conf["spark.executor.memory"] == "2g"
    assert "spark.remote" not in conf


def test_a_connect_url_comes_from_the_named_variable_and_wins_over_master() -> None:
    settings = SparkSettings(master="local[*]", connect_url_env="MY_SPARK_CONNECT")
    conf = spark_config(settings, environ={"MY_SPARK_CONNECT": "sc://spark.internal:15002"})
    assert conf["spark.remote"] == "sc://spark.internal:15002"
    assert "spark.master" not in conf
    with pytest.raises(ConfigError, match=r"MY_SPARK_CONNECT, which is not set"):
        spark_config(settings, environ={})


def test_local_spark_without_java_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match=r"runs on Java 17 and no java was found; install a JDK 17"):
        check_spark_ready(SparkSettings())


def test_cli_engine_spark_without_java_fails_before_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path, small_logs, capsys
) -> None:
    orders, callbacks = small_logs
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    args = ["reconcile", "--orders", str(orders), "--callbacks", str(callbacks), "--warehouse", str(warehouse)]
    code = main([*args, "--as-of", AS_OF, "--quiet", "--engine", "spark"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "Java 17" in err
    assert not warehouse.exists()


def test_plain_schema_turns_large_types_into_what_spark_exchanges() -> None:
    schema = pa.schema([("a", pa.large_string()), ("b", pa.large_list(pa.large_string())), ("c", pa.int64())])
    assert plain_schema(schema) == pa.schema([("a", pa.string()), ("b", pa.list_(pa.string())), ("c", pa.int64())])


def test_staging_defaults_beside_the_warehouse_and_accepts_uris(tmp_path) -> None:
    assert staging_for(tmp_path / "w.duckdb", SparkSettings()) == str(tmp_path / "w.duckdb.spark")
    assert staging_for(tmp_path / "w.duckdb", SparkSettings(staging="s3://b/p")) == "s3://b/p"
    local = Staging.at(str(tmp_path / "stage"), "run-1")
    assert local.path == str(tmp_path / "stage" / "run-1")
    assert local.uri == (tmp_path / "stage" / "run-1").as_uri()
    uri = Staging.at((tmp_path / "stage").as_uri(), "run-1")
    assert uri.uri == (tmp_path / "stage").as_uri() + "/run-1"


def test_dagster_binds_the_lazy_pyspark_resource_only_for_the_spark_engine(tmp_path) -> None:
    from dagster_pyspark import LazyPySparkResource

    from orders_pipeline.defs.resources import ReconciliationResource, SparkUnavailable, pyspark_resource

    config = tmp_path / "c.yaml"
    config.write_text("spark:\n  master: local[3]\n  conf: {spark.executor.memory: 3g}\n")
    local = pyspark_resource(ReconciliationResource(config_file=str(config)))
    assert isinstance(local, SparkUnavailable)
    with pytest.raises(ConfigError, match=r"loaded with the local engine; set ORDERS_PIPELINE_ENGINE=spark"):
        _ = local.spark_session

    spark = pyspark_resource(ReconciliationResource(config_file=str(config), engine="spark"))
    assert isinstance(spark, LazyPySparkResource)
    assert spark.spark_config["spark.master"] == "local[3]"
    assert spark.spark_config["spark.executor.memory"] == "3g"
    assert spark.spark_config["spark.sql.session.timeZone"] == "UTC"
