"""``orders-pipeline``: reconcile logs into the warehouse, generate test logs, and inspect results.

Every error a user can cause (bad path, bad config, bad timestamp, unwritable warehouse)
prints one line on stderr that says what is wrong and how to fix it, and exits 2. A failed
blocking data-quality check exits 1 and names the check; the warehouse is then unchanged.
Ctrl-C exits 130; a run interrupted before it published leaves the warehouse unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orders_pipeline.lib.warehouse.run_lock import LockHolder

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 1  # ``history``: no order (and no orphan callback) with that id
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
INTERRUPTED = "interrupted; the warehouse was not changed"
PUBLISH_STEP = "reconciliation_warehouse"  # the step that renames the new snapshot over the warehouse


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from orders_pipeline.lib.common.errors import UserError

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or EXIT_OK)
    except UserError as exc:
        print(f"orders-pipeline: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"orders-pipeline: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orders-pipeline",
        description="Reconcile platform orders against provider callbacks and publish reconciliation tables.",
        epilog="Run `orders-pipeline COMMAND --help` for a command's options, examples and exit codes.",
    )
    parser.add_argument("--version", action="version", version=f"orders-pipeline {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, examples: str, exit_codes: str) -> argparse.ArgumentParser:
        epilog = f"examples:\n{examples.rstrip()}\n\nexit codes:\n{exit_codes.rstrip()}"
        return commands.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    reconcile = command(
        "reconcile",
        "ingest logs, classify every order, check and publish the warehouse",
        """  orders-pipeline reconcile --orders data/sample/orders --callbacks data/sample/callbacks \\
      --as-of 2026-11-20T12:00:00Z
  orders-pipeline reconcile --orders logs/orders --callbacks logs/callbacks --statements bills \\
      --config recon.yaml --warehouse /srv/recon/warehouse.duckdb --backfill 2026-11-01:2026-11-07""",
        f"""  0    published; the summary is printed (re-print it with `orders-pipeline summary`)
  1    a blocking data-quality check failed; the warehouse was not changed
  2    a mistake to fix (path, config, timestamp, warehouse folder, another run writing)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)""",
    )
    reconcile.add_argument("--orders", required=True, help="order log file or directory (.jsonl/.csv, optionally .gz)")
    reconcile.add_argument("--callbacks", required=True, help="callback log file or directory")
    reconcile.add_argument(
        "--statements",
        default=None,
        help="provider statement file or directory (canonical .jsonl/.csv/.parquet, or native bills and reports); "
        "optional: without it no provider has statements",
    )
    reconcile.add_argument("--warehouse", default=None, help="DuckDB file to publish (default data/warehouse.duckdb)")
    reconcile.add_argument("--as-of", default=None, help="evaluate as of this RFC 3339 time (default: now)")
    reconcile.add_argument("--config", default=None, help="YAML config: provider profiles, tolerances, thresholds")
    reconcile.add_argument(
        "--backfill",
        default=None,
        metavar="FROM:TO",
        help="also re-evaluate these order days (YYYY-MM-DD:YYYY-MM-DD), even if final",
    )
    reconcile.add_argument(
        "--engine",
        default="local",
        choices=("local", "spark"),
        help="where landing and classification run: local (default, in process) or spark "
        "(the config's spark: master or Connect URL; docs/cluster.md)",
    )
    reconcile.add_argument("--quiet", action="store_true", help="print only the summary")
    reconcile.add_argument(
        "--wait",
        action="store_true",
        help="if another run is writing the warehouse, wait for it to finish instead of exiting at once",
    )
    reconcile.set_defaults(handler=_reconcile)

    generate = command(
        "generate",
        "write a deterministic, realistic corpus of order/callback logs",
        """  orders-pipeline generate --orders 100000 --seed 7 --out /tmp/corpus
  orders-pipeline generate --orders 5000 --out /tmp/corpus --statements""",
        """  0    written; the corpus's as-of is printed on stdout
  2    a mistake to fix (--orders below 1, --out not a folder)""",
    )
    generate.add_argument("--orders", type=int, required=True, help="number of orders")
    generate.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    generate.add_argument("--out", required=True, help="output directory (gets orders/ and callbacks/)")
    generate.add_argument(
        "--statements",
        action="store_true",
        help="also write the providers' statements (statements/, statements-late/ and statements.yaml)",
    )
    generate.set_defaults(handler=_generate)

    history = command(
        "history",
        "where is my order? its outcome, outcome changes across runs, submissions and callbacks",
        """  orders-pipeline history ord-000042
  orders-pipeline history ord-000042 --warehouse /srv/recon/warehouse.duckdb""",
        """  0    the order was found and has an outcome
  1    no such order (ids are exact), or only orphan callbacks for it
  2    a mistake to fix (no warehouse there)""",
    )
    history.add_argument("order_id", help="the platform's order reference (exact, case-sensitive)")
    history.add_argument("--warehouse", default=None, help="published DuckDB file (default data/warehouse.duckdb)")
    history.set_defaults(handler=_history)

    runs = command(
        "runs",
        "the last published runs: as-of, line counts, checks, timings",
        """  orders-pipeline runs
  orders-pipeline runs --last 3 --warehouse /srv/recon/warehouse.duckdb""",
        """  0    printed
  2    a mistake to fix (no warehouse there, --last below 1)""",
    )
    runs.add_argument("--warehouse", default=None, help="published DuckDB file (default data/warehouse.duckdb)")
    runs.add_argument("--last", type=int, default=10, metavar="N", help="how many runs to show (default 10)")
    runs.set_defaults(handler=_runs)

    summary = command(
        "summary",
        "re-print the last run's summary from the published warehouse (read-only)",
        """  orders-pipeline summary
  orders-pipeline summary --warehouse /srv/recon/warehouse.duckdb""",
        """  0    printed
  2    a mistake to fix (no warehouse there, or nothing published yet)""",
    )
    summary.add_argument("--warehouse", default=None, help="published DuckDB file (default data/warehouse.duckdb)")
    summary.set_defaults(handler=_summary)

    report = command(
        "report",
        "the finance close report of one order day (html, xlsx or csv) from the published warehouse",
        """  orders-pipeline report                                   # yesterday, close-report-<day>.html
  orders-pipeline report --date 2026-11-19 --out close.xlsx
  orders-pipeline report --date 2026-11-19 --format csv --config recon.yaml""",
        """  0    written; the file's name is printed
  2    a mistake to fix (no warehouse, no orders that day, bad --date or --out)""",
    )
    report.add_argument(
        "--date", default=None, help="the order day, YYYY-MM-DD (default: the day before the last run's as-of)"
    )
    report.add_argument(
        "--out", default=None, help="file to write (default close-report-<date>.<format> in the current folder)"
    )
    report.add_argument(
        "--format",
        choices=("html", "xlsx", "csv"),
        default=None,
        help="html (one self-contained file), xlsx (a sheet per section) or csv (long form); "
        "default: from --out's extension, else html",
    )
    report.add_argument("--warehouse", default=None, help="published DuckDB file (default data/warehouse.duckdb)")
    report.add_argument("--config", default=None, help="YAML config whose timezone the day is counted in")
    report.set_defaults(handler=_report)
    return parser


def _reconcile(args: argparse.Namespace) -> int:
    # The run lock taken in the pre-flight is held until the summary is printed.
    with contextlib.ExitStack() as held:
        return _reconcile_holding(args, held)


def _reconcile_holding(args: argparse.Namespace, held: contextlib.ExitStack) -> int:
    from orders_pipeline.lib.common.config import load_settings
    from orders_pipeline.lib.common.time import parse_as_of
    from orders_pipeline.lib.common.vocabulary import CALLBACKS, ORDERS, STATEMENTS, InputKind
    from orders_pipeline.lib.inputs.discovery import discover_files
    from orders_pipeline.lib.warehouse.connection import Warehouse
    from orders_pipeline.lib.warehouse.run_lock import run_lock

    # Pre-flight: every mistake a user can make is caught here, before Dagster starts.
    settings = load_settings(args.config)
    # The run's as-of is resolved once, here, and travels with the run as a tag.
    as_of = parse_as_of(args.as_of, settings.timezone) if args.as_of else datetime.now(UTC).replace(microsecond=0)
    skipped: dict[InputKind, list[str]] = {ORDERS: [], CALLBACKS: [], STATEMENTS: []}
    order_files = discover_files(args.orders, ORDERS, skipped[ORDERS])
    callback_files = discover_files(args.callbacks, CALLBACKS, skipped[CALLBACKS])
    statement_files = discover_files(args.statements, STATEMENTS, skipped[STATEMENTS]) if args.statements else []
    warehouse = Warehouse.at(args.warehouse or _default_warehouse())
    # One writer per warehouse, for the whole run: refuse (or --wait) now if another run holds it.
    run_id = str(uuid.uuid4())
    held.enter_context(run_lock(warehouse.path, run_id, wait=args.wait, on_wait=_waiting))
    warehouse.check_work_unlocked()  # a writer that does not take the run lock (an older version)
    backfill = _parse_backfill(args.backfill) if args.backfill else None
    if args.engine == "spark":
        from orders_pipeline.lib.engines.spark import check_spark_ready

        check_spark_ready(settings.spark)
    for kind, names in skipped.items():
        if names:
            print(
                f"warning: {len(names)} {kind} file(s) of another format not read (e.g. {names[0]}); "
                + (
                    "statements must be .jsonl, .csv (optionally .gz) or .parquet"
                    if kind == STATEMENTS
                    else "logs must be .jsonl or .csv, optionally .gz"
                ),
                file=sys.stderr,
            )
    if not order_files:
        print(f"warning: no order log files under {args.orders}", file=sys.stderr)
    if not callback_files:
        print(f"warning: no callback log files under {args.callbacks}", file=sys.stderr)
    if args.statements and not statement_files:
        print(f"warning: no statement files under {args.statements}", file=sys.stderr)

    from orders_pipeline.defs.partitions import live_window_tags
    from orders_pipeline.defs.resources import ReconciliationResource

    resource = ReconciliationResource(
        orders_path=str(Path(args.orders).resolve()),
        callbacks_path=str(Path(args.callbacks).resolve()),
        statements_path=str(Path(args.statements).resolve()) if args.statements else None,
        warehouse_path=str(warehouse.path),
        config_file=str(Path(args.config).resolve()) if args.config else None,
        engine=args.engine,
    )
    if not args.quiet:
        statements = f" and {len(statement_files)} statement file(s)" if args.statements else ""
        print(
            f"reconciling {len(order_files)} order file(s), {len(callback_files)} callback file(s){statements}"
            f" as of {_iso(as_of)} into {warehouse.path}",
            file=sys.stderr,
        )
    tags = live_window_tags(as_of, settings, backfill)
    from orders_pipeline.lib.common.progress import listening
    from orders_pipeline.lib.reports.terminal_progress import terminal_listener

    shown = listening(terminal_listener(sys.stderr)) if not args.quiet else contextlib.nullcontext()
    with shown:
        outcome = run_reconcile_job(resource, tags, progress=not args.quiet, run_id=run_id)
    if outcome.interrupted:
        print(f"orders-pipeline: {outcome.error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.error:
        print(f"orders-pipeline: error: {outcome.error}", file=sys.stderr)
        return EXIT_CHECK_FAILED if outcome.failed_checks else EXIT_USAGE
    from orders_pipeline.lib.reports.summary import summary_text

    print(summary_text(warehouse.path))
    return EXIT_OK


def _waiting(holder: LockHolder | None) -> None:
    who = f"another run ({holder.describe()})" if holder else "another run"
    print(f"waiting for {who} to finish writing the warehouse", file=sys.stderr, flush=True)


class JobOutcome:
    """What the CLI needs from a finished run: an error line, the blocking checks that failed, a Ctrl-C."""

    def __init__(self, error: str | None, failed_checks: list[str], interrupted: bool = False) -> None:
        """Keep the error line (``None`` when the run published), the failed blocking checks, and a Ctrl-C."""
        self.error = error
        self.failed_checks = failed_checks
        self.interrupted = interrupted


def run_reconcile_job(
    resource,  # noqa: ANN001
    tags: dict[str, str],
    progress: bool = True,
    instance=None,  # noqa: ANN001
    run_id: str | None = None,
) -> JobOutcome:
    """Run ``reconcile_job`` in process with the run's tags (as-of, order days); translate the result for the CLI.

    ``run_id`` is the id the caller took the warehouse's run lock for (the run shares that hold).
    """
    import dagster as dg

    from orders_pipeline.definitions import build_definitions
    from orders_pipeline.lib.checks.data_docs import data_docs_folder

    logging.getLogger("dagster").setLevel(logging.WARNING)
    defs = build_definitions(resource, loggers={"progress": _progress_logger(progress)})
    job = defs.resolve_job_def("reconcile_job")
    if instance is None:
        instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(
        run_config={"loggers": {"progress": {}}},
        tags=tags,
        instance=instance,
        raise_on_error=False,
        run_id=run_id,
    )
    failures = result.get_step_failure_events()
    # Dagster turns a Ctrl-C during a step into a failed step (its own SIGINT handler raises
    # DagsterExecutionInterruptedError there): report it as the interrupt it was.
    if any(_is_interrupt(failure.step_failure_data.error) for failure in failures):
        published = any(event.step_key == PUBLISH_STEP and event.is_step_success for event in result.all_node_events)
        if published:
            return JobOutcome(
                "interrupted after the warehouse was published; its close report may be missing", [], True
            )
        return JobOutcome(INTERRUPTED, [], True)
    failed_checks = [
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    ]
    if failed_checks:
        return JobOutcome(
            f"blocking data-quality check failed: {', '.join(failed_checks)}; the warehouse was not changed "
            f"(failing rows: {data_docs_folder(resource.warehouse_path) / 'index.html'})",
            failed_checks,
        )
    if failures:
        error = failures[0].step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        # The innermost error's own words, without Dagster's "module.ClassName: " in front.
        message = error.message.strip().splitlines()[-1] if error else "a step failed"
        prefix, _, rest = message.partition(": ")
        if error is not None and error.cls_name and prefix.endswith(error.cls_name) and rest:
            message = rest
        return JobOutcome(f"{failures[0].step_key} failed: {message}; the warehouse was not changed", [])
    if not result.success:
        return JobOutcome("the run did not complete; the warehouse was not changed", [])
    return JobOutcome(None, [])


def _is_interrupt(error) -> bool:  # noqa: ANN001 (dagster's SerializableErrorInfo)
    """Whether a step's error, or any error it was caused by, is a Ctrl-C."""
    while error is not None:
        if error.cls_name in ("KeyboardInterrupt", "DagsterExecutionInterruptedError"):
            return True
        error = error.cause or error.context
    return False


