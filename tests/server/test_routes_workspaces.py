"""GET and PUT /api/workspaces/{workspaceId}/limits over real HTTP: who may read and set them,
what is refused and why, and the figures read back (limits, usage, holds, backlog, 429s)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis as redis_lib

from queue_services._limits import MAX_WORKSPACE_RATE_PER_S
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.pacing import send_token

KEYS = KeySpace()

LIMITS = "/api/workspaces/{}/limits"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(http: httpx.Client, workspace: str) -> str:
    answer = http.post("/api/keys", json={"workspaceId": workspace})
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


def put(http: httpx.Client, workspace: str, body: Any) -> httpx.Response:
    return http.put(LIMITS.format(workspace), json=body)


def redis_now_ms(redis: redis_lib.Redis) -> int:
    seconds, micros = redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def parse(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


# ---- setting limits ------------------------------------------------------------------------


def test_an_admin_sets_a_limit_and_reads_it_back(http: httpx.Client) -> None:
    answer = put(http, "ws-1", {"sms": 10, "email": 20})

    assert answer.status_code == 200
    body = answer.json()
    assert body["workspaceId"] == "ws-1"
    assert (body["sms"]["limit"], body["email"]["limit"]) == (10, 20)
    # the channels' own limits, from the server's settings (the defaults here)
    assert (body["sms"]["channelLimit"], body["email"]["channelLimit"]) == (50, 100)
    again = http.get(LIMITS.format("ws-1")).json()
    assert {**again, "timestamp": None} == {**body, "timestamp": None}


def test_a_whole_number_written_as_a_float_is_that_number(http: httpx.Client) -> None:
    answer = put(http, "ws-1", {"sms": 10.0})

    assert (answer.status_code, answer.json()["sms"]["limit"]) == (200, 10)


def test_null_removes_a_limit_and_a_channel_left_out_keeps_its_own(http: httpx.Client) -> None:
    put(http, "ws-1", {"sms": 10, "email": 20})

    removed = put(http, "ws-1", {"email": None}).json()
    unchanged = put(http, "ws-1", {}).json()

    assert (removed["sms"]["limit"], removed["email"]["limit"]) == (10, None)
    assert (unchanged["sms"]["limit"], unchanged["email"]["limit"]) == (10, None)


def test_a_limit_is_written_where_the_workers_read_it(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    put(http, "ws-1", {"sms": 7})

    assert redis.hget(KEYS.tiers("sms"), "ws-1") == b"7"
    assert redis.hget(KEYS.tiers("email"), "ws-1") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sms": 0}, "sms"),
        ({"sms": -5}, "sms"),
        ({"sms": MAX_WORKSPACE_RATE_PER_S + 1}, "sms"),
        ({"email": "10"}, "email"),
        ({"sms": 2.5}, "sms"),
        ({"sms": True}, "sms"),
        ({"sms": [10]}, "sms"),
        ({"whatsapp": 5}, "whatsapp"),
        ({"sms": 5, "rate": 5}, "rate"),
    ],
)
def test_a_bad_limit_is_422_naming_the_field_and_nothing_is_written(
    http: httpx.Client, redis: redis_lib.Redis, body: dict[str, Any], field: str
) -> None:
    put(http, "ws-1", {"email": 20})

    answer = put(http, "ws-1", {"email": 30, **body})

    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert error["message"].startswith(f"{field}: ")
    assert answer.json()["success"] is False
    # nothing of the request was applied, not even its valid channel
    assert redis.hget(KEYS.tiers("email"), "ws-1") == b"20"
    assert redis.hget(KEYS.tiers("sms"), "ws-1") is None


def test_the_range_is_said_in_the_message(http: httpx.Client) -> None:
    message = put(http, "ws-1", {"sms": 0}).json()["error"]["message"]

    assert message == (
        f"sms: must be 1 to {MAX_WORKSPACE_RATE_PER_S} sends per second, or null to remove the "
        "workspace's own limit"
    )


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"null", 400), (b"[]", 400), (b"", 400), (b'{"sms": 1, "sms": 2}', 400)],
)
def test_a_body_that_is_not_one_json_object_is_400(
    http: httpx.Client, content: bytes, status: int
) -> None:
    answer = http.put(
        LIMITS.format("ws-1"), content=content, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == status
    assert answer.json()["error"]["code"] == "invalid_json"


def test_setting_limits_of_a_malformed_workspace_id_is_422(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    answer = put(http, "ws-1%3A%2A", {"sms": 5})  # "ws-1:*": a key separator and a glob

    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "workspaceId"
    assert redis.keys(f"{KEYS.prefix}:tiers:*") == []


def test_other_methods_are_405_naming_get_and_put(http: httpx.Client) -> None:
    answer = http.post(LIMITS.format("ws-1"), json={"sms": 5})

    assert answer.status_code == 405
    assert set(answer.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PUT"}


# ---- who may ----------------------------------------------------------------------------------


def test_a_workspace_key_reads_its_own_limits(api_url: str, http: httpx.Client) -> None:
    put(http, "ws-a", {"sms": 3})
    key = make_key(http, "ws-a")

    with httpx.Client(base_url=api_url, headers=bearer(key)) as as_a:
        answer = as_a.get(LIMITS.format("ws-a"))

    assert answer.status_code == 200
    assert answer.json()["sms"]["limit"] == 3


def test_another_workspaces_limits_are_404_as_if_absent(api_url: str, http: httpx.Client) -> None:
    put(http, "ws-a", {"sms": 3})
    key_b = make_key(http, "ws-b")

    with httpx.Client(base_url=api_url, headers=bearer(key_b)) as as_b:
        other = as_b.get(LIMITS.format("ws-a"))
        malformed = as_b.get(LIMITS.format("not%20an%20id"))

    # the whole error, and nothing of A's limits: as for a workspace that does not exist
    assert other.status_code == 404
    assert other.json()["error"] == {"code": "not_found", "message": "no workspace 'ws-a'"}
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("workspace", ["ws-a", "ws-b"])
def test_a_workspace_key_cannot_set_limits_not_even_its_own(
    api_url: str, http: httpx.Client, redis: redis_lib.Redis, workspace: str
) -> None:
    key = make_key(http, "ws-a")

    with httpx.Client(base_url=api_url, headers=bearer(key)) as as_a:
        answer = as_a.put(LIMITS.format(workspace), json={"sms": 1000})

    # the answer every admin route gives a workspace key
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
    assert redis.keys(f"{KEYS.prefix}:tiers:*") == []


def test_no_key_is_401(api_url: str, redis: redis_lib.Redis) -> None:
    with httpx.Client(base_url=api_url) as anonymous:
        assert anonymous.get(LIMITS.format("ws-1")).status_code == 401
        assert anonymous.put(LIMITS.format("ws-1"), json={"sms": 1}).status_code == 401


# ---- the figures ------------------------------------------------------------------------------


def test_a_workspace_with_nothing_has_no_limit_nothing_used_and_no_backlog(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    before_ms = redis_now_ms(redis)

    body = http.get(LIMITS.format("nobody")).json()

    assert body["sms"] == {
        "limit": None,
        "channelLimit": 50,
        "usedLastSecond": 0,
        "throttled": False,
        "heldUntil": None,
        "backlog": 0,
        "rateLimitHits": {"count": 0, "lastExceeded": None},
    }
    assert parse(body["timestamp"]).timestamp() * 1000 >= before_ms


def test_a_tier_used_to_its_limit_is_throttled(http: httpx.Client, redis: redis_lib.Redis) -> None:
    # Given a tier of 2/s and two sends in the last second in its log (as pace.lua writes them)
    put(http, "ws-1", {"sms": 2})
    now = redis_now_ms(redis)
    redis.zadd(KEYS.pace("sms", "ws-1"), {send_token("j1", "b1"): now - 600})
    redis.zadd(KEYS.pace("sms", "ws-1"), {send_token("j2", "b1"): now - 100})

    sms = http.get(LIMITS.format("ws-1")).json()["sms"]

    assert (sms["limit"], sms["usedLastSecond"], sms["throttled"]) == (2, 2, True)
    # And once the older send is over a second old, it is not
    time.sleep(0.5)
    sms = http.get(LIMITS.format("ws-1")).json()["sms"]
    assert (sms["usedLastSecond"], sms["throttled"]) == (1, False)


def test_a_hold_after_a_429_throttles_until_it_ends(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    # Given the shared SMS account held for 30 s (a provider's Retry-After), and two 429s counted
    end_ms = redis_now_ms(redis) + 30_000
    redis.set(KEYS.rate_hold("sms"), end_ms, px=30_000)
    redis.hset(
        KEYS.rate_limit_counts("sms"), mapping={"ws-1|count": 2, "ws-1|last": end_ms - 31_000}
    )

    body = http.get(LIMITS.format("ws-1")).json()

    assert body["sms"]["throttled"] is True
    assert parse(body["sms"]["heldUntil"]).timestamp() * 1000 == end_ms
    assert body["sms"]["rateLimitHits"]["count"] == 2
    assert parse(body["sms"]["rateLimitHits"]["lastExceeded"]).timestamp() * 1000 == end_ms - 31_000
    assert (body["email"]["throttled"], body["email"]["heldUntil"]) == (False, None)


def test_the_backlog_counts_the_workspaces_due_jobs(http: httpx.Client) -> None:
    # Given three due SMS and one due later of ws-1, and one due SMS of ws-2 (no worker runs)
    sms = {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": "ws-1"}
    messages = [sms, sms, {**sms, "priority": "high"}, {**sms, "delay": 3_600_000}]
    messages.append({**sms, "workspaceId": "ws-2"})
    assert http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()["accepted"] == 5

    body = http.get(LIMITS.format("ws-1")).json()

    assert (body["sms"]["backlog"], body["email"]["backlog"]) == (3, 0)
