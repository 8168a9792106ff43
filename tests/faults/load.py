"""Client load for fault tests: SDK clients in threads scheduling SMS until told to stop, keeping
every acknowledgement they got (the promise under test is about acknowledged jobs); and waiting
for those jobs to reach the provider."""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field

import httpx

from queue_services import QueueService, QueueServiceError
from tests.harness import ADMIN_KEY, WaitTimeout, wait_until
from tests.receiver import Receiver


@dataclass
class Acknowledged:
    """One job the API acknowledged: when, and under which id."""

    contact_id: str
    job_id: str
    at: float  # time.monotonic() when the answer arrived


@dataclass
class ClientLoad:
    """`clients` threads, each with its own `QueueService` (the SDK's own retries on), scheduling
    one SMS per call, each message with its own contact id, until `stop()`."""

    url: str
    clients: int = 4
    max_retries: int = 2
    workspace: str = "ws-load"
    acknowledged: list[Acknowledged] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: HTTP requests sent, retries included (more than the calls when retries happened).
    requests_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> ClientLoad:
        """Start the client threads."""
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Let each client finish its current call (retries included), then stop."""
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def count(self) -> int:
        """Acknowledgements so far."""
        with self._lock:
            return len(self.acknowledged)

    def wait_for(self, count: int, timeout_s: float = 30) -> None:
        """Wait until at least `count` jobs were acknowledged."""
        wait_until(
            lambda: self.count() >= count,
            timeout_s=timeout_s,
            interval_s=0.02,
            message=lambda: f"only {self.count()} of {count} acknowledged in time",
        )

    def _run(self, client_number: int) -> None:
        def count(request: httpx.Request) -> None:
            with self._lock:
                self.requests_sent += 1

        http = httpx.Client(timeout=10, event_hooks={"request": [count]})
        queue = QueueService(
            base_url=self.url, api_key=ADMIN_KEY, max_retries=self.max_retries, http_client=http
        )
        with queue, http:
            sequence = 0
            while not self._stop.is_set():
                contact_id = f"c{client_number}-{sequence}"
                sequence += 1
                try:
                    result = queue.schedule_sms(
                        f"+1415555{sequence % 10_000:04d}",
                        f"load message {contact_id}",
                        workspace_id=self.workspace,
                        contact_id=contact_id,
                    )
                except QueueServiceError as exc:
                    with self._lock:
                        self.errors.append(f"{contact_id}: {exc!r}")
                    continue
                with self._lock:
                    self.acknowledged.append(
                        Acknowledged(contact_id, result.job_id, time.monotonic())
                    )


def delivered_ids(receiver: Receiver) -> Counter[str]:
    """How many times each job reached the receiver (by its idempotency key)."""
    return Counter(r.headers["idempotency-key"] for r in receiver.sent())


def wait_delivered(receiver: Receiver, job_ids: set[str], timeout_s: float) -> set[str]:
    """Wait until every job of `job_ids` reached the receiver; returns the ones that did not
    (empty, unless the time ran out: the caller asserts on them)."""
    with suppress(WaitTimeout):
        wait_until(
            lambda: job_ids <= set(delivered_ids(receiver)), timeout_s=timeout_s, interval_s=0.2
        )
    return job_ids - set(delivered_ids(receiver))
