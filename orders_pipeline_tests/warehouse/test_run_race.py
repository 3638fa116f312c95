"""Two real ``orders-pipeline reconcile`` runs on one warehouse: the first is never harmed.

Before the run lock a second run could take DuckDB's lock on the work database between two
steps of the first, and the first died. Here the second run starts a random time into the
first (and again each time it is refused, until the first has ended): it must be refused in
one line naming the first, or with ``--wait`` run after it; the first always publishes the
same tables as a run that was alone.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.devtools.generator import generate_corpus
from orders_pipeline.lib.warehouse.run_lock import read_holder

pytestmark = pytest.mark.slow

SCRIPT = [sys.executable, "-m", "orders_pipeline.cli"]
# The tables that depend only on the inputs and the as-of (not on which run wrote them).
TABLES = (
    "order_outcomes",
    "daily_summary",
    "exceptions",
    "orphan_callbacks",
    "log_gaps",
    "callback_outages",
    "rejected_lines",
    "ignored_records",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("race")
    generated = generate_corpus(3000, 1, root)
    return root, generated.as_of.isoformat().replace("+00:00", "Z")


def _args(corpus: tuple[Path, str], warehouse: Path) -> list[str]:
    root, as_of = corpus
    orders, callbacks = str(root / "orders"), str(root / "callbacks")
    return [*SCRIPT, "reconcile", "--orders", orders, "--callbacks", callbacks, "--warehouse", str(warehouse)] + [
        "--as-of",
        as_of,
        "--quiet",
    ]


def _tables(warehouse: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM recon.{t}").fetchall(), key=repr) for t in TABLES}
    finally:
        con.close()


def _published_runs(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM recon.runs WHERE status = 'published'").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def alone(corpus, tmp_path_factory) -> dict[str, list[tuple]]:
    """The tables of a run that had the warehouse to itself."""
    warehouse = tmp_path_factory.mktemp("alone") / "warehouse.duckdb"
    subprocess.run(_args(corpus, warehouse), check=True, capture_output=True, timeout=300)
    return _tables(warehouse)


def _start_holding(corpus: tuple[Path, str], warehouse: Path) -> subprocess.Popen[str]:
    """Start the first run and return once it holds the warehouse."""
    first = subprocess.Popen(_args(corpus, warehouse), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (holder := read_holder(warehouse)) is None or holder.pid != first.pid:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return first


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_second_run_is_refused_in_one_line_and_the_first_completes(corpus, alone, tmp_path, seed) -> None:
    rng = random.Random(seed)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    first = _start_holding(corpus, warehouse)
    time.sleep(rng.uniform(0, 6))
    refusals: list[str] = []
    while first.poll() is None:
        second = subprocess.run(_args(corpus, warehouse), capture_output=True, text=True, timeout=300, check=False)
        if second.returncode == 0:
            assert first.poll() is not None  # it only ran once the first had ended
            break
        assert second.returncode == 2, second.stderr
        refusals.append(second.stderr)
        time.sleep(rng.uniform(0, 0.5))
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert refusals  # the race did happen
    pattern = (
        rf"orders-pipeline: error: another run \(pid {first.pid} on \S+, run [0-9a-f-]{{36}}, started \S+Z\) "
        rf"is writing {re.escape(str(warehouse))}; wait for it or pass --wait\n"
    )
    for refusal in refusals:
        assert re.fullmatch(pattern, refusal), refusal
    assert _tables(warehouse) == alone


@pytest.mark.parametrize("seed", [1, 2])
def test_a_second_run_with_wait_runs_after_the_first(corpus, alone, tmp_path, seed) -> None:
    rng = random.Random(seed)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    first = _start_holding(corpus, warehouse)
    time.sleep(rng.uniform(0, 6))
    second = subprocess.Popen(
        [*_args(corpus, warehouse), "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert _tables(warehouse) == alone  # the first published alone
    _, second_err = second.communicate(timeout=300)
    assert second.returncode == 0, second_err
    assert f"waiting for another run (pid {first.pid} on " in second_err
    assert _published_runs(warehouse) == 2
    assert _tables(warehouse) == alone
