"""The board in a real headless Chromium (Playwright): log in, watch counts change, open a job,
cancel it. A screenshot is kept in test-artifacts/ for people to look at."""

from __future__ import annotations

import os
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
