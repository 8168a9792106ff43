"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP endpoint standing in for the provider, taking every message."""
    with running_receiver() as running:
        yield running
