"""API keys: made, listed and revoked over the API and the CLI, stored hashed, rate limited, and
what a workspace key can reach (the isolation table)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis as redis_lib

from queue_services_server.cli import main
from queue_services_server.dev import EmbeddedRedis
from queue_services_server.settings import Settings
from tests.harness import ADMIN_HEADERS, ADMIN_KEY, running_server

KEY_FORMAT = re.compile(r"^qsk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}$")


def sms(workspace: str) -> dict[str, object]:
    return {"phoneNumber": "+14155550123", "message": "Hi", "workspaceId": workspace}


def email(workspace: str) -> dict[str, object]:
    return {"to": "a@example.com", "subject": "S", "text": "Hi", "workspaceId": workspace}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(http: httpx.Client, **body: object) -> str:
    answer = http.post("/api/keys", json=body)
    assert answer.status_code == 201, answer.text
    key: str = answer.json()["key"]
    return key


# ---- making, listing, revoking ---------------------------------------------------------------


def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    http: httpx.Client, redis: redis_lib.Redis
) -> None:
    created = http.post("/api/keys", json={"workspaceId": "ws-a", "name": "crm prod"})

    assert created.status_code == 201
    body = created.json()
    assert KEY_FORMAT.match(body["key"])
    assert body["id"] in body["key"]
    assert (body["admin"], body["workspaceId"], body["name"]) == (False, "ws-a", "crm prod")
    secret = body["key"].rsplit("_", 1)[1]
    stored = b"".join(
        redis.dump(name) or b"" for name in redis.keys("*")
    )  # every byte Redis holds for us
    assert secret.encode() not in stored
    listed = http.get("/api/keys").json()["keys"]
    assert [(k["id"], k["workspaceId"], k["admin"]) for k in listed] == [
        (body["id"], "ws-a", False)
    ]
    assert "key" not in listed[0]
    assert "hash" not in listed[0]


def test_a_revoked_key_is_refused_at_once(http: httpx.Client) -> None:
    key = make_key(http, workspaceId="ws-a")
    key_id = key.split("_")[1]
    assert http.get("/api/jobs", headers=bearer(key)).status_code == 200

    revoked = http.delete(f"/api/keys/{key_id}")
    after = http.get("/api/jobs", headers=bearer(key))

    assert revoked.status_code == 200
    assert revoked.json() == {"success": True, "id": key_id, "revoked": True}
    assert after.status_code == 401
    assert "revoked" in after.json()["error"]["message"]
    assert http.delete(f"/api/keys/{key_id}").status_code == 404
    assert http.get("/api/keys").json()["keys"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"admin": False}, {"admin": True, "workspaceId": "ws-a"}, {"workspaceId": "bad id"},
     {"workspaceId": "ws-a", "scope": "all"}, {"admin": "yes"}],
)  # fmt: skip
def test_a_key_request_must_name_exactly_one_scope(http: httpx.Client, body: dict) -> None:
    answer = http.post("/api/keys", json=body)

    assert answer.status_code == 422
    assert http.get("/api/keys").json()["keys"] == []


def test_an_admin_key_made_through_the_api_is_an_admin(http: httpx.Client) -> None:
    admin = make_key(http, admin=True)

    assert http.get("/api/metrics", headers=bearer(admin)).status_code == 200
    assert http.post("/api/keys", json={"admin": True}, headers=bearer(admin)).status_code == 201


@pytest.mark.parametrize(
    "token",
    [
        "qsk_",
        "qsk_aaaaaaaaaaaa_" + "A" * 43,  # well formed, unknown id
        "qsk_aaaaaaaaaaaa_" + "A" * 42,  # too short
        "qsk_AAAAAAAAAAAA_" + "A" * 43,  # id outside the alphabet
        "x" * 5000,
    ],
)
def test_unknown_and_malformed_keys_are_401(http: httpx.Client, token: str) -> None:
    answer = http.get("/api/jobs", params={"workspaceId": "ws-a"}, headers=bearer(token))

    assert answer.status_code == 401


def test_a_known_id_with_the_wrong_secret_is_401(http: httpx.Client) -> None:
    key = make_key(http, workspaceId="ws-a")
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")

    answer = http.get("/api/jobs", headers=bearer(forged))

    assert answer.status_code == 401


def test_key_material_is_never_logged(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = make_key(http, workspaceId="ws-a")
    http.post("/api/schedule-sms", json=sms("ws-a"), headers=bearer(key))
    http.get("/api/jobs", headers=bearer(key + "x"))
    http.delete(f"/api/keys/{key.split('_')[1]}")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "api key" in logged  # creation and revocation are logged, by id
    # the secret is everything after "qsk_<id>_" (it may hold "_" itself)
    secret = key.split("_", 2)[2]
    assert len(secret) >= 32
    assert secret not in logged
    assert ADMIN_KEY not in logged


# ---- the command line ------------------------------------------------------------------------


def test_keys_command_creates_lists_and_revokes(
    redis_server: EmbeddedRedis,
    redis: redis_lib.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    # main() sets up logging on the root logger; put it back afterwards for the other tests
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    assert main(["keys", "create", "--workspace", "ws-a", "--name", "crm"]) == 0
    key = capsys.readouterr().out.splitlines()[-1]
    assert KEY_FORMAT.match(key)
    assert main(["keys", "create", "--admin"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    key_id = key.split("_")[1]
    assert f"{key_id}  workspace ws-a" in listing
    assert "crm" in listing
    assert "admin" in listing
    assert key.rsplit("_", 1)[1] not in listing
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "revoke", key_id]) == 1
    assert main(["keys", "create", "--workspace", "not ok"]) == 2
    assert "letters, digits" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    assert key_id not in capsys.readouterr().out


def test_keys_command_needs_redis_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err


# ---- per-key request rate --------------------------------------------------------------------


@pytest.fixture
def limited_api(redis_server: EmbeddedRedis, redis: redis_lib.Redis) -> Iterator[httpx.Client]:
    settings = Settings(
        redis_url=redis_server.url, admin_key=ADMIN_KEY, api_rate_limit=5, api_rate_window_ms=60_000
    )
    with running_server(settings) as url, httpx.Client(base_url=url, headers=ADMIN_HEADERS) as http:
        yield http


def test_each_key_has_its_own_request_rate(limited_api: httpx.Client) -> None:
    key = make_key(limited_api, workspaceId="ws-a")  # the admin's first request

    answers = [limited_api.get("/api/jobs", headers=bearer(key)) for _ in range(6)]
    admin = [limited_api.get("/api/keys") for _ in range(5)]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # the admin key's own count is separate: 1 + 4 allowed, the 6th refused
    assert [a.status_code for a in admin] == [200] * 4 + [429]
    assert limited_api.get("/health").status_code == 200  # not an /api/ route


# ---- isolation: what another workspace's key reaches -----------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request a workspace key makes against workspace A's things."""

    name: str
    send: Callable[[httpx.Client, dict[str, str]], httpx.Response]
    #: the status with B's key (A's resource) ...
    other: int
    #: ... and with A's own key (the same request must work there: the probe is not vacuous).
    own: int


