"""Provider envelopes: a callback line carrying a provider's raw webhook ``body``, mapped to canonical callbacks.

docs/rules.md#envelopes-and-provider-adapters. A callback line with a ``body`` is an envelope:
``received_at`` and ``provider`` (required), ``body`` (a JSON object, or the raw request body as a
string), ``headers`` (optional, for signatures), ``source`` and ``seq`` (carried to every record).
:mod:`.core` routes each envelope to its provider's adapter (:data:`.core.ADAPTERS`), which maps
the body to zero or more records; each record is then landed (through exactly the validation
of a canonical line), rejected or ignored with a reason. Adapters:

* :mod:`.stripe`: Stripe event JSON (``payment_intent``, ``charge`` or ``checkout`` family),
  ``Stripe-Signature`` verified when a secret is configured;
* :mod:`.adyen`: Adyen standard notifications (``notificationItems``, one record per item, or a
  bare item), ``additionalData.hmacSignature`` verified when an HMAC key is configured;
* :mod:`.paypal`: PayPal webhook events, v2 (``PAYMENT.CAPTURE.*``) and v1 (``PAYMENT.SALE.*``).

Records without an ``order_id`` of their own but with a ``parent_txn_id`` (refunds and
chargebacks) are linked to their order after landing (:mod:`.linking`).
"""
