"""The OpenAPI 3.1 document of the API, built from the schema models (served at /openapi.json)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from queue_services._limits import IDENTIFIER_PATTERN, MAX_IDENTIFIER_CHARS
from queue_services_server.api import schemas
from queue_services_server.api.routes.jobs import ListQuery
from queue_services_server.settings import Settings

_REF = "#/components/schemas/{model}"


class BulkSmsRequest(BaseModel):
    """Body of ``POST /api/schedule-sms/bulk``."""

    model_config = ConfigDict(extra="forbid")

    messages: list[schemas.SmsMessage] = Field(min_length=1)


class BulkEmailRequest(BaseModel):
    """Body of ``POST /api/schedule-email/bulk``."""

    model_config = ConfigDict(extra="forbid")

    messages: list[schemas.EmailMessage] = Field(min_length=1)


_REQUESTS: list[type[BaseModel]] = [
    schemas.ResetRequest,
    schemas.LookupRequest,
    schemas.CancelManyRequest,
    schemas.SmsMessage,
    schemas.EmailMessage,
    BulkSmsRequest,
    BulkEmailRequest,
    schemas.KeyCreateRequest,
    schemas.LimitsRequest,
]
_ANSWERS: list[type[BaseModel]] = [
    schemas.ScheduleAnswer,
    schemas.BulkAnswer,
    schemas.JobAnswer,
    schemas.JobListAnswer,
    schemas.CancelAnswer,
    schemas.CancelManyAnswer,
    schemas.LookupAnswer,
    schemas.ErrorAnswer,
    schemas.OutboxAnswer,
    schemas.MetricsAnswer,
    schemas.WorkspaceMetricsAnswer,
    schemas.WorkspaceLimitsAnswer,
    schemas.ResetAnswer,
    schemas.HealthAnswer,
    schemas.ReadyAnswer,
    schemas.KeyCreatedAnswer,
    schemas.KeyListAnswer,
    schemas.KeyRevokedAnswer,
]

_ERROR_STATUSES = {
    "400": "The body is not a JSON object.",
    "401": "The API key is missing, malformed, unknown or revoked.",
    "403": "The key may not do this: an admin route, or another workspace named in the body.",
    "404": "No such job, workspace or key (or one of another workspace).",
    "409": "Not cancellable, or an Idempotency-Key reused with another body.",
    "413": "The body is too large.",
    "415": "The body is not application/json.",
    "422": "A field is missing, of the wrong type or out of range.",
    "429": "The key made more requests than its rate limit; retry after Retry-After seconds.",
    "507": "The workspace's backlog is full (MAX_WORKSPACE_BACKLOG).",
    "503": "Redis is unavailable; retry after Retry-After seconds.",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: _json(schemas.ErrorAnswer, _ERROR_STATUSES[status]) for status in statuses}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the request safe to retry: the same key and body return the first job.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}
_JOB_ID = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
#: A workspace id in a path, with its rule: a PUT answers 422 to one that breaks it.
_WORKSPACE_ID = {
    "name": "workspaceId",
    "in": "path",
    "required": True,
    "schema": {
        "type": "string",
        "pattern": f"^{IDENTIFIER_PATTERN}$",
        "maxLength": MAX_IDENTIFIER_CHARS,
    },
}


def _post(model: type[BaseModel], summary: str, answers: dict[str, Any]) -> dict[str, Any]:
    """A scheduling POST: its body `model`, the Idempotency-Key header, and its answers."""
    return {
        "post": {
            "summary": summary,
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(model)}},
            },
            "responses": answers,
        }
    }


def _schedule(model: type[BaseModel], summary: str) -> dict[str, Any]:
    return _post(
        model,
        summary,
        {
            "201": _json(schemas.ScheduleAnswer, "Scheduled."),
            "200": _json(schemas.ScheduleAnswer, "An earlier job with this Idempotency-Key."),
            **_errors("400", "403", "409", "413", "415", "422", "507"),
        },
    )


def _bulk(model: type[BaseModel], summary: str) -> dict[str, Any]:
    return _post(
        model,
        summary,
        {
            "200": _json(schemas.BulkAnswer, "One result per message, in order."),
            **_errors("400", "403", "413", "415", "422", "507"),
        },
    )


def _list_parameters() -> list[dict[str, Any]]:
    schema = ListQuery.model_json_schema(by_alias=True)
    # Required as documented (an admin key must name the workspace); a workspace key may leave
    # it out to list its own, which docs/security.md says.
    required = {*schema.get("required", []), "workspaceId"}
    parameters = []
    for name, prop in schema["properties"].items():
        if name == "workspaceId":
            prop = next(option for option in prop["anyOf"] if option.get("type") == "string")
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": prop}
        )
    return parameters


def _callback_url_schema(hosts: frozenset[str]) -> dict[str, Any]:
    """callbackUrl as this server accepts it: http(s) to an allowed host, or nothing at all."""
    if not hosts:
        return {"type": "null", "description": "No callback hosts are allowed here "
                "(CALLBACK_ALLOWED_HOSTS is empty)."}  # fmt: skip
    names = "|".join(re.escape(host) for host in sorted(hosts))
    url = {
        "type": "string",
        "maxLength": 2000,
        "pattern": f"^https?://({names})(:[0-9]{{1,5}})?([/?#][\\x21-\\x7e]*)?$",
        "description": "Where to POST this job's status changes; the host must be one of "
        "CALLBACK_ALLOWED_HOSTS.",
    }
    return {"anyOf": [url, {"type": "null"}]}


def _cross_field_rules(components: dict[str, Any], settings: Settings) -> None:
    """The rules that involve several fields, or the server's settings, written into the schemas
    (pydantic checks them in validators, which JSON Schema cannot see)."""
    for name in ("SmsMessage", "EmailMessage"):
        message = components[name]
        message["properties"]["callbackUrl"] = _callback_url_schema(settings.callback_hosts)
        message["not"] = {
            "required": ["delay", "sendAt"],
            "properties": {"delay": {"type": "number"}, "sendAt": {"type": "string"}},
        }
    components["EmailMessage"]["anyOf"] = [
        {"required": [body], "properties": {body: {"type": "string"}}} for body in ("text", "html")
    ]
    components["KeyCreateRequest"]["oneOf"] = [
        {
            "required": ["workspaceId"],
            "properties": {"workspaceId": {"type": "string"}, "admin": {"const": False}},
        },
        {
            "required": ["admin"],
            "properties": {"admin": {"const": True}, "workspaceId": {"type": "null"}},
        },
    ]

    components["CancelManyRequest"]["oneOf"] = [
        {
            "required": ["jobIds"],
            "properties": {
                "jobIds": {"type": "array"},
                "workspaceId": {"type": "null"},
                "campaignId": {"type": "null"},
            },
        },
        {
            "required": ["workspaceId", "campaignId"],
            "properties": {
                "jobIds": {"type": "null"},
                "workspaceId": {"type": "string"},
                "campaignId": {"type": "string"},
            },
        },
    ]


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document, with the limits of `settings` written into the schemas."""
    _, requests = models_json_schema(
        [(model, "validation") for model in _REQUESTS], ref_template=_REF
    )
    _, answers = models_json_schema(
        [(model, "serialization") for model in _ANSWERS], ref_template=_REF
    )
    components = {**requests.get("$defs", {}), **answers.get("$defs", {})}
    for name in ("SmsMessage", "EmailMessage"):
        delay = components[name]["properties"]["delay"]
        delay["anyOf"][0].update({"minimum": 0, "maximum": settings.max_delay_ms})
    _cross_field_rules(components, settings)
    paths = {
        "/api/schedule-sms": _schedule(schemas.SmsMessage, "Schedule an SMS"),
        "/api/schedule-email": _schedule(schemas.EmailMessage, "Schedule an email"),
        "/api/schedule-sms/bulk": _bulk(BulkSmsRequest, "Schedule many SMS"),
        "/api/schedule-email/bulk": _bulk(BulkEmailRequest, "Schedule many emails"),
        "/api/jobs": {
            "get": {
                "summary": "List a workspace's jobs, newest first",
                "parameters": _list_parameters(),
                "responses": {
                    "200": _json(schemas.JobListAnswer, "A page of jobs."),
                    **_errors("404", "422"),
                },
            }
        },
        "/api/jobs/lookup": {
            "post": {
                "summary": "Get up to 500 jobs at once",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schemas.LookupRequest)}},
                },
                "responses": {
                    "200": _json(schemas.LookupAnswer, "The jobs found and the ids not found."),
                    **_errors("400", "401", "413", "415", "422", "503"),
                },
            }
        },
        "/api/jobs/cancel": {
            "post": {
                "summary": "Cancel up to 10,000 jobs, or every job of a campaign",
                "description": (
                    'Either {"jobIds": [...]} or {"workspaceId": ..., "campaignId": ...} (the '
                    "jobs whose metadata.campaignId it is). Jobs not yet given their send slot "
                    "are cancelled and never sent; the answer counts each outcome."
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schemas.CancelManyRequest)}},
                },
                "responses": {
                    "200": _json(schemas.CancelManyAnswer, "How many jobs had each outcome."),
                    **_errors("400", "401", "404", "413", "415", "422", "503"),
                },
            }
        },
        "/api/jobs/{jobId}": {
            "get": {
                "summary": "Get a job",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json(schemas.JobAnswer, "The job."),
                    **_errors("401", "404", "503"),
                },
            },
            "delete": {
                "summary": "Cancel a job not yet on its way to the provider",
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _json(schemas.CancelAnswer, "Cancelled (or already cancelled)."),
                    **_errors("401", "404", "409", "503"),
                },
            },
        },
        "/api/outbox": {
            "get": {
                "summary": "Messages the dev outbox provider kept, newest first",
                "parameters": [
                    {
                        "name": "channel",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["sms", "email"], "default": "sms"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                    },
                ],
                "responses": {
                    "200": _json(schemas.OutboxAnswer, "The outbox."),
                    **_errors("403", "422"),
                },
            }
        },
        "/api/metrics": {
            "get": {
                "summary": "Delivery figures per channel and workspace, and queue depths",
                "responses": {
                    "200": _json(schemas.MetricsAnswer, "The figures."),
                    **_errors("403"),
                },
            }
        },
        "/api/metrics/workspace/{workspaceId}": {
            "get": {
                "summary": "A workspace's provider rate-limit hits",
                "parameters": [
                    {
                        "name": "workspaceId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(schemas.WorkspaceMetricsAnswer, "The hits, newest first."),
                    **_errors("401", "404", "503"),
                },
            }
        },
        "/api/metrics/reset": {
            "post": {
                "summary": "Reset figures of a channel, a workspace, both, or all",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schemas.ResetRequest)}},
                },
                "responses": {
                    "200": _json(schemas.ResetAnswer, "Reset."),
                    **_errors("400", "403", "413", "415", "422"),
                },
            }
        },
        "/api/workspaces/{workspaceId}/limits": {
            "get": {
                "summary": "A workspace's limits per channel and what it uses of each now",
                "parameters": [_WORKSPACE_ID],
                "responses": {
                    "200": _json(schemas.WorkspaceLimitsAnswer, "Its limits and usage."),
                    **_errors("404"),
                },
            },
            "put": {
                "summary": "Set or remove a workspace's own limits per channel (admin)",
                "parameters": [_WORKSPACE_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schemas.LimitsRequest)}},
                },
                "responses": {
                    "200": _json(
                        schemas.WorkspaceLimitsAnswer, "Set; its limits and usage after it."
                    ),
                    **_errors("400", "403", "413", "415", "422"),
                },
            },
        },
        "/api/keys": {
            "get": {
                "summary": "List API keys (admin)",
                "responses": {
                    "200": _json(schemas.KeyListAnswer, "Every key, without secrets."),
                    **_errors("403"),
                },
            },
            "post": {
                "summary": "Create an API key (admin); the key is in the answer, once",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(schemas.KeyCreateRequest)}},
                },
                "responses": {
                    "201": _json(schemas.KeyCreatedAnswer, "The new key."),
                    **_errors("400", "403", "413", "415", "422"),
                },
            },
        },
        "/api/keys/{keyId}": {
            "delete": {
                "summary": "Revoke an API key (admin)",
                "parameters": [
                    {"name": "keyId", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json(schemas.KeyRevokedAnswer, "Revoked."),
                    **_errors("403", "404"),
                },
            },
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition",
                "responses": {
                    "200": {
                        "description": "Metrics in the Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness",
                "responses": {"200": _json(schemas.HealthAnswer, "The process serves.")},
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness: Redis reachable",
                "responses": {
                    "200": _json(schemas.ReadyAnswer, "Ready."),
                    "503": _json(schemas.ReadyAnswer, "Redis is unavailable."),
                },
            }
        },
    }
    for path, operations in paths.items():
        if path.startswith("/api/"):
            # Every /api/ operation needs a key, is rate limited per key, and needs Redis.
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
                operation["responses"].update(_errors("401", "429", "503"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "queue-services",
            "version": "0.1.0",
            "description": "Schedule SMS and email; see docs/http-api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
