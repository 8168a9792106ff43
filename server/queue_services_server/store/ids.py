"""Job ids: time-ordered random ids, or ids derived from an idempotency key."""

from __future__ import annotations

import hashlib
import os

#: Crockford's base32 alphabet (no I, L, O, U): ids are case-insensitive to read aloud and copy.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Every id is 26 characters: 130 bits, of which a random or hashed part of at least 80 bits.
JOB_ID_LENGTH = 26


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_job_id(now_ms: int) -> str:
    """A fresh id: 48 bits of creation time in ms, then 80 random bits (the ULID layout).

    Ids made later sort after ids made earlier, which keeps listing order stable.
    """
    # os.urandom is what `secrets` draws from, without SystemRandom's layers on every request.
    random_bits = int.from_bytes(os.urandom(10), "big")
    return _base32(now_ms & ((1 << 48) - 1), 10) + _base32(random_bits, 16)


def job_id_for_key(workspace_id: str, idempotency_key: str) -> str:
    """The id of the job that `idempotency_key` creates in `workspace_id`.

    Deriving the id (SHA-256 of both, truncated to 130 bits) makes the idempotency check one
    existence test on the job record, with no separate key to store or expire. Workspaces get
    different ids for the same key, so a key never reaches another workspace's job.
    """
    digest = hashlib.sha256(f"{workspace_id}\x00{idempotency_key}".encode()).digest()
    return _base32(int.from_bytes(digest[:17], "big") >> 6, JOB_ID_LENGTH)
