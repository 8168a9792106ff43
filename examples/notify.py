"""Schedule an SMS and an email, look them up, cancel one.

Run `queue-services dev` in another terminal, then:

    export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)
    python examples/notify.py

The server is taken from QUEUE_SERVICES_URL (default http://127.0.0.1:8000) and the key from
QUEUE_SERVICES_API_KEY (`queue-services dev` prints one and keeps it in
.queue-services/dev-admin-key).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from queue_services import (
    APIConnectionError,
    AuthenticationError,
    QueueService,
    UnprocessableEntityError,
)


def main() -> None:
    with QueueService() as queue:
        try:
            code = queue.schedule_sms(
                "+14155550123",
                "Your sign-in code is 493021",
                workspace_id="workspace-123",
                contact_id="contact-42",
                priority="high",
            )
        except APIConnectionError:
            raise SystemExit(
                f"No server at {queue.base_url}: start one with `queue-services dev`."
            ) from None
        except AuthenticationError as exc:
            raise SystemExit(
                f"{exc.message}\nWith `queue-services dev`: "
                "export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)"
            ) from None
        print(f"SMS {code.job_id}: {code.status}, due {code.scheduled_for:%H:%M:%S.%f} UTC")

        reminder = queue.schedule_email(
            "jane@example.com",
            "Your appointment tomorrow",
            "<p>See you at 09:30.</p>",
            text="See you at 09:30.",
            workspace_id="workspace-123",
            send_at=datetime.now(UTC) + timedelta(days=1),
            metadata={"appointmentId": "apt-981"},
        )
        job = queue.get_job(reminder.job_id)
        print(f"email {job.job_id}: {job.status}, due {job.scheduled_for:%Y-%m-%d %H:%M} UTC")

        cancelled = queue.cancel_job(reminder.job_id)
        print(f"email {cancelled.job_id}: {cancelled.status}")

        try:
            queue.schedule_sms("0412 345 678", "Hi", workspace_id="workspace-123")
        except UnprocessableEntityError as error:
            print(f"rejected as expected: {error.field}: {error.errors[0].message}")


if __name__ == "__main__":
    main()
