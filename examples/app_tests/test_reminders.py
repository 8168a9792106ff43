"""An app's own test, written against the SDK's fake (the `fake_queue_service` fixture comes with
queue-services' pytest plugin; no server, no network).

Run:  pytest examples/app_tests
"""

from __future__ import annotations

from datetime import UTC, datetime

from queue_services import QueueService, calculate_send_at
from queue_services.testing import FakeQueueService


def send_appointment_reminder(queue: QueueService, phone: str, when: str, zone: str) -> str:
    """The app code under test: a reminder at 09:00 local time the next day."""
    send_at = calculate_send_at(1, "09:00", zone, now=datetime(2027, 6, 1, 12, tzinfo=UTC))
    result = queue.schedule_sms(
        phone, f"Reminder: your appointment is on {when}.", workspace_id="clinic-7", send_at=send_at
    )
    return result.job_id


def test_the_reminder_is_scheduled_for_9_local_time(fake_queue_service: FakeQueueService) -> None:
    job_id = send_appointment_reminder(
        fake_queue_service, "+14155550123", "June 3", "America/New_York"
    )

    [job] = fake_queue_service.assert_sms_scheduled(to="+14155550123", contains="June 3")
    assert job.scheduled_for == datetime(2027, 6, 2, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert fake_queue_service.get_job(job_id).workspace_id == "clinic-7"


def test_a_sent_reminder_can_be_simulated(fake_queue_service: FakeQueueService) -> None:
    job_id = send_appointment_reminder(fake_queue_service, "+14155550123", "June 3", "UTC")

    fake_queue_service.complete(job_id)

    assert fake_queue_service.get_job(job_id).status == "COMPLETED"
