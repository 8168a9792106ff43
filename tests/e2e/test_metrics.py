"""Metrics over real HTTP, after real worker processes sent a known mix: the seeds' shapes, the
figures adding up, Prometheus text that parses, resets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from queue_services_server.dev import EmbeddedRedis
from tests.e2e.test_delivery import env_for, wait_final
from tests.harness import ADMIN_KEY
from tests.receiver import Received, Receiver, running_receiver
from tests.workers import running_worker

#: The fields of the two seed shapes of GET /api/metrics (seed 001, then seed 002).
SEED_001_FIELDS = {
    "totalProcessed", "batchesProcessed", "successRate", "avgProcessingTime", "throughput",
    "rateExceededCount", "lastProcessedTime",
}  # fmt: skip
SEED_002_FIELDS = {"total", "success", "failed", "rateLimited", "workspaces"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def mixed(http: httpx.Client, redis_server: EmbeddedRedis, receiver: Receiver) -> dict[str, Any]:
    """A mix sent by two worker processes: per workspace, "ok" messages succeed, "bad" ones are
    refused (400), "busy" ones are rate limited (429) once and then succeed."""
    seen: Counter[str] = Counter()

    def behaviour(received: Received) -> tuple[int, dict[str, Any], dict[str, str]]:
        kind = received.body["message"].split()[0]
        seen[received.body["contactId"]] += 1
        if kind == "bad":
            return 400, {"error": "invalid number"}, {}
        if kind == "busy" and seen[received.body["contactId"]] == 1:
            return 429, {"error": "Too Many Requests"}, {"Retry-After": "0.2"}
        return 200, {"messageId": "m-" + received.body["contactId"]}, {}

    receiver.behaviour = behaviour
    mix = {"ws-1": {"ok": 30, "bad": 4, "busy": 3}, "ws-2": {"ok": 12, "bad": 1, "busy": 0}}
    messages = [
        {"phoneNumber": "+14155550100", "message": f"{kind} message", "workspaceId": ws,
         "contactId": f"{ws}-{kind}-{i}"}
        for ws, kinds in mix.items() for kind, n in kinds.items() for i in range(n)
    ]  # fmt: skip
    answer = http.post("/api/schedule-sms/bulk", json={"messages": messages}).json()
    ids = [result["jobId"] for result in answer["results"]]
    later = http.post(
        "/api/schedule-email",
        json={"to": "a@example.com", "subject": "Later", "text": "x", "workspaceId": "ws-1",
              "delay": 3_600_000},
    )  # fmt: skip
    assert later.status_code == 201
    env = env_for(redis_server, receiver, sms_rate_limit=200, retry_base_s=0.05)
    with running_worker(env, processes=2, threads=4):
        jobs = wait_final(http, ids, timeout_s=30)
    assert all(job["status"] in ("COMPLETED", "FAILED") for job in jobs.values())
    return mix


def test_figures_add_up_exactly_per_workspace_and_overall(
    http: httpx.Client, mixed: dict[str, dict[str, int]]
) -> None:
    metrics = http.get("/api/metrics").json()
    sms = metrics["sms"]

    for ws, kinds in mixed.items():
        figures = sms["workspaces"][ws]
        assert figures["success"] == kinds["ok"] + kinds["busy"]
        assert figures["failed"] == kinds["bad"]
        assert figures["rateLimited"] == kinds["busy"]
        assert figures["total"] == figures["success"] + figures["failed"]
    assert sms["total"] == sms["success"] + sms["failed"] == 50
    assert sms["success"] == sum(f["success"] for f in sms["workspaces"].values()) == 45
    assert sms["failed"] == 5
    assert sms["rateLimited"] == sms["rateExceededCount"] == 3
    assert sms["retried"] == 3
    assert sms["totalProcessed"] == 50
    assert sms["successRate"] == 90.0
    assert sms["batchesProcessed"] >= 2
    assert sms["avgProcessingTime"] > 0
    assert sms["throughput"] > 0
    assert sms["lastProcessedTime"].endswith("Z")
    assert sms["queue"] == {"scheduled": 0, "due": 0, "inFlight": 0}
    assert metrics["email"]["queue"]["scheduled"] == 1
    assert metrics["email"]["total"] == 0
    assert metrics["workspaceRateLimits"]["ws-1"]["sms"]["count"] == 3
    assert "ws-2" not in metrics["workspaceRateLimits"]


def test_the_answers_have_both_seed_shapes_and_seed_000s_workspace_shape(
    http: httpx.Client, mixed: dict[str, dict[str, int]]
) -> None:
    metrics = http.get("/api/metrics").json()
    workspace = http.get("/api/metrics/workspace/ws-1").json()

    assert {"sms", "email", "timestamp", "workspaceRateLimits"} <= set(metrics)
    for channel in ("sms", "email"):
        assert set(metrics[channel]) >= SEED_001_FIELDS | SEED_002_FIELDS
    assert set(metrics["sms"]["workspaces"]["ws-1"]) == {
        "total",
        "success",
        "failed",
        "rateLimited",
    }
    assert set(workspace) == {"workspaceId", "sms", "email", "timestamp"}
    assert workspace["workspaceId"] == "ws-1"
    assert set(workspace["sms"]) == {"count", "lastExceeded", "details"}
    assert workspace["sms"]["count"] == 3
    assert len(workspace["sms"]["details"]) == 3
    detail = workspace["sms"]["details"][0]
    assert set(detail) == {"timestamp", "batchSize", "errorMessage"}
    assert "429" in detail["errorMessage"]
    assert workspace["email"] == {"count": 0, "lastExceeded": None, "details": []}


def test_prometheus_text_parses_and_matches_the_json(
    http: httpx.Client, mixed: dict[str, dict[str, int]]
) -> None:
    text = http.get("/metrics").text

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("queue_services_jobs_total", (("channel", "sms"), ("outcome", "sent")))] == 45
    assert samples[("queue_services_jobs_total", (("channel", "sms"), ("outcome", "failed")))] == 5
    assert samples[("queue_services_retries_total", (("channel", "sms"),))] == 3
    assert samples[("queue_services_provider_rate_limited_total", (("channel", "sms"),))] == 3
    batches = http.get("/api/metrics").json()["sms"]["batchesProcessed"]
    key = ("queue_services_batch_duration_seconds_count", (("channel", "sms"),))
    assert samples[key] == batches
    depth = ("queue_services_queue_depth", (("channel", "email"), ("state", "scheduled")))
    assert samples[depth] == 1


def test_reset_one_workspace_then_everything(
    http: httpx.Client, mixed: dict[str, dict[str, int]]
) -> None:
    one = http.post("/api/metrics/reset", json={"type": "sms", "workspaceId": "ws-1"})
    after_one = http.get("/api/metrics").json()

    assert one.json() == {"success": True, "type": "sms", "workspaceId": "ws-1"}
    assert "ws-1" not in after_one["sms"]["workspaces"]
    assert after_one["sms"]["workspaces"]["ws-2"]["total"] == 13
    assert http.get("/api/metrics/workspace/ws-1").json()["sms"]["count"] == 0

    http.post("/api/metrics/reset", json={})
    after_all = http.get("/api/metrics").json()

    assert after_all["sms"]["total"] == 0
    assert after_all["sms"]["workspaces"] == {}
    assert after_all["sms"]["lastProcessedTime"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [({"type": "fax"}, "type"), ({"workspaceId": "a b"}, "workspaceId"), ({"all": True}, "all")],
)
def test_reset_rejects_bad_bodies(http: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = http.post("/api/metrics/reset", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_metrics_of_an_empty_system(http: httpx.Client) -> None:
    metrics = http.get("/api/metrics").json()

    assert metrics["sms"]["total"] == 0
    assert metrics["sms"]["successRate"] == 0.0
    assert metrics["workspaceRateLimits"] == {}
    assert http.get("/api/metrics/workspace/nobody").json()["sms"]["count"] == 0
    assert http.get("/api/metrics/workspace/bad%20id").status_code == 404


def test_the_sdk_reads_checks_and_resets_rate_limits(
    api_url: str, mixed: dict[str, dict[str, int]]
) -> None:
    from queue_services import QueueService

    with QueueService(base_url=api_url, api_key=ADMIN_KEY) as queue:
        metrics = queue.get_metrics()
        busy = queue.check_workspace_rate_limits("ws-1")
        calm = queue.check_workspace_rate_limits("ws-2")
        details = queue.get_workspace_rate_limits("ws-1")
        queue.reset_metrics(channel="sms", workspace_id="ws-1")
        after = queue.check_workspace_rate_limits("ws-1")

    assert metrics.sms.total == metrics.sms.success + metrics.sms.failed == 50
    assert metrics.sms.workspaces["ws-1"].rate_limited == 3
    assert metrics.workspace_rate_limits["ws-1"]["sms"].count == 3  # type: ignore[index]
    assert (busy.limited, busy.sms_count, busy.email_count) == (True, 3, 0)
    assert busy.last_exceeded is not None
    assert (calm.limited, calm.sms_count) == (False, 0)
    assert len(details.sms.details) == 3
    assert details.sms.details[0].batch_size >= 1
    assert after.limited is False
