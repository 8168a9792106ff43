"""Hostile input, over real HTTP: each attack gets its 4xx, and the jobs accepted before the
attack are exactly as they were after it."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis as redis_lib

from queue_services_server.store.keys import KeySpace
from tests.harness import wait_until

KEYS = KeySpace()

SMS = '{"phoneNumber":"+14155550123","message":"Hi","workspaceId":"ws-1"'
EMAIL = '{"to":"a@example.com","subject":"S","text":"Hi","workspaceId":"ws-1"'
JSON = "application/json"
MB = 1024 * 1024


@dataclass(frozen=True)
class Attack:
    name: str
    path: str
    body: bytes
    status: int
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"


def sms(extra: str) -> bytes:
    return (SMS + extra + "}").encode()


LIMITS = "/api/workspaces/ws-1/limits"


def limits(status: int, name: str, body: bytes, path: str = LIMITS, **extra: Any) -> Attack:
    """An attack on ``PUT /api/workspaces/{id}/limits`` (a workspace's tier)."""
    return Attack(f"limits: {name}", path, body, status, method="PUT", **extra)


ATTACKS = [
    # numbers
    Attack("integer beyond 64 bits", "/api/schedule-sms", sms(',"delay":' + "9" * 400), 400),
    Attack("2**64 as delay", "/api/schedule-sms", sms(',"delay":18446744073709551616'), 422),
    Attack("1e308 as delay", "/api/schedule-sms", sms(',"delay":1e308'), 422),
    Attack("1e999 (infinite)", "/api/schedule-sms", sms(',"delay":1e999'), 400),
    Attack("NaN", "/api/schedule-sms", sms(',"delay":NaN'), 400),
    Attack("negative delay", "/api/schedule-sms", sms(',"delay":-1'), 422),
    Attack("sendAt as a number", "/api/schedule-sms", sms(',"sendAt":1e-21'), 422),
    Attack("sendAt as digits", "/api/schedule-sms", sms(',"sendAt":"1"'), 422),
    Attack("sendAt without an offset", "/api/schedule-sms",
           sms(',"sendAt":"2030-01-01T10:00"'), 422),
    Attack("huge bulk count in lookup", "/api/jobs/lookup",
           b'{"jobIds":[' + b",".join([b'"x"'] * 501) + b"]}", 422),
    # depth and size
    Attack("100,000 nested arrays", "/api/schedule-sms",
           sms(',"metadata":{"a":' + "[" * 100_000 + "]" * 100_000 + "}"), 400),
    Attack("metadata 20 levels deep", "/api/schedule-sms",
           sms(',"metadata":' + '{"a":' * 20 + "1" + "}" * 20), 422),
    Attack("metadata over 4 KB", "/api/schedule-sms",
           sms(',"metadata":{"a":"' + "x" * 5000 + '"}'), 422),
    Attack("10 MB single request", "/api/schedule-sms",
           sms(',"metadata":{"a":"' + "x" * (10 * MB) + '"}'), 413),
    Attack("10 MB lookup", "/api/jobs/lookup", b'{"jobIds":["' + b"x" * (10 * MB) + b'"]}', 413),
    Attack("10 MB key request", "/api/keys", b'{"workspaceId":"' + b"x" * (10 * MB) + b'"}', 413),
    Attack("40 MB bulk request", "/api/schedule-sms/bulk",
           b'{"messages":[' + b" " * (40 * MB) + b"]}", 413),
    Attack("message of 100,000 characters", "/api/schedule-sms",
           (SMS.replace('"Hi"', '"' + "x" * 100_000 + '"') + "}").encode(), 422),
    Attack("workspaceId of 10,000 characters", "/api/schedule-sms",
           (SMS.replace('"ws-1"', '"' + "w" * 10_000 + '"') + "}").encode(), 422),
    # encodings and characters
    Attack("invalid UTF-8", "/api/schedule-sms", sms(',"metadata":{"a":"') + b'\xff\xfe"}}', 400),
    Attack("lone surrogate", "/api/schedule-sms",
           (SMS.replace('"Hi"', '"\\ud800"') + "}").encode(), 400),
    Attack("NUL in the message", "/api/schedule-sms",
           (SMS.replace('"Hi"', '"a\\u0000b"') + "}").encode(), 422),
    Attack("byte order mark", "/api/schedule-sms", b"\xef\xbb\xbf" + sms(""), 400),
    Attack("header injection in subject", "/api/schedule-email",
           (EMAIL.replace('"S"', '"Hi\\r\\nBcc: all@example.com"') + "}").encode(), 422),
    Attack("workspaceId with a Redis key separator and glob", "/api/schedule-sms",
           (SMS.replace('"ws-1"', '"ws-1:*"') + "}").encode(), 422),
    Attack("workspaceId with a path", "/api/schedule-sms",
           (SMS.replace('"ws-1"', '"../ws-2"') + "}").encode(), 422),
    # nulls and shapes
    Attack("null body", "/api/schedule-sms", b"null", 400),
    Attack("array body", "/api/schedule-sms", b"[]", 400),
    Attack("string body", "/api/schedule-sms", b'"hello"', 400),
    Attack("empty body", "/api/schedule-sms", b"", 400),
    Attack("null phone number", "/api/schedule-sms",
           b'{"phoneNumber":null,"message":"Hi","workspaceId":"ws-1"}', 422),
    Attack("null messages in bulk", "/api/schedule-sms/bulk", b'{"messages":null}', 422),
    Attack("null job ids", "/api/jobs/lookup", b'{"jobIds":[null]}', 422),
    Attack("object as metadata key list", "/api/schedule-sms", sms(',"metadata":[1,2]'), 422),
    Attack("unknown field", "/api/schedule-sms", sms(',"delayMs":1000'), 422),
    Attack("duplicate keys", "/api/schedule-sms", sms(',"workspaceId":"ws-2"'), 400),
    Attack("duplicate keys, nested", "/api/schedule-sms",
           sms(',"metadata":{"a":1,"a":2}'), 400),
    Attack("duplicate keys in bulk item", "/api/schedule-sms/bulk",
           b'{"messages":[' + sms(',"message":"again"') + b"]}", 400),
    # content types
    Attack("text/plain", "/api/schedule-sms", sms(""), 415, "text/plain"),
    Attack("form encoded", "/api/schedule-sms", b"phoneNumber=%2B1&message=x", 415,
           "application/x-www-form-urlencoded"),
    Attack("multipart", "/api/schedule-sms", sms(""), 415, "multipart/form-data; boundary=x"),
    Attack("no content type", "/api/schedule-sms", sms(""), 415, None),
    Attack("JSON in latin-1", "/api/schedule-sms", sms(""), 415,
           "application/json; charset=latin-1"),
    # headers
    Attack("Idempotency-Key of 10,000 characters", "/api/schedule-sms", sms(""), 422,
           headers=(("Idempotency-Key", "k" * 10_000),)),
    Attack("Idempotency-Key with a control character", "/api/schedule-sms", sms(""), 422,
           headers=(("Idempotency-Key", "a\tb"),)),
    # a workspace's limits (its tier): numbers, shapes, sizes, names
    limits(400, "integer beyond 64 bits", b'{"sms":' + b"9" * 400 + b"}"),
    limits(422, "2**64", b'{"sms":18446744073709551616}'),
    limits(400, "1e999 (infinite)", b'{"sms":1e999}'),
    limits(400, "NaN", b'{"sms":NaN}'),
    limits(422, "zero", b'{"sms":0}'),
    limits(422, "negative", b'{"sms":-1}'),
    limits(422, "a fraction", b'{"sms":0.5}'),
    limits(422, "a number as a string", b'{"sms":"10"}'),
    limits(422, "a boolean", b'{"sms":true}'),
    limits(422, "an object", b'{"sms":{"limit":10}}'),
    limits(422, "an unknown channel", b'{"whatsapp":10}'),
    limits(422, "a valid channel and a bad one", b'{"sms":10,"email":0}'),
    limits(400, "duplicate keys", b'{"sms":10,"sms":1}'),
    limits(400, "null body", b"null"),
    limits(400, "array body", b"[10]"),
    limits(400, "empty body", b""),
    limits(413, "10 MB body", b'{"sms":10,"x":"' + b"x" * (10 * MB) + b'"}'),
    limits(415, "text/plain", b'{"sms":10}', content_type="text/plain"),
    limits(422, "workspace id with a key separator and glob", b'{"sms":10}',
           path="/api/workspaces/ws-1:*/limits"),
    limits(422, "workspace id of 5,000 characters", b'{"sms":10}',
           path="/api/workspaces/" + "w" * 5000 + "/limits"),
]  # fmt: skip

QUERIES = [
    ("/api/jobs", {"workspaceId": "w" * 10_000}, 422),
    ("/api/jobs", {"workspaceId": "ws-1", "limit": "1" + "0" * 30}, 422),
    ("/api/jobs", {"workspaceId": "ws-1", "limit": "-1"}, 422),
    ("/api/jobs", {"workspaceId": "ws-1", "status": "SENT"}, 422),
    ("/api/jobs", {"workspaceId": "ws-1", "cursor": "not-a-cursor"}, 422),
    ("/api/jobs", {"workspaceId": "ws-1", "cursor": "x" * 5000}, 422),
    ("/api/jobs/" + "j" * 5000, {}, 404),
    ("/api/jobs/%00", {}, 404),
    ("/api/jobs/..%2F..%2Fkeys", {}, 404),
    ("/api/metrics/workspace/" + "w" * 5000, {}, 404),
    ("/api/workspaces/" + "w" * 5000 + "/limits", {}, 404),
    ("/api/workspaces/..%2F..%2Fkeys/limits", {}, 404),
    ("/api/outbox", {"limit": "99999999999999999999"}, 422),
]


def snapshot(redis: redis_lib.Redis) -> dict[bytes, object]:
    """Every job record and index of the store, by key."""
    state: dict[bytes, object] = {}
    for key in sorted(redis.keys(f"{KEYS.prefix}:*")):
        kind = redis.type(key)
        if kind == b"string":
            state[key] = redis.get(key)
        elif kind == b"zset":
            state[key] = redis.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            state[key] = redis.hgetall(key)
    return state


@pytest.fixture
def accepted(http: httpx.Client, redis: redis_lib.Redis) -> dict[bytes, object]:
    """Jobs accepted before the attack: SMS, email, a bulk, with awkward metadata."""
    answers = [
        http.post("/api/schedule-sms", json={
            "phoneNumber": "+14155550123", "message": "Hello 👋", "workspaceId": "ws-1",
            "delay": 3_600_000, "metadata": {"ids": [1, 2], "big": 12345678901234567, "e": {}}}),
        http.post("/api/schedule-email", json={
            "to": "a@example.com", "subject": "Hi", "html": "<p>x</p>", "workspaceId": "ws-2",
            "delay": 3_600_000}),
        http.post("/api/schedule-sms/bulk", json={"messages": [
            {"phoneNumber": "+14155550123", "message": f"n{i}", "workspaceId": "ws-3",
             "delay": 3_600_000} for i in range(50)]}),
    ]  # fmt: skip
    assert [a.status_code for a in answers] == [201, 201, 200]
    return snapshot(redis)


def test_hostile_inputs_get_their_4xx_and_accepted_jobs_stay_intact(
    http: httpx.Client, redis: redis_lib.Redis, accepted: dict[bytes, object]
) -> None:
    outcomes = {}
    for attack in ATTACKS:
        headers = dict(attack.headers)
        if attack.content_type is not None:
            headers["Content-Type"] = attack.content_type
        request = http.build_request(
            attack.method, attack.path, content=attack.body, headers=headers
        )
        if attack.content_type is None:
            request.headers.pop("Content-Type", None)
        answer = http.send(request)
        outcomes[attack.name] = answer.status_code
        # every refusal is the documented JSON error shape, not a stack trace
        assert answer.json()["success"] is False, attack.name
    for path, params, _ in QUERIES:
        outcomes[f"GET {path[:40]} {params}"[:90]] = http.get(path, params=params).status_code

    expected = {attack.name: attack.status for attack in ATTACKS} | {
        f"GET {path[:40]} {params}"[:90]: status for path, params, status in QUERIES
    }
    assert outcomes == expected
    # Then nothing was added, changed or lost, and the server still serves
    assert snapshot(redis) == accepted
    assert http.get("/ready").status_code == 200
    later = http.post(
        "/api/schedule-sms",
        json={"phoneNumber": "+14155550123", "message": "after", "workspaceId": "ws-1"},
    )
    assert later.status_code == 201


def test_a_10_mb_bulk_whose_only_item_is_too_big_is_answered_item_by_item(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    # A bulk body may be up to MAX_BULK_BODY_BYTES; each item is then judged on its own.
    body = b'{"messages":[' + sms(',"metadata":{"a":"' + "x" * (10 * MB) + '"}') + b"]}"

    answer = http.post("/api/schedule-sms/bulk", content=body, headers={"Content-Type": JSON})

    assert answer.status_code == 200
    assert answer.json()["accepted"] == 0
    assert answer.json()["results"][0]["error"]["field"] == "metadata"
    assert redis.keys(KEYS.job("*")) == []


def test_a_client_that_goes_away_mid_body_stores_nothing_and_logs_no_error(
    api_url: str, http: httpx.Client, redis: redis_lib.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a client that announces a body, sends part of it, and closes its connection
    url = httpx.URL(api_url)
    head = (
        f"POST /api/schedule-sms HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: {http.headers['authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    ).encode()
    caplog.set_level(logging.DEBUG)
    with socket.create_connection((url.host, url.port)) as conn:
        conn.sendall(head + sms("")[:20])
        time.sleep(0.2)  # the server is reading the body when the client goes

    # Then the server still answers, nothing was stored, and no error was logged
    wait_until(
        lambda: any("client went away" in r.getMessage() for r in caplog.records), timeout_s=5
    )
    assert http.get("/health").status_code == 200
    assert not redis.keys(f"{KEYS.prefix}:job:*")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
