"""What the benchmark sides share: figures, percentiles, windows, process memory, and the
messages a CRM sends (the same job data for every side)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

#: One run's figures, by name (e.g. ``{"messages_per_s": 12000.0}``).
Figures = dict[str, float]


class NotedFigures(dict[str, float]):
    """Figures with remarks that are not numbers (which Redis command was the slowest); run.py
    prints the remarks under the table."""

    def __init__(self, figures: Mapping[str, float], notes: Iterable[str] = ()) -> None:
        super().__init__(figures)
        self.notes = list(notes)


class NotAvailable(Exception):
    """The build under test lacks what a scenario needs (e.g. a route answered 404 or 405): the
    scenario is reported as not available, and not repeated."""


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, now alive (Linux's /proc)."""
    found, stack = [], _children(pid)
    while stack:
        current = stack.pop()
        found.append(current)
        stack += _children(current)
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB."""
    return sum(rss_mb(each) for each in [pid, *descendants(pid)])


def cpu_s(pid: int) -> float:
    """CPU time (user + system) one process has used, seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # Fields 14 and 15 of stat (utime, stime), counted after the command's closing bracket.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU time of a process and all its descendants now alive, seconds."""
    return sum(cpu_s(each) for each in [pid, *descendants(pid)])


def script_names(python: str = sys.executable) -> dict[str, str]:
    """SHA1 -> name of every Lua script the code that `python` imports may run: its store's and
    Dramatiq's broker's (so that an EVALSHA in a MONITOR or a slow log can be named)."""
    probe = (
        "import hashlib, json, pathlib, dramatiq.brokers.redis as d\n"
        "from queue_services_server.store import lua\n"
        "root = pathlib.Path(lua.__file__).parent / 'scripts'\n"
        "names = {hashlib.sha1(lua.script_source(p.name).encode()).hexdigest(): p.stem\n"
        "         for p in root.glob('*.lua') if not p.name.startswith('_')}\n"
        "names.update({hashlib.sha1(s).hexdigest(): 'dramatiq:' + n\n"
        "              for n, s in d._scripts.items()})\n"
        "print(json.dumps(names))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    names: dict[str, str] = json.loads(done.stdout)
    return names


# ---- the messages a CRM sends -------------------------------------------------------------------

#: The SMS text of the benchmarks' messages: 70 characters, one GSM-7 segment.
TEXT = "Your appointment is tomorrow at 09:30. Reply STOP to opt out. Thanks!"

#: A campaign newsletter (tables, inline styles, links, varied text: it compresses about 3.8x
#: with zlib, as real email HTML does), with ``{{name}}`` and ``{{contact}}`` filled in per
#: contact. Read by bullmq_node/bench.mjs too.
NEWSLETTER = Path(__file__).parent / "newsletter.html"

#: Bytes of a newsletter once filled in for one contact.
EMAIL_HTML_BYTES = 20 * 1024


def crm_uuid(n: int, kind: int = 8) -> str:
    """A fixed-width UUID-shaped id for contact (`kind` 8) or campaign (`kind` 9) number `n`:
    the seeds call them "contact-uuid" and "campaign-uuid"."""
    return f"{n:08x}-0000-4000-{kind:x}000-{n:012x}"


def crm_sms(i: int, workspace_id: str, campaign_id: str) -> dict[str, Any]:
    """SMS `i` of a campaign with the fields the seeds' CRM sends (002, "For immediate SMS
    sending": phoneNumber, message, contactId, workspaceId, metadata with source and campaignId),
    ids shaped as UUIDs. bullmq_node/bench.mjs builds the same (`crmSms`)."""
    return {
        "phoneNumber": f"+1415555{i % 10_000:04d}",
        "message": TEXT,
        "contactId": crm_uuid(i),
        "workspaceId": workspace_id,
        "metadata": {"source": "campaign", "campaignId": campaign_id},
    }


@cache
def _newsletter() -> str:
    return NEWSLETTER.read_text()


def crm_email(i: int, workspace_id: str, campaign_id: str) -> dict[str, Any]:
    """Email `i` of a campaign, as the seeds' CRM sends it (002: to, subject, html, contactId,
    workspaceId, metadata), its html the newsletter filled in for the contact
    (`EMAIL_HTML_BYTES`). bullmq_node/bench.mjs builds the same (`crmEmail`)."""
    contact = crm_uuid(i)
    html = _newsletter().replace("{{name}}", f"Contact {i % 10_000_000:07d}")
    return {
        "to": f"contact-{i:07d}@example.com",
        "subject": "Your December newsletter",
        "html": html.replace("{{contact}}", contact),
        "contactId": contact,
        "workspaceId": workspace_id,
        "metadata": {"source": "campaign", "campaignId": campaign_id},
    }


def campaign_job(channel: str, i: int) -> dict[str, Any]:
    """Message `i` of the memory scenario (`channel` ``sms`` or ``email``): 20 workspaces, one
    campaign each, in turn. bullmq_node/bench.mjs builds the same (`campaignJob`)."""
    make = crm_sms if channel == "sms" else crm_email
    return make(i, f"workspace-{100 + i % 20}", crm_uuid(i % 20, kind=9))
