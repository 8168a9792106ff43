"""Logging: plain text or one JSON object per line, with phone numbers and email addresses
masked in every record by default (`mask`)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

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


#: Attributes every LogRecord has; anything else was passed with `extra=` and is kept as a field
#: (but for uvicorn's `color_message`, the message again with terminal colour codes).
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class MaskingFilter(logging.Filter):
    """Masks the rendered message (and string extras) of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, mask(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(
            {name: value for name, value in record.__dict__.items() if name not in _STANDARD}
        )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure(level: str, fmt: str, *, mask_personal_data: bool = True) -> None:
    """Set up the root logger for a server or worker process (replacing its handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    if mask_personal_data:
        handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One line per HTTP request to a provider is noise at info level; failures are logged by us.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
