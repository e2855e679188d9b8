"""Bring a platform up and down as its topology says: proxy, links, services, health.

Platform.up():
  check every local port is free (nothing is started if one is taken)
  -> a copy of the topology in the run directory (services given {topology} read it there)
  -> the proxy: the embedded one (``harness proxy`` child) or TOXIPROXY_URL
  -> populate one proxy per link -> start each started service (its command, placeholders
     filled) -> wait for every health URL, external services' included (never started)
Platform.down(): stop every child (paused ones resumed first); with an external
  Toxiproxy, delete the proxies we created. External services are never touched. Safe to
  call twice.
Platform.attach(gateway URL): a platform someone else runs; nothing is started or stopped,
  faults still go through its proxy API (network faults only: no process is ours to signal).
backend "local": each service is a child process (supervisor.py); "docker": a container
  (containers.py), same argv, same ports (host network), same run directory (bind mount).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import httpx

from harness.errors import EnvironmentFailure, FaultError
from harness.faults.toxiproxy import ToxiproxyClient
from harness.pids import port_holder, sweep_dead_children
from harness.platform.containers import (
    IMAGE,
    PROXY_IMAGE,
    PYTHON,
    ContainerSupervisor,
    require_image,
    sweep_dead_owners,
)
from harness.platform.forked import ForkServerError
from harness.platform.supervisor import Supervisor
from harness.topology import Topology

__all__ = ["Platform", "PlatformError", "ServiceHealth", "port_owner"]

HEALTH_TIMEOUT_S = 30.0
_EXAMPLE = "http://127.0.0.1:18080"


class PlatformError(EnvironmentFailure):
    """The platform could not be started, reached or stopped."""


@dataclasses.dataclass(frozen=True)
class ServiceHealth:
    healthy: bool
    url: str
    latency_ms: float
    build: str = ""
    profile: str = ""
    external: bool = False
    detail: str = ""


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_owner(topology: Topology, base_port: int, external_proxy: bool) -> list[tuple[str, int]]:
    """Every (what, port) this platform needs to listen on here."""
    owners = topology.local_ports(base_port)
    if not external_proxy:
        owners.append(("the proxy API", topology.proxy_api_port(base_port)))
    return owners


class Platform:
    def __init__(
        self,
        topology: Topology,
        base_port: int,
        run_dir: Path,
        profile: str = "normal",
        toxiproxy_url: str | None = None,
        echo: Callable[[str], None] = lambda _line: None,
        seed: int | None = None,
        backend: str = "local",
        defects: tuple[str, ...] = (),
    ) -> None:
        self.topology = topology
        self.base_port = base_port
        self.run_dir = run_dir.resolve()  # containers mount it at the same absolute path
        self.profile = profile
        self.defects = defects
        self.external_proxy = toxiproxy_url is not None
        self.proxy_url = toxiproxy_url or f"http://127.0.0.1:{topology.proxy_api_port(base_port)}"
        self.backend = backend
        self.supervisor: Supervisor | ContainerSupervisor
        if backend == "docker":
            self.supervisor = ContainerSupervisor(self.run_dir / "logs", self.run_dir)
            self.python = PYTHON
        else:
            self.supervisor = Supervisor(self.run_dir / "logs", topology.preload)
            self.python = sys.executable
        self.echo = echo
        self.seed = seed
        self.attached = False
        self._populated = False
        self._http = httpx.Client(trust_env=False)  # one pool for health checks

    @classmethod
    def attach(
        cls,
        topology: Topology,
        gateway_url: str,
        toxiproxy_url: str | None = None,
        echo: Callable[[str], None] = lambda _line: None,
    ) -> Platform:
        """A running platform (``harness platform up`` elsewhere): check it answers, adopt it.

        Ports follow from the gateway's (the topology's offsets); the profile is what the
        gateway reports. Raises PlatformError naming what does not answer.
        """
        port = urllib.parse.urlsplit(gateway_url).port
        entry = topology.services[topology.entrypoint].port
        if entry is None:  # an entrypoint at a fixed address: ports are the topology's
            base = topology.base_port
        elif port is None or port - entry < 1:
            raise PlatformError(f"--gateway {gateway_url}: give its port, e.g. {_EXAMPLE}")
        else:
            base = port - entry
        plat = cls(topology, base, Path(".chaos/attached"), "normal", toxiproxy_url, echo)
        plat.attached = True
        health = plat.health()
        down = [name for name, item in health.items() if not item.healthy]
        if down:
            plat.close()
            raise PlatformError(
                f"the platform at {gateway_url} is not healthy ({', '.join(down)} not answering);"
                " start one with: harness platform up"
            )
        plat.profile = health[topology.entrypoint].profile or topology.profiles[0]
        try:
            names = set(plat.toxiproxy().proxies())
        except FaultError as exc:
            plat.close()
            raise PlatformError(f"the platform's proxy API at {plat.proxy_url}: {exc}") from None
        missing = sorted(set(topology.links) - names)
        if missing:
            plat.close()
            raise PlatformError(
                f"the proxy at {plat.proxy_url} has no link proxies {', '.join(missing)};"
                " is this the platform's Toxiproxy?"
            )
        echo(f"attached to the {plat.profile} platform at {gateway_url} (proxy {plat.proxy_url})")
        return plat

    @property
    def build_label(self) -> str:
        """The profile and the defects it starts with: ``normal + gateway-retry-storm``."""
        return self.profile + "".join(f" + {name}" for name in self.defects)

    @property
    def gateway_url(self) -> str:
        return self.topology.gateway_url(self.base_port)

    def toxiproxy(self) -> ToxiproxyClient:
        return ToxiproxyClient(self.proxy_url)

    def up(self) -> None:
        """Start everything; on any failure, stop what was started and raise PlatformError."""
        if isinstance(self.supervisor, ContainerSupervisor):  # before the ports are checked
            swept = sweep_dead_owners(self.supervisor.client)
            if swept:
                self.echo(f"removed {swept} containers of dead runs")
        sweep_dead_children(self.echo)  # what a SIGKILLed run left running, named and killed
        taken = [
            f"{what} needs 127.0.0.1:{port}, which is already in use"
            + (f" by {holder}" if (holder := port_holder(port)) else "")
            for what, port in port_owner(self.topology, self.base_port, self.external_proxy)
            if not _port_free(port)
        ]
        if taken:
            raise PlatformError(
                "cannot start the platform: "
                + "; ".join(taken)
                + " (stop what holds it, or pick another --base-port)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "data").mkdir(exist_ok=True)
        shutil.copyfile(self.topology.path, self.topology_copy)
        try:
            if isinstance(self.supervisor, Supervisor):
                self.supervisor.warm_up()  # its imports overlap the proxy's start
            self._start_proxy()
            self._populate()
            self._start_services()
            self._wait_healthy()
        except BaseException:
            self.down()
            raise

    def _start_proxy(self) -> None:
        if self.external_proxy:
            if not self.toxiproxy().is_running():
                raise PlatformError(f"TOXIPROXY_URL={self.proxy_url} does not answer")
            self.echo(f"using the Toxiproxy server at {self.proxy_url}")
            return
        port = str(self.topology.proxy_api_port(self.base_port))
        argv = [self.python, "-m", "harness", "proxy", "--port", port]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        if isinstance(self.supervisor, ContainerSupervisor):
            flavour = require_image(self.supervisor.client, PROXY_IMAGE).get(
                "io.shortvideo-chaos.proxy", "embedded"
            )
            if flavour == "official":  # the Toxiproxy image's entrypoint takes Go-style flags
                argv = ["-host=127.0.0.1", f"-port={port}"]
            self.supervisor.start("proxy", argv, image=PROXY_IMAGE)
        else:
            self.supervisor.start("proxy", argv, fork=False)  # ours, not the platform's code
        self._wait(lambda: self.toxiproxy().is_running(), "the proxy API", "proxy")
        self.echo(f"proxy API at {self.proxy_url}")

    def _populate(self) -> None:
        try:
            self.toxiproxy().populate(self.topology.populate_body(self.base_port))
        except FaultError as exc:
            raise PlatformError(f"cannot create the link proxies: {exc}") from exc
        self._populated = True
        self.echo(f"{len(self.topology.links)} links behind proxies")

    @property
    def topology_copy(self) -> Path:
        return self.run_dir / "topology.yaml"

    def placeholders(self, service: str) -> dict[str, object]:
        """What a service's command and environment may use (see topology.py)."""
        return self.topology.command_values(
            self.base_port, service, self.python, self.run_dir, self.profile, self.defects
        )

    def service_argv(self, service: str) -> list[str]:
        spec = self.topology.services[service]
        values = self.placeholders(service)
        return [part.format(**values) for part in spec.command or self.topology.command or []]

    def service_env(self, service: str) -> dict[str, str]:
        values = self.placeholders(service)
        return {k: v.format(**values) for k, v in self.topology.services[service].env.items()}

    def _start_services(self) -> None:
        if isinstance(self.supervisor, ContainerSupervisor):
            require_image(self.supervisor.client, IMAGE)
        for service in self.topology.started_services:
            self._start(service)

    def _start(self, service: str) -> None:
        argv, env = self.service_argv(service), self.service_env(service)
        stop = signal.Signals[self.topology.services[service].stop_signal]
        try:
            self.supervisor.start(service, argv, env, stop_signal=stop)
        except ForkServerError as exc:
            raise PlatformError(f"cannot start {service}: {exc}") from None

    def _ours(self, service: str) -> None:
        if self.attached:
            raise PlatformError(f"{service}: process faults need a platform this run started")
        if service in self.topology.external_services:
            raise PlatformError(f"{service} is external: the harness never signals it")

    def signal(self, service: str, sig: signal.Signals) -> None:
        """Send a signal to one service (SIGSTOP pauses it, SIGCONT resumes, SIGKILL kills)."""
        self._ours(service)
        if service not in self.supervisor.children:
            raise PlatformError(f"{service} is not a running service of this platform")
        self.supervisor.signal(service, sig)

    def restart(self, service: str, wait_s: float = HEALTH_TIMEOUT_S) -> None:
        """Stop (or reap a killed) service and start it again; wait until it is healthy."""
        self._ours(service)
        self.supervisor.stop(service)
        self._start(service)
        deadline = time.monotonic() + wait_s
        while not self.healthy(service):
            if not self.supervisor.children[service].alive():
                raise PlatformError(
                    f"{service} exited on restart:\n{self.supervisor.children[service].log_tail()}"
                )
            if time.monotonic() > deadline:
                raise PlatformError(f"{service} not healthy {wait_s:.0f} s after a restart")
            time.sleep(0.05)

    def health_url(self, service: str) -> str:
        return self.topology.health_url(self.base_port, service)

    def health_argv(self, service: str) -> list[str] | None:
        """The service's health command (placeholders filled), if it has one."""
        argv = self.topology.services[service].health_command
        values = self.placeholders(service)
        return [part.format(**values) for part in argv] if argv else None

    def _command_healthy(self, service: str, argv: list[str], timeout_s: float) -> tuple[bool, str]:
        """A health command runs where its service runs: here, or in its container."""
        if isinstance(self.supervisor, ContainerSupervisor):
            if service not in self.supervisor.children:
                return False, "not started"
            return self.supervisor.run_in(service, argv)
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, type(exc).__name__
        said = (done.stdout + done.stderr).decode(errors="replace").strip()
        return done.returncode == 0, said[-200:] or f"exit {done.returncode}"

    def healthy(self, service: str) -> bool:
        """One health check of ``service`` now (its command, or GET its health URL: 200)."""
        argv = self.health_argv(service)
        if argv is not None:
            return self._command_healthy(service, argv, 2.0)[0]
        if self._http.is_closed:
            self._http = httpx.Client(trust_env=False)
        try:
            return self._http.get(self.health_url(service), timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait_healthy(self) -> None:
        pending = list(self.topology.checked_services)
        external = set(self.topology.external_services)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while pending:
            for service in list(pending):
                child = self.supervisor.children.get(service)
                if child is not None and not child.alive():
                    raise PlatformError(
                        f"service {service} exited with code {child.returncode}:\n"
                        f"{child.log_tail()}"
                    )
                if self.healthy(service):
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                outside = [s for s in pending if s in external]
                hint = (
                    f"; external services are not started by the harness: start "
                    f"{', '.join(outside)} first ({', '.join(self.health_url(s) for s in outside)})"
                    if outside
                    else ""
                )
                raise PlatformError(
                    f"not healthy after {HEALTH_TIMEOUT_S:.0f} s: {', '.join(pending)}{hint}"
                )
            if pending:
                time.sleep(0.1)
        started = len(self.topology.started_services)
        self.echo(
            f"{started} services healthy"
            + (f", {len(external)} external services answering" if external else "")
        )

    def _wait(self, ready: Callable[[], bool], what: str, child: str) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not ready():
            if not self.supervisor.children[child].alive():
                raise PlatformError(f"{what} exited:\n{self.supervisor.children[child].log_tail()}")
            if time.monotonic() > deadline:
                raise PlatformError(f"{what} did not answer within {HEALTH_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        self._http.close()
        if isinstance(self.supervisor, ContainerSupervisor):
            self.supervisor.close()  # the docker client reconnects if used again

    def down(self) -> None:
        if self.attached:  # not ours to stop
            self.close()
            return
        if self.external_proxy and self._populated:
            client = self.toxiproxy()
            for name in self.topology.links:
                with contextlib.suppress(FaultError):
                    client.delete_proxy(name)
            self._populated = False
        left = self.supervisor.stop_all()
        if left:
            self.echo("could not remove every container (docker rm -f them): " + "; ".join(left))
        self.close()

    def health(self) -> dict[str, ServiceHealth]:
        """Each service's health answer (or why it has none), for ``platform status``."""
        report: dict[str, ServiceHealth] = {}
        for service in self.topology.checked_services:
            url = self.health_url(service)
            start = time.perf_counter()
            if self._http.is_closed:
                self._http = httpx.Client(trust_env=False)
            argv = self.health_argv(service)
            detail: object
            if argv is not None:
                ok, said = self._command_healthy(service, argv, 2.0)
                url, detail = " ".join(argv), {"said": said}
            else:
                ok, detail = self._http_health(url)
            fields = detail if isinstance(detail, dict) else {}
            report[service] = ServiceHealth(
                healthy=ok,
                url=url,
                latency_ms=round((time.perf_counter() - start) * 1000, 1),
                build=str(fields.get("build", "")),
                profile=str(fields.get("profile", "")),
                external=service in self.topology.external_services,
                detail="" if ok else json.dumps(detail),
            )
        return report

    def _http_health(self, url: str) -> tuple[bool, object]:
        """A health URL's answer: 200 is healthy; its JSON (or status, or error) said why."""
        try:
            response = self._http.get(url, timeout=2.0)
        except httpx.HTTPError as exc:
            return False, {"error": type(exc).__name__}
        ok = response.status_code == 200
        detail: object = {"status": response.status_code}
        if ok:
            with contextlib.suppress(ValueError):
                detail = response.json()  # a health answer need not be JSON
        return ok, detail

    def write_state(self, path: Path) -> None:
        state = {
            "pid": os.getpid(),
            "base_port": self.base_port,
            "gateway": self.gateway_url,
            "proxy": self.proxy_url,
            "profile": self.profile,
            "children": {name: child.pid for name, child in self.supervisor.children.items()},
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)
