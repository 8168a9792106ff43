"""Schemathesis against the server's own /openapi.json, over real HTTP.

For every documented operation, Hypothesis generates requests from the schema, both valid
(positive) and invalid (negative) ones, and sends them with an admin key to the session's server.
Every answer is checked by all of Schemathesis's checks: never a 5xx; status codes, content type,
headers and body as documented; invalid requests refused, valid ones accepted; no answer without
the key.

Two things the document cannot say are handled here, each named:

* rules JSON Schema cannot express (a date at most 366 days ahead, metadata bytes and depth, SMS
  segments, which depend on the text's encoding, integers within 64 bits, email-validator's
  reserved domains, cursors only this API makes) are not generated as "valid" requests; the
  hostile-input table and the route tests check them;
* a bulk request answers 200 with a result per item, so an invalid *item* is reported in the
  answer rather than refused with a 4xx: the "invalid data is refused" check is off for the bulk
  operations' negative cases (their 200 answers are still checked against the schema).

Bounded: `FUZZ_EXAMPLES` examples per operation and mode (about 3,300 requests, under a minute
here). Set ``QUEUE_SERVICES_FUZZ_EXAMPLES`` to run longer locally.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis as redis_lib
import schemathesis
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import ignored_auth, negative_data_rejection

from queue_services._limits import MAX_METADATA_DEPTH, nesting_depth
from queue_services_server.api.openapi import build_openapi
from queue_services_server.api.sms_encoding import segments
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS

FUZZ_EXAMPLES = int(os.environ.get("QUEUE_SERVICES_FUZZ_EXAMPLES", "150"))
#: The same examples every run (CI must not turn red by luck); QUEUE_SERVICES_FUZZ_RANDOM=1
#: explores new ones locally.
DERANDOMIZE = os.environ.get("QUEUE_SERVICES_FUZZ_RANDOM") != "1"

SETTINGS = Settings()
_DOCUMENTED = [
    result.ok()
    for result in schemathesis.openapi.from_dict(build_openapi(SETTINGS)).get_all_operations()
]
#: (operation, mode) pairs: invalid cases only where an input can be invalid (a body or a query
#: parameter; a path parameter is any string, and the key comes from the configuration).
CASES = [
    (operation.label, mode)
    for operation in _DOCUMENTED
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or operation.body
    or any(parameter.location.value == "query" for parameter in operation.iter_parameters())
]


def _within_unwritten_rules(case: schemathesis.Case) -> bool:
    """Whether a generated request also keeps the rules the schema cannot write down."""
    if "cursor" in (case.query or {}):
        return False
    body = case.body
    if not isinstance(body, dict | list):
        return True  # no JSON body (GET, DELETE)
    try:
        orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits: the server answers 400, invalid JSON for it
        return False
    items = body.get("messages") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else [body]:
        if not isinstance(item, dict):
            continue
        send_at = item.get("sendAt")
        if isinstance(send_at, str):
            try:
                moment = datetime.fromisoformat(send_at.replace("Z", "+00:00"))
            except ValueError:
                return False
            if moment.tzinfo is None or moment > datetime.now(UTC) + timedelta(days=365):
                return False
        metadata = item.get("metadata")
        if metadata is not None and (
            len(orjson.dumps(metadata)) > SETTINGS.max_metadata_bytes
            or nesting_depth(metadata) > MAX_METADATA_DEPTH
        ):
            return False
        to = item.get("to")
        if isinstance(to, str):
            try:
                validate_email(to, check_deliverability=False)
            except EmailNotValidError:
                return False
        message = item.get("message")
        if isinstance(message, str) and segments(message)[1] > SETTINGS.max_sms_segments:
            return False
    return True


#: Status codes of every fuzzed answer, by operation and mode (reported at the end).
OUTCOMES: dict[str, Counter[int]] = {}


@pytest.fixture(scope="module")
def served_schema(api_url: str) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    # The key as configuration, not as a per-call header: Schemathesis then leaves the
    # Authorization header alone instead of generating (and overriding) values for it.
    loaded.config.update(base_url=api_url, headers=ADMIN_HEADERS)
    return loaded


@pytest.mark.parametrize(
    ("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES]
)
def test_the_api_matches_its_openapi_document(
    served_schema: schemathesis.BaseSchema,
    redis: redis_lib.Redis,
    label: str,
    mode: GenerationMode,
) -> None:
    operation = next(
        result.ok() for result in served_schema.get_all_operations() if result.ok().label == label
    )
    strategy = operation.as_strategy(generation_mode=mode)
    # The key is sent from the configuration (see `served_schema`), which Schemathesis's own
    # "ignored auth" probe would send too; requests without a key or with a wrong one are
    # tested route by route in tests/server/test_api_keys.py instead.
    excluded = [ignored_auth]
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.filter(_within_unwritten_rules)
    elif label.endswith("/bulk"):
        excluded.append(negative_data_rejection)
    outcomes = OUTCOMES.setdefault(f"{label} ({mode.value})", Counter())

    @given(case=strategy, flush=st.booleans())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=DERANDOMIZE,
        database=None,
    )
    def check(case: schemathesis.Case, flush: bool) -> None:
        if flush:
            redis.flushall()  # sometimes an empty store, sometimes one the earlier cases filled
        response = case.call_and_validate(excluded_checks=excluded)
        outcomes[response.status_code] += 1

    check()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    total = sum(sum(counts.values()) for counts in OUTCOMES.values())
    by_status = sum(OUTCOMES.values(), Counter())
    print(f"\nfuzzed requests: {total}; answers by status: {dict(sorted(by_status.items()))}")
