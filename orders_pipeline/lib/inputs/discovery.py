"""Finding the input files of one kind under a path: which files, in which order.

``*.jsonl``, ``*.csv``, ``*.jsonl.gz`` and ``*.csv.gz`` (suffix matched case-insensitively;
statements also ``*.parquet``), found recursively under a directory and sorted by posix
relative path, which is the order the rules read files in (docs/rules.md#precise-reading).
Entries whose name starts with ``.`` (hidden files and folders, such as partial uploads) are
skipped. A symbolic link whose target does not exist cannot be read: it is not an input file,
and :func:`broken_links` names it so the run can warn (never skipped silently).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orders_pipeline.lib.common.errors import InputError
from orders_pipeline.lib.common.vocabulary import INPUT_KINDS, STATEMENTS, InputKind

__all__ = ["InputError", "InputFile", "broken_links", "check_kind", "discover_files", "format_of"]


@dataclass(frozen=True)
class InputFile:
    """One input file to ingest."""

    kind: InputKind
    path: Path
    """Absolute path."""
    relative: str
    """Posix path relative to the discovered root (for a single file: its name); files are read in this order."""


FileFormat = Literal["jsonl", "csv", "parquet"]

_SUFFIXES: tuple[tuple[str, FileFormat, bool], ...] = (
    (".jsonl", "jsonl", False),
    (".csv", "csv", False),
    (".jsonl.gz", "jsonl", True),
    (".csv.gz", "csv", True),
    (".parquet", "parquet", False),
)


def format_of(name: str) -> tuple[FileFormat, bool] | None:
    """``(format, gzipped)`` for a supported file name (suffix matched case-insensitively), else None."""
    lower = name.lower()
    for suffix, fmt, gzipped in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt, gzipped
    return None


def _readable_format(kind: InputKind, name: str) -> bool:
    """Whether files of this name are read for ``kind`` (Parquet is read for statements only)."""
    fmt = format_of(name)
    return fmt is not None and (fmt[0] != "parquet" or kind == STATEMENTS)


def check_kind(kind: str) -> None:
    """Refuse an input kind the pipeline does not know (a programming error, not a user error)."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; expected one of {', '.join(INPUT_KINDS)}")


def discover_files(root: str | Path, kind: InputKind, skipped: list[str] | None = None) -> list[InputFile]:
    """Return the log files of one kind under ``root`` (a file or a directory), sorted by relative path.

    Visible files of another format found under a directory are not read; their relative paths
    are appended to ``skipped`` when given, so the caller can warn about them.
    """
    check_kind(kind)
    root_path = Path(root).expanduser()
    formats = ".jsonl, .csv, .jsonl.gz, .csv.gz" + (" or .parquet" if kind == STATEMENTS else "")
    how = f"pass a file or a directory of {formats} files"
    if not root_path.exists():
        raise InputError(f"{kind} path {root_path} does not exist; {how}")
    root_path = root_path.resolve()
    if root_path.is_file():
        if not _readable_format(kind, root_path.name):
            raise InputError(f"{kind} file {root_path} is not a {formats} file; {how}")
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
            if not _readable_format(kind, name):
                if skipped is not None:
                    skipped.append(path.relative_to(root_path).as_posix())
                continue
            if not path.is_file():
                continue
            found.append(InputFile(kind, path, path.relative_to(root_path).as_posix()))
    return sorted(found, key=lambda f: f.relative)


def broken_links(root: str | Path | None, kind: InputKind) -> list[str]:
    """Warnings, one line each, for the symbolic links under ``root`` with an input file's name and no target.

    Such a link is not read (there is nothing to read); hidden entries are skipped as by
    :func:`discover_files`.
    """
    if root is None:
        return []
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        return []
    warnings = []
    for directory, dirnames, filenames in os.walk(root_path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            path = Path(directory) / name
            if name.startswith(".") or not _readable_format(kind, name) or not path.is_symlink() or path.exists():
                continue
            relative = path.relative_to(root_path).as_posix()
            warnings.append(
                f"{kind} file {relative} is a broken symbolic link (to {path.readlink()}): not read; "
                "fix the link or remove it"
            )
    return sorted(warnings)
