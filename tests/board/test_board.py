"""The board over real HTTP: login, session cookie, CSRF, security headers, actions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis as redis_lib

from queue_services._limits import MAX_CAMPAIGN_ID_CHARS, MAX_IDENTIFIER_CHARS
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from queue_services_server.store.keys import KeySpace
from tests.harness import running_server
from tests.stored import set_status, stored

KEYS = KeySpace()

KEY = "board-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def board_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    with running_server(Settings(redis_url=redis_server.url, admin_key=KEY)) as url:
        yield url


@pytest.fixture
def browser(board_url: str, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    """A cookie-keeping client that does not follow redirects."""
    with httpx.Client(base_url=board_url) as client:
        yield client


def login(client: httpx.Client) -> str:
    answer = client.post("/admin/queues/login", data={"key": KEY})
    assert answer.status_code == 303
    page = client.get("/admin/queues/").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def schedule(client: httpx.Client, **changes: object) -> str:
    body = {"phoneNumber": "+14155550123", "message": "Hi there", "workspaceId": "ws-1",
            "delay": 3_600_000, **changes}  # fmt: skip
    job_id: str = client.post("/api/schedule-sms", json=body, headers=AUTH).json()["jobId"]
    return job_id


def test_pages_need_a_login(browser: httpx.Client) -> None:
    for path in ("/admin/queues/", "/admin/queues/sms/scheduled", "/admin/queues/outbox"):
        answer = browser.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/queues/login"


def test_a_stored_admin_key_logs_in_a_workspace_key_does_not_and_revoking_logs_out(
    browser: httpx.Client,
) -> None:
    made = [
        browser.post("/api/keys", json=scope, headers=AUTH).json()
        for scope in ({"admin": True}, {"workspaceId": "ws-1"})
    ]
    admin, workspace = made[0], made[1]

    refused = browser.post("/admin/queues/login", data={"key": workspace["key"]})
    assert refused.status_code == 200
    assert "not a valid admin key" in refused.text
    assert browser.post("/admin/queues/login", data={"key": admin["key"]}).status_code == 303
    assert browser.get("/admin/queues/").status_code == 200

    browser.delete(f"/api/keys/{admin['id']}", headers=AUTH)

    after = browser.get("/admin/queues/")
    assert after.status_code == 303
    assert after.headers["location"] == "/admin/queues/login"


def test_a_wrong_key_is_refused_and_the_right_one_gives_a_strict_cookie(
    browser: httpx.Client,
) -> None:
    wrong = browser.post("/admin/queues/login", data={"key": "guess"})
    still_out = browser.get("/admin/queues/")
    right = browser.post("/admin/queues/login", data={"key": KEY})

    assert wrong.status_code == 200
    assert "not a valid admin key" in wrong.text
    assert still_out.status_code == 303
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/admin/queues" in cookie
    assert KEY not in right.headers["set-cookie"]


def test_pages_carry_security_headers_and_no_script(browser: httpx.Client) -> None:
    login(browser)

    answer = browser.get("/admin/queues/")

    csp = answer.headers["content-security-policy"]
    assert "script-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in answer.text
    assert "http://" not in answer.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert browser.get("/admin/queues/static/board.css").status_code == 200


def test_actions_without_the_csrf_token_are_refused(browser: httpx.Client) -> None:
    login(browser)
    job_id = schedule(browser)

    answer = browser.post(f"/admin/queues/jobs/{job_id}/cancel", data={"csrf": "forged"})

    assert answer.status_code == 403
    assert browser.get(f"/api/jobs/{job_id}", headers=AUTH).json()["status"] == "SCHEDULED"


def test_cancel_send_now_and_retry_from_the_board(
    browser: httpx.Client, redis: redis_lib.Redis
) -> None:
    csrf = login(browser)
    first, second = schedule(browser), schedule(browser, contactId="c-2")

    cancelled = browser.post(f"/admin/queues/jobs/{first}/cancel", data={"csrf": csrf})
    moved = browser.post(f"/admin/queues/jobs/{second}/send-now", data={"csrf": csrf})
    refused = browser.post(f"/admin/queues/jobs/{first}/retry", data={"csrf": csrf})

    assert cancelled.status_code == 303
    assert browser.get(f"/api/jobs/{first}", headers=AUTH).json()["status"] == "CANCELLED"
    assert moved.status_code == 303
    due = redis.zscore(KEYS.workspace_schedule("sms", "ws-1", "normal"), second)
    assert due is not None
    assert abs(due - redis.time()[0] * 1000) < 10_000
    assert "not possible" in refused.headers["location"].replace("+", " ")


def test_pause_and_resume_a_channel(browser: httpx.Client) -> None:
    csrf = login(browser)

    browser.post("/admin/queues/sms/pause", data={"csrf": csrf})
    paused = browser.get("/admin/queues/").text
    browser.post("/admin/queues/sms/resume", data={"csrf": csrf})
    resumed = browser.get("/admin/queues/").text

    assert re.search(r'id="sms-state">paused<', paused)
    assert re.search(r'id="sms-state">running<', resumed)


def test_lists_filter_and_the_detail_masks_the_recipient(browser: httpx.Client) -> None:
    login(browser)
    keep = schedule(browser, workspaceId="ws-keep", message="Spring sale")
    schedule(browser, workspaceId="ws-other", message="Winter sale")

    by_workspace = browser.get("/admin/queues/sms/scheduled", params={"workspace": "ws-keep"}).text
    by_text = browser.get("/admin/queues/sms/scheduled", params={"q": "winter"}).text
    detail = browser.get(f"/admin/queues/jobs/{keep}").text

    assert keep in by_workspace
    assert "ws-other" not in by_workspace
    assert "ws-other" in by_text
    assert "ws-keep" not in by_text
    assert "+14155550123" not in detail
    assert "+1415*****23" in detail
    assert 'id="status">SCHEDULED<' in detail


def test_logout_ends_the_session(browser: httpx.Client) -> None:
    csrf = login(browser)

    browser.post("/admin/queues/logout", data={"csrf": csrf})

    assert browser.get("/admin/queues/").status_code == 303


def take(redis: redis_lib.Redis, job_id: str, *, slot: bool) -> None:
    """Do what a sender does when it takes a job (status PROCESSING, off the schedule) and, with
    `slot`, when the job's send slot comes (it is then on its way to the provider)."""
    record = set_status(redis, job_id, "PROCESSING")
    redis.zrem(KEYS.workspace_schedule("sms", record.workspace_id, "normal"), job_id)
    redis.decr(KEYS.scheduled_count("sms"))
    redis.zadd(KEYS.state("sms", "PROCESSING"), {job_id: 1})
    if slot:
        redis.sadd(KEYS.sending("sms"), job_id)


