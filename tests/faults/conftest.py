"""Fixtures of the fault tests, and their `faults` marker (`pytest -m "not faults"` leaves them
out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receiver import Receiver, running_receiver

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder `faults`, whatever module it is in. (The hook sees the
    whole session's items, hence the path check.)"""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint standing in for the provider, taking every message."""
    with running_receiver() as running:
        yield running
