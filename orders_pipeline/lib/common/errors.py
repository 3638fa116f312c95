"""Errors a user can cause and fix: each message is one line saying what is wrong and how to fix it.

The command line prints them as they are (exit 2); anything else is a defect and keeps its
traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; the message is one line (what is wrong, and how to fix it)."""


class ConfigError(UserError, ValueError):
    """A configuration file or value the user must fix."""


class InputError(UserError, ValueError):
    """An input path or file the user must fix."""


class WarehouseError(UserError, RuntimeError):
    """A warehouse file or folder problem the user must fix."""


class ReportError(UserError, RuntimeError):
    """The published warehouse cannot be read (missing, not a DuckDB file, not a pipeline warehouse)."""
