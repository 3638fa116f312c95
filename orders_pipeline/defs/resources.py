"""The one resource every asset uses: where the logs are, where the warehouse is, and the rules."""


import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline.lib.config import Settings, load_settings, parse_as_of
from orders_pipeline.lib.warehouse import Warehouse, fetch_first, record_stage, table_exists

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_WAREHOUSE = REPO_ROOT / "data" / "warehouse.duckdb"


def sample_as_of() -> str | None:
    """The as-of the bundled sample corpus was generated for (``data/sample/AS_OF``)."""
    marker = SAMPLE_DIR / "AS_OF"
    return marker.read_text().strip() if marker.exists() else None


class ReconciliationResource(dg.ConfigurableResource):
    """Inputs, warehouse and rules of a reconciliation run.

    Defaults are the bundled sample corpus and ``data/warehouse.duckdb``; in the Dagster UI
    override them in the launchpad, or set ``ORDERS_PIPELINE_*`` environment variables.
    """

    orders_path: str = str(SAMPLE_DIR / "orders")
    callbacks_path: str = str(SAMPLE_DIR / "callbacks")
    warehouse_path: str = str(DEFAULT_WAREHOUSE)
    config_file: str | None = None
    as_of: str | None = None

    def settings(self) -> Settings:
        """The provider profiles and thresholds (SPEC defaults unless a config file overrides them)."""
        return load_settings(self.config_file)

    def warehouse(self) -> Warehouse:
        """The warehouse this run publishes to."""
        return Warehouse.at(self.warehouse_path)

    def resolve_as_of(self) -> datetime:
        """The configured as-of, or now (to the second) when none is set."""
        if self.as_of:
            return parse_as_of(self.as_of, self.settings().timezone)
        return datetime.now(UTC).replace(microsecond=0)


def run_as_of(con: duckdb.DuckDBPyConnection, run_id: str) -> datetime | None:
    """The as-of recorded for this run by its outcome step (``None`` if that step did not run)."""
    row = fetch_first(con, "SELECT as_of FROM run_log.evaluation WHERE run_id = ?", [run_id])
    if row is None:
        has_outcomes = table_exists(con, "recon.order_outcomes")
        row = fetch_first(con, "SELECT max(as_of) FROM recon.order_outcomes") if has_outcomes else None
    return row[0] if row and row[0] is not None else None



@contextlib.contextmanager
def stage(con: duckdb.DuckDBPyConnection, run_id: str, name: str) -> Iterator[None]:
    """Time a stage of the run (ingest, classify, checks, publish) into ``runs.stage_seconds``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record_stage(con, run_id, name, time.perf_counter() - start)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A small Markdown table for asset metadata previews in the Dagster UI."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
