"""The board in a real headless Chromium (Playwright): log in, watch counts change, open a job,
cancel it; cancel a campaign after confirming. Screenshots are kept in test-artifacts/ for people
to look at."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
KEY = "browser-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Chromium is not installed (apt-get install -y chromium; .ci/run does it)",
)


@pytest.fixture(scope="module")
def board_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    with running_server(Settings(redis_url=redis_server.url, admin_key=KEY)) as url:
        yield url


@pytest.fixture
def page(board_url: str, redis: redis_lib.Redis) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context.new_page()
        context.close()
        browser.close()


def test_log_in_watch_counts_open_a_job_and_cancel_it(page: object, board_url: str) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    api = httpx.Client(base_url=board_url, headers=AUTH)

    # Given an operator who logs in with the admin key
    page.goto(f"{board_url}/admin/queues/")
    expect(page).to_have_url(f"{board_url}/admin/queues/login")
    page.fill("#key", KEY)
    page.click("button[type=submit]")
    expect(page.locator("#sms-delayed")).to_have_text("0")

    # When a message is scheduled for later, the count shows it after a reload
    body = {"phoneNumber": "+14155550123", "message": "Your appointment", "workspaceId": "ws-1",
            "delay": 3_600_000}  # fmt: skip
    job_id = api.post("/api/schedule-sms", json=body).json()["jobId"]
    page.reload()
    expect(page.locator("#sms-delayed")).to_have_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "board-overview.png", full_page=True)

    # And the operator opens it from the scheduled list and cancels it
    page.click("text=sms scheduled")
    page.click(f"text={job_id}")
    expect(page.locator("#status")).to_have_text("SCHEDULED")
    expect(page.locator("body")).not_to_contain_text("+14155550123")
    page.click("#action-cancel")

    # Then the job is cancelled, on the page and in the API
    expect(page.locator("#status")).to_have_text("CANCELLED")
    expect(page.locator("#notice")).to_contain_text("cancel: done")
    page.screenshot(path=ARTIFACTS / "board-job.png", full_page=True)
    assert api.get(f"/api/jobs/{job_id}").json()["status"] == "CANCELLED"
    page.goto(f"{board_url}/admin/queues/")
    expect(page.locator("#sms-delayed")).to_have_text("0")
    expect(page.locator("#sms-cancelled")).to_have_text("1")
    api.close()


def test_cancel_a_campaign_from_a_job_page_after_confirming(page: object, board_url: str) -> None:
    from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

    assert isinstance(page, Page)
    api = httpx.Client(base_url=board_url, headers=AUTH)
    # The board runs no script: a dialog, or a script its policy blocked (an onsubmit
    # confirm(), say, which would let the form go without asking), would be a bug.
    dialogs: list[str] = []
    blocked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def record_error(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("dialog", dismiss)
    page.on("console", record_error)

    # Given a campaign of three jobs, another job of the workspace, and an operator logged in
    body = {"phoneNumber": "+14155550123", "message": "Spring sale", "workspaceId": "ws-1",
            "delay": 3_600_000}  # fmt: skip
    spring = [
        api.post("/api/schedule-sms", json={**body, "metadata": {"campaignId": "spring-sale"}})
        for _ in range(3)
    ]
    campaign = [answer.json()["jobId"] for answer in spring]
    other = api.post("/api/schedule-sms", json=body).json()["jobId"]
    page.goto(f"{board_url}/admin/queues/login")
    page.fill("#key", KEY)
    page.click("button[type=submit]")

    # When the operator names the campaign on the overview, the next page asks, and "No" keeps it
    page.fill("#campaign-workspace", "ws-1")
    page.fill("#campaign-id", "spring-sale")
    page.click("#cancel-campaign")
    expect(page.locator("#campaign-size")).to_contain_text("3 jobs were created")
    page.click("#keep-campaign")
    expect(page).to_have_url(f"{board_url}/admin/queues/")
    assert {api.get(f"/api/jobs/{job_id}").json()["status"] for job_id in campaign} == {"SCHEDULED"}

    # And from a job of it, Cancel campaign… asks again, and this time the operator confirms
    page.goto(f"{board_url}/admin/queues/jobs/{campaign[0]}")
    expect(page.locator("#campaign")).to_have_text("spring-sale")
    page.click("#action-cancel-campaign")
    expect(page.locator("#campaign-size")).to_contain_text("3 jobs were created")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "board-campaign.png", full_page=True)
    page.click("#confirm-cancel-campaign")

    # Then the operator is back on the job, cancelled, with the counts; the other job waits
    expect(page).to_have_url(re.compile(rf"/admin/queues/jobs/{campaign[0]}\?notice="))
    expect(page.locator("#status")).to_have_text("CANCELLED")
    expect(page.locator("#notice")).to_contain_text(
        "cancel campaign spring-sale of workspace ws-1: cancelled 3, already cancelled 0, "
        "not cancellable 0"
    )
    statuses = [api.get(f"/api/jobs/{job_id}").json()["status"] for job_id in campaign]
    assert statuses == ["CANCELLED"] * 3
    assert api.get(f"/api/jobs/{other}").json()["status"] == "SCHEDULED"
    assert dialogs == []
    assert blocked == []
    api.close()
