"""Work in bounded pieces: chunks of whole groups, and the next piece computed while this one is written."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import polars as pl

Item = TypeVar("Item")
Result = TypeVar("Result")

# Rows per chunk for the group-wise steps (log gaps per source, outages per provider).
CHUNK_ROWS = 25_000_000


def pack_groups(sizes: Iterable[tuple[Hashable, int]], limit: int | None = None) -> list[list[Hashable]]:
    """Pack groups (key, rows) into chunks of at most ``limit`` rows (default :data:`CHUNK_ROWS`), groups kept whole.

    Groups are taken in the given order and a chunk is closed when the next group would
    overflow it; a group bigger than ``limit`` gets a chunk of its own. Results computed per
    group (gaps per log stream, outages per provider) are then exact chunk by chunk.
    """
    limit = CHUNK_ROWS if limit is None else limit
    chunks: list[list[Hashable]] = []
    rows = 0
    for key, size in sizes:
        if not chunks or rows + size > limit:
            chunks.append([])
            rows = 0
        chunks[-1].append(key)
        rows += size
    return chunks


def computed_ahead(function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
    """``function(item)`` for each item in order, the next one computed in a worker thread meanwhile.

    While the caller consumes one result (say DuckDB inserting a batch of outcomes), the next
    is being computed (Polars classifying the next batch): both engines release the GIL, so
    the two overlap, with at most two results in memory. An exception is raised where its
    result would have been yielded.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ahead") as pool:
        pending: Future[Result] | None = None
        for item in items:
            upcoming = pool.submit(function, item)
            if pending is not None:
                yield pending.result()
            pending = upcoming
        if pending is not None:
            yield pending.result()


def merge_sorted(
    parts: list[pl.LazyFrame], table_schema: dict[str, pl.DataType], order: tuple[str, ...]
) -> pl.DataFrame:
    """Collect the results of disjoint groups (log streams, providers) into one table, sorted by ``order``."""
    if not parts:
        return pl.DataFrame(schema=table_schema)
    return pl.concat([part.collect() for part in parts], how="vertical").sort(*order)
