"""A three-day drip campaign: "day N at HH:MM" in each contact's time zone, out of quiet hours.

Run `queue-services dev` in another terminal, then:

    export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)
    python examples/campaign.py

Each message is scheduled with `send_at=calculate_send_at(...)`, so daylight-saving changes and
quiet hours are handled by the SDK, not by hand-made millisecond arithmetic.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from queue_services import QueueService, QuietHours, calculate_send_at

CONTACTS = [
    {"id": "c-1", "phone": "+14155550123", "zone": "America/New_York"},
    {"id": "c-2", "phone": "+442079460958", "zone": "Europe/London"},
    {"id": "c-3", "phone": "+61290000000", "zone": "Australia/Sydney"},
]
STEPS = [
    (0, "10:00", "Welcome to the spring programme!"),
    (1, "21:30", "Day 2: your first lesson is ready."),  # inside quiet hours: moves to 08:00
    (2, "09:30", "Day 3: how is it going?"),
]
QUIET = QuietHours("21:00", "08:00")


def main() -> None:
    with QueueService() as queue:
        for contact in CONTACTS:
            for day, clock, text in STEPS:
                send_at = calculate_send_at(day, clock, contact["zone"], quiet_hours=QUIET)
                result = queue.schedule_sms(
                    contact["phone"],
                    text,
                    workspace_id="workspace-123",
                    contact_id=contact["id"],
                    send_at=send_at,
                    priority="low",
                    idempotency_key=f"spring:{contact['id']}:{day}",
                )
                local = result.scheduled_for.astimezone(ZoneInfo(contact["zone"]))
                print(f"{contact['id']} day {day}: {local:%a %d %b %H:%M %Z}  ({result.job_id})")


if __name__ == "__main__":
    main()