def _progress_logger(enabled: bool):  # noqa: ANN202
    """A Dagster logger that prints one line per finished step instead of Dagster's verbose log."""
    import dagster as dg

    class _StepProgress(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.started: dict[str, float] = {}

        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            # Dagster's "Dependencies for step ... Not executing" follow a failure the CLI reports itself.
            text = str(meta.get("orig_message", record.getMessage()))
            if event is None and record.levelno >= logging.WARNING and not text.startswith("Dependencies for step"):
                print(f"  warning: {text}", file=sys.stderr, flush=True)
            if not enabled or event is None or not event.step_key:
                return
            kind = event.event_type_value
            if kind == "STEP_START":
                self.started[event.step_key] = time.perf_counter()
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                took = time.perf_counter() - self.started.get(event.step_key, time.perf_counter())
                mark = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}[kind]
                print(f"  {mark:7} {event.step_key} ({took:.1f}s)", file=sys.stderr, flush=True)

    @dg.logger(None, description="one line per finished step")
    def progress(_init_context):  # noqa: ANN001, ANN202
        logger = logging.Logger("orders_pipeline.progress", level=logging.DEBUG)
        logger.addHandler(_StepProgress())
        return logger

    return progress


def _parse_backfill(text: str) -> tuple[date, date]:
    from orders_pipeline.lib.common.errors import ConfigError

    try:
        first, last = (date.fromisoformat(part.strip()) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"--backfill {text!r} is not FROM:TO; use order days like 2026-11-01:2026-11-07") from None
    if first > last:
        raise ConfigError(f"--backfill {text!r} ends before it starts; use FROM:TO with FROM <= TO")
    return first, last


