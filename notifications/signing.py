"""How an outgoing webhook is signed: the Standard Webhooks spec (standardwebhooks.com),
through its reference library, so any receiver verifies it with a stock verifier.

Each request carries three headers:
- `webhook-id`: the delivery's message id, the same on every retry (receivers dedupe on it);
- `webhook-timestamp`: Unix seconds when this attempt was signed (receivers refuse it
  outside their tolerance, 5 minutes in the reference verifiers);
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.

A secret is either a Standard Webhooks secret (`whsec_` and base64 of the key bytes, what
Tally generates) or, for subscriptions made before, any other text, whose UTF-8 bytes are
the key; `standard_secret` gives the `whsec_` form a receiver's verifier takes for both.
"""

import base64
import binascii
import secrets
from datetime import datetime

from standardwebhooks import Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
# 24 random bytes, as the spec's examples and Svix generate.
SECRET_BYTES = 24


def secret_generate() -> str:
    """A new Standard Webhooks secret: `whsec_` and base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key of `secret`: the decoded bytes of a `whsec_` secret, else its UTF-8."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64 after all: a plain-text secret that happens to start so
    return secret.encode()


def standard_secret(secret: str) -> str:
    """`secret` as the `whsec_<base64>` a Standard Webhooks verifier is given."""
    return SECRET_PREFIX + base64.b64encode(signing_key(secret)).decode()


def webhook_headers(*, secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, signed at `at` (UTC)."""
    signature = Webhook(signing_key(secret)).sign(msg_id=message_id, timestamp=at, data=body)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(at.timestamp())),
        SIGNATURE_HEADER: signature,
    }


def webhook_verify(*, secret: str, body: str, headers: dict[str, str]) -> None:
    """What a receiver does (raises standardwebhooks' WebhookVerificationError)."""
    Webhook(signing_key(secret)).verify(body, headers, json_parse=False)
