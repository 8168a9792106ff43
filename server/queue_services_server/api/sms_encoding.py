"""How many SMS segments a text takes: GSM-7 (160 per message, 153 per segment when split) or,
for anything outside the GSM alphabet, UCS-2 (70, or 67 per segment)."""

from __future__ import annotations

import math
from typing import Literal

#: The GSM 03.38 basic alphabet (one septet each).
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each costs two septets (an escape, then the character).
_EXTENDED = "^{}\\[~]|€\f"
_GSM = frozenset(_BASIC) | frozenset(_EXTENDED)

Encoding = Literal["GSM-7", "UCS-2"]


def segments(text: str) -> tuple[Encoding, int]:
    """The encoding a text needs and how many segments it takes (0 for an empty text)."""
    if all(char in _GSM for char in text):
        units = sum(2 if char in _EXTENDED else 1 for char in text)
        single, part = 160, 153
        encoding: Encoding = "GSM-7"
    else:
        # UTF-16 code units: a character beyond the BMP (most emoji) takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    if units == 0:
        return encoding, 0
    return encoding, 1 if units <= single else math.ceil(units / part)