def _job(state: dict[str, str]) -> str:
    return state["job"]


PROBES = [
    Probe("GET /api/jobs/{id}", lambda c, s: c.get(f"/api/jobs/{_job(s)}"), 404, 200),
    Probe("DELETE /api/jobs/{id}", lambda c, s: c.delete(f"/api/jobs/{_job(s)}"), 404, 200),
    Probe("GET /api/jobs?workspaceId=A",
          lambda c, s: c.get("/api/jobs", params={"workspaceId": "ws-a"}), 404, 200),
    Probe("POST /api/jobs/lookup (A's id)",
          lambda c, s: c.post("/api/jobs/lookup", json={"jobIds": [_job(s)]}), 200, 200),
    Probe("POST /api/jobs/cancel (A's id)",
          lambda c, s: c.post("/api/jobs/cancel", json={"jobIds": [_job(s)]}), 200, 200),
    Probe("POST /api/jobs/cancel (A's campaign)",
          lambda c, s: c.post("/api/jobs/cancel", json={"workspaceId": "ws-a", "campaignId": "c"}),
          404, 200),
    Probe("GET /api/metrics/workspace/A",
          lambda c, s: c.get("/api/metrics/workspace/ws-a"), 404, 200),
    Probe("GET /api/workspaces/A/limits",
          lambda c, s: c.get("/api/workspaces/ws-a/limits"), 404, 200),
    Probe("POST /api/schedule-sms (A in body)",
          lambda c, s: c.post("/api/schedule-sms", json=sms("ws-a")), 403, 201),
    Probe("POST /api/schedule-email (A in body)",
          lambda c, s: c.post("/api/schedule-email", json=email("ws-a")), 403, 201),
    Probe("POST /api/schedule-sms/bulk (A in body)",
          lambda c, s: c.post("/api/schedule-sms/bulk", json={"messages": [sms("ws-a")]}),
          403, 200),
    Probe("POST /api/schedule-email/bulk (A in body)",
          lambda c, s: c.post("/api/schedule-email/bulk", json={"messages": [email("ws-a")]}),
          403, 200),
]  # fmt: skip

