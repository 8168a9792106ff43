"""The benchmark harness itself (tests/benchmarks/): ratios read "times better than the peer"
whichever way a figure points, windows count what they should, scenarios are wired to their rows,
a build without a scenario's route is reported as such, and every side gets the same job data."""

from __future__ import annotations

import math

import httpx
import pytest

from tests.benchmarks.campaigns import (
    HARNESS_CLIENT,
    SLOWLOG_THRESHOLD_US,
    cancel_campaign,
    command_name,
    lateness_s,
    summarise,
)
from tests.benchmarks.common import (
    EMAIL_HTML_BYTES,
    Figures,
    NotAvailable,
    NotedFigures,
    campaign_job,
)
from tests.benchmarks.run import (
    NODE_DIR,
    Row,
    Scenario,
    node_available,
    number,
    ratio,
    run_bench_mjs,
    run_scenario,
    scenarios,
    table,
)
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


# ---- scenario wiring (run.py) -------------------------------------------------------------------


def test_every_scenario_has_its_own_name_and_rows_that_name_it() -> None:
    found = scenarios(quick=True)
    names = [scenario.name for scenario in found]
    assert len(names) == len(set(names))
    assert {"campaign-fairness", "mass-cancel", "memory", "memory-email"} <= set(names)
    for scenario in found:
        assert scenario.rows
        assert all(row.scenario == scenario.name for row in scenario.rows)
        assert "ours" in scenario.runs


def test_a_build_without_the_route_is_reported_not_available_and_not_repeated() -> None:
    # Given a scenario whose run finds its route missing
    calls: list[str] = []

    def run(redis_url: str) -> Figures:
        calls.append(redis_url)
        raise NotAvailable("POST /api/jobs/cancel answered 405: no such route")

    scenario = Scenario(
        "cancel", "8. Cancel", {"ours": run}, [Row("cancel", "cancel_s", "s", False)]
    )
    # When it runs with 3 repeats
    run_scenario(scenario, repeats=3)
    # Then it ran once, and the table and the notes say why there is no figure
    assert len(calls) == 1
    assert "| 8. Cancel | s | not available |" in table([scenario])
    assert scenario.notes == [
        "ours: not available: POST /api/jobs/cancel answered 405: no such route"
    ]


def test_the_remarks_of_a_run_are_noted_under_the_table() -> None:
    scenario = Scenario(
        "slow",
        "Slow",
        {"ours": lambda url: NotedFigures({"ms": 3.0}, ["longest Redis command 3.0 ms"])},
        [Row("slow", "ms", "ms", False)],
    )
    run_scenario(scenario, repeats=1)
    assert scenario.results["ours"] == [{"ms": 3.0}]
    assert scenario.notes == ["ours run 1: longest Redis command 3.0 ms"]


# ---- the campaign scenarios' parts (campaigns.py) -----------------------------------------------


def test_the_slow_log_names_its_longest_command_by_script_and_leaves_out_the_harness() -> None:
    scripts = {"2dcba64644512f32c7e04b4fe36f4b9239fb6268": "claim"}
    claim = b"EVALSHA 2dcba64644512f32c7e04b4fe36f4b9239fb6268 4 a"
    entries = [
        {"duration": 1500, "command": b"HGETALL qs:metrics:sms", "client_name": b""},
        {"duration": 31_000, "command": claim, "client_name": b""},
        {"duration": 22_000, "command": claim, "client_name": b""},
        {"duration": 25_000, "command": b"KEYS qs:dramatiq:*", "client_name": b""},
        {"duration": 75_000, "command": b"SLOWLOG RESET", "client_name": HARNESS_CLIENT.encode()},
    ]
    slowest = summarise(entries, scripts)
    assert (slowest.longest_ms, slowest.longest) == (31.0, "EVALSHA claim")
    assert (slowest.over_bound, slowest.logged) == (3, 4)
    assert slowest.kinds == (("EVALSHA claim", 31.0, 2), ("KEYS", 25.0, 1), ("HGETALL", 1.5, 1))
    assert command_name("FCALL claim 2 a b", scripts) == "FCALL claim"
    assert command_name("evalsha 0123456789abcdef0123 1 k", scripts) == "EVALSHA 0123456789ab"


def test_an_empty_slow_log_reports_its_threshold_as_an_upper_bound() -> None:
    slowest = summarise([], {})
    assert slowest.longest_ms == SLOWLOG_THRESHOLD_US / 1000
    assert slowest.logged == 0
    assert "no Redis command took 1 ms or more" in slowest.note("during the call")


def test_lateness_is_sent_at_less_due_time_and_infinite_when_not_sent() -> None:
    sent = {
        "status": "COMPLETED",
        "scheduledFor": "2026-12-01T09:00:01.000Z",
        "sentAt": "2026-12-01T09:00:01.250Z",
    }
    assert lateness_s(sent) == pytest.approx(0.25)
    assert lateness_s({**sent, "status": "SCHEDULED", "sentAt": None}) == math.inf


@pytest.mark.parametrize(
    ("status", "text", "missing"),
    [
        (405, '{"error": {"code": "method_not_allowed"}}', True),
        (404, '{"error": {"code": "not_found", "message": "no route /api/jobs/cancel"}}', True),
        (404, '{"error": {"code": "not_found", "message": "no workspace \'a\'"}}', False),
        (200, '{"cancelled": 0, "notCancellable": 0, "notFound": 0}', False),
    ],
)
def test_a_missing_cancel_route_is_told_from_the_routes_own_answers(
    status: int, text: str, missing: bool
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, text=text))
    with httpx.Client(transport=transport, base_url="http://api") as http:
        if missing:
            with pytest.raises(NotAvailable):
                cancel_campaign(http, {"workspaceId": "a", "campaignId": "c"})
        else:
            assert (
                cancel_campaign(http, {"workspaceId": "a", "campaignId": "c"}).status_code == status
            )


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
