"""The Dockerfile and compose.yaml (no Docker engine here): what can be checked without one is
checked: the commands they run exist, every variable they pass is a setting we read, the image
does not run as root and has a health check on a route that exists, and the Redis is configured
not to lose jobs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from queue_services_server.api.app import create_app
from queue_services_server.cli import _parser
from queue_services_server.settings import Settings
from tests.harness import PRODUCT_VARIABLES

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
OURS = [name for name, service in COMPOSE["services"].items() if "build" in service]


def cli_commands() -> set[str]:
    parser = _parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(subparsers.choices)  # type: ignore[attr-defined]


def test_the_image_runs_our_command_as_a_user_with_a_health_check() -> None:
    assert 'ENTRYPOINT ["queue-services"]' in DOCKERFILE
    assert 'CMD ["serve"]' in DOCKERFILE
    user = re.search(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in ("root", "0")
    assert "HEALTHCHECK" in DOCKERFILE
    assert "QUEUE_SERVICES_HOST=0.0.0.0" in DOCKERFILE  # reachable from outside the container


def test_the_health_check_calls_a_route_the_app_serves() -> None:
    path = re.search(r"http://127\.0\.0\.1:8000(/\w+)", DOCKERFILE)
    assert path is not None
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert path.group(1) in {getattr(route, "path", None) for route in app.routes}


@pytest.mark.parametrize("service", OURS)
def test_each_service_runs_a_real_subcommand_with_known_settings(service: str) -> None:
    spec = COMPOSE["services"][service]

    assert spec["command"][0] in cli_commands()
    unknown = [
        name for name in spec.get("environment", {}) if name.upper() not in PRODUCT_VARIABLES
    ]
    assert unknown == []
    # and the values parse: the settings accept them as they stand
    values = {
        name: re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", str(value))
        for name, value in spec.get("environment", {}).items()
        if "?" not in str(value)
    }
    Settings.model_validate({name.lower(): v for name, v in values.items() if v != ""})


def test_redis_keeps_an_append_only_file_and_never_evicts() -> None:
    command = " ".join(COMPOSE["services"]["redis"]["command"])

    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert COMPOSE["services"]["redis"]["volumes"]


def test_workers_get_time_to_finish_their_batches() -> None:
    grace = COMPOSE["services"]["worker"]["stop_grace_period"]
    assert int(grace.rstrip("s")) >= 30
