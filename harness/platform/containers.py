"""The docker backend: each service process (and the proxy) runs as a container.

ContainerSupervisor has the Supervisor's interface, so Platform runs either the same way:
    start(name, argv) -> docker run (host network: the same loopback ports as processes;
                         the platform's run directory bind-mounted at the same path, so SQLite
                         data outlives a kill or restart; labels: platform id, owner pid)
    signal(name, SIGSTOP/SIGCONT/SIGKILL/SIGTERM) -> pause / unpause / kill / stop
    stop(name), stop_all() -> stop, save the container's log, remove
    run_in(name, argv) -> docker exec (a service's health command runs where it runs)
image_runs(client, image, argv): a stack's requirement checked in the image, not on the host.
sweep_dead_owners(): containers whose harness died (SIGKILL) are removed before a start.
Images come from `make images` (images/build.sh); nothing is pulled here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.errors import EnvironmentFailure
from harness.pids import pid_alive

__all__ = [
    "IMAGE",
    "LABEL",
    "PROXY_IMAGE",
    "PYTHON",
    "ContainerChild",
    "ContainerSupervisor",
    "docker_client",
    "image_runs",
    "sweep_dead_owners",
]

IMAGE = os.environ.get("HARNESS_PLATFORM_IMAGE", "shortvideo-chaos/platform:latest")
PROXY_IMAGE = os.environ.get("HARNESS_PROXY_IMAGE", "shortvideo-chaos/toxiproxy:latest")
API_VERSION = "1.41"
PYTHON = "/opt/venv/bin/python"  # the image's interpreter (images/Dockerfile)
LABEL = "io.shortvideo-chaos"
START_DAEMON = (
    "start one with: dockerd --bridge=none --iptables=false & (or: systemctl start docker);"
    " then build the images with: make images"
)


def docker_client() -> Any:
    """A client of a daemon that answers, else EnvironmentFailure saying how to start one."""
    try:
        import docker
        import requests
    except ImportError:  # pragma: no cover - a dependency of the project
        raise EnvironmentFailure("the docker package is missing: pip install docker") from None
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):  # docker-py leaks the socket of a failed unix connect
        path = host.removeprefix("unix://")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
            except OSError as exc:
                raise EnvironmentFailure(
                    f"--backend docker: no Docker engine answers at {path} ({exc.strerror});"
                    f" {START_DAEMON}"
                ) from None
    client = None
    try:
        # a fixed API version (Docker 20.10+ speaks it): "auto" asks the daemon while
        # constructing, and a failed ask leaks the socket before we could close the client
        client = docker.from_env(timeout=60, version=API_VERSION)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        if client is not None:
            client.close()
        raise EnvironmentFailure(
            f"--backend docker: no Docker engine answers ({_short(exc)}); {START_DAEMON}"
        ) from None
    return client


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def sweep_dead_owners(client: Any) -> int:
    """Remove the containers of harness processes that are gone (killed before cleanup)."""
    removed = 0
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}.owner-pid"}):
        owner = int(container.labels.get(f"{LABEL}.owner-pid", "0") or 0)
        if owner and not pid_alive(owner):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed += 1
    return removed


def require_image(client: Any, image: str) -> dict[str, str]:
    import docker

    try:
        return dict(client.images.get(image).labels or {})
    except docker.errors.ImageNotFound:
        raise EnvironmentFailure(f"no image {image}: build it with: make images") from None


def image_runs(client: Any, image: str, argv: list[str]) -> bool:
    """Does ``argv`` exit 0 in a throwaway container of ``image``? (a stack's requirement;
    a program the image lacks fails to start: False too, and its container goes all the same)"""
    import docker

    container = client.containers.create(
        image, command=argv, network_mode="none", labels={f"{LABEL}.owner-pid": str(os.getpid())}
    )
    try:
        container.start()
        return int(container.wait(timeout=60).get("StatusCode", 1)) == 0
    except docker.errors.APIError:
        return False
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)


@dataclasses.dataclass
class ContainerChild:
    name: str
    argv: list[str]
    container: Any
    log_path: Path
    paused: bool = False

    @property
    def pid(self) -> int:
        with contextlib.suppress(Exception):
            self.container.reload()
        return int(self.container.attrs.get("State", {}).get("Pid", 0) or 0)

    @property
    def returncode(self) -> int | None:
        with contextlib.suppress(Exception):
            self.container.reload()
        state = self.container.attrs.get("State", {})
        return None if state.get("Running") else int(state.get("ExitCode", -1))

    def alive(self) -> bool:
        return self.returncode is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return bytes(self.container.logs(tail=lines)).decode(errors="replace")
        except Exception:  # the container is gone: its saved log
            try:
                return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                return ""


class ContainerSupervisor:
    """Containers of one platform, labelled with its id and this process's pid."""

    def __init__(self, log_dir: Path, mount: Path, client: Any | None = None) -> None:
        self.log_dir = log_dir
        self.mount = mount.resolve()
        self.client = client or docker_client()
        self.platform_id = secrets.token_hex(4)
        self.children: dict[str, ContainerChild] = {}

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        image: str = IMAGE,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> ContainerChild:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.mount.mkdir(parents=True, exist_ok=True)
        container_name = f"shortvideo-{self.platform_id}-{name}"
        with contextlib.suppress(Exception):  # a previous incarnation (restart)
            self.client.containers.get(container_name).remove(force=True)
        container = self.client.containers.run(
            image,
            command=argv,
            name=container_name,
            detach=True,
            network_mode="host",
            init=True,  # signals reach the service; zombies of its children are reaped
            stop_signal=stop_signal.name,  # what `docker stop` sends (PostgreSQL: SIGINT)
            environment=env or {},
            volumes={str(self.mount): {"bind": str(self.mount), "mode": "rw"}},
            working_dir=str(self.mount),
            labels={
                f"{LABEL}.platform": self.platform_id,
                f"{LABEL}.service": name,
                f"{LABEL}.owner-pid": str(os.getpid()),
            },
        )
        child = ContainerChild(name, argv, container, self.log_dir / f"{name}.log")
        self.children[name] = child
        return child

    def close(self) -> None:
        self.client.close()

    def run_in(self, name: str, argv: list[str]) -> tuple[bool, str]:
        """Run ``argv`` in the service's container (its health command): exit 0, and what it
        said; False while the container is not running."""
        try:
            done = self.children[name].container.exec_run(argv)
        except Exception as exc:
            return False, _short(exc)
        said = bytes(done.output or b"").decode(errors="replace").strip()
        return done.exit_code == 0, said[-200:] or f"exit {done.exit_code}"

    def signal(self, name: str, sig: signal.Signals) -> None:
        """The local backend's signals, as container operations."""
        child = self.children[name]
        container = child.container
        if sig == signal.SIGSTOP:
            container.pause()
            child.paused = True
        elif sig == signal.SIGCONT:
            if child.paused:
                container.unpause()
            child.paused = False
        elif sig == signal.SIGKILL:
            with contextlib.suppress(Exception):
                container.kill()
        elif sig == signal.SIGTERM:
            container.stop(timeout=5)
        else:
            container.kill(signal=int(sig))

    def _save_log(self, child: ContainerChild) -> None:
        with contextlib.suppress(Exception):
            child.log_path.write_bytes(bytes(child.container.logs()))

    def _halt(self, child: ContainerChild, grace_s: float) -> None:
        """Unpaused first (a paused container cannot stop), stopped, its output saved."""
        with contextlib.suppress(Exception):
            if child.paused:
                child.container.unpause()
                child.paused = False
            child.container.stop(timeout=int(grace_s))
        self._save_log(child)

    def stop(self, name: str, grace_s: float = 5.0) -> None:
        child = self.children[name]
        self._halt(child, grace_s)
        with contextlib.suppress(Exception):
            child.container.remove(force=True)

    def stop_all(self, grace_s: float = 5.0) -> list[str]:
        """Every container of this platform goes, even ones started by an earlier supervisor
        object of the same platform id; paused ones are unpaused first. Returns what could
        not be removed (never silently: the platform says so)."""

        def stop_one(child: ContainerChild) -> None:
            self._halt(child, grace_s)

        with ThreadPoolExecutor(max_workers=8) as pool:  # in parallel: one grace period in all
            list(pool.map(stop_one, self.children.values()))
        return self._remove_all()

    def _remove_all(self, attempts: int = 5) -> list[str]:
        """Remove this platform's containers, listed again after each round: an engine busy
        enough to fail one call (a timeout, a conflict) gets a few more chances."""
        left: list[str] = []
        for attempt in range(attempts):
            if attempt:
                time.sleep(0.5 * attempt)
            try:
                found = self.client.containers.list(
                    all=True, filters={"label": f"{LABEL}.platform={self.platform_id}"}
                )
            except Exception as exc:
                left = [f"(containers not listed: {_short(exc)})"]
                continue
            left = []
            for container in found:
                try:
                    container.remove(force=True)
                except Exception as exc:
                    if "No such container" not in str(exc):
                        left.append(f"{container.name} ({_short(exc)})")
            if not left:
                return []
        return left
