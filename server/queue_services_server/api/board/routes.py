"""The board's pages and actions, served at /admin/queues.

Every page needs an operator logged in with an admin key, and every action is a POST form
carrying the session's CSRF token (`session.py`). Every page is HTML rendered on the server with
its CSS served by the app: no script, no CDN; so an action that needs confirming (cancelling a
campaign) asks on a page of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from queue_services._limits import MAX_CAMPAIGN_ID_CHARS, MAX_IDENTIFIER_CHARS
from queue_services_server import clock
from queue_services_server.api.board.charts import bucketed, line_chart
from queue_services_server.api.board.session import (
    checked_form,
    csrf_token,
    end_session,
    logged_in,
    session_middleware,
    start_session,
)
from queue_services_server.api.routes.jobs import job_answer
from queue_services_server.api.schemas import is_identifier
from queue_services_server.logs import mask
from queue_services_server.settings import Settings
from queue_services_server.store.api_keys import ApiKeyStore
from queue_services_server.store.jobs import CancelOutcome, JobStore
from queue_services_server.store.metrics import SERIES_BUCKET_S, MetricsStore
from queue_services_server.store.operations import ActionOutcome, OperatorStore
from queue_services_server.store.outbox import Outbox
from queue_services_server.store.records import CHANNELS, FINAL_STATUSES, JobRecord

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

#: The board's state names in URLs, and the job status each lists.
STATES = {
    "scheduled": "SCHEDULED",
    "processing": "PROCESSING",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "cancelled": "CANCELLED",
}

#: Jobs per page.
PAGE_SIZE = 50

#: Minutes of history in the charts.
CHART_MINUTES = 30


def _stores(request: Request) -> tuple[JobStore, OperatorStore, MetricsStore]:
    return request.state.store, request.state.operator, request.state.metrics


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _render(request: Request, template: str, **context: Any) -> Response:
    context.update(
        request=request,
        csrf=csrf_token(request),
        logged_in=logged_in(request),
        notice=request.query_params.get("notice"),
        channels=CHANNELS,
        states=STATES,
    )
    return templates.TemplateResponse(request, template, context)


def _back(request: Request, path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(
        f"{request.scope.get('root_path', '')}{path}?{urlencode({'notice': notice})}", 303
    )


def _login_required(request: Request) -> RedirectResponse | None:
    if logged_in(request):
        return None
    return RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303)


# ---- pages -------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    return _render(request, "login.html", error=None)


async def login(request: Request) -> Response:
    admin_key = _settings(request).admin_key
    form = await request.form()
    token = str(form.get("key", "")).strip()
    store: ApiKeyStore = request.state.api_keys
    result = await store.authenticate(
        token,
        bootstrap_key=admin_key.get_secret_value() if admin_key is not None else None,
        limit=0,
        window_ms=1000,
    )
    if result.key is None or not result.key.admin:
        return _render(request, "login.html", error="That key is not a valid admin key.")
    start_session(request, result.key.id)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/", 303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    end_session(request)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/login", 303)


async def overview(request: Request) -> Response:
    if redirect := _login_required(request):
        return redirect
    _, operator, metrics = _stores(request)
    now = clock.now_ms()
    counts = await operator.counts(now)
    figures = await metrics.read(now, series_s=CHART_MINUTES * 60)
    per_point = 30 // SERIES_BUCKET_S  # one chart point per 30 s
    charts = {
        channel: line_chart(
            f"{channel.upper()}: sent, failed, rate limited per 30 s, last {CHART_MINUTES} min",
            bucketed(figures[channel].series, per_point),
        )
        for channel in CHANNELS
    }
    workspaces: dict[str, dict[str, dict[str, int]]] = {}
    for channel in CHANNELS:
        for workspace, values in figures[channel].workspaces.items():
            workspaces.setdefault(workspace, {})[channel] = values
        for workspace, values in figures[channel].rate_limits.items():
            workspaces.setdefault(workspace, {}).setdefault(channel, {})["exceeded"] = values.get(
                "count", 0
            )
    return _render(
        request,
        "overview.html",
        counts=counts,
        figures=figures,
        charts=charts,
        workspaces=sorted(workspaces.items())[:200],
        max_identifier_chars=MAX_IDENTIFIER_CHARS,
        max_campaign_id_chars=MAX_CAMPAIGN_ID_CHARS,
    )


def _matcher(workspace: str, contact: str, text: str) -> Any:
    if not (workspace or contact or text):
        return None
    needle = text.lower()

    def match(record: JobRecord) -> bool:
        if workspace and record.workspace_id != workspace:
            return False
        if contact and record.contact_id != contact:
            return False
        return not needle or needle in record.body.lower()

    return match


async def job_list(request: Request) -> Response:
    if redirect := _login_required(request):
        return redirect
    channel, state = request.path_params["channel"], request.path_params["state"]
    if channel not in CHANNELS or state not in STATES:
        raise HTTPException(404, "no such queue")
    params = request.query_params
    workspace, contact, text = (
        params.get(n, "").strip()[:200] for n in ("workspace", "contact", "q")
    )
    try:
        offset = max(int(params.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    _, operator, _ = _stores(request)
    page = await operator.page(
        channel,
        STATES[state],
        offset=offset,
        limit=PAGE_SIZE,
        match=_matcher(workspace, contact, text),
    )
    filters = {"workspace": workspace, "contact": contact, "q": text}
    return _render(
        request,
        "jobs.html",
        channel=channel,
        state=state,
        page=page,
        rows=[_row(record) for record in page.jobs],
        offset=offset,
        filters=filters,
        next_link=(
            f"?{urlencode({**filters, 'offset': page.next_offset})}"
            if page.next_offset is not None
            else None
        ),
    )


def _row(record: JobRecord) -> dict[str, Any]:
    answer = job_answer(record).model_dump(mode="json")
    recipient = record.payload.get("phoneNumber") or record.payload.get("to") or ""
    answer["recipient"] = mask(str(recipient))
    answer["lastError"] = mask(answer["lastError"]) if answer["lastError"] else None
    return answer


async def job_detail(request: Request) -> Response:
    if redirect := _login_required(request):
        return redirect
    jobs, _, _ = _stores(request)
    record = await jobs.get(request.path_params["job_id"][:64])
    if record is None:
        raise HTTPException(404, "no such job")
    row = _row(record)
    payload = {
        key: mask(str(value)) if key in ("phoneNumber", "to") else value
        for key, value in record.payload.items()
    }
    timeline = [
        ("created", row["createdAt"]),
        ("due", row["scheduledFor"]),
        ("sent", row["sentAt"]),
        (f"last change ({record.status})", row["updatedAt"]),
    ]
    now = clock.now_ms()
    # Taken by a sender but without its send slot yet, a job can still be stopped.
    on_its_way = record.status == "PROCESSING" and await jobs.is_on_its_way(
        record.channel, record.id
    )
    return _render(
        request,
        "job.html",
        job=row,
        payload=payload,
        timeline=[(label, when) for label, when in timeline if when],
        on_its_way=on_its_way,
        campaign=record.campaign_id,
        campaign_cancellable=record.campaign_id is not None
        and _campaign_problem(record.workspace_id, record.campaign_id) is None,
        can_cancel=record.status == "SCHEDULED"
        or (record.status == "PROCESSING" and not on_its_way),
        can_send_now=record.status == "SCHEDULED" and record.scheduled_for > now,
        can_retry=record.status == "FAILED",
    )


def _campaign_problem(workspace_id: str, campaign_id: str) -> str | None:
    """What is wrong with a campaign's ids, as `POST /api/jobs/cancel` checks them, in words for
    a notice; None if nothing."""
    if not is_identifier(workspace_id):
        return (
            f"the workspace id must be 1 to {MAX_IDENTIFIER_CHARS} characters of letters, "
            "digits and . _ : @ + -, starting with a letter or digit"
        )
    if not 1 <= len(campaign_id) <= MAX_CAMPAIGN_ID_CHARS:
        return f"the campaign id must be 1 to {MAX_CAMPAIGN_ID_CHARS} characters"
    return None


def _campaign_fields(fields: Any) -> tuple[str, str, str, str]:
    """The workspace id, campaign id and job id (the page the operator came from, if a job's)
    of a campaign form, and the board path to go back to."""
    workspace = str(fields.get("workspace", "")).strip()
    campaign = str(fields.get("campaign", ""))
    job_id = str(fields.get("job", ""))[:64]
    back = f"/jobs/{quote(job_id, safe='')}" if job_id else "/"
    return workspace, campaign, job_id, back


async def campaign_cancel_page(request: Request) -> Response:
    """Asks to confirm cancelling a campaign, with how many jobs it has (the board runs no
    script, so no dialog in the browser: a page of its own)."""
    if redirect := _login_required(request):
        return redirect
    workspace, campaign, job_id, back = _campaign_fields(request.query_params)
    if problem := _campaign_problem(workspace, campaign):
        return _back(request, back, f"cancel campaign: {problem}")
    jobs, _, _ = _stores(request)
    return _render(
        request,
        "campaign.html",
        workspace=workspace,
        campaign=campaign,
        job_id=job_id,
        back=back,
        size=await jobs.campaign_size(workspace, campaign),
    )


async def outbox(request: Request) -> Response:
    if redirect := _login_required(request):
        return redirect
    channel = request.query_params.get("channel", "sms")
    if channel not in CHANNELS:
        channel = "sms"
    outbox: Outbox = request.state.outbox
    messages = await outbox.latest(channel, 100)
    for message in messages:
        message["payload"] = {
            key: mask(str(value)) if key in ("phoneNumber", "to") else value
            for key, value in message.get("payload", {}).items()
        }
    return _render(request, "outbox.html", channel=channel, messages=messages)


# ---- actions -----------------------------------------------------------------------------------


def _cancel_notice(outcome: CancelOutcome, record: JobRecord | None) -> str:
    """The notice after cancelling one job: done, or why not."""
    if outcome is CancelOutcome.CANCELLED:
        return "cancel: done"
    if outcome is CancelOutcome.ALREADY_CANCELLED:
        return "cancel: done (it was already cancelled)"
    if outcome is CancelOutcome.NOT_FOUND or record is None:
        return "cancel: not possible: there is no such job"
    if record.status == "PROCESSING":
        return "cancel: not possible: the job has its send slot and is on its way to the provider"
    return f"cancel: not possible: the job is {record.status} already"


async def job_action(request: Request) -> Response:
    await checked_form(request)
    job_id, action = request.path_params["job_id"][:64], request.path_params["action"]
    jobs, operator, _ = _stores(request)
    now = clock.now_ms()
    if action == "cancel":
        outcome, record = await jobs.cancel(job_id, now)
        return _back(request, f"/jobs/{job_id}", _cancel_notice(outcome, record))
    if action == "retry":
        done = (await operator.retry(job_id, now))[0] is ActionOutcome.DONE
    elif action == "send-now":
        done = (await operator.send_now(job_id, now))[0] is ActionOutcome.DONE
    else:
        raise HTTPException(404, "no such action")
    notice = f"{action}: done" if done else f"{action}: not possible in the job's current state"
    return _back(request, f"/jobs/{job_id}", notice)


async def campaign_action(request: Request) -> Response:
    """Cancel every job of a workspace's campaign not yet on its way; the notice counts them."""
    form = await checked_form(request)
    workspace, campaign, _, back = _campaign_fields(form)
    if problem := _campaign_problem(workspace, campaign):
        return _back(request, back, f"cancel campaign: {problem}")
    jobs, _, _ = _stores(request)
    counts = await jobs.cancel_campaign(workspace, campaign, clock.now_ms())
    notice = (
        f"cancel campaign {campaign} of workspace {workspace}: cancelled {counts.cancelled}, "
        f"already cancelled {counts.already_cancelled}, not cancellable {counts.not_cancellable} "
        f"(sent, failed or on their way), no longer stored {counts.not_found}"
    )
    return _back(request, back, notice)


async def channel_action(request: Request) -> Response:
    form = await checked_form(request)
    channel, action = request.path_params["channel"], request.path_params["action"]
    if channel not in CHANNELS:
        raise HTTPException(404, "no such channel")
    _, operator, _ = _stores(request)
    if action in ("pause", "resume"):
        await operator.set_paused(channel, action == "pause")
        return _back(request, "/", f"{channel} {action}d")
    if action == "clean":
        status = str(form.get("status", "COMPLETED"))
        try:
            minutes = max(float(str(form.get("older_than_minutes", "60"))), 0.0)
        except ValueError:
            minutes = 60.0
        if status not in FINAL_STATUSES:
            raise HTTPException(400, "only completed, failed or cancelled jobs can be cleaned")
        deleted = await operator.clean(channel, status, int(minutes * 60_000), clock.now_ms())
        state = next(name for name, value in STATES.items() if value == status)
        return _back(request, f"/{channel}/{state}", f"deleted {deleted} {status.lower()} jobs")
    raise HTTPException(404, "no such action")


def create_board(settings: Settings) -> Starlette:
    """The board application, to mount at /admin/queues."""
    return Starlette(
        routes=[
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            Route("/", overview, methods=["GET"]),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/outbox", outbox, methods=["GET"]),
            Route("/jobs/{job_id:str}", job_detail, methods=["GET"]),
            Route("/jobs/{job_id:str}/{action:str}", job_action, methods=["POST"]),
            # before the routes of a channel, which would take /campaigns/cancel for theirs
            Route("/campaigns/cancel", campaign_cancel_page, methods=["GET"]),
            Route("/campaigns/cancel", campaign_action, methods=["POST"]),
            Route("/{channel:str}/{action:str}", channel_action, methods=["POST"]),
            Route("/{channel:str}/{state:str}", job_list, methods=["GET"]),
        ],
        middleware=session_middleware(settings),
    )