def status_in_redis(redis: redis_lib.Redis, job_id: str) -> str:
    return stored(redis, job_id).status


def notice_of(answer: httpx.Response) -> str:
    """The notice a board action redirects with."""
    assert answer.status_code == 303, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["notice"][0]


def test_a_taken_job_without_its_send_slot_can_be_cancelled_and_a_failed_cancel_says_why(
    browser: httpx.Client, redis: redis_lib.Redis
) -> None:
    csrf = login(browser)
    taken, sending, done = schedule(browser), schedule(browser), schedule(browser)
    take(redis, taken, slot=False)
    take(redis, sending, slot=True)
    set_status(redis, done, "COMPLETED")

    taken_page = browser.get(f"/admin/queues/jobs/{taken}").text
    sending_page = browser.get(f"/admin/queues/jobs/{sending}").text
    cancelled = browser.post(f"/admin/queues/jobs/{taken}/cancel", data={"csrf": csrf})
    on_its_way = browser.post(f"/admin/queues/jobs/{sending}/cancel", data={"csrf": csrf})
    finished = browser.post(f"/admin/queues/jobs/{done}/cancel", data={"csrf": csrf})
    missing = browser.post("/admin/queues/jobs/01NOSUCHJOB/cancel", data={"csrf": csrf})

    assert 'id="action-cancel"' in taken_page
    assert "not yet: can still be cancelled" in taken_page
    assert 'id="action-cancel"' not in sending_page
    assert "given: on its way to the provider" in sending_page
    assert notice_of(cancelled) == "cancel: done"
    assert status_in_redis(redis, taken) == "CANCELLED"
    assert "on its way to the provider" in notice_of(on_its_way)
    assert status_in_redis(redis, sending) == "PROCESSING"
    assert notice_of(finished) == "cancel: not possible: the job is COMPLETED already"
    assert notice_of(missing) == "cancel: not possible: there is no such job"


