"""Benchmark: the pipeline against a DuckDB read floor and an idiomatic pandas baseline.

    .venv/bin/python bench/run.py --orders 10000000

Generates a corpus with ``orders_pipeline.devtools.generator`` into ``bench/work/`` (reused when
already there for the same size and seed), then measures, each in a fresh process so that the
peak RSS belongs to that measurement alone:

- floor: DuckDB reading the same JSONL into typed tables, nothing else;
- pipeline: ``orders-pipeline reconcile`` end to end (stage breakdown from ``recon.runs``);
- baseline: bench/baseline.py (pandas) on min(N, --baseline-max) orders; when N is larger,
  a separate corpus of that size (same seed) is generated and the pipeline is timed on it too;
- with ``--statements``: the corpus also gets the providers' statements
  (``orders_pipeline.devtools.statements``, native layouts), and the pipeline is timed a second
  time with them (``--statements``); the difference is what statements cost. The baseline is
  compared with the run without statements.

Pipeline and baseline must give the same (order_id, outcome, flags, action) for every order of
the shared corpus; the script exits with status 1 when they do not (the CI smoke relies on it).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
WORK = BENCH / "work"
PYTHON = sys.executable
CORPUS_MARKER = "corpus.json"
KEY = ["order_id", "outcome", "flags", "action"]
STAGE_ORDER = ("ingest", "read_validate", "classify", "checks", "publish")


class BenchError(RuntimeError):
    """A measured program failed or its output is unusable; the message says where to look."""


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """A generated corpus on disk."""

    path: Path
    n_orders: int
    seed: int
    as_of: str
    order_lines: int
    callback_lines: int
    statement_rows: int = 0

    @property
    def statements(self) -> Path:
        """The statements folder (empty unless generated with statements)."""
        return self.path / "statements"

    @property
    def statement_config(self) -> Path:
        """The config the generated statements need (their statement timezones)."""
        return self.path / "statements.yaml"

    @property
    def orders(self) -> Path:
        """The order logs folder."""
        return self.path / "orders"

    @property
    def callbacks(self) -> Path:
        """The callback logs folder."""
        return self.path / "callbacks"


def generator_fingerprint(statements: bool = False) -> str:
    """SHA-256 of the generators' source: a corpus made by another version is not reused."""
    digest = hashlib.sha256()
    modules = ["orders_pipeline.devtools.generator"]
    if statements:
        modules += ["orders_pipeline.devtools.statements", "orders_pipeline.devtools.statement_layouts"]
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise BenchError(f"{module} is not importable")
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()


def ensure_corpus(n_orders: int, seed: int, statements: bool = False) -> Corpus:
    """The plain-JSONL corpus for ``(n_orders, seed)`` (with its statements), generated unless already on disk.

    The marker file is written last, so an interrupted generation is redone, not reused; it
    records the generator's fingerprint, so a changed generator means a new corpus.
    """
    path = WORK / f"corpus-{n_orders}-s{seed}{'-statements' if statements else ''}"
    marker = path / CORPUS_MARKER
    fingerprint = generator_fingerprint(statements)
    info = json.loads(marker.read_text()) if marker.exists() else {}
    if info.get("generator_sha256") == fingerprint:
        print(f"reusing corpus {path.relative_to(REPO)}", flush=True)
    else:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        print(f"generating {n_orders:,} orders (seed {seed}) into {path.relative_to(REPO)} ...", flush=True)
        started = time.perf_counter()
        # In a child process, so that the generator's memory is not held by this one.
        code = (
            "import json, sys; from pathlib import Path;"
            "from orders_pipeline.devtools.generator import generate_corpus;"
            "from orders_pipeline.devtools.statements import generate_statements;"
            "n, seed, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]);"
            "c = generate_corpus(n, seed, out, formats_variety=False);"
            "rows = generate_statements(n, seed, out).rows if sys.argv[4] == '1' else 0;"
            "print(json.dumps({'as_of': c.as_of.isoformat(), 'order_lines': c.order_lines,"
            " 'callback_lines': c.callback_lines, 'statement_rows': rows}))"
        )
        argv = [PYTHON, "-c", code, str(n_orders), str(seed), str(path), "1" if statements else "0"]
        done = subprocess.run(argv, check=True, capture_output=True, text=True)
        info = json.loads(done.stdout.strip().splitlines()[-1])
        info |= {"n_orders": n_orders, "seed": seed, "generator_sha256": fingerprint}
        marker.write_text(json.dumps(info, indent=2) + "\n")
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return Corpus(
        path, n_orders, seed, info["as_of"], info["order_lines"], info["callback_lines"], info.get("statement_rows", 0)
    )


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One measured process: wall time, peak RSS, and what it reported."""

    name: str
    orders: int
    wall_seconds: float
    peak_rss_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    notes: str = ""

    @property
    def orders_per_second(self) -> float:
        """Throughput in orders per wall second."""
        return self.orders / self.wall_seconds if self.wall_seconds else float("nan")


def run_measured(name: str, argv: list[str], log: Path) -> tuple[float, float, str]:
    """Run ``argv`` in a fresh process; return (wall seconds, peak RSS MB, its output).

    The peak RSS comes from ``os.wait4`` on that very child (Linux reports the largest of the
    child and the descendants it waited for). It also counts what this process held when it
    forked the child, so this process keeps no big data while measuring (about 0.1 GB).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"measuring {name} ...", flush=True)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise BenchError(f"{name} exited with status {process.returncode} (log: {log}):\n{tail}")
    peak_mb = usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux
    print(f"  {wall:.1f} s, peak RSS {peak_mb:,.0f} MB", flush=True)
    return wall, peak_mb, output


