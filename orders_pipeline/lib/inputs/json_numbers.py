"""Exact values for the rare lines the fast path cannot judge: Python's json, literals kept exact.

DuckDB reads JSON numbers through a double, so a number's literal text is what counts
(``12.500000000000000001`` is not ``12.5``). Lines whose values DuckDB may have rendered
inexactly are re-parsed here, strictly (trailing commas and ``NaN`` are not JSON).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any


class JsonNumber(str):
    """A JSON number's literal text."""


class JsonObject(dict):
    """A parsed JSON object that remembers which of its keys were repeated (the first value is kept)."""

    repeated: frozenset[str] = frozenset()


def _first_key_wins(pairs: list[tuple[str, Any]]) -> JsonObject:
    # Like DuckDB (yyjson): the first of repeated keys wins, so both paths read the same value;
    # the repeated keys are remembered (a line that repeats a key it is read by is rejected).
    out = JsonObject()
    repeated = set()
    for key, value in pairs:
        if key in out:
            repeated.add(key)
        else:
            out[key] = value
    if repeated:
        out.repeated = frozenset(repeated)
    return out


def repeated_key(obj: dict[str, Any], paths: list[tuple[str, ...]]) -> str | None:
    """The first of ``paths`` (dotted) that a key repeated in an object along it makes ambiguous, else None."""
    for path in paths:
        node: Any = obj
        for depth, segment in enumerate(path):
            if not isinstance(node, dict):
                break
            if segment in getattr(node, "repeated", ()):
                return ".".join(path[: depth + 1])
            node = node.get(segment)
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def exact_object(raw: str) -> dict[str, Any] | None:
    """Strict parse keeping number literals exact; None when not a JSON object."""
    try:
        value = json.loads(
            raw,
            object_pairs_hook=_first_key_wins,
            parse_float=JsonNumber,
            parse_int=JsonNumber,
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def exact_field(obj: dict[str, Any], name: str) -> tuple[str | None, bool, bool]:
    """(text, is_number, is_boolean_object_or_array) of one field of a parsed object."""
    value = obj.get(name)
    if value is None:
        return None, False, False
    if isinstance(value, JsonNumber):
        return str(value), True, False
    if isinstance(value, str):
        return value, False, False
    if isinstance(value, bool):
        return ("true" if value else "false"), False, True
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False), False, True


_TOO_LARGE = "1" + "0" * 40
_TOO_PRECISE = "0." + "0" * 40 + "1"


def normalize_number(literal: str) -> tuple[str | None, bool]:
    """Convert a JSON number literal to an exact plain decimal string; also tell if it is negative."""
    try:
        value = Decimal(literal)
    except InvalidOperation:
        return None, False
    if not value.is_finite():
        return None, False
    if value < 0:
        return None, True
    if value == 0:
        return "0", False
    if value.adjusted() > 30:
        return _TOO_LARGE, False
    if value.as_tuple().exponent < -30:  # type: ignore[operator]
        return _TOO_PRECISE, False
    return format(value, "f"), False
