"""Signing what the workers POST (webhook messages, status callbacks), so receivers can check the
sender and refuse replays.

``X-Queue-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, keyed with the
shared secret; the SDK's `verify_signature` is the receiving side.
"""

from __future__ import annotations

import hashlib
import hmac

#: The header that carries the signature.
SIGNATURE_HEADER = "X-Queue-Signature"


def signature(secret: bytes, body: bytes, timestamp_s: int) -> str:
    """The ``X-Queue-Signature`` value for `body` sent at `timestamp_s` (Unix seconds)."""
    mac = hmac.new(secret, str(timestamp_s).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp_s},v1={mac.hexdigest()}"