def _last_json(output: str) -> dict:
    """The JSON summary a worker prints on its last line."""
    return json.loads(output.strip().splitlines()[-1])


def measure_floor(corpus: Corpus, out_dir: Path) -> Measurement:
    """DuckDB reading the corpus into typed tables (no validation, no classification)."""
    argv = [PYTHON, str(BENCH / "workers.py"), "floor", "--orders", str(corpus.orders)]
    argv += ["--callbacks", str(corpus.callbacks), "--db", str(out_dir / "floor.duckdb")]
    wall, peak, output = run_measured(f"floor on {corpus.n_orders:,}", argv, out_dir / "floor.log")
    rows = _last_json(output)["rows"]
    return Measurement("floor (DuckDB read)", corpus.n_orders, wall, peak, notes=f"{sum(rows.values()):,} rows")


def measure_baseline(corpus: Corpus, out_dir: Path) -> tuple[Measurement, Path]:
    """The pandas baseline; returns its measurement and the Parquet file of its outcomes."""
    parquet = out_dir / "baseline_outcomes.parquet"
    argv = [PYTHON, str(BENCH / "workers.py"), "baseline", "--orders", str(corpus.orders)]
    argv += ["--callbacks", str(corpus.callbacks), "--as-of", corpus.as_of, "--out", str(parquet)]
    wall, peak, output = run_measured(f"baseline on {corpus.n_orders:,}", argv, out_dir / "baseline.log")
    summary = _last_json(output)
    measurement = Measurement(
        "baseline (pandas)",
        corpus.n_orders,
        wall,
        peak,
        stages=summary["seconds"],
        notes=f"{summary['lines_landed']:,} lines landed",
    )
    return measurement, parquet


def pipeline_command(corpus: Corpus, warehouse: Path, statements: bool = False, engine: str = "local") -> list[str]:
    """The pipeline's CLI command line for ``corpus`` (with its statements when asked, on ``engine``)."""
    cli = Path(PYTHON).with_name("orders-pipeline")
    program = str(cli) if cli.exists() else (shutil.which("orders-pipeline") or "orders-pipeline")
    return [
        program,
        "reconcile",
        "--orders",
        str(corpus.orders),
        "--callbacks",
        str(corpus.callbacks),
        "--warehouse",
        str(warehouse),
        "--as-of",
        corpus.as_of,
        "--quiet",
        "--engine",
        engine,
        *(["--statements", str(corpus.statements), "--config", str(corpus.statement_config)] if statements else []),
    ]


def measure_pipeline(
    corpus: Corpus, out_dir: Path, label: str = "pipeline", statements: bool = False, engine: str = "local"
) -> tuple[Measurement, Path]:
    """The pipeline CLI end to end on a fresh warehouse; returns its measurement and the warehouse.

    The outcomes are read later (:func:`read_outcomes`), once every program has been measured:
    a child's peak RSS on Linux starts from what its parent held when it forked, so the parent
    must stay small while it launches them.
    """
    warehouse = out_dir / "warehouse.duckdb"
    for stale in out_dir.glob("warehouse.duckdb*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    wall, peak, _ = run_measured(
        f"{label} on {corpus.n_orders:,}",
        pipeline_command(corpus, warehouse, statements, engine),
        out_dir / f"pipeline{'-statements' if statements else ''}{'' if engine == 'local' else '-' + engine}.log",
    )
    run = read_run(warehouse)
    stages = json.loads(run["stage_seconds"]) if run.get("stage_seconds") else {}
    notes = f"{run['lines_landed']:,} lines landed" if run.get("lines_landed") is not None else ""
    return Measurement(
        label, corpus.n_orders, wall, peak, stages={k: float(v) for k, v in stages.items()}, notes=notes
    ), warehouse


