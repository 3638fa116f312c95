"""Field maps: how an in-house log whose names and encodings are not ours is read as canonical lines.

A map (the config's ``field_maps`` section, one entry per map, first match wins) applies to
the files of one kind whose relative path matches one of its globs. It says where each
canonical field is read from (``fields``: a column name, or a dotted path into nested JSON),
which fields are the same for every record (``constants``), whether amounts are written in
major or minor units, how timestamps are written (RFC 3339, epoch seconds or milliseconds,
or a strftime-style pattern) and in which timezone a timestamp without an offset is, and
which source values mean which callback status. A field the map neither renames nor sets is
read under its canonical name.

Everything a map says is checked when the config is loaded (:func:`parse_field_maps`): a bad
map is a one-line :class:`~orders_pipeline.lib.common.errors.ConfigError` naming the config
file, the map and the key, before any file is read. Applying a map is
:func:`apply_encodings`: Polars expressions over a whole chunk of extracted text, after
which the record goes through exactly the same validation as a canonical line.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import polars as pl

from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.common.money import CURRENCY_EXPONENTS, currency_exponent_expr, significant_decimal_expr
from orders_pipeline.lib.common.time import TIMESTAMP, validate_timezone
from orders_pipeline.lib.common.vocabulary import CALLBACKS, INPUT_KINDS, STATEMENT_TYPES, STATUSES, InputKind
from orders_pipeline.lib.inputs.fields import FIELDS, PLAIN_ASCII_DECIMAL, Field

AmountUnit = Literal["major", "minor"]
TIMESTAMP_ENCODINGS = ("rfc3339", "epoch_s", "epoch_ms")

_MAP_KEYS = {"kind", "files", "fields", "constants", "amount_unit", "timestamps", "timezone", "status_values"}
# A constant must be a value a whole file can share: not a timestamp, an amount or a sequence number.
_CONSTANT_ROLES = ("id", "provider", "status", "currency", "date", "type")
# The instant used to check that a pattern can read back what it writes.
_PATTERN_PROBE = datetime(2026, 11, 20, 13, 14, 15, 123456)


@dataclass(frozen=True)
class FieldMap:
    """One field map, as checked at config load (hashable: parsers are pooled per map)."""

    name: str
    kind: InputKind
    files: tuple[str, ...]
    sources: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Canonical field -> the path it is read from (one segment for a column or a top-level key)."""
    constants: tuple[tuple[str, str], ...] = ()
    amount_unit: AmountUnit = "major"
    timestamps: str = "rfc3339"
    """``rfc3339``, ``epoch_s``, ``epoch_ms``, or a strftime-style pattern."""
    timezone: str | None = None
    """Timezone of timestamps without an offset (``None``: the config's ``timezone``)."""
    status_values: tuple[tuple[str, str], ...] = ()

    def matches(self, relative: str) -> bool:
        """Whether a file (path relative to its kind's folder) is read through this map."""
        return any(fnmatch.fnmatchcase(relative, pattern) for pattern in self.files)

    def constant(self, name: str) -> str | None:
        """The constant value of a canonical field, if the map sets one."""
        return dict(self.constants).get(name)

    def path(self, name: str) -> tuple[str, ...]:
        """Where a canonical field is read from (its own name unless renamed)."""
        return dict(self.sources).get(name, (name,))

    def column(self, name: str) -> str:
        """The column a canonical field is read from in a CSV or Parquet file (the dotted path as is)."""
        return ".".join(self.path(name))

    @property
    def changes_values(self) -> bool:
        """Whether the map converts values (units, timestamp encodings, statuses), not only names."""
        return self.amount_unit != "major" or self.timestamps != "rfc3339" or bool(self.status_values)


def field_map_for(maps: tuple[FieldMap, ...], kind: InputKind, relative: str) -> FieldMap | None:
    """The first map of ``kind`` whose globs match the file, else None (the file is canonical)."""
    for field_map in maps:
        if field_map.kind == kind and field_map.matches(relative):
            return field_map
    return None


# ---- config ---------------------------------------------------------------------------------


