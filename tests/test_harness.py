"""The tests' own harness (tests/harness.py): waiting returns what the condition found, or fails
as an assertion with its message; a served app answers until its block ends."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.harness import WaitTimeout, serving, wait_until, wait_until_async


def test_wait_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, [], 0, ["found"]])

    assert wait_until(lambda: next(answers), timeout_s=5, interval_s=0) == ["found"]


def test_wait_until_fails_as_an_assertion_with_its_message_after_the_timeout() -> None:
    asked = itertools.count()
    started = time.monotonic()

    with pytest.raises(AssertionError, match=r"^never there, after \d+ asks \(waited 0.2 s\)$"):
        wait_until(
            lambda: next(asked) < 0,
            timeout_s=0.2,
            interval_s=0.01,
            message=lambda: f"never there, after {next(asked)} asks",
        )

    assert time.monotonic() - started >= 0.2
    assert issubclass(WaitTimeout, AssertionError)


def test_wait_until_lets_the_conditions_own_error_through_at_once() -> None:
    def broken() -> bool:
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(broken, timeout_s=60)


async def test_wait_until_async_takes_async_and_plain_conditions() -> None:
    answers = iter([False, False, "done"])

    async def asked() -> str | bool:
        return next(answers)

    assert await wait_until_async(asked, timeout_s=5, interval_s=0) == "done"
    assert await wait_until_async(lambda: 42, timeout_s=5) == 42
    with pytest.raises(WaitTimeout, match="nothing"):
        await wait_until_async(lambda: None, timeout_s=0.05, interval_s=0.01, message="nothing")


def test_serving_answers_until_its_block_ends() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))])

    with serving(app) as url:
        assert httpx.get(url).text == "hello"

    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=1)
