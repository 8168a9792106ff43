"""The Prometheus exposition of the delivery metrics (``GET /metrics``).

The figures live in Redis, so one scrape of any API server shows what every worker process on
every host did; nothing is kept in one process's memory (no multiprocess directory needed).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from queue_services_server.store.metrics import DURATION_BUCKETS_S, ChannelMetrics


class _Snapshot(Collector):
    def __init__(self, figures: dict[str, ChannelMetrics]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        jobs = CounterMetricFamily(
            "queue_services_jobs",
            "Jobs finished, by channel and outcome (sent or failed).",
            labels=["channel", "outcome"],
        )
        retries = CounterMetricFamily(
            "queue_services_retries",
            "Sends that failed and were scheduled again.",
            labels=["channel"],
        )
        rate_limited = CounterMetricFamily(
            "queue_services_provider_rate_limited",
            "Provider answers that said rate limited (HTTP 429 and the like).",
            labels=["channel"],
        )
        waits = CounterMetricFamily(
            "queue_services_rate_limit_waits",
            "Sends that had to wait for the rate limiter.",
            labels=["channel"],
        )
        depth = GaugeMetricFamily(
            "queue_services_queue_depth",
            "Jobs by state: scheduled (not yet due), due (waiting for their turn), in_flight.",
            labels=["channel", "state"],
        )
        duration = HistogramMetricFamily(
            "queue_services_batch_duration_seconds",
            "Time to send one batch, from taking it to recording it.",
            labels=["channel"],
        )
        for channel, figures in self._figures.items():
            c = figures.counters
            jobs.add_metric([channel, "sent"], c["success"])
            jobs.add_metric([channel, "failed"], c["failed"])
            retries.add_metric([channel], c["retried"])
            rate_limited.add_metric([channel], c["rateLimited"])
            waits.add_metric([channel], c["limiterWaits"])
            depth.add_metric([channel, "scheduled"], figures.depth["scheduled"])
            depth.add_metric([channel, "due"], figures.depth["due"])
            depth.add_metric([channel, "in_flight"], figures.depth["inFlight"])
            cumulative = 0
            buckets = []
            for bound in DURATION_BUCKETS_S:
                cumulative += figures.durations.get(f"le_{bound:g}", 0)
                buckets.append((f"{bound:g}", cumulative))
            buckets.append(("+Inf", cumulative + figures.durations.get("le_inf", 0)))
            duration.add_metric([channel], buckets, sum_value=c["batchMs"] / 1000)
        yield from (jobs, retries, rate_limited, waits, depth, duration)


def exposition(figures: dict[str, ChannelMetrics]) -> tuple[bytes, str]:
    """The text exposition of `figures` and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(figures))
    return generate_latest(registry), CONTENT_TYPE_LATEST
