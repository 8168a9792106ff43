"""Logs: JSON lines with the batch fields, phone numbers and addresses masked."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from queue_services_server.logs import JsonFormatter, MaskingFilter, mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("to +14155550123 failed", "to +1415*****23 failed"),
        ("call 02079460958 now", "call 0207*****58 now"),
        ("call +44 20 7946 0958 now", "call +4420******58 now"),
        (
            '127.0.0.1:33656 - "POST /api/schedule-sms" 201',
            '127.0.0.1:33656 - "POST /api/schedule-sms" 201',
        ),
        ("jane.doe@example.com bounced", "j***@example.com bounced"),
        ("batch size=50 duration_ms=1012", "batch size=50 duration_ms=1012"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_json_lines_carry_the_extra_fields_masked() -> None:
    record = logging.makeLogRecord(
        {"name": "queue_services_server.sender", "levelname": "INFO", "levelno": 20,
         "msg": "webhook answered 400 for %s", "args": ("+14155550123",), "workspace": "ws-1",
         "size": 50}
    )  # fmt: skip

    MaskingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "webhook answered 400 for +1415*****23"
    assert (line["level"], line["logger"], line["workspace"], line["size"]) == (
        "info", "queue_services_server.sender", "ws-1", 50,
    )  # fmt: skip
    assert line["time"].endswith("Z")


def test_configure_json_writes_one_masked_object_per_line() -> None:
    env = {**os.environ, "QUEUE_SERVICES_LOG_FORMAT": "json", "REDIS_URL": "redis://127.0.0.1:1/0"}
    code = (
        "import logging, sys\n"
        "from queue_services_server import logs\n"
        "logs.configure('info', 'json')\n"
        "log = logging.getLogger('queue_services_server')\n"
        "log.info('sent to jane@example.com', extra={'size': 3})\n"
    )

    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    line = json.loads(run.stderr.strip().splitlines()[-1])
    assert line["message"] == "sent to j***@example.com"
    assert line["size"] == 3
