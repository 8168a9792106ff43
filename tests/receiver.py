"""A webhook receiver for tests and benchmarks: the CRM's /send-sms and /api/email/send endpoints,
served by uvicorn on 127.0.0.1, recording every request with its arrival time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from queue_services_server.dev import free_port
from tests.harness import WaitTimeout, serving, wait_until


def max_per_window(times: list[float], window_s: float = 1.0) -> int:
    """The most events in any window of `window_s` seconds (every start point is checked)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes
    at: float  # time.time() on arrival


#: Decides the answer to a request: (status, JSON body, headers).
Behaviour = Callable[[Received], tuple[int, dict[str, Any], dict[str, str]]]


def accept(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Answer like the seeds' receiver: 200 with a message id."""
    key = received.headers.get("idempotency-key") or received.headers.get("x-queue-job-id", "")
    return 200, {"success": True, "messageId": f"msg-{key}"}, {}


@dataclass
class Receiver:
    """The running receiver: its URL, what it got, and how it answers."""

    url: str
    behaviour: Behaviour = accept
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self) -> list[Received]:
        """The requests answered with 2xx, in arrival order."""
        with self.lock:
            return [r for r in self.received if r.headers.get("x-answered", "") == "2xx"]

    def wait_for(self, count: int, timeout_s: float) -> list[Received]:
        """Wait until `count` requests were answered 2xx (or the timeout); returns them. On a
        timeout, returns the fewer that came: the caller's assertions say what is missing."""
        with suppress(WaitTimeout):
            wait_until(lambda: len(self.sent()) >= count, timeout_s=timeout_s)
        return self.sent()


@contextmanager
def running_receiver(behaviour: Behaviour = accept, host: str = "127.0.0.1") -> Iterator[Receiver]:
    """Serve the receiver in a thread on a free port of `host` (127.0.0.1 unless a benchmark's
    private network needs another address)."""
    port = free_port()
    receiver = Receiver(f"http://{host}:{port}", behaviour)

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        received = Received(
            path=request.url.path,
            body=orjson.loads(raw),
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            at=time.time(),
        )
        status, body, headers = receiver.behaviour(received)
        received.headers["x-answered"] = "2xx" if status < 300 else str(status)
        with receiver.lock:
            receiver.received.append(received)
        return Response(orjson.dumps(body), status, headers, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/send-sms", endpoint, methods=["POST"]),
            Route("/api/email/send", endpoint, methods=["POST"]),
            Route("/callbacks/{name:str}", endpoint, methods=["POST"]),
        ]
    )
    with serving(app, host=host, port=port, access_log=False):
        yield receiver
