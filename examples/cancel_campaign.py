"""Schedule a campaign tagged with its campaignId, then call it off with one request.

Run `queue-services dev` in another terminal, then:

    export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)
    python examples/cancel_campaign.py

Every message of the campaign carries ``metadata={"campaignId": ...}``; `cancel_campaign`
cancels each of the workspace's jobs with that campaignId that has not been taken for sending,
and nothing of them is sent afterwards. Run it twice: the second run's jobs are the first run's
(same idempotency keys), so they count as already cancelled.
"""

from __future__ import annotations

from queue_services import QueueService, SmsMessage

WORKSPACE = "workspace-123"
CAMPAIGN = "spring-2026"
NUMBERS = ["+14155550123", "+442079460958", "+61290000000"]


def main() -> None:
    with QueueService() as queue:
        scheduled = queue.schedule_sms_bulk(
            [
                SmsMessage(
                    phone_number=number,
                    message="Our spring sale starts tomorrow at 9.",
                    workspace_id=WORKSPACE,
                    delay=12 * 3600 * 1000,  # milliseconds: 12 hours from now
                    metadata={"campaignId": CAMPAIGN},
                )
                for number in NUMBERS
            ],
            idempotency_key=CAMPAIGN,
        )
        print(f"scheduled {scheduled.accepted} SMS of {CAMPAIGN}")

        result = queue.cancel_campaign(WORKSPACE, CAMPAIGN)
        print(
            f"cancelled {result.cancelled}, already cancelled {result.already_cancelled}, "
            f"too late to cancel {result.not_cancellable}"
        )
        jobs = queue.get_jobs([item.job_id for item in scheduled.results if item.job_id])
        print(", ".join(job.status for job in jobs.jobs))


if __name__ == "__main__":
    main()
