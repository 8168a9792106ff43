"""The intake benchmark reads wrk's report as wrk writes it (tests/benchmarks/http_intake.py)."""

from __future__ import annotations

from tests.benchmarks.http_intake import parse_wrk

REPORT = """Running 10s test @ http://127.0.0.1:8000/api/schedule-sms
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.63ms    2.10ms  48.20ms   90.12%
    Req/Sec     2.87k   201.33     3.10k    82.00%
  Latency Distribution
     50%    5.21ms
     75%    6.02ms
     90%    7.11ms
     99%   13.40ms
  28690 requests in 10.00s, 9.85MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   2868.52
Transfer/sec:      0.98MB
"""


def test_rate_percentiles_and_failures_are_read_in_their_units() -> None:
    load = parse_wrk(REPORT)
    assert load.requests_per_s == 2868.52
    assert load.p50_ms == 5.21
    assert load.p99_ms == 13.4
    assert load.non_2xx == 12
    slow = parse_wrk(REPORT.replace("13.40ms", "1.20s").replace("5.21ms", "850.00us"))
    assert (slow.p50_ms, slow.p99_ms) == (0.85, 1200.0)
    assert parse_wrk(REPORT.replace("  Non-2xx or 3xx responses: 12\n", "")).non_2xx == 0
