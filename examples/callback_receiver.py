"""A status-callback receiver: verifies each callback's signature and updates a SQLite tracker.

Run `CALLBACK_SECRET=example-secret queue-services dev` in one terminal, then:

    export QUEUE_SERVICES_API_KEY=$(cat .queue-services/dev-admin-key)
    python examples/callback_receiver.py

It serves http://127.0.0.1:8001/queue-callbacks, schedules one SMS whose status changes are sent
there, prints each verified change, and stops once the job is final.
"""

from __future__ import annotations

import os
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services import (
    CallbackHandler,
    JobTracker,
    QueueService,
    SignatureVerificationError,
    SqliteJobTracker,
)

SECRET = os.environ.get("CALLBACK_SECRET", "example-secret")
PORT = int(os.environ.get("CALLBACK_PORT", "8001"))


def create_app(tracker: JobTracker, secret: str) -> Starlette:
    """The receiving endpoint: 401 for a bad signature, 204 once the tracker is updated."""
    handler = CallbackHandler(tracker, secret)

    async def queue_callback(request: Request) -> Response:
        try:
            event, _ = handler(await request.body(), request.headers)
        except SignatureVerificationError as error:
            print(f"refused a callback: {error}")
            return Response(status_code=401)
        print(f"job {event.job_id}: {event.status} at {event.at:%H:%M:%S.%f}")
        return Response(status_code=204)

    return Starlette(routes=[Route("/queue-callbacks", queue_callback, methods=["POST"])])


def main() -> None:
    tracker = SqliteJobTracker(os.environ.get("TRACKER_DB", "callbacks-example.db"))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(tracker, SECRET), host="127.0.0.1", port=PORT, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    with QueueService() as queue:
        result = queue.schedule_sms(
            "+14155550123",
            "Your code is 493021",
            workspace_id="workspace-123",
            callback_url=f"http://127.0.0.1:{PORT}/queue-callbacks",
        )
    tracker.record(result)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tracked = tracker.get(result.job_id)
        if tracked is not None and tracked.status.is_final:
            print(f"tracked: {tracked.job_id} is {tracked.status}")
            break
        time.sleep(0.1)
    else:
        print("no final status within 30 s: is `queue-services dev` running with CALLBACK_SECRET?")
    server.should_exit = True
    thread.join(5)
    tracker.close()


if __name__ == "__main__":
    main()
