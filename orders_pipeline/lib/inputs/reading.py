"""Reading input files: their decompressed bytes in newline-aligned blocks, and their SHA-256.

``.gz`` files are gunzipped (multi-member gzip is fine). A file's ``sha256`` is the SHA-256 of
its decompressed content. A file that cannot be read or decompressed raises :class:`UnreadableFile` (an
:class:`~orders_pipeline.lib.common.errors.InputError` with a one-line message and a reason
code); landing quarantines such a file instead of stopping the run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Literal, cast

from orders_pipeline.lib.inputs.discovery import InputError, InputFile, format_of

BOM = b"\xef\xbb\xbf"
# The first MiB of a file is hashed as a cheap duplicate pre-check.
_PREFIX_BYTES = 1 << 20
_HASH_PIECE = 8 << 20
_END = object()


UnreadableReason = Literal["truncated_gzip", "not_gzip", "gzip_trailing_bytes", "corrupt_gzip", "unreadable"]


class UnreadableFile(InputError):
    """A file whose bytes cannot be read or decompressed; ``reason`` says how, ``detail`` in the library's words."""

    def __init__(self, message: str, reason: UnreadableReason, detail: str) -> None:
        """Keep the one-line message, the reason code and the detail."""
        super().__init__(message)
        self.reason: UnreadableReason = reason
        self.detail = detail


def read_error(file: InputFile, exc: BaseException) -> UnreadableFile:
    """The one-line error for a file that cannot be read or decompressed."""
    where = f"cannot read {file.kind} file {file.relative}"
    if isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        detail = str(exc) or exc.__class__.__name__
        reason: UnreadableReason = (
            "truncated_gzip"
            if isinstance(exc, EOFError)
            else "corrupt_gzip"
            if isinstance(exc, zlib.error)
            else "not_gzip"
        )
        return UnreadableFile(f"{where}: not a valid gzip file ({detail}); re-deliver or remove it", reason, detail)
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        return UnreadableFile(f"{where}: {detail}; check the file and its permissions", "unreadable", detail)
    return UnreadableFile(f"{where}: {exc}", "unreadable", str(exc))


def readable_prefix(file: InputFile) -> tuple[int, int]:
    """How much of a damaged file decompresses before the damage: (lines, bytes).

    A last line without its newline counts as a line. Reading stops at the first error.
    """
    lines = size = 0
    last = b"\n"
    try:
        handle = cast("io.BufferedIOBase", open_input(file))  # a gzip or buffered file: both have read1
        with handle:
            # read1: one decompressed piece at a time, so the pieces before the damage are kept
            while piece := handle.read1(1 << 16):
                lines += piece.count(b"\n")
                size += len(piece)
                last = piece[-1:]
    except (OSError, EOFError, zlib.error, InputError):
        pass
    return lines + (last != b"\n"), size


def open_input(file: InputFile) -> BinaryIO:
    """Open a file for reading its decompressed content."""
    fmt = format_of(file.path.name)
    if fmt is None:
        raise InputError(
            f"{file.kind} file {file.relative} is not a .jsonl, .csv, .jsonl.gz or .csv.gz file; rename or remove it"
        )
    try:
        handle = file.path.open("rb")
    except OSError as exc:
        raise read_error(file, exc) from None
    if fmt[1]:
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


def prefix_digest(file: InputFile) -> str:
    """SHA-256 of the first MiB of the decompressed content (a cheap duplicate pre-check)."""
    handle = open_input(file)
    try:
        with handle:
            return hashlib.sha256(handle.read(_PREFIX_BYTES)).hexdigest()
    except (OSError, EOFError, zlib.error) as exc:
        raise read_error(file, exc) from None


def file_sha256(file: InputFile) -> str:
    """SHA-256 of a file's decompressed content (the identity used to spot re-delivered files)."""
    hasher = hashlib.sha256()
    handle = open_input(file)
    try:
        with handle:
            while piece := handle.read(_HASH_PIECE):
                hasher.update(piece)
    except (OSError, EOFError, zlib.error) as exc:
        raise read_error(file, exc) from None
    return hasher.hexdigest()


def read_blocks(file: InputFile, block_size: int, hasher: Any) -> Iterator[bytearray]:
    """Decompressed content in blocks that end at a newline (except at end of file).

    A background thread reads, decompresses and hashes (zlib and hashlib release the GIL) while
    the caller parses the previous block. At most one block waits in the queue.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            handle = open_input(file)
            with handle:
                tail = bytearray()
                while not stop.is_set():
                    block = handle.read(block_size)
                    if not block:
                        break
                    hasher.update(block)
                    cut = block.rfind(b"\n")
                    if cut < 0:
                        tail += block
                        continue
                    data = tail
                    data += memoryview(block)[: cut + 1]
                    tail = bytearray(memoryview(block)[cut + 1 :])
                    del block
                    if not put(data):
                        return
                if tail and not put(tail):
                    return
            put(_END)
        except InputError as exc:
            put(exc)
        except (OSError, EOFError, zlib.error) as exc:
            put(read_error(file, exc))
        except BaseException as exc:  # noqa: BLE001 - forwarded to the consumer
            put(exc)

    thread = threading.Thread(target=produce, name=f"read {file.relative}", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
