"""Throughput of ``ingest``: synthetic order lines -> DuckDBSink on a temporary database file.

Usage: ``.venv/bin/python bench/ingest_speed.py [--lines 2000000] [--gzip] [--chunk-lines 1000000]
[--sink duckdb|memory]``

Writes the synthetic JSONL (about 230 bytes a line, ~0.1 % malformed lines, 20 % of amounts as
JSON numbers with a fraction) to a temp dir, then times ``ingest`` into a ``DuckDBSink`` on a
temp DuckDB file (or a ``MemorySink``: parsing only) and prints lines/second, wall and CPU time.
Generation is not timed. CPU time is the better number on a shared machine.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from orders_pipeline.lib.common.config import Settings
from orders_pipeline.lib.inputs.discovery import discover_files
from orders_pipeline.lib.inputs.ingest import ingest_file
from orders_pipeline.lib.inputs.sinks import DuckDBSink, MemorySink

PROVIDERS = ("stripe", "adyen", "alipay", "wechatpay", "paypal")
CURRENCIES = ("USD", "EUR", "JPY", "KWD", "CNY")


def synthetic_lines(start: int, count: int) -> str:
    """``count`` order lines; every 1000th line is bad in some way."""
    out = []
    for i in range(start, start + count):
        cur = CURRENCIES[i % 5]
        whole = (i * 7919) % 100000
        if cur == "JPY":
            amount = f'"{whole}"'
        elif cur == "KWD":
            amount = f"{whole}.{i % 1000:03d}"  # a JSON number
        else:
            amount = f'"{whole}.{i % 100:02d}"'
        if i % 1000 == 999:
            out.append(f'{{"order_id":"ord-{i:09d}","merchant_id":"m-{i % 50}","provider":"stripe","amount":"1.234",')
            continue
        out.append(
            f'{{"order_id":"ord-{i:09d}","merchant_id":"m-{i % 50}","provider":"{PROVIDERS[i % 5]}",'
            f'"amount":{amount},"currency":"{cur}","created_at":"2024-05-{1 + i % 28:02d}T{i % 24:02d}:'
            f'{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z","customer_id":"c-{i % 100000}",'
            f'"request_id":"req-{i * 31:x}","source":"api-{i % 4}","seq":{i // 4}}}'
        )
    return "\n".join(out) + "\n"


def write_file(path: Path, lines: int, gz: bool) -> None:
    """Write ``lines`` synthetic order lines to ``path`` (gzipped if ``gz``)."""
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as fh:  # type: ignore[operator]
        for start in range(0, lines, 200_000):
            fh.write(synthetic_lines(start, min(200_000, lines - start)))


def main(argv: list[str] | None = None) -> int:
    """Generate, ingest, print the throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--chunk-lines", type=int, default=1_000_000)
    parser.add_argument("--sink", choices=("duckdb", "memory"), default="duckdb")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "orders"
        data.mkdir()
        name = "orders.jsonl.gz" if args.gzip else "orders.jsonl"
        t0 = time.perf_counter()
        write_file(data / name, args.lines, args.gzip)
        size = (data / name).stat().st_size
        print(f"generated {args.lines:,} lines ({size / 1e6:.0f} MB on disk) in {time.perf_counter() - t0:.1f}s")

        con = duckdb.connect(str(tmp_path / "bench.duckdb"))
        sink = DuckDBSink(con) if args.sink == "duckdb" else MemorySink()
        files = discover_files(data, "orders")
        wall, cpu = time.perf_counter(), time.process_time()
        (file,) = files
        result = ingest_file(file, Settings(), sink, chunk_lines=args.chunk_lines)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if isinstance(sink, MemorySink):
            landed, rejected = sink.frame("orders").height, sink.frame("rejected_lines").height
        else:
            landed = con.sql("SELECT count(*) FROM landing.orders").fetchall()[0][0]
            rejected = con.sql("SELECT count(*) FROM landing.rejected_lines").fetchall()[0][0]
        con.close()
        assert result.counts.read == args.lines == landed + rejected, (result, landed, rejected)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"ingested {args.lines:,} lines into {args.sink}: {landed:,} landed, {rejected:,} rejected in "
            f"{wall:.2f}s wall, {cpu:.2f}s CPU -> {args.lines / wall:,.0f} lines/s, "
            f"{wall / args.lines * 1e6:.2f} µs/line wall, {cpu / args.lines * 1e6:.2f} µs/line CPU "
            f"(peak RSS {peak_mb:,.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
