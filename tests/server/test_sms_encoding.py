"""SMS segments: GSM-7 and UCS-2 lengths, and the limit at intake."""

from __future__ import annotations

import httpx
import pytest

from queue_services_server.api.sms_encoding import segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0)),
        ("x" * 160, ("GSM-7", 1)),
        ("x" * 161, ("GSM-7", 2)),
        ("x" * 306, ("GSM-7", 2)),
        ("x" * 307, ("GSM-7", 3)),
        ("€" * 80, ("GSM-7", 1)),  # extension characters take two septets
        ("€" * 81, ("GSM-7", 2)),
        ("Çà va? ñ ü @ £ è", ("GSM-7", 1)),
        ("Olá", ("UCS-2", 1)),  # á is not in the GSM alphabet (à is)
        ("é" * 70 + "ł", ("UCS-2", 2)),  # one character outside GSM makes it all UCS-2
        ("ł" * 70, ("UCS-2", 1)),
        ("ł" * 134, ("UCS-2", 2)),
        ("ł" * 135, ("UCS-2", 3)),
        ("👋" * 35, ("UCS-2", 1)),  # an emoji is two UTF-16 units
        ("👋" * 36, ("UCS-2", 2)),
    ],
)
def test_segments(text: str, expected: tuple[str, int]) -> None:
    assert segments(text) == expected


def test_intake_refuses_an_sms_over_the_segment_limit(http: httpx.Client) -> None:
    body = {"phoneNumber": "+14155550123", "workspaceId": "ws-1"}

    fits = http.post("/api/schedule-sms", json={**body, "message": "ł" * 670})
    too_long = http.post("/api/schedule-sms", json={**body, "message": "ł" * 671})

    assert fits.status_code == 201
    assert too_long.status_code == 422
    error = too_long.json()["error"]
    assert error["field"] == "message"
    assert "11 SMS segments in UCS-2" in error["message"]