def _text(value: Any, where: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return str(value)


def _mapping(value: Any, where: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _canonical(name: Any, fields: dict[str, Field], kind: str, where: str) -> Field:
    field = fields.get(str(name))
    if field is None:
        raise ConfigError(
            f"{where}: unknown canonical field {name!r} for {kind}; the {kind} fields are {', '.join(fields)}"
        )
    return field


def _path(value: Any, where: str) -> tuple[str, ...]:
    text = _text(value, where, "the name of a column, or a dotted path into nested JSON such as 'payment.total'")
    segments = tuple(text.split("."))
    if any(not s.strip() for s in segments):
        raise ConfigError(f"{where}: {text!r} has an empty segment; write a dotted path such as 'payment.total'")
    return segments


def _constant(field: Field, value: Any, where: str) -> str:
    if field.role not in _CONSTANT_ROLES:
        raise ConfigError(
            f"{where}: {field.name} cannot be a constant (timestamps, amounts and seq are read from each record); "
            "map it under fields instead"
        )
    if isinstance(value, float):
        raise ConfigError(f"{where}: {value!r} is a YAML float; quote the value")
    text = _text(value, where, "a string or a whole number")
    norm = text.strip()
    if field.role == "currency" and norm.upper() not in CURRENCY_EXPONENTS:
        raise ConfigError(f"{where}: {text!r} is not an ISO 4217 currency code with a known exponent")
    if field.role == "status" and norm.lower() not in STATUSES:
        raise ConfigError(f"{where}: {text!r} is not one of {', '.join(STATUSES)}")
    if field.role == "type" and norm.lower() not in STATEMENT_TYPES:
        raise ConfigError(f"{where}: {text!r} is not one of {', '.join(STATEMENT_TYPES)}")
    return text


def check_pattern(pattern: str, where: str) -> str:
    """Refuse a strftime-style pattern that cannot read back a full date and time it wrote itself."""
    probe = pl.Series([_PATTERN_PROBE])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            written = probe.dt.to_string(pattern)
            read = written.str.strptime(pl.Datetime("us"), pattern, strict=False)
        except Exception:  # noqa: BLE001 - any failure means the pattern is unusable
            read = pl.Series([None], dtype=pl.Datetime("us"))
    value = read[0]
    if value is None or value.date() != _PATTERN_PROBE.date():
        raise ConfigError(
            f"{where}: pattern {pattern!r} cannot read a date and time (it needs at least %Y, %m and %d; "
            "e.g. '%Y-%m-%d %H:%M:%S' or '%Y%m%d%H%M%S')"
        )
    return pattern


def _timestamps(value: Any, where: str) -> str:
    text = _text(value, where, "rfc3339, epoch_s, epoch_ms or a pattern such as '%Y-%m-%d %H:%M:%S'")
    if text in TIMESTAMP_ENCODINGS:
        return text
    if "%" not in text:
        raise ConfigError(
            f"{where}: {text!r} is not rfc3339, epoch_s, epoch_ms, nor a strftime-style pattern "
            "such as '%Y-%m-%d %H:%M:%S'"
        )
    return check_pattern(text, where)


def _status_values(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for source, status in _mapping(value, where).items():
        key = _text(source, where, "source values (strings or whole numbers) as keys")
        if not isinstance(status, str) or status.strip().lower() not in STATUSES:
            raise ConfigError(f"{where}.{key}: {status!r} is not one of {', '.join(STATUSES)}")
        pairs.append((key.strip(), status.strip().lower()))
    if not pairs:
        raise ConfigError(f"{where}: expected at least one source value, e.g. {{'1': success, '2': failed}}")
    return tuple(pairs)


def _check_paths(sources: dict[str, tuple[str, ...]], where: str) -> None:
    """Refuse a path that is another path's parent: one JSON value cannot be both a leaf and an object."""
    paths = {path: name for name, path in sources.items()}
    for path, name in paths.items():
        for other, other_name in paths.items():
            if len(other) > len(path) and other[: len(path)] == path:
                raise ConfigError(
                    f"{where}: {name} reads {'.'.join(path)!r}, which holds {other_name}'s {'.'.join(other)!r}; "
                    "a field must be read from a value, not from the object around another field"
                )


def parse_field_map(name: str, raw: Any, source: str) -> FieldMap:
    """Check one map of the config's ``field_maps`` section (``source``: the config file, for messages)."""
    where = f"{source}: field_maps.{name}"
    raw = _mapping(raw, where)
    for key in raw:
        if key not in _MAP_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed keys are {', '.join(sorted(_MAP_KEYS))}")
    kind = raw.get("kind")
    if kind not in INPUT_KINDS:
        raise ConfigError(f"{where}.kind: expected one of {', '.join(INPUT_KINDS)}, got {kind!r}")
    globs = raw.get("files")
    globs = [globs] if isinstance(globs, str) else globs
    if not isinstance(globs, list) or not globs:
        raise ConfigError(f"{where}.files: expected a glob such as 'shop/*.csv' (or a list of them), got {globs!r}")
    files = tuple(_text(g, f"{where}.files", "a glob such as 'shop/*.csv'") for g in globs)
    fields = {f.name: f for f in FIELDS[kind]}

    sources: dict[str, tuple[str, ...]] = {}
    for canonical, path in _mapping(raw.get("fields") or {}, f"{where}.fields").items():
        field = _canonical(canonical, fields, kind, f"{where}.fields")
        sources[field.name] = _path(path, f"{where}.fields.{field.name}")
    constants: dict[str, str] = {}
    for canonical, value in _mapping(raw.get("constants") or {}, f"{where}.constants").items():
        field = _canonical(canonical, fields, kind, f"{where}.constants")
        if field.name in sources:
            raise ConfigError(
                f"{where}.constants.{field.name}: {field.name} is also read from a field; keep one of the two"
            )
        constants[field.name] = _constant(field, value, f"{where}.constants.{field.name}")
    _check_paths({n: p for n, p in sources.items()}, f"{where}.fields")

    unit = raw.get("amount_unit", "major")
    if unit not in ("major", "minor"):
        raise ConfigError(f"{where}.amount_unit: expected major or minor, got {unit!r}")
    timestamps = _timestamps(raw["timestamps"], f"{where}.timestamps") if "timestamps" in raw else "rfc3339"
    timezone = validate_timezone(raw["timezone"], f"{where}.timezone") if "timezone" in raw else None
    status_values: tuple[tuple[str, str], ...] = ()
    if "status_values" in raw:
        if kind != CALLBACKS:
            raise ConfigError(f"{where}.status_values: only callbacks have a status; remove it from this {kind} map")
        if "status" in constants:
            raise ConfigError(f"{where}.status_values: status is a constant; keep one of the two")
        status_values = _status_values(raw["status_values"], f"{where}.status_values")
    return FieldMap(
        name=name,
        kind=kind,
        files=files,
        sources=tuple(sources.items()),
        constants=tuple(constants.items()),
        amount_unit=unit,
        timestamps=timestamps,
        timezone=timezone,
        status_values=status_values,
    )


def parse_field_maps(raw: Any, source: str) -> tuple[FieldMap, ...]:
    """The config's ``field_maps`` section (a mapping of map name to map, in the order they are tried)."""
    if raw is None:
        return ()
    return tuple(
        parse_field_map(_text(name, f"{source}: field_maps", "map names"), value, source)
        for name, value in _mapping(raw, f"{source}: field_maps").items()
    )


# ---- applying a map to extracted text -------------------------------------------------------


def problem_column(name: str) -> str:
    """The column holding, per record, why the map could not convert field ``name`` (null: no problem)."""
    return "mapmsg_" + name


def apply_encodings(x: pl.DataFrame, field_map: FieldMap, timezone: str) -> pl.DataFrame:
    """Turn a map's encodings (units, timestamps, statuses) into canonical text, with a problem per field.

    ``x`` is an extracted chunk (``t_<field>`` text, the amount's literal columns, ``ts_<field>``
    instants); ``timezone`` is the one for timestamps without an offset. After this, the
    chunk holds canonical text and the rules judge it as they judge any line; where the map
    itself could not read a value, ``mapmsg_<field>`` says why and validation rejects the
    record with that field's reason (``bad_amount``, ``bad_timestamp``, ``bad_status``).
    """
    fields = FIELDS[field_map.kind]
    problems: dict[str, pl.Expr] = {}
    updates: list[pl.Expr] = []
    if field_map.amount_unit == "minor":
        exponent = currency_exponent_expr(pl.col("t_currency").str.strip_chars().str.to_uppercase())
        updates += _minor_amount(exponent)
        problems["amount"] = _minor_problem()
        for money in (f.name for f in fields if f.role == "money"):
            updates += _minor_money(money, exponent)
    if field_map.timestamps != "rfc3339":
        for ts in (f.name for f in fields if f.role == "ts"):
            instant, problem = _instant(ts, field_map.timestamps, timezone)
            updates += [
                instant.dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ").alias("mapts_text_" + ts),
                instant.alias("mapts_value_" + ts),
            ]
            problems[ts] = problem
    if field_map.status_values:
        mapped, problem = _status(dict(field_map.status_values))
        updates.append(mapped.alias("mapst_status"))
        problems["status"] = problem
    if not problems:
        return x
    # Problems are judged on the values as read, before any column is replaced.
    x = x.with_columns(*updates, *[expr.alias(problem_column(name)) for name, expr in problems.items()])
    replaced: list[pl.Expr] = []
    for ts in (f.name for f in fields if f.role == "ts"):
        if ts in problems:
            ok = pl.col(problem_column(ts)).is_null()
            replaced += [
                pl.when(ok).then(pl.col("mapts_text_" + ts)).otherwise(pl.col("t_" + ts)).alias("t_" + ts),
                pl.when(ok).then(pl.col("mapts_value_" + ts)).alias("ts_" + ts),
            ]
    if "status" in problems:
        replaced.append(pl.coalesce(pl.col("mapst_status"), pl.col("t_status")).alias("t_status"))
    if "amount" in problems:
        replaced += [
            pl.coalesce(pl.col("mapamt_major"), pl.col("t_amount")).alias("t_amount"),
            pl.when(pl.col("mapamt_major").is_null()).then(pl.col("amt_lit")).alias("amt_lit"),
            pl.when(pl.col("mapamt_major").is_null()).then(pl.col("amt_norm")).alias("amt_norm"),
            pl.when(pl.col("mapamt_major").is_null()).then(pl.col("amt_neg")).alias("amt_neg"),
        ]
    return x.with_columns(replaced)


def _amount_source() -> pl.Expr:
    """The amount as read: a JSON number's exact literal, else the text (as validation reads it)."""
    has_literal = pl.col("amt_lit").is_not_null()
    return (
        pl.when(has_literal)
        .then(pl.coalesce(pl.col("amt_norm"), pl.col("amt_lit")))
        .otherwise(pl.col("t_amount").str.strip_chars())
    )


def _whole_minor(text: pl.Expr) -> pl.Expr:
    """The significant digits of a whole, non-negative count of minor units (``"1250.0"`` is 1250), else null."""
    significant = significant_decimal_expr(text)
    return pl.when(text.str.contains(PLAIN_ASCII_DECIMAL) & ~significant.str.contains(".", literal=True)).then(
        significant
    )


def _major_text(digits: pl.Expr, exponent: pl.Expr) -> pl.Expr:
    """Minor-unit digits written in major units with the currency's exponent (``"1250"``, 2 -> ``"12.50"``).

    Exact by construction: the decimal point is moved in the text, never through a number.
    """
    out: pl.Expr = pl.lit(None, pl.String)
    for exp in sorted(set(CURRENCY_EXPONENTS.values())):
        padded = digits.str.pad_start(exp + 1, "0")
        text = padded.str.head(-exp) + "." + padded.str.tail(exp) if exp else padded
        out = pl.when(exponent == exp).then(text).otherwise(out)
    return out


def _minor_amount(exponent: pl.Expr) -> list[pl.Expr]:
    digits = _whole_minor(_amount_source())
    return [_major_text(digits, exponent).alias("mapamt_major")]


def _minor_problem() -> pl.Expr:
    source = _amount_source()
    present = (pl.col("t_amount").str.strip_chars() != "").fill_null(False)
    negative = (
        pl.when(pl.col("amt_lit").is_not_null())
        .then(pl.col("amt_neg").fill_null(False))
        .otherwise(source.str.starts_with("-"))
    )
    # A negative count is left to validation ("is negative"), like any negative amount.
    bad = present & ~negative.fill_null(False) & _whole_minor(source).is_null()
    return pl.when(bad).then(
        pl.format("amount '{}' is not a whole number of minor units (the map's amount_unit is minor)", source)
    )


def _minor_money(name: str, exponent: pl.Expr) -> list[pl.Expr]:
    """An optional money field (a statement's fee, net) in minor units; anything else is marked bad."""
    text = pl.col("t_" + name).str.strip_chars()
    digits = _whole_minor(text)
    present = (text != "").fill_null(False)
    return [
        pl.coalesce(_major_text(digits, exponent), pl.col("t_" + name)).alias("t_" + name),
        (pl.col("ns_" + name) | (present & digits.is_null())).alias("ns_" + name),
    ]


def _instant(name: str, encoding: str, timezone: str) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant, problem) of a timestamp field written as epoch seconds/milliseconds or by a pattern."""
    text = pl.col("t_" + name).str.strip_chars()
    present = (text != "").fill_null(False)
    if encoding in ("epoch_s", "epoch_ms"):
        # Whole units, optionally a fraction (truncated to microseconds, like RFC 3339 fractions).
        scale, digits, unit = (6, 12, "seconds") if encoding == "epoch_s" else (3, 15, "milliseconds")
        shape = rf"^[0-9]{{1,{digits}}}(\.[0-9]+)?$"
        whole = text.str.extract(r"^([0-9]+)", 1).cast(pl.Int64, strict=False)
        fraction = text.str.extract(r"\.([0-9]+)$", 1).fill_null("").str.pad_end(scale, "0").str.head(scale)
        micros = whole * 10 ** (6 if encoding == "epoch_s" else 3) + fraction.cast(pl.Int64, strict=False)
        epoch: pl.Expr = pl.when(text.str.contains(shape)).then(
            pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
        )
        described = f"a number of {unit} since 1970-01-01T00:00:00Z"
        problem = pl.when(present & epoch.is_null()).then(
            pl.format(f"{name} '{{}}' is not {described} (the map's timestamps are {encoding})", text)
        )
        return epoch.cast(TIMESTAMP), problem
    with_offset = "%z" in encoding or "%:z" in encoding or "%#z" in encoding
    gap: pl.Expr
    if with_offset:
        instant = text.str.strptime(pl.Datetime("us", "UTC"), encoding, strict=False)
        gap = pl.lit(False)
    else:
        local = text.str.strptime(pl.Datetime("us"), encoding, strict=False)
        instant = local.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
            "UTC"
        )
        gap = local.is_not_null() & instant.is_null()
    mismatch: pl.Expr = pl.when(present & instant.is_null()).then(
        pl.format(f"{name} '{{}}' does not match the map's timestamp pattern '{encoding}'", text)
    )
    skipped = pl.format(f"{name} '{{}}' does not exist in timezone {timezone} (skipped by a DST change)", text)
    return instant.cast(TIMESTAMP), pl.when(present & gap).then(skipped).otherwise(mismatch)


def _status(values: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """(canonical status, problem) of a status read through the map's ``status_values`` (keys trimmed, exact)."""
    text = pl.col("t_status").str.strip_chars()
    mapped = text.replace_strict(values, default=None, return_dtype=pl.String)
    present = (text != "").fill_null(False)
    named = ", ".join(repr(k) for k in values)
    problem = pl.when(present & mapped.is_null()).then(
        pl.format(f"status '{{}}' is not one of the values the map's status_values names ({named})", text)
    )
    return mapped, problem
