"""Great Expectations Data Docs: each run's validation results, rendered into a static site beside the warehouse.

:class:`DataDocs` stores each suite's validation result as JSON under a folder
beside the warehouse (see :func:`data_docs_folder`) and renders it into a static Great
Expectations Data Docs site there (``index.html``), keeping the last
:data:`DATA_DOCS_RUNS_KEPT` runs. Publishing never raises: a failure is logged and the run
goes on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orders_pipeline.lib.checks.gx_suites import DATASOURCE, SuiteOutcome, get_context

_logger = logging.getLogger(__name__)

# Data Docs live beside the warehouse: data/warehouse.duckdb -> data/warehouse.gx_data_docs/index.html
DATA_DOCS_SUFFIX = ".gx_data_docs"
# Validation results (JSON, the source the HTML is rendered from) inside the Data Docs folder.
VALIDATION_RESULTS_DIR = "validation_results"
DATA_DOCS_SITE = "orders_pipeline"
# The site's index page loads every stored result (~5 ms each), on every publish: keep it small.
DATA_DOCS_RUNS_KEPT = 5


def data_docs_folder(warehouse_path: str | Path) -> Path:
    """Where a warehouse's Data Docs go: ``<folder>/<stem>.gx_data_docs/`` beside the warehouse file."""
    path = Path(warehouse_path)
    return path.with_name(f"{path.stem}{DATA_DOCS_SUFFIX}")


@dataclass(frozen=True)
class DataDocs:
    """Publishes validation results of one run into the Data Docs site of one folder."""

    folder: Path
    run_name: str
    log: Any = None

    @classmethod
    def for_warehouse(cls, warehouse_path: str | Path, run_name: str, log: Any = None) -> DataDocs:
        """The Data Docs of ``warehouse_path`` (see :func:`data_docs_folder`), for run ``run_name``."""
        return cls(data_docs_folder(warehouse_path), run_name, log)

    @property
    def index(self) -> Path:
        """The site's front page."""
        return self.folder / "index.html"

    def publish(self, outcomes: Sequence[SuiteOutcome]) -> Path | None:
        """Store each outcome's validation result and render it; returns the index page.

        Never raises: any failure is logged as a warning and ``None`` is returned, because
        documentation must not fail a run.
        """
        try:
            return self._publish(outcomes)
        except Exception as exc:  # noqa: BLE001 - Data Docs never fail a run
            (self.log or _logger).warning(f"Data Docs not published to {self.folder}: {type(exc).__name__}: {exc}")
            return None

    def _publish(self, outcomes: Sequence[SuiteOutcome]) -> Path:
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        site = _site(str(self.folder.resolve()))
        store = site.context.validation_results_store
        keys = []
        for outcome in outcomes:
            if outcome.result is None:
                continue
            run_id = RunIdentifier(run_name=self.run_name, run_time=datetime.now(UTC))
            result = outcome.result
            result.meta["run_id"] = run_id
            result.meta["validation_time"] = run_id.run_time
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=outcome.suite),
                run_id=run_id,
                batch_identifier=f"{DATASOURCE}-{outcome.suite}",
            )
            store.set(key, result)
            keys.append(key)
        pruned = _prune(store, keep=DATA_DOCS_RUNS_KEPT)
        site.builder.build(resource_identifiers=keys)  # also drops the pages of pruned results
        if pruned:
            for tree in (VALIDATION_RESULTS_DIR, "validations"):
                _remove_empty_folders(self.folder / tree)
        return self.index


@dataclass(frozen=True)
class _Site:
    context: Any
    builder: Any


@functools.lru_cache(maxsize=4)
def _site(folder: str) -> _Site:
    """A Data Docs site rooted in ``folder``: an in-memory context whose validation results store
    is ``folder/validation_results``. The site builder is kept, so its page templates compile
    once per process (rebuilding it per page costs ~0.4 s of Jinja compilation).
    """
    get_context()  # imports great_expectations quietly, as validate() does
    from great_expectations.data_context import EphemeralDataContext
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    stores[defaults.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(Path(folder) / VALIDATION_RESULTS_DIR),
        },
    }
    site_config = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": folder},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    context = EphemeralDataContext(
        project_config=DataContextConfig(
            store_backend_defaults=defaults,
            stores=stores,
            data_docs_sites={DATA_DOCS_SITE: site_config},
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
    )
    sites = context.variables.data_docs_sites or {}
    builder = context._init_site_builder_for_data_docs_site_creation(  # noqa: SLF001 - see docstring
        site_name=DATA_DOCS_SITE, site_config=sites[DATA_DOCS_SITE]
    )
    return _Site(context, builder)


def _prune(store: Any, keep: int) -> int:
    """Drop stored results of all but the ``keep`` most recent runs; returns how many were dropped."""
    keys = store.list_keys()
    latest: dict[str, datetime] = {}
    for key in keys:
        run = key.run_id
        when = run.run_time
        if run.run_name not in latest or when > latest[run.run_name]:
            latest[run.run_name] = when
    kept = set(sorted(latest, key=lambda name: latest[name], reverse=True)[:keep])
    dropped = [key for key in keys if key.run_id.run_name not in kept]
    for key in dropped:
        store.remove_key(key)
    return len(dropped)


def _remove_empty_folders(root: Path) -> None:
    """Remove the folders under ``root`` that pruning left empty (deepest first)."""
    for path, _folders, files in sorted(os.walk(root), key=lambda entry: len(entry[0]), reverse=True):
        if not files and Path(path) != root:
            with contextlib.suppress(OSError):  # not empty after all, or already gone
                Path(path).rmdir()
