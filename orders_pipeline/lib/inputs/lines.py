r"""Splitting a decompressed block into lines: numpy finds the newlines, Arrow wraps the text without a copy.

JSONL is split on ``\n`` only and a trailing ``\r`` is part of the line's trailing
whitespace. A line made only of spaces, tabs and ``\r`` is blank: not a line (not counted,
not rejected). ``line_number`` is the 1-based physical line number in the decompressed file.
A line that is not valid UTF-8 is flagged (and later rejected ``bad_encoding``), the rest of
its block is not affected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_NEWLINE_SCAN = 8 << 20


@dataclass
class Lines:
    """The non-blank lines of a block."""

    starts: np.ndarray
    """Byte offset of each non-blank line."""
    line_index: np.ndarray
    """0-based physical line index (within the block) of each non-blank line."""
    physical: int
    """Physical lines in the block, blank ones included."""


def _newlines(arr: np.ndarray) -> np.ndarray:
    # Scanned in pieces so the comparison's temporary boolean array stays small.
    parts = [np.flatnonzero(arr[i : i + _NEWLINE_SCAN] == 10) + i for i in range(0, len(arr), _NEWLINE_SCAN)]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def split_lines(data: bytearray, skip: int) -> Lines:
    """Non-blank lines of a block (which ends with a newline, or at end of file)."""
    arr = np.frombuffer(data, np.uint8)
    n = len(arr)
    nl = _newlines(arr).astype(np.int64, copy=False)
    starts = np.empty(len(nl) + 1, np.int64)
    starts[0] = skip
    starts[1:] = nl + 1
    ends = np.empty(len(nl) + 1, np.int64)
    ends[:-1] = nl
    ends[-1] = n
    if starts[-1] >= n:  # the block ends with a newline: no partial last line
        starts, ends = starts[:-1], ends[:-1]
    physical = len(starts)
    length = ends - starts
    nonempty = length > 0
    first = np.zeros(len(starts), np.uint8)
    first[nonempty] = arr[starts[nonempty]]
    candidate = nonempty & ((first == 32) | (first == 9) | (first == 13))
    keep = nonempty.copy()
    for i in np.flatnonzero(candidate):
        if not bytes(data[starts[i] : ends[i]]).strip(b" \t\r"):
            keep[i] = False
    index = np.flatnonzero(keep)
    return Lines(starts[index], index, physical)


def string_array(data: bytearray, lines: Lines) -> tuple[pa.Array, np.ndarray | None]:
    """Build a large_string array of the non-blank lines (each with its trailing whitespace).

    Zero-copy when the block is valid UTF-8; otherwise the lines are decoded one by one with
    replacement characters and the invalid ones are flagged.
    """
    m = len(lines.starts)
    offsets = np.empty(m + 1, np.int64)
    offsets[:m] = lines.starts
    offsets[m] = len(data)
    array = pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=True)
        return array, None
    except pa.ArrowInvalid:
        pass
    texts: list[str] = []
    bad = np.zeros(m, bool)
    view = memoryview(data)
    for i in range(m):
        chunk = view[offsets[i] : offsets[i + 1]]
        try:
            texts.append(str(chunk, "utf-8"))
        except UnicodeDecodeError:
            texts.append(str(chunk, "utf-8", "replace"))
            bad[i] = True
    return pa.array(texts, pa.large_string()), bad
