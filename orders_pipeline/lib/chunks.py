"""Splitting a table into chunks of whole groups, so group-wise work holds one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

# Rows per chunk for the group-wise steps (log gaps per source, outages per provider).
CHUNK_ROWS = 25_000_000


def pack_groups(sizes: Iterable[tuple[Hashable, int]], limit: int | None = None) -> list[list[Hashable]]:
    """Pack groups (key, rows) into chunks of at most ``limit`` rows (default :data:`CHUNK_ROWS`), keeping every group whole.

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
