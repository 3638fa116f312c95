"""Webhook signatures: Stripe's ``Stripe-Signature`` and Adyen's HMAC, checked on what the provider signed.

Secrets come only from the environment variables the config names
(``envelopes.stripe.webhook_secret_env``, ``envelopes.adyen.hmac_key_env``). They are read when
a file is parsed, never stored in settings, never logged, and never written to a table: a
failing record is rejected ``bad_signature`` with a message that names the header or field,
never the secret or the expected value. A variable that the config names but that is not set
is a one-line error (verification was asked for; silently skipping it would let forged
callbacks in).

Signatures are checked with Python's ``hmac`` per envelope (Stripe) or per item (Adyen): an
HMAC has no vectorised form in DuckDB or Polars, and it costs about a microsecond.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from orders_pipeline.lib.common.errors import ConfigError


def secret_from_env(name: str | None, where: str) -> bytes | None:
    """The secret held by environment variable ``name`` (None when no variable is configured)."""
    if name is None:
        return None
    value = os.environ.get(name, "")
    if not value.strip():
        raise ConfigError(
            f"{where} names environment variable {name}, which is not set; set it to the secret "
            "or remove the key to read callbacks unverified"
        )
    return value.strip().encode("utf-8")


def adyen_key(name: str | None) -> bytes | None:
    """The Adyen HMAC key (hex in the environment variable), as bytes."""
    text = secret_from_env(name, "envelopes.adyen.hmac_key_env")
    if text is None:
        return None
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"environment variable {name} (envelopes.adyen.hmac_key_env) is not a hex HMAC key; "
            "copy the key from the Customer Area webhook settings"
        ) from None


def header(headers_json: str | None, name: str) -> str | None:
    """A request header's value (names compared case-insensitively; a list takes its first string)."""
    if not headers_json:
        return None
    try:
        headers = json.loads(headers_json)
    except ValueError:
        return None
    if not isinstance(headers, dict):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            if isinstance(value, list):
                value = next((v for v in value if isinstance(v, str)), None)
            return value if isinstance(value, str) else None
    return None


def _instant(text: str | None, timezone: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value


def stripe_problem(
    body: str | None,
    signature_header: str | None,
    received_at: str | None,
    secret: bytes,
    tolerance: timedelta,
    timezone: str,
) -> str | None:
    """Why a Stripe envelope fails verification (None when it passes).

    Stripe signs ``"<t>." + raw body`` with HMAC-SHA256 and sends ``t=<t>,v1=<hex>[,v1=...]``;
    any ``v1`` may match (secrets being rolled). ``t`` must lie within ``tolerance`` of the
    envelope's ``received_at`` (a batch run judges the time of receipt, not "now"); when
    ``received_at`` cannot be read the record is rejected ``bad_timestamp`` by validation.
    A body logged as a JSON object is not the raw body: it cannot be verified.
    """
    if body is None:
        return "the body was logged as a JSON object, not as the raw request body, so its signature cannot be checked"
    if not signature_header:
        return "no Stripe-Signature header"
    timestamp: int | None = None
    candidates: list[str] = []
    for part in signature_header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.strip())
    if timestamp is None or not candidates:
        return "the Stripe-Signature header has no t= or no v1= signature"
    payload = f"{timestamp}.".encode() + body.encode("utf-8")
    expected = hmac.new(secret, payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return "the Stripe-Signature v1 signature does not match the body"
    received = _instant(received_at, timezone)
    if received is not None:
        signed = datetime.fromtimestamp(timestamp, tz=received.tzinfo)
        if abs(received - signed) > tolerance:
            return (
                f"the Stripe-Signature timestamp t={timestamp} is more than "
                f"{int(tolerance.total_seconds())} s from received_at"
            )
    return None


def adyen_signed_string(fields: list[str | None]) -> str:
    """The string Adyen signs: pspReference, originalReference, merchantAccountCode, merchantReference,
    amount.value, amount.currency, eventCode, success joined with ``:`` (missing ones empty, nothing escaped).
    """
    return ":".join("" if value is None else value for value in fields)


def adyen_problem(fields: list[str | None], signature: str | None, key: bytes) -> str | None:
    """Why an Adyen item fails verification (None when it passes)."""
    if not signature:
        return "no additionalData.hmacSignature"
    digest = hmac.new(key, adyen_signed_string(fields).encode("utf-8"), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode("ascii"), signature.strip()):
        return "additionalData.hmacSignature does not match the item"
    return None
