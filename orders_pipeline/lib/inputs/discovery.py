"""Finding the input files of one kind under a path: which files, in which order.

``*.jsonl``, ``*.csv``, ``*.jsonl.gz`` and ``*.csv.gz`` (suffix matched case-insensitively),
found recursively under a directory and sorted by posix relative path, which is the order
the rules read files in (docs/rules.md#precise-reading). Entries whose name starts with ``.`` (hidden
files and folders, such as partial uploads) are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orders_pipeline.lib.common.errors import InputError
from orders_pipeline.lib.common.vocabulary import LOG_KINDS, LogKind

__all__ = ["InputError", "InputFile", "check_kind", "discover_files", "format_of"]


@dataclass(frozen=True)
class InputFile:
    """One log file to ingest."""

    kind: LogKind
    path: Path
    """Absolute path."""
    relative: str
    """Posix path relative to the discovered root (for a single file: its name); files are read in this order."""


FileFormat = Literal["jsonl", "csv"]

_SUFFIXES = (".jsonl", ".csv", ".jsonl.gz", ".csv.gz")


def format_of(name: str) -> tuple[FileFormat, bool] | None:
    """``(format, gzipped)`` for a supported file name (suffix matched case-insensitively), else None."""
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return ("jsonl" if suffix.startswith(".jsonl") else "csv"), suffix.endswith(".gz")
    return None


def check_kind(kind: str) -> None:
    """Refuse a log kind the pipeline does not know (a programming error, not a user error)."""
    if kind not in LOG_KINDS:
        raise ValueError(f"unknown log kind {kind!r}; expected one of {', '.join(LOG_KINDS)}")


def discover_files(root: str | Path, kind: LogKind, skipped: list[str] | None = None) -> list[InputFile]:
    """Return the log files of one kind under ``root`` (a file or a directory), sorted by relative path.

    Visible files of another format found under a directory are not read; their relative paths
    are appended to ``skipped`` when given, so the caller can warn about them.
    """
    check_kind(kind)
    root_path = Path(root).expanduser()
    how = "pass a file or a directory of .jsonl/.csv(.gz) logs"
    if not root_path.exists():
        raise InputError(f"{kind} path {root_path} does not exist; {how}")
    root_path = root_path.resolve()
    if root_path.is_file():
        if format_of(root_path.name) is None:
            raise InputError(f"{kind} file {root_path} is not a .jsonl, .csv, .jsonl.gz or .csv.gz file; {how}")
        if not os.access(root_path, os.R_OK):
            raise InputError(f"{kind} file {root_path} is not readable; check its permissions")
        return [InputFile(kind, root_path, root_path.name)]
    if not root_path.is_dir():
        raise InputError(f"{kind} path {root_path} is neither a file nor a directory; {how}")
    if not os.access(root_path, os.R_OK | os.X_OK):
        raise InputError(f"{kind} directory {root_path} is not readable; check its permissions")

    def fail(error: OSError) -> None:
        raise InputError(f"cannot list {kind} directory {error.filename}: {error.strerror}; check its permissions")

    found: list[InputFile] = []
    for directory, dirnames, filenames in os.walk(root_path, onerror=fail):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(directory) / name
            if format_of(name) is None:
                if skipped is not None:
                    skipped.append(path.relative_to(root_path).as_posix())
                continue
            if not path.is_file():
                continue
            found.append(InputFile(kind, path, path.relative_to(root_path).as_posix()))
    return sorted(found, key=lambda f: f.relative)
