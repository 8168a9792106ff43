"""A provider endpoint that fails the way real ones do, for fault tests: error statuses, 429 with
Retry-After, slow answers, answers that never come (the client times out), and connections reset
mid-request; and, for the pacing benchmarks, a provider slow to accept connections (a short
listen queue, accepts only every so often, a pause before it reads a new connection's first
request). A small HTTP/1.1 server on asyncio sockets (a framework would not let a handler reset
its connection), serving on 127.0.0.1 in a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from queue_services_server.dev import free_port


@dataclass(frozen=True)
class Answer:
    """Answer with `status` after `delay_s`; `accepted`: the provider took the message (a 2xx,
    or a message taken whose answer is then lost)."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"success": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return self.status < 300


@dataclass(frozen=True)
class Hang:
    """Never answer: hold the connection for `hold_s`, then close it (the client times out).
    `accepted`: the provider took the message before going quiet (its answer is lost)."""

    hold_s: float
    accepted: bool = False


@dataclass(frozen=True)
class Reset:
    """Reset the connection (TCP RST) without answering."""

    accepted: bool = False


Action = Answer | Hang | Reset


@dataclass
class Request:
    """One request as the provider saw it, and what it did."""

    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    action: Action | None = None
    #: The connection it came on (1 for the first the provider accepted), and whether it was
    #: that connection's first request.
    connection: int = 0
    first_on_connection: bool = False


#: The provider's event loop is looked at every `LAG_TICK_S`; a wake-up later than
#: `LAG_REPORTED_S` is recorded in `FaultyProvider.lags`.
LAG_TICK_S = 0.005
LAG_REPORTED_S = 0.005

#: Decides what to do with a request, given it and every request seen before it.
Behaviour = Callable[[Request, list[Request]], Action]


@dataclass
class FaultyProvider:
    """The running endpoint: its URL and every request it got."""

    url: str
    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Connections accepted so far.
    connections: int = 0
    #: (time.time(), seconds) of each time the provider's event loop woke more than
    #: `LAG_REPORTED_S` late: requests read then were timestamped late by as much.
    lags: list[tuple[float, float]] = field(default_factory=list)

    def accepted_keys(self) -> set[str]:
        """Idempotency keys of the messages the provider took at least once."""
        with self.lock:
            return {
                r.headers["idempotency-key"]
                for r in self.requests
                if r.action is not None and r.action.accepted
            }

    def decide(self, request: Request) -> Action:
        with self.lock:
            action = self.behaviour(request, self.requests)
            request.action = action
            self.requests.append(request)
        return action


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return headers, body


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    # Linger 0: closing sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@contextmanager
def running_faulty_provider(
    behaviour: Behaviour,
    host: str = "127.0.0.1",
    *,
    backlog: int = 1024,
    accept_every_s: float = 0.0,
    read_delay_s: float = 0.0,
) -> Iterator[FaultyProvider]:
    """Serve `behaviour` on a free port of `host` for the duration of a `with` block.

    A provider slow to accept connections: `backlog`, the listen queue (connections the kernel
    holds for it before they are accepted; when it is full, Linux drops a new connection's SYN,
    or its handshake's last ACK, and the client tries again after a second or so);
    `accept_every_s`, at most one connection accepted per that many seconds; `read_delay_s`, a
    pause after accepting a connection before its first request is read. Each request's `at`
    is when the provider had read it whole."""
    port = free_port()
    provider = FaultyProvider(f"http://{host}:{port}", behaviour)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    #: The tasks of the slow accept loop and its connections (kept: the loop holds weak refs).
    tasks: set[asyncio.Task[None]] = set()

    def keep(task: asyncio.Task[None]) -> None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        provider.connections += 1
        connection, served = provider.connections, 0
        try:
            if read_delay_s:
                await asyncio.sleep(read_delay_s)
            while True:
                read = await _read_request(reader)
                if read is None:
                    break
                headers, raw = read
                request = Request(
                    orjson.loads(raw),
                    headers,
                    time.time(),
                    connection=connection,
                    first_on_connection=not served,
                )
                served += 1
                action = provider.decide(request)
                if isinstance(action, Reset):
                    _reset(writer)
                    return
                if isinstance(action, Hang):
                    await asyncio.sleep(action.hold_s)
                    break
                if action.delay_s:
                    await asyncio.sleep(action.delay_s)
                body = orjson.dumps(action.body)
                extra = "".join(f"{name}: {value}\r\n" for name, value in action.headers.items())
                writer.write(
                    f"HTTP/1.1 {action.status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n{extra}\r\n".encode()
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def accept_slowly(listener: socket.socket) -> None:
        # One connection per `accept_every_s`: the rest wait in the listen queue (or, when it is
        # full, are made to try again by the kernel).
        while True:
            connection, _ = await loop.sock_accept(listener)
            reader, writer = await asyncio.open_connection(sock=connection)
            keep(loop.create_task(handle(reader, writer)))
            await asyncio.sleep(accept_every_s)

    async def watch_lag() -> None:
        # The provider's clock is read when its loop gets to a request: a loop held up (this
        # process's other threads hold the GIL) timestamps the requests late, all at once.
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_TICK_S)
            lag = loop.time() - before - LAG_TICK_S
            if lag > LAG_REPORTED_S:
                provider.lags.append((time.time(), lag))

    async def serve() -> asyncio.Server | socket.socket:
        keep(loop.create_task(watch_lag()))
        if not accept_every_s:
            # By default a deep accept queue: a burst of connections must not wait for a SYN
            # retry (1 s).
            server = await asyncio.start_server(handle, host, port, backlog=backlog)
            ready.set()
            return server
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(backlog)
        listener.setblocking(False)
        keep(loop.create_task(accept_slowly(listener)))
        ready.set()
        return listener

    def run() -> None:
        # The provider's clock is what benchmarks measure; on a machine shared with the system
        # under test (Redis, the API, the workers) its loop is raised above theirs, as a real
        # provider has machines of its own. Linux sets a niceness per thread; without the
        # right to raise it the provider runs as it is (its `lags` then tell).
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve())
        loop.run_forever()
        server.close()
        # Handlers still holding a connection (a Hang) are cancelled, then the loop closed:
        # an unclosed loop leaks its self-pipe sockets.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        if isinstance(server, asyncio.Server):
            loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, name=f"faulty-provider-{port}", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield provider
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
