"""The benchmark harness's own arithmetic (tests/benchmarks/run.py): ratios read "times better
than the peer" whichever way a figure points, and windows count what they should."""

from __future__ import annotations

import math

from tests.benchmarks.run import number, ratio
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