def read_run(warehouse: Path) -> dict:
    """The newest ``recon.runs`` row of the pipeline's warehouse."""
    if not warehouse.exists():
        raise BenchError(f"the pipeline wrote no warehouse at {warehouse}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = {row[0] for row in con.execute("SELECT column_name FROM (DESCRIBE recon.runs)").fetchall()}
        newest = next((c for c in ("finished_at", "started_at") if c in columns), None)
        order = f"ORDER BY {newest} DESC NULLS LAST" if newest else ""
        cursor = con.execute(f"SELECT * FROM recon.runs {order} LIMIT 1")
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
        if row is None:
            raise BenchError(f"recon.runs is empty in {warehouse}")
    finally:
        con.close()
    return dict(zip(names, row, strict=True))


def read_outcomes(warehouse: Path) -> pd.DataFrame:
    """The pipeline's outcomes (flags sorted and joined with ",")."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT order_id, outcome, coalesce(array_to_string(list_sort(flags), ','), '') AS flags, action "
            "FROM recon.order_outcomes"
        ).df()
    finally:
        con.close()


# --------------------------------------------------------------------------------------------
# Comparing and reporting
# --------------------------------------------------------------------------------------------


def compare_outcomes(pipeline: pd.DataFrame, baseline: pd.DataFrame, show: int = 10) -> tuple[bool, str]:
    """Whether both give the same (order_id, outcome, flags, action) for every order.

    Returns the verdict and a short text of the first differences.
    """
    left = pipeline[KEY].astype(str)
    right = baseline[KEY].astype(str)
    both = left.merge(right, on="order_id", how="outer", suffixes=("_pipeline", "_baseline"), indicator="side")
    differs = both["side"] != "both"
    for column in KEY[1:]:
        differs |= both[f"{column}_pipeline"] != both[f"{column}_baseline"]
    differences = both[differs].sort_values("order_id")
    if differences.empty and left["order_id"].is_unique:
        return True, f"{len(left):,} orders, all identical"
    lines = [
        f"{len(differences):,} of {len(both):,} orders differ "
        f"(only in pipeline: {(both['side'] == 'left_only').sum():,}, "
        f"only in baseline: {(both['side'] == 'right_only').sum():,})"
    ]
    if not left["order_id"].is_unique:
        lines.append("the pipeline published an order_id more than once")
    for row in differences.head(show).itertuples(index=False):
        pipeline_side = (
            "absent"
            if row.side == "right_only"
            else (f"({row.outcome_pipeline}, [{row.flags_pipeline}], {row.action_pipeline})")
        )
        baseline_side = (
            "absent"
            if row.side == "left_only"
            else (f"({row.outcome_baseline}, [{row.flags_baseline}], {row.action_baseline})")
        )
        lines.append(f"  {row.order_id}: pipeline={pipeline_side} baseline={baseline_side}")
    return False, "\n".join(lines)


def scaling_table(series: list[Measurement]) -> list[str]:
    """The scaling series: how wall time, throughput and memory grow with the number of orders."""
    if not series:
        return []
    smallest = min(series, key=lambda m: m.orders)
    rows = [
        "## Scaling (pipeline alone, one corpus per size)",
        "",
        "| orders | wall s | orders/s | µs per order | peak RSS MB | wall vs smallest, per order |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for m in sorted(series, key=lambda m: m.orders):
        per_order = m.wall_seconds / m.orders * 1e6
        relative = per_order / (smallest.wall_seconds / smallest.orders * 1e6)
        rows.append(
            f"| {m.orders:,} | {m.wall_seconds:.2f} | {m.orders_per_second:,.0f} | {per_order:.2f} | "
            f"{m.peak_rss_mb:,.0f} | {relative:.2f} |"
        )
    return rows


def figures_table(measurements: list[Measurement]) -> list[str]:
    """The figures as a Markdown table (also readable on a terminal)."""
    rows = [
        "| measurement | orders | wall s | orders/s | peak RSS MB | breakdown s | notes |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for m in measurements:
        ordered = sorted(m.stages, key=lambda k: (STAGE_ORDER.index(k) if k in STAGE_ORDER else len(STAGE_ORDER), k))
        stages = ", ".join(f"{k} {m.stages[k]:.2f}" for k in ordered)
        rows.append(
            f"| {m.name} | {m.orders:,} | {m.wall_seconds:.2f} | {m.orders_per_second:,.0f} | "
            f"{m.peak_rss_mb:,.0f} | {stages} | {m.notes} |"
        )
    return rows


def machine_description() -> str:
    """Cores, memory and CPU model of this machine."""
    memory_gb = float("nan")
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = int(line.split()[1]) / 1024**2
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {memory_gb:.1f} GiB memory, {platform.system()} {platform.release()}"


def versions() -> str:
    """Versions of Python and the libraries that matter for the figures."""
    parts = [f"python {platform.python_version()}"]
    for package in ("duckdb", "polars", "dagster", "pandas", "pyarrow"):
        try:
            parts.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} (not installed)")
    return ", ".join(parts)


def statements_cost(without: Measurement, with_statements: Measurement) -> str:
    """What the statements added to the pipeline, in wall seconds and per stage."""
    stages = sorted(set(without.stages) | set(with_statements.stages))
    deltas = ", ".join(
        f"{stage} {with_statements.stages.get(stage, 0.0) - without.stages.get(stage, 0.0):+.2f}" for stage in stages
    )
    return (
        f"statements cost: {with_statements.wall_seconds - without.wall_seconds:+.2f} s wall "
        f"({with_statements.wall_seconds / without.wall_seconds:.2f}x), "
        f"{with_statements.peak_rss_mb - without.peak_rss_mb:+,.0f} MB peak RSS; per stage: {deltas}"
    )


def ratios_line(
    floor: Measurement,
    pipeline: Measurement,
    shared: Measurement | None,
    baseline: Measurement | None,
    identical: bool | None,
) -> str:
    """The last line of the output: the two ratios and the outcome verdict."""
    pipeline_floor = f"{pipeline.wall_seconds / floor.wall_seconds:.2f}"
    baseline_pipeline = f"{baseline.wall_seconds / shared.wall_seconds:.2f}" if baseline and shared else "n/a"
    verdict = "n/a" if identical is None else str(identical).lower()
    return f"ratios: pipeline/floor={pipeline_floor} baseline/pipeline={baseline_pipeline} outcomes_identical={verdict}"


def write_results(
    path: Path,
    command: str,
    corpora: list[Corpus],
    table: list[str],
    comparison: str,
    ratios: str,
    statements_line: str = "",
    scaling: list[str] | None = None,
) -> None:
    """Write the Markdown results file (generated: the prose analysis lives in ANALYSIS.md beside it)."""
    corpus_lines = [
        f"- {c.n_orders:,} orders, seed {c.seed}: {c.order_lines:,} order lines and {c.callback_lines:,} callback "
        f"lines (plain JSONL, ~0.1% bad lines), as of {c.as_of}"
        + (f"; {c.statement_rows:,} statement rows (native layouts)" if c.statement_rows else "")
        for c in corpora
    ]
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Command: `{command}` (run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"Machine: {machine_description()}",
            "",
            f"Versions: {versions()}",
            "",
            "Corpora:",
            "",
            *corpus_lines,
            "",
            "Wall seconds are whole processes (interpreter start-up included); peak RSS is the",
            "process's maximum resident set. See bench/README.md for what each line measures.",
            "",
            *table,
            "",
            f"Outcomes, pipeline vs baseline: {comparison.splitlines()[0]}",
            "",
            *([statements_line, ""] if statements_line else []),
            *(["```", *comparison.splitlines()[1:], "```", ""] if len(comparison.splitlines()) > 1 else []),
            "```",
            ratios,
            "```",
            "",
            *([*scaling, ""] if scaling else []),
            "This file is generated by `bench/run.py`; the hand-written analysis of the figures is",
            "[ANALYSIS.md](ANALYSIS.md), which a re-run never touches.",
            "",
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000_000, help="orders in the corpus (default 10,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=2_000_000,
        help="largest corpus the pandas baseline runs on (default 2,000,000)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="measure floor and pipeline only")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also generate the providers' statements and time the pipeline with them (their cost)",
    )
    parser.add_argument(
        "--spark",
        action="store_true",
        help="also time the pipeline with --engine spark (local[*] on this machine) and compare its outcomes",
    )
    parser.add_argument(
        "--scaling",
        metavar="N,N,...",
        help="also time the pipeline alone on a corpus of each of these sizes (e.g. 1000000,2000000,5000000,10000000) "
        "and add a scaling table: wall, orders/s, µs per order, peak RSS",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the warehouses, floor database and baseline outcomes under bench/work/",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=BENCH / "RESULTS.md",
        help="where to write the results (default bench/RESULTS.md)",
    )
    args = parser.parse_args(argv)
    if args.scaling is not None:
        try:
            args.scaling = sorted({int(part.replace("_", "")) for part in args.scaling.split(",") if part.strip()})
        except ValueError:
            parser.error(f"--scaling {args.scaling!r}: expected sizes like 1000000,2000000,5000000")
        if not args.scaling or min(args.scaling) < 1:
            parser.error("--scaling needs at least one size, each at least 1")
    if args.orders < 1 or args.baseline_max < 1:
        parser.error("--orders and --baseline-max must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the outcomes agree, 1 when they differ, 2 on a failure."""
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)])
    out_dir = WORK / f"run-{args.orders}-s{args.seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        corpus = ensure_corpus(args.orders, args.seed, args.statements)
        corpora = [corpus]
        floor = measure_floor(corpus, out_dir)
        pipeline, pipeline_warehouse = measure_pipeline(corpus, out_dir)
        measurements = [floor, pipeline]
        statements_line = ""
        if args.statements:
            statements_dir = out_dir / "with-statements"
            statements_dir.mkdir(exist_ok=True)
            with_statements, _ = measure_pipeline(corpus, statements_dir, "pipeline + statements", statements=True)
            measurements.append(with_statements)
            statements_line = statements_cost(pipeline, with_statements)
        if args.spark:
            spark_dir = out_dir / "spark"
            spark_dir.mkdir(exist_ok=True)
            spark, spark_warehouse = measure_pipeline(corpus, spark_dir, "pipeline, Spark engine", engine="spark")
            measurements.append(spark)
        series: list[Measurement] = []
        for size in args.scaling or []:
            if size == args.orders:
                series.append(pipeline)
                continue
            scale_dir = out_dir / f"scale-{size}"
            scale_dir.mkdir(exist_ok=True)
            series.append(measure_pipeline(ensure_corpus(size, args.seed), scale_dir, "pipeline (scaling)")[0])
        shared = baseline = None
        identical: bool | None = None
        comparison = "not compared (--skip-baseline)"
        if not args.skip_baseline:
            if args.orders <= args.baseline_max:
                shared, shared_warehouse, shared_corpus, shared_dir = pipeline, pipeline_warehouse, corpus, out_dir
            else:
                shared_corpus = ensure_corpus(args.baseline_max, args.seed)
                corpora.append(shared_corpus)
                shared_dir = out_dir / f"shared-{args.baseline_max}"
                shared_dir.mkdir(exist_ok=True)
                shared, shared_warehouse = measure_pipeline(shared_corpus, shared_dir, "pipeline (baseline size)")
                measurements.append(shared)
            baseline, baseline_parquet = measure_baseline(shared_corpus, shared_dir)
            measurements.append(baseline)
            identical, comparison = compare_outcomes(read_outcomes(shared_warehouse), pd.read_parquet(baseline_parquet))
        if args.spark:  # compared once every program has run (see measure_pipeline)
            same, _ = compare_outcomes(read_outcomes(spark_warehouse), read_outcomes(pipeline_warehouse))
            statements_line += (
                f"{chr(10) * 2 if statements_line else ''}Spark engine (local[*]) / local engine: "
                f"{spark.wall_seconds / pipeline.wall_seconds:.2f}; outcomes identical: {str(same).lower()}"
            )
    except (BenchError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else ""
        print(f"benchmark failed: {exc}\n{detail}", file=sys.stderr)
        return 2

    table = figures_table(measurements)
    ratios = ratios_line(floor, pipeline, shared, baseline, identical)
    print()
    print("\n".join(table))
    print()
    print(f"outcomes, pipeline vs baseline: {comparison}")
    if statements_line:
        print(statements_line)
    scaling = scaling_table(series)
    if scaling:
        print("\n".join(scaling[2:]))
    write_results(args.results, command, corpora, table, comparison, ratios, statements_line, scaling)
    print(f"results written to {args.results}")
    if not args.keep:
        shutil.rmtree(out_dir, ignore_errors=True)
    print(ratios)
    return 1 if identical is False else 0


if __name__ == "__main__":
    sys.exit(main())
