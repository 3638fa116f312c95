"""Reconciliation settings: provider profiles, tolerances, timezone, statements, outage and alert thresholds.

The defaults of docs/rules.md#provider-profiles are built in; a YAML file overrides any of
them. Every bad key or value raises :class:`~orders_pipeline.lib.common.errors.ConfigError`
with a one-line message naming it, so the command line can print it as is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from orders_pipeline.lib.common.errors import ConfigError
from orders_pipeline.lib.common.time import format_duration, parse_duration, validate_timezone
from orders_pipeline.lib.common.vocabulary import InputKind
from orders_pipeline.lib.inputs.field_maps import FieldMap, field_map_for, parse_field_maps


@dataclass(frozen=True)
class ProviderProfile:
    """How long a provider's callback normally takes (``sla``) and how long it keeps retrying.

    For statements (docs/rules.md#coverage): an order is covered once every statement day
    from the day of its ``created_at`` through the day of ``created_at + settlement_delay`` is
    covered, days counted in ``statement_timezone`` (the zone the provider cuts its days in).
    """

    sla: timedelta
    retry_horizon: timedelta
    settlement_delay: timedelta = timedelta(days=1)
    statement_timezone: str = "UTC"


DEFAULT_PROFILES: dict[str, ProviderProfile] = {
    "default": ProviderProfile(timedelta(minutes=15), timedelta(hours=72)),
    "stripe": ProviderProfile(timedelta(minutes=5), timedelta(hours=72)),
    "adyen": ProviderProfile(timedelta(minutes=5), timedelta(days=30)),
    "alipay": ProviderProfile(timedelta(minutes=5), timedelta(hours=25)),
    "wechatpay": ProviderProfile(timedelta(minutes=5), timedelta(hours=24, minutes=4)),
    "paypal": ProviderProfile(timedelta(minutes=10), timedelta(hours=72)),
}


@dataclass(frozen=True)
class OutageSettings:
    """A callback outage: no callback for longer than ``min_gap`` while ``min_orders`` were created."""

    min_gap: timedelta = timedelta(minutes=30)
    min_orders: int = 20


@dataclass(frozen=True)
class StatementSettings:
    """How native statement layouts are read (docs/rules.md#statements).

    ``stripe_metadata_key``: the ``payment_metadata[<key>]`` column of Stripe's itemized
    balance report that holds the platform's order id (the same key the Stripe webhook
    adapter reads from ``metadata``).
    """

    stripe_metadata_key: str = "order_id"


STRIPE_FAMILIES = ("payment_intent", "charge", "checkout")


@dataclass(frozen=True)
class StripeEnvelopeSettings:
    """How the ``stripe`` adapter reads webhook events (docs/envelopes.md).

    ``event_family``: which events carry a payment's outcome (``payment_intent``, ``charge`` or
    ``checkout``). ``metadata_key``: the ``data.object.metadata`` key holding the platform's
    order id (``None``: the statements' ``stripe_metadata_key``). ``webhook_secret_env``: the
    NAME of the environment variable holding the endpoint's signing secret (``whsec_...``);
    when set, every Stripe envelope must carry a valid ``Stripe-Signature`` whose ``t`` lies
    within ``signature_tolerance`` of the envelope's ``received_at``.
    """

    event_family: str = "payment_intent"
    metadata_key: str | None = None
    webhook_secret_env: str | None = None
    signature_tolerance: timedelta = timedelta(seconds=300)


@dataclass(frozen=True)
class AdyenEnvelopeSettings:
    """How the ``adyen`` adapter reads standard notifications (docs/envelopes.md).

    ``capture_confirms``: CAPTURE decides the outcome (AUTHORISATION true is then pending).
    ``hmac_key_env``: the NAME of the environment variable holding the hex HMAC key; when set,
    every item must carry a valid ``additionalData.hmacSignature``.
    """

    capture_confirms: bool = False
    hmac_key_env: str | None = None


@dataclass(frozen=True)
class EnvelopeSettings:
    """Per-provider settings of the callback adapters. Secrets are never here: only env-var names."""

    stripe: StripeEnvelopeSettings = field(default_factory=StripeEnvelopeSettings)
    adyen: AdyenEnvelopeSettings = field(default_factory=AdyenEnvelopeSettings)


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds that raise warnings and alerts. ``None`` disables one.

    ``max_unsettled_amount_minor``: per currency, the most money that may sit in
    ``unsettled`` orders (confirmed by a callback, absent from a covering statement).
    ``alert_on_missing_statement_day``: warn when a provider that sends statements has a day
    without one, between its first statement day and the last day that has ended.
    """

    max_overdue_rate: float | None = 0.05
    max_orphan_rate: float | None = 0.01
    max_missing_amount_minor: dict[str, int] = field(default_factory=dict)
    max_unsettled_amount_minor: dict[str, int] = field(default_factory=dict)
    alert_on_missing_statement_day: bool = True
    alert_on_outage: bool = True
    alert_on_sequence_gap: bool = True
    alert_on_unreadable_file: bool = True
    json_file: str | None = None
    webhook_url: str | None = None
    webhook_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class SparkSettings:
    """Where the Spark engine runs (docs/cluster.md); used only with ``--engine spark``.

    ``master``: a Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``).
    ``connect_url_env``: the name of an environment variable holding a Spark Connect URL
    (``sc://host:15002``); when it is named and set, it wins over ``master``. The URL can carry a
    token, so only the variable's name is in the config.
    ``staging``: a folder every executor and the driver can read and write, where the engine
    writes landed files and classified buckets as Parquet (default: ``<warehouse>.spark/`` beside
    the warehouse). ``conf``: further Spark properties, as given. ``min_buckets``: hash buckets
    of ``order_id`` at least (the unit of parallelism of classification).
    """

    master: str = "local[*]"
    connect_url_env: str | None = None
    staging: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    min_buckets: int = 8


@dataclass(frozen=True)
class Settings:
    """Everything the business rules need besides the data and ``as_of``."""

    providers: dict[str, ProviderProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    amount_tolerance_minor: int = 0
    clock_skew_allowance: timedelta = timedelta(minutes=5)
    timezone: str = "UTC"
    statements: StatementSettings = field(default_factory=StatementSettings)
    outages: OutageSettings = field(default_factory=OutageSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    envelopes: EnvelopeSettings = field(default_factory=EnvelopeSettings)
    field_maps: tuple[FieldMap, ...] = ()
    """In-house logs read through a map (docs/field-maps.md), tried in config order."""
    spark: SparkSettings = field(default_factory=SparkSettings)

    def field_map(self, kind: InputKind, relative: str) -> FieldMap | None:
        """The field map a file of ``kind`` is read through (the first that matches), else None (canonical)."""
        return field_map_for(self.field_maps, kind, relative)

    def profile(self, provider: str) -> ProviderProfile:
        """The provider's profile, or ``default`` for a provider the table does not name."""
        return self.providers.get(provider, self.providers["default"])


_TOP_KEYS = {
    "providers",
    "amount_tolerance_minor",
    "clock_skew_allowance",
    "timezone",
    "statements",
    "outages",
    "alerts",
    "field_maps",
    "spark",
    "envelopes",
}
_ENVELOPE_KEYS = {"stripe", "adyen"}
_STRIPE_KEYS = {"event_family", "metadata_key", "webhook_secret_env", "signature_tolerance"}
_ADYEN_KEYS = {"capture_confirms", "hmac_key_env"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROFILE_KEYS = {"sla", "retry_horizon", "settlement_delay", "statement_timezone"}
_STATEMENT_KEYS = {"stripe_metadata_key"}
_OUTAGE_KEYS = {"min_gap", "min_orders"}
_SPARK_KEYS = {"master", "connect_url_env", "staging", "conf", "min_buckets"}
_ALERT_KEYS = {
    "max_overdue_rate",
    "max_orphan_rate",
    "max_missing_amount_minor",
    "max_unsettled_amount_minor",
    "alert_on_missing_statement_day",
    "alert_on_outage",
    "alert_on_sequence_gap",
    "alert_on_unreadable_file",
    "json_file",
    "webhook_url",
    "webhook_timeout_seconds",
}


def _check_keys(section: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in section:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed keys are {', '.join(sorted(allowed))}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(value).__name__}")
    return value


def _non_negative_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a whole number >= 0, got {value!r}")
    return value


def _rate(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: expected a rate between 0 and 1 (or null to disable), got {value!r}")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _optional_str(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _per_currency_limits(value: Any, where: str) -> dict[str, int]:
    return {
        str(cur).strip().upper(): _non_negative_int(v, f"{where}.{cur}") for cur, v in _mapping(value, where).items()
    }


def _positive_seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def _env_name(value: Any, where: str) -> str | None:
    """An environment variable's NAME (never a secret itself)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(
            f"{where}: expected the NAME of an environment variable (letters, digits, _), not a value; "
            "put the secret in that variable"
        )
    return value


def _envelope_settings(raw: Any, source: str) -> EnvelopeSettings:
    where = f"{source}: envelopes"
    section = _mapping(raw, where)
    _check_keys(section, _ENVELOPE_KEYS, where)
    stripe_raw = _mapping(section.get("stripe"), f"{where}.stripe")
    _check_keys(stripe_raw, _STRIPE_KEYS, f"{where}.stripe")
    stripe = StripeEnvelopeSettings()
    if "event_family" in stripe_raw:
        family = stripe_raw["event_family"]
        if family not in STRIPE_FAMILIES:
            raise ConfigError(
                f"{where}.stripe.event_family: expected one of {', '.join(STRIPE_FAMILIES)}, got {family!r}"
            )
        stripe = replace(stripe, event_family=family)
    if "metadata_key" in stripe_raw:
        stripe = replace(stripe, metadata_key=_optional_str(stripe_raw["metadata_key"], f"{where}.stripe.metadata_key"))
    if "webhook_secret_env" in stripe_raw:
        name = _env_name(stripe_raw["webhook_secret_env"], f"{where}.stripe.webhook_secret_env")
        stripe = replace(stripe, webhook_secret_env=name)
    if "signature_tolerance" in stripe_raw:
        tolerance = parse_duration(stripe_raw["signature_tolerance"], f"{where}.stripe.signature_tolerance")
        stripe = replace(stripe, signature_tolerance=tolerance)
    adyen_raw = _mapping(section.get("adyen"), f"{where}.adyen")
    _check_keys(adyen_raw, _ADYEN_KEYS, f"{where}.adyen")
    adyen = AdyenEnvelopeSettings()
    if "capture_confirms" in adyen_raw:
        adyen = replace(adyen, capture_confirms=_bool(adyen_raw["capture_confirms"], f"{where}.adyen.capture_confirms"))
    if "hmac_key_env" in adyen_raw:
        adyen = replace(adyen, hmac_key_env=_env_name(adyen_raw["hmac_key_env"], f"{where}.adyen.hmac_key_env"))
    return EnvelopeSettings(stripe=stripe, adyen=adyen)


def settings_from_mapping(raw: dict[str, Any], source: str = "config") -> Settings:
    """Build :class:`Settings` from a parsed YAML mapping, starting from the defaults of docs/rules.md."""
    raw = _mapping(raw, source)
    _check_keys(raw, _TOP_KEYS, source)
    settings = Settings()

    providers = dict(DEFAULT_PROFILES)
    for name, profile_raw in _mapping(raw.get("providers"), f"{source}: providers").items():
        where = f"{source}: providers.{name}"
        key = str(name).strip().lower()
        profile_raw = _mapping(profile_raw, where)
        _check_keys(profile_raw, _PROFILE_KEYS, where)
        base = providers.get(key, providers["default"])
        sla = parse_duration(profile_raw["sla"], f"{where}.sla") if "sla" in profile_raw else base.sla
        horizon = (
            parse_duration(profile_raw["retry_horizon"], f"{where}.retry_horizon")
            if "retry_horizon" in profile_raw
            else base.retry_horizon
        )
        if horizon < sla:
            raise ConfigError(
                f"{where}: retry_horizon ({format_duration(horizon)}) is shorter than sla ({format_duration(sla)})"
            )
        delay = (
            parse_duration(profile_raw["settlement_delay"], f"{where}.settlement_delay")
            if "settlement_delay" in profile_raw
            else base.settlement_delay
        )
        statement_timezone = (
            validate_timezone(profile_raw["statement_timezone"], f"{where}.statement_timezone")
            if "statement_timezone" in profile_raw
            else base.statement_timezone
        )
        providers[key] = ProviderProfile(sla, horizon, delay, statement_timezone)
    settings = replace(settings, providers=providers)

    statements_raw = _mapping(raw.get("statements"), f"{source}: statements")
    _check_keys(statements_raw, _STATEMENT_KEYS, f"{source}: statements")
    if "stripe_metadata_key" in statements_raw:
        metadata_key = _optional_str(statements_raw["stripe_metadata_key"], f"{source}: statements.stripe_metadata_key")
        settings = replace(settings, statements=StatementSettings(stripe_metadata_key=metadata_key or "order_id"))

    if "amount_tolerance_minor" in raw:
        settings = replace(
            settings,
            amount_tolerance_minor=_non_negative_int(
                raw["amount_tolerance_minor"], f"{source}: amount_tolerance_minor"
            ),
        )
    if "clock_skew_allowance" in raw:
        settings = replace(
            settings,
            clock_skew_allowance=parse_duration(raw["clock_skew_allowance"], f"{source}: clock_skew_allowance"),
        )
    if "timezone" in raw:
        settings = replace(settings, timezone=validate_timezone(raw["timezone"], f"{source}: timezone"))

    outages_raw = _mapping(raw.get("outages"), f"{source}: outages")
    _check_keys(outages_raw, _OUTAGE_KEYS, f"{source}: outages")
    outages = settings.outages
    if "min_gap" in outages_raw:
        outages = replace(outages, min_gap=parse_duration(outages_raw["min_gap"], f"{source}: outages.min_gap"))
    if "min_orders" in outages_raw:
        outages = replace(
            outages, min_orders=_non_negative_int(outages_raw["min_orders"], f"{source}: outages.min_orders")
        )
    settings = replace(settings, outages=outages)

    alerts_raw = _mapping(raw.get("alerts"), f"{source}: alerts")
    _check_keys(alerts_raw, _ALERT_KEYS, f"{source}: alerts")
    parsers: dict[str, Callable[[Any, str], Any]] = {
        "max_overdue_rate": _rate,
        "max_orphan_rate": _rate,
        "max_missing_amount_minor": _per_currency_limits,
        "max_unsettled_amount_minor": _per_currency_limits,
        "alert_on_missing_statement_day": _bool,
        "alert_on_outage": _bool,
        "alert_on_sequence_gap": _bool,
        "alert_on_unreadable_file": _bool,
        "json_file": _optional_str,
        "webhook_url": _optional_str,
        "webhook_timeout_seconds": _positive_seconds,
    }
    changes: dict[str, Any] = {
        key: parse(alerts_raw[key], f"{source}: alerts.{key}") for key, parse in parsers.items() if key in alerts_raw
    }
    alerts = replace(settings.alerts, **changes)
    envelopes = _envelope_settings(raw.get("envelopes"), source)
    if envelopes.stripe.metadata_key is None:
        # One key for the webhook adapter and the balance report, unless the config splits them.
        envelopes = replace(
            envelopes, stripe=replace(envelopes.stripe, metadata_key=settings.statements.stripe_metadata_key)
        )
    return replace(
        settings,
        alerts=alerts,
        envelopes=envelopes,
        field_maps=parse_field_maps(raw.get("field_maps"), source),
        spark=_spark_settings(raw.get("spark"), f"{source}: spark"),
    )


def _spark_settings(value: Any, where: str) -> SparkSettings:
    raw = _mapping(value, where)
    _check_keys(raw, _SPARK_KEYS, where)
    spark = SparkSettings()
    if "master" in raw:
        spark = replace(spark, master=_optional_str(raw["master"], f"{where}.master") or spark.master)
    if "connect_url_env" in raw:
        name = _optional_str(raw["connect_url_env"], f"{where}.connect_url_env")
        if name is not None and "://" in name:
            raise ConfigError(
                f"{where}.connect_url_env: expected the NAME of an environment variable holding the Spark Connect "
                "URL, not the URL itself (it can carry a token)"
            )
        spark = replace(spark, connect_url_env=name)
    if "staging" in raw:
        spark = replace(spark, staging=_optional_str(raw["staging"], f"{where}.staging"))
    if "conf" in raw:
        conf = _mapping(raw["conf"], f"{where}.conf")
        for key, item in conf.items():
            if isinstance(item, dict | list) or item is None:
                raise ConfigError(f"{where}.conf.{key}: expected a single value (string, number or boolean)")
        spark = replace(
            spark, conf={str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in conf.items()}
        )
    if "min_buckets" in raw:
        buckets = _non_negative_int(raw["min_buckets"], f"{where}.min_buckets")
        if buckets < 1:
            raise ConfigError(f"{where}.min_buckets: expected a whole number >= 1, got 0")
        spark = replace(spark, min_buckets=buckets)
    return spark


def load_settings(path: str | Path | None) -> Settings:
    """Read a YAML config file (``None``: the built-in defaults)."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file with --config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} cannot be read ({exc.__class__.__name__}); check its permissions and encoding"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}; fix the syntax") from None
    return settings_from_mapping(raw or {}, source=str(path))