def _default_warehouse() -> Path:
    from orders_pipeline.defs.resources import DEFAULT_WAREHOUSE

    return DEFAULT_WAREHOUSE


def _generate(args: argparse.Namespace) -> int:
    from orders_pipeline.devtools.generator import generate_corpus
    from orders_pipeline.lib.common.errors import UserError

    if args.orders < 1:
        raise UserError("--orders must be at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory; choose a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    corpus = generate_corpus(args.orders, args.seed, out)
    print(
        f"wrote {corpus.order_lines} order lines and {corpus.callback_lines} callback lines "
        f"in {len(corpus.files)} files under {out}",
        file=sys.stderr,
    )
    if args.statements:
        from orders_pipeline.devtools.statements import generate_statements

        statements = generate_statements(args.orders, args.seed, out)
        print(
            f"wrote {statements.rows} statement rows in {len(statements.files)} files under {out / 'statements'} "
            f"({len(statements.late_files)} delivered late under {out / 'statements-late'}); "
            f"reconcile with --statements {out / 'statements'} --config {statements.config}",
            file=sys.stderr,
        )
    print(_iso(corpus.as_of))
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    """Print one order's story from the published warehouse (read-only; safe while a run publishes)."""
    from orders_pipeline.lib.reports.history import order_history, order_history_text

    path = Path(args.warehouse) if args.warehouse else _default_warehouse()
    history = order_history(path, args.order_id)
    if not history.found:
        as_of = f" as of {_iso(history.as_of)}" if history.as_of else ""
        print(
            f"orders-pipeline: no order {args.order_id!r} in {path}{as_of} (no order line, no callback; ids are exact)",
            file=sys.stderr,
        )
        return EXIT_NOT_FOUND
    print(order_history_text(history))
    return EXIT_OK if history.outcome is not None else EXIT_NOT_FOUND


def _runs(args: argparse.Namespace) -> int:
    """Print the last N published runs from ``recon.runs``."""
    from orders_pipeline.lib.common.errors import UserError
    from orders_pipeline.lib.reports.runs import runs_text

    if args.last < 1:
        raise UserError(f"--last must be at least 1, not {args.last}")
    path = Path(args.warehouse) if args.warehouse else _default_warehouse()
    print(runs_text(path, args.last))
    return EXIT_OK


def _summary(args: argparse.Namespace) -> int:
    """Re-print the last published run's summary (read-only; safe while a run publishes)."""
    from orders_pipeline.lib.reports.summary import summary_text

    print(summary_text(Path(args.warehouse) if args.warehouse else _default_warehouse()))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    """Write the close report of one order day (read-only on the warehouse; safe while a run publishes)."""
    from orders_pipeline.lib.common.config import load_settings
    from orders_pipeline.lib.common.errors import UserError
    from orders_pipeline.lib.reports.close_export import write_report
    from orders_pipeline.lib.reports.close_report import close_report

    settings = load_settings(args.config)
    day = None
    if args.date:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            raise UserError(f"--date {args.date!r} is not a day; use YYYY-MM-DD, e.g. 2026-11-19") from None
    out = Path(args.out) if args.out else None
    fmt = args.format or (out.suffix.lstrip(".").lower() if out and out.suffix.lower() in (".xlsx", ".csv") else "html")
    path = Path(args.warehouse) if args.warehouse else _default_warehouse()
    report = close_report(path, day, settings.timezone)
    out = out or Path(f"close-report-{report.day}.{fmt}")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory; pass a file name like {out / f'close-report-{report.day}.{fmt}'}")
    if not out.parent.is_dir():
        raise UserError(f"--out folder {out.parent} does not exist; create it or choose another --out")
    try:
        write_report(report, out, fmt)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}; choose another --out") from None
    print(f"wrote {out} (close report of {report.day}, {report.timezone}; warehouse as of {_iso(report.as_of)})")
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("orders_pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


if __name__ == "__main__":
    sys.exit(main())
