"""Regenerate ``docs/screenshots/close-report.png``: the sample's close report in headless Chromium, offline.

Run from the repository root (needs the test extras and Debian's chromium)::

    .venv/bin/python -m orders_pipeline.devtools.close_report_screenshot [--out docs/screenshots/close-report.png]

It reconciles ``data/sample`` as of ``data/sample/AS_OF`` into a temporary warehouse, writes
the report of the day before (the report's default day), opens it with every network request
refused, and saves a full-page PNG. Exits non-zero if the page asked for anything outside itself.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from orders_pipeline import cli
from orders_pipeline.devtools.browser import headless_chromium, record_requests

SAMPLE = Path("data/sample")


def main(argv: list[str] | None = None) -> int:
    """Reconcile the sample, render its close report and screenshot it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots/close-report.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warehouse, report = root / "warehouse.duckdb", root / "close-report.html"
        as_of = (SAMPLE / "AS_OF").read_text().strip()
        logs = ["--orders", str(SAMPLE / "orders"), "--callbacks", str(SAMPLE / "callbacks")]
        if cli.main(["reconcile", *logs, "--warehouse", str(warehouse), "--as-of", as_of, "--quiet"]) != 0:
            return 1
        if cli.main(["report", "--warehouse", str(warehouse), "--out", str(report)]) != 0:
            return 1
        with headless_chromium(root / "profile", width=1280, height=900) as context:
            refused = record_requests(context, allow=lambda url: url == report.as_uri())
            page = context.new_page()
            page.goto(report.as_uri())
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
    if refused:
        print(f"the report requested {refused}; it must be self-contained", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
