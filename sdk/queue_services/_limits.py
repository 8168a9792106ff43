"""The API's validation limits: one set of numbers for the server and the SDK's fake.

The server's request schemas import them (the server may import the SDK; never the reverse), and
`queue_services.testing` checks the same rules, so a test against the fake fails where production
would. Limits a server operator can change are marked as defaults, with the setting's name.
"""

from __future__ import annotations

from typing import Any, Final

#: E.164 phone numbers: a plus sign, then 2 to 15 digits, the first not zero. Format only: whether
#: a number is in service is the provider's business.
E164_PATTERN: Final[str] = r"\+[1-9][0-9]{1,14}"

#: Characters: the longest workspace or contact id.
MAX_IDENTIFIER_CHARS: Final[int] = 128

#: Workspace and contact ids: they end up in Redis key names and in logs, so a safe alphabet (a
#: letter or digit, then letters, digits and ``. _ : @ + -``), at most `MAX_IDENTIFIER_CHARS`.
IDENTIFIER_PATTERN: Final[str] = rf"[A-Za-z0-9][A-Za-z0-9._:@+-]{{0,{MAX_IDENTIFIER_CHARS - 1}}}"

#: Characters: the longest SMS text accepted (10 concatenated segments of 160).
MAX_SMS_CHARS: Final[int] = 1600

#: Characters: the longest email subject line (RFC 5322's limit for one header line).
MAX_SUBJECT_CHARS: Final[int] = 998

#: Milliseconds: the longest delay, or distance of a ``sendAt``, accepted: 366 days. The server's
#: default; its ``MAX_DELAY_MS`` setting changes it.
MAX_DELAY_MS: Final[int] = 366 * 24 * 3600 * 1000

#: Characters: the longest job id a request may name (``POST /api/jobs/lookup``,
#: ``POST /api/jobs/cancel``).
MAX_JOB_ID_CHARS: Final[int] = 64

#: Job ids per ``POST /api/jobs/lookup`` request (`get_jobs`).
MAX_LOOKUP_IDS: Final[int] = 500

#: Job ids per ``POST /api/jobs/cancel`` request (`cancel_jobs` sends more in several).
MAX_CANCEL_IDS: Final[int] = 10_000

#: Characters of a campaign id (``metadata.campaignId``) that ``POST /api/jobs/cancel`` takes.
MAX_CAMPAIGN_ID_CHARS: Final[int] = 200

#: Messages per bulk request. The server's default; its ``MAX_BULK_MESSAGES`` setting changes it.
MAX_BULK_MESSAGES: Final[int] = 10_000

#: Sends per second: the highest limit of its own a workspace may be given on a channel
#: (``PUT /api/workspaces/{workspaceId}/limits``). Far above any provider account's rate, so it
#: refuses only mistakes (a timestamp or a phone number pasted as a rate).
MAX_WORKSPACE_RATE_PER_S: Final[int] = 100_000

#: Levels: the deepest nesting of objects and arrays accepted in ``metadata``.
MAX_METADATA_DEPTH: Final[int] = 8


def nesting_depth(value: Any) -> int:
    """Levels of objects and arrays in a JSON value (a scalar is 0, ``{"a": [1]}`` is 2), to
    check against `MAX_METADATA_DEPTH`."""
    if isinstance(value, dict):
        return 1 + max((nesting_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting_depth(item) for item in value), default=0)
    return 0
