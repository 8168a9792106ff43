"""Separate hosts on one machine, for the scale-out benchmark: Linux network namespaces on a
private bridge, one for Redis and one per worker, each with its own network stack and address.

Needs root and iproute2 (`ip netns`). Everything is torn down on exit; the bridge's subnet
(10.231.N.0/24) has no route anywhere else, so nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_lib

from queue_services_server.dev import find_redis_server
from tests.harness import wait_until

#: The password of the benchmark's Redis (it serves other hosts, so protected mode wants one).
PASSWORD = "scale-out-bench"


@dataclass(frozen=True)
class Host:
    """A network namespace: its name (for `ip netns exec`) and its address on the bridge."""

    name: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside this host."""
        return ["ip", "netns", "exec", self.name, *argv]


@dataclass
class Network:
    """The bridge (the machine's own address on it) and the hosts made so far."""

    subnet: str  # "10.231.N"
    bridge: str
    hosts: list[Host] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        """The machine's address on the bridge (where a receiver in the root namespace binds)."""
        return f"{self.subnet}.1"

    def add_host(self, label: str) -> Host:
        """Make a namespace joined to the bridge by a veth pair."""
        number = len(self.hosts) + 2
        host = Host(f"{self.bridge}-{label}", f"{self.subnet}.{number}")
        outside = f"{self.bridge}v{number}"
        _ip("netns", "add", host.name)
        self.hosts.append(host)
        _ip("link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.name, "link", "set", "eth0", "up")
        _ip("-n", host.name, "link", "set", "lo", "up")
        return host


_networks = itertools.count()


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


def namespaces_available() -> str | None:
    """None if hosts can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"qsprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"`ip netns add` failed: {exc}"
    _ip("netns", "del", probe)
    return None


@contextlib.contextmanager
def network() -> Iterator[Network]:
    """A private bridge; hosts added to it are removed with it."""
    # Names unique to this process and network: a deleted namespace's veth may linger a moment.
    tag, number = os.getpid() % 10_000, next(_networks)
    net = Network(subnet=f"10.231.{(tag + number) % 250}", bridge=f"qs{tag}n{number % 100}")
    _ip("link", "add", net.bridge, "type", "bridge")
    try:
        _ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        yield net
    finally:
        for host in net.hosts:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", host.name)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", net.bridge)


@contextlib.contextmanager
def redis_on(host: Host, data_dir: Path, port: int = 6379) -> Iterator[str]:
    """redis-server inside `host` (AOF on, noeviction, as in production); yields its URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        host.command(
            find_redis_server(),
            "--bind", host.address,
            "--port", str(port),
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--requirepass", PASSWORD,
            "--logfile", str(data_dir / "redis.log"),
        ),
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    # A password, as Redis wants for connections from other hosts (protected mode otherwise).
    url = f"redis://:{PASSWORD}@{host.address}:{port}/0"
    try:
        client = redis_lib.Redis.from_url(url, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis_lib.exceptions.ConnectionError:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server exited in {host.name}") from None
                return False

        wait_until(answers, timeout_s=20, message=f"redis-server did not start in {host.name}")
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(30)