def test_cancel_a_campaign_from_a_job_page_counts_each_outcome_and_touches_no_other(
    browser: httpx.Client, redis: redis_lib.Redis
) -> None:
    csrf = login(browser)
    spring = [schedule(browser, metadata={"campaignId": "spring", "n": i}) for i in range(5)]
    first, already, sending, taken = spring[0], spring[1], spring[2], spring[3]
    browser.delete(f"/api/jobs/{already}", headers=AUTH)
    take(redis, sending, slot=True)
    take(redis, taken, slot=False)
    autumn = schedule(browser, metadata={"campaignId": "autumn"})
    elsewhere = schedule(browser, workspaceId="ws-2", metadata={"campaignId": "spring"})
    plain = schedule(browser)

    job_page = browser.get(f"/admin/queues/jobs/{first}").text
    asking = browser.get(
        "/admin/queues/campaigns/cancel",
        params={"workspace": "ws-1", "campaign": "spring", "job": first},
    )
    untouched_by_asking = status_in_redis(redis, first)
    answer = browser.post(
        "/admin/queues/campaigns/cancel",
        data={"csrf": csrf, "workspace": "ws-1", "campaign": "spring", "job": first},
    )

    assert 'id="campaign">spring<' in job_page
    assert 'id="action-cancel-campaign"' in job_page
    assert 'id="action-cancel-campaign"' not in browser.get(f"/admin/queues/jobs/{plain}").text
    assert asking.status_code == 200
    assert "5 jobs were created into this campaign" in asking.text
    assert 'id="confirm-cancel-campaign"' in asking.text
    assert untouched_by_asking == "SCHEDULED"
    assert answer.headers["location"].startswith(f"/admin/queues/jobs/{first}?")
    assert notice_of(answer) == (
        "cancel campaign spring of workspace ws-1: cancelled 3, already cancelled 1, "
        "not cancellable 1 (sent, failed or on their way), no longer stored 0"
    )
    for job_id in (first, already, taken, spring[4]):
        assert status_in_redis(redis, job_id) == "CANCELLED"
        assert redis.zscore(KEYS.state("sms", "CANCELLED"), job_id) is not None
    assert redis.zcard(KEYS.workspace_schedule("sms", "ws-1", "normal")) == 2  # autumn, plain
    assert status_in_redis(redis, sending) == "PROCESSING"
    for job_id in (autumn, elsewhere, plain):
        assert status_in_redis(redis, job_id) == "SCHEDULED"


def test_cancel_a_campaign_from_the_overview(browser: httpx.Client, redis: redis_lib.Redis) -> None:
    csrf = login(browser)
    jobs = [schedule(browser, metadata={"campaignId": "launch 2025/5"}) for _ in range(2)]

    overview = browser.get("/admin/queues/").text
    unknown = browser.get(
        "/admin/queues/campaigns/cancel", params={"workspace": "ws-1", "campaign": "lunch"}
    )
    answer = browser.post(
        "/admin/queues/campaigns/cancel",
        data={"csrf": csrf, "workspace": " ws-1 ", "campaign": "launch 2025/5"},
    )

    assert 'id="campaign-workspace"' in overview
    assert 'id="campaign-id"' in overview
    assert "No job of workspace" in unknown.text
    assert answer.headers["location"].startswith("/admin/queues/?")
    assert notice_of(answer).startswith(
        "cancel campaign launch 2025/5 of workspace ws-1: cancelled 2, already cancelled 0,"
    )
    assert [status_in_redis(redis, job_id) for job_id in jobs] == ["CANCELLED"] * 2


@pytest.mark.parametrize(
    ("workspace", "campaign", "problem"),
    [
        ("ws 1", "spring", "the workspace id must be"),
        ("", "spring", "the workspace id must be"),
        ("-ws", "spring", "the workspace id must be"),
        ("w" * (MAX_IDENTIFIER_CHARS + 1), "spring", "the workspace id must be"),
        ("ws-1", "", "the campaign id must be 1 to 200 characters"),
        ("ws-1", "c" * (MAX_CAMPAIGN_ID_CHARS + 1), "the campaign id must be 1 to 200 characters"),
    ],
)
def test_cancel_a_campaign_with_bad_ids_gives_a_notice(
    browser: httpx.Client, redis: redis_lib.Redis, workspace: str, campaign: str, problem: str
) -> None:
    csrf = login(browser)
    job_id = schedule(browser, metadata={"campaignId": "spring"})
    fields = {"workspace": workspace, "campaign": campaign}

    asking = browser.get("/admin/queues/campaigns/cancel", params=fields)
    answer = browser.post("/admin/queues/campaigns/cancel", data={"csrf": csrf, **fields})

    for reply in (asking, answer):
        assert reply.headers["location"].startswith("/admin/queues/?")
        assert notice_of(reply).startswith(f"cancel campaign: {problem}")
    assert status_in_redis(redis, job_id) == "SCHEDULED"


def test_cancel_a_campaign_needs_a_login_and_the_csrf_token(
    browser: httpx.Client, redis: redis_lib.Redis
) -> None:
    fields = {"workspace": "ws-1", "campaign": "spring"}
    job_id = schedule(browser, metadata={"campaignId": "spring"})

    logged_out_page = browser.get("/admin/queues/campaigns/cancel", params=fields)
    logged_out = browser.post("/admin/queues/campaigns/cancel", data=fields)
    login(browser)
    without_token = browser.post("/admin/queues/campaigns/cancel", data=fields)
    forged = browser.post("/admin/queues/campaigns/cancel", data={"csrf": "forged", **fields})

    assert logged_out_page.status_code == 303
    assert logged_out_page.headers["location"] == "/admin/queues/login"
    assert logged_out.status_code == 401
    assert without_token.status_code == 403
    assert forged.status_code == 403
    assert status_in_redis(redis, job_id) == "SCHEDULED"
