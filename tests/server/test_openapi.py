"""GET /openapi.json describes every route the app serves."""

from __future__ import annotations

import re

import httpx
from starlette.routing import Route

from queue_services_server.api.app import create_app
from queue_services_server.settings import Settings


def test_openapi_documents_every_route_and_method(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))

    served = {
        (
            re.sub(
                r"\{(\w+)_id(:str)?\}",
                lambda match: "{" + match.group(1) + "Id}",
                route.path,
            ),
            method.lower(),
        )
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert documented | {("/openapi.json", "get")} == served


def test_openapi_schemas_carry_the_configured_limits(http: httpx.Client) -> None:
    schemas = http.get("/openapi.json").json()["components"]["schemas"]

    delay = schemas["SmsMessage"]["properties"]["delay"]["anyOf"][0]
    assert delay["maximum"] == Settings().max_delay_ms
    assert schemas["SmsMessage"]["additionalProperties"] is False
    assert set(schemas["SmsMessage"]["required"]) == {"phoneNumber", "message", "workspaceId"}
    job = schemas["JobAnswer"]["properties"]
    assert job["scheduledFor"] == {"format": "date-time", "title": "Scheduledfor", "type": "string"}