ADMIN_ONLY = [
    ("GET", "/api/metrics", None),
    ("POST", "/api/metrics/reset", {}),
    ("POST", "/api/metrics/reset", {"workspaceId": "ws-a"}),
    ("GET", "/api/outbox", None),
    ("GET", "/api/keys", None),
    ("POST", "/api/keys", {"admin": True}),
    ("POST", "/api/keys", {"workspaceId": "ws-a"}),
    ("DELETE", "/api/keys/abc", None),
    ("PUT", "/api/workspaces/ws-a/limits", {"sms": 5}),  # even the key's own workspace
    ("PUT", "/api/workspaces/ws-b/limits", {"sms": 5}),
]


@pytest.fixture
def two_workspaces(http: httpx.Client) -> dict[str, str]:
    """A job of workspace A (made by A's key), and keys of A and B."""
    key_a = make_key(http, workspaceId="ws-a")
    key_b = make_key(http, workspaceId="ws-b")
    job = http.post("/api/schedule-sms", json=sms("ws-a"), headers=bearer(key_a)).json()["jobId"]
    return {"a": key_a, "b": key_b, "job": job}


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_another_workspaces_key_gets_404_or_403_and_learns_nothing(
    api_url: str, http: httpx.Client, two_workspaces: dict[str, str], probe: Probe
) -> None:
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["b"])) as as_b:
        answer = probe.send(as_b, two_workspaces)
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["a"])) as as_a:
        own = probe.send(as_a, two_workspaces)

    assert answer.status_code == probe.other, answer.text
    assert own.status_code == probe.own, own.text
    if probe.other == 404:
        # the same answer as for a job or workspace that does not exist
        assert answer.json()["error"]["code"] == "not_found"
        assert "ws-a" not in answer.text or "no workspace" in answer.text
    if probe.name.startswith("POST /api/jobs/lookup"):
        assert answer.json() == {"jobs": [], "missing": [two_workspaces["job"]]}
    if probe.name == "POST /api/jobs/cancel (A's id)":
        assert answer.json()["notFound"] == 1
        assert own.json()["cancelled"] == 1  # B's attempt left it to be cancelled by A
    # and A's job is untouched by B's attempt (a 200 for A's cancel comes after B's 404)
    assert own.status_code < 300


def test_a_bulk_request_with_one_item_of_another_workspace_stores_nothing(
    api_url: str, http: httpx.Client, two_workspaces: dict[str, str]
) -> None:
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["b"])) as as_b:
        answer = as_b.post("/api/schedule-sms/bulk", json={"messages": [sms("ws-b"), sms("ws-a")]})
        listed = as_b.get("/api/jobs").json()["jobs"]

    assert answer.status_code == 403
    assert answer.json()["error"]["field"] == "workspaceId"
    assert listed == []


def test_another_workspaces_key_cannot_tell_a_real_job_from_a_made_up_one(
    api_url: str, two_workspaces: dict[str, str]
) -> None:
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["b"])) as as_b:
        real = as_b.get(f"/api/jobs/{two_workspaces['job']}")
        made_up = as_b.get("/api/jobs/01JZZZZZZZZZZZZZZZZZZZZZZZ")

    assert (real.status_code, real.json()["error"]["code"]) == (404, "not_found")
    assert (made_up.status_code, made_up.json()["error"]["code"]) == (404, "not_found")


def test_a_workspace_key_lists_its_own_workspace_without_naming_it(
    api_url: str, two_workspaces: dict[str, str]
) -> None:
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["a"])) as as_a:
        jobs = as_a.get("/api/jobs").json()["jobs"]

    assert [job["jobId"] for job in jobs] == [two_workspaces["job"]]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_a_workspace_key_cannot_use_admin_routes(
    api_url: str, two_workspaces: dict[str, str], method: str, path: str, body: dict | None
) -> None:
    with httpx.Client(base_url=api_url, headers=bearer(two_workspaces["a"])) as as_a:
        answer = as_a.request(method, path, json=body)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "admin key" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/jobs"), ("POST", "/api/schedule-sms"), ("GET", "/api/keys"),
     ("GET", "/api/metrics"), ("GET", "/api/outbox"), ("POST", "/api/jobs/lookup"),
     ("POST", "/api/jobs/cancel"), ("DELETE", "/api/jobs/x"), ("GET", "/api/nothing-here")],
)  # fmt: skip
def test_every_api_route_needs_a_key(api_url: str, method: str, path: str) -> None:
    answer = httpx.request(method, f"{api_url}{path}")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
