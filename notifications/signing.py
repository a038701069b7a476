"""How an outgoing webhook body is signed, and how a receiver checks it. Pure."""

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tally-Signature"
SIGNATURE_SCHEME = "sha256"


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The `X-Tally-Signature` header value: `sha256=` and the hex HMAC-SHA256 of the
    exact body bytes under the subscription's secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def webhook_signature_valid(*, secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(webhook_signature(secret=secret, body=body), header or "")
