"""Masking personal data (phone numbers, email addresses) in text shown to operators or logged."""

from __future__ import annotations

import re

#: Phone numbers as they appear in provider answers and errors: "+" then digits (spaces, dashes
#: and brackets allowed), or a bare run of 10 to 15 digits. Dots are not allowed, so addresses
#: like 127.0.0.1:8000 stay readable.
_PHONE = re.compile(r"\+\d[\d\s()-]{6,18}\d|\b\d{10,15}\b")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask(text: str) -> str:
    """`text` with phone numbers (all but the first 4 and last 2 digits) and email addresses
    (all but the first letter and the domain) hidden."""

    def phone(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        prefix = "+" if match.group(0).startswith("+") else ""
        return prefix + digits[:4] + "*" * max(len(digits) - 6, 1) + digits[-2:]

    return _EMAIL.sub(r"\1***@\2", _PHONE.sub(phone, text))
