"""Schedule a 5,000-contact SMS broadcast with a progress bar.

Run `queue-services dev` in another terminal, then:

    export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)
    python examples/broadcast_progress.py

The SDK sends the list in chunks (1,000 per request by default) and reports progress after each;
retrying the whole call is safe: each chunk and message has its own idempotency key.
"""

from __future__ import annotations

import sys

from queue_services import QueueService, SmsMessage

CONTACTS = 5000


def bar(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total
    sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stdout.flush()
    if done == total:
        sys.stdout.write("\n")


def main() -> None:
    messages = [
        SmsMessage(
            phone_number=f"+1415555{index:04d}",
            message="Doors open at 9 tomorrow. Reply STOP to opt out.",
            workspace_id="workspace-123",
            contact_id=f"contact-{index}",
            priority="low",
        )
        for index in range(CONTACTS)
    ]
    with QueueService() as queue:
        result = queue.schedule_sms_bulk(messages, chunk_size=500, on_progress=bar)
    print(f"scheduled {result.accepted} of {result.total}; rejected {result.rejected}")


if __name__ == "__main__":
    main()
