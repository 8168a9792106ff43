"""The benchmark harness itself (tests/benchmarks/): ratios read "times better than the peer"
whichever way a figure points, windows count what they should, and every side gets the same job
data."""

from __future__ import annotations

import math

import httpx
import pytest

from tests.benchmarks.common import EMAIL_HTML_BYTES, campaign_job
from tests.benchmarks.run import NODE_DIR, node_available, number, ratio, run_bench_mjs
from tests.harness import ADMIN_HEADERS
from tests.receiver import max_per_window


def test_a_ratio_above_one_always_means_ours_is_better() -> None:
    assert ratio(300.0, 100.0, higher_is_better=True) == "3.00x"  # 3x the throughput
    assert ratio(10.0, 50.0, higher_is_better=False) == "5.00x"  # a fifth of the latency
    assert ratio(100.0, 300.0, higher_is_better=True) == "0.33x"
    assert ratio(5.0, math.inf, higher_is_better=False) == "inf"  # the peer did not finish
    assert ratio(None, 1.0, higher_is_better=True) == ""


def test_numbers_are_shown_readably() -> None:
    assert number(12345.6) == "12,346"
    assert number(15.25) == "15.2"
    assert number(0.184) == "0.18"
    assert number(math.inf) == "did not finish"
    assert number(None) == "—"


def test_the_busiest_window_is_found_wherever_it_starts() -> None:
    times = [0.0, 0.5, 0.99, 1.0, 1.2, 1.9, 3.0]
    assert max_per_window(times, 1.0) == 4  # 1.0, 1.2, 1.9 and 0.99 fall in [0.99, 1.99)


# ---- the job data every side is given (common.py) -----------------------------------------------


def test_the_campaign_messages_are_accepted_as_the_crm_sends_them(api_url: str) -> None:
    with httpx.Client(base_url=api_url, headers=ADMIN_HEADERS) as http:
        sms = http.post("/api/schedule-sms", json={**campaign_job("sms", 7), "delay": 60_000})
        email = http.post("/api/schedule-email", json={**campaign_job("email", 7), "delay": 60_000})
    assert (sms.status_code, email.status_code) == (201, 201), (sms.text, email.text)
    assert len(campaign_job("email", 1234567)["html"].encode()) == EMAIL_HTML_BYTES


@pytest.mark.skipif(
    not (node_available() and (NODE_DIR / "node_modules" / "bullmq").is_dir()),
    reason="needs node and tests/benchmarks/bullmq_node's packages (run.py installs them)",
)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_bullmq_on_node_is_given_the_same_job_data(channel: str) -> None:
    indexes = [0, 7, 19, 12_345, 999_999]
    figures = run_bench_mjs("job_data", "redis://127.0.0.1:1/0", channel=channel, indexes=indexes)
    assert figures["jobs"] == [campaign_job(channel, i) for i in indexes]
