"""The webhook and outbox providers against real endpoints (a receiver on 127.0.0.1, Redis)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from queue_services_server.delivery.providers._http import provider_timeout
from queue_services_server.delivery.providers.base import (
    OutboundMessage,
    PermanentProviderError,
    RetryableProviderError,
    is_rate_limit_text,
)
from queue_services_server.delivery.providers.outbox import OutboxProvider
from queue_services_server.delivery.providers.webhook import WebhookProvider
from queue_services_server.delivery.signing import signature
from queue_services_server.dev import EmbeddedRedis, free_port
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.outbox import Outbox
from tests.faulty_provider import Answer, running_faulty_provider
from tests.harness import ADMIN_HEADERS
from tests.receiver import Received, Receiver, running_receiver

SMS = OutboundMessage(
    job_id="job-1",
    channel="sms",
    workspace_id="ws-1",
    contact_id="c-1",
    payload={"phoneNumber": "+14155550123", "message": "Hi"},
    metadata={"campaignId": "x"},
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
async def webhook(receiver: Receiver) -> AsyncIterator[WebhookProvider]:
    provider = WebhookProvider(receiver.url, secret="s3cret", timeout_s=2.0)
    yield provider
    await provider.aclose()


def answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return lambda received: (status, body, headers or {})


async def test_success_returns_the_receivers_message_id(
    webhook: WebhookProvider, receiver: Receiver
) -> None:
    provider_id = await webhook.send(SMS)

    [request] = receiver.received
    assert provider_id == "msg-job-1"
    assert request.path == "/send-sms"
    assert request.body == {
        "to": "+14155550123",
        "message": "Hi",
        "contactId": "c-1",
        "workspaceId": "ws-1",
        "metadata": {"campaignId": "x"},
    }
    assert request.headers["idempotency-key"] == "job-1"
    timestamp = int(request.headers["x-queue-signature"].split(",")[0][2:])
    assert request.headers["x-queue-signature"] == signature(b"s3cret", request.raw, timestamp)


async def test_a_release_is_told_when_the_send_made_a_new_connection(
    webhook: WebhookProvider, receiver: Receiver
) -> None:
    told: list[float | None] = []

    async def release(connected_at: float | None = None) -> None:
        told.append(connected_at)

    before = time.monotonic()
    await webhook.send(SMS, release=release)  # the first send makes the connection
    await webhook.send(SMS, release=release)  # the second finds it kept open

    assert len(receiver.received) == 2
    first, second = told
    assert first is not None
    assert before <= first <= time.monotonic()
    assert second is None


def test_the_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()

    assert signature(b"k", b"{}", 1_700_000_000) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    ("status", "headers", "error_class", "rate_limited", "retry_after"),
    [
        (429, {"Retry-After": "3"}, RetryableProviderError, True, 3.0),
        (500, {}, RetryableProviderError, False, None),
        (503, {"Retry-After": "1"}, RetryableProviderError, False, 1.0),
        (408, {}, RetryableProviderError, False, None),
        (400, {}, PermanentProviderError, None, None),
        (404, {}, PermanentProviderError, None, None),
        (422, {}, PermanentProviderError, None, None),
    ],
)
async def test_answers_map_to_retryable_or_permanent_errors(
    webhook: WebhookProvider,
    receiver: Receiver,
    status: int,
    headers: dict[str, str],
    error_class: type[Exception],
    rate_limited: bool | None,
    retry_after: float | None,
) -> None:
    receiver.behaviour = answer(status, {"error": "nope"}, headers)

    with pytest.raises(error_class) as caught:
        await webhook.send(SMS)

    error = caught.value
    assert str(status) in str(error)
    if isinstance(error, RetryableProviderError):
        assert error.rate_limited is rate_limited
        assert error.retry_after == retry_after


async def test_a_5xx_saying_rate_limit_counts_as_a_rate_limit(
    webhook: WebhookProvider, receiver: Receiver
) -> None:
    receiver.behaviour = answer(500, {"error": "Rate limit exceeded: 50 per second"})

    with pytest.raises(RetryableProviderError) as caught:
        await webhook.send(SMS)

    assert caught.value.rate_limited is True


async def test_an_unreachable_receiver_is_retryable() -> None:
    provider = WebhookProvider(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    try:
        with pytest.raises(RetryableProviderError, match="unreachable"):
            await provider.send(SMS)
    finally:
        await provider.aclose()


async def test_a_slow_receiver_times_out_as_retryable(receiver: Receiver) -> None:
    def slow(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        time.sleep(0.5)
        return 200, {}, {}

    receiver.behaviour = slow
    provider = WebhookProvider(receiver.url, timeout_s=0.2)
    try:
        with pytest.raises(RetryableProviderError, match="timed out"):
            await provider.send(SMS)
    finally:
        await provider.aclose()
        await asyncio.sleep(0.5)  # let the receiver finish the slow answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTP 429", True),
        ("Rate limit exceeded", True),
        ("Too Many Requests", True),
        ("(#130429) Rate limit hit", True),
        ("(#131056) pair rate limit", True),
        ("(#131051) Unsupported message type", False),
        ("invalid number", False),
    ],
)
def test_rate_limit_texts_are_recognised_as_the_seeds_do_and_whatsapp_documents(
    text: str, expected: bool
) -> None:
    assert is_rate_limit_text(text) is expected


async def test_the_outbox_keeps_messages_for_the_api(
    redis_server: EmbeddedRedis, redis: redis_lib.Redis, api_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    provider = OutboxProvider(Outbox(client, KeySpace("qs")))

    provider_id = await provider.send(SMS)
    await client.aclose()

    assert provider_id == "job-1"
    async with httpx.AsyncClient(base_url=api_url, headers=ADMIN_HEADERS) as http:
        outbox = (await http.get("/api/outbox", params={"channel": "sms"})).json()
    assert outbox["channel"] == "sms"
    [kept] = outbox["messages"]
    assert kept["jobId"] == "job-1"
    assert kept["payload"] == SMS.payload


def test_a_providers_own_client_does_not_time_out_waiting_for_a_pooled_connection() -> None:
    provider = WebhookProvider("http://127.0.0.1:1", timeout_s=4.0)

    assert provider._client.timeout == provider_timeout(4.0)
    assert provider._client.timeout.pool is None


async def test_waiting_for_a_pooled_connection_is_not_a_provider_timeout() -> None:
    # Given a provider answering in 1 s, a 4 s timeout (3 s of room for a loaded machine), and
    # a client of 10 connections (the provider's own has 100; 10 keeps the test's CPU small)
    slow = Answer(200, {"messageId": "m"}, delay_s=1.0)
    client = httpx.AsyncClient(
        timeout=provider_timeout(4.0), limits=httpx.Limits(max_connections=10)
    )
    with running_faulty_provider(lambda *_: slow) as endpoint:
        provider = WebhookProvider(endpoint.url, http_client=client)
        try:
            # When 60 messages go at once: the 10 connections serve them in six waves, so the
            # last waits 5 s or more for a connection, past the timeout
            sends = [provider.send(dataclasses.replace(SMS, job_id=f"job-{n}")) for n in range(60)]
            results = await asyncio.gather(*sends, return_exceptions=True)
        finally:
            await client.aclose()

    # Then every one was sent: only the provider's own answer time counts against the timeout
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(endpoint.requests) == 60
