"""A real platform (proxy + thirteen services on 127.0.0.1) per profile, shared by a module's
tests; every test starts from a healed platform (no toxics, links enabled, nothing paused)."""

from __future__ import annotations

import itertools
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.faults import ToxiproxyClient
from harness.platform import Platform
from harness.platform.platform import _port_free, port_owner
from harness.topology import DEFAULT_TOPOLOGY, load_topology
from mock_platform.services.gateway import make_token

TOPOLOGY = load_topology(DEFAULT_TOPOLOGY)
# Blocks below the kernel's ephemeral range (32768+): a client's outgoing connection can take
# a port there between our check and a service's bind. Cycled: each block is checked first.
# Under pytest-xdist each worker cycles through its own share of the blocks, so two tests
# running at once never reach for the same ports.
_ALL_BLOCKS = range(21000, 32768 - 700, 700)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_BLOCKS = _ALL_BLOCKS[int(_WORKER or 0) % _WORKERS :: _WORKERS]
_bases = itertools.cycle(_BLOCKS)


def free_base_port() -> int:
    for base in itertools.islice(_bases, len(_BLOCKS)):
        if all(_port_free(port) for _, port in port_owner(TOPOLOGY, base, external_proxy=False)):
            return base
    raise AssertionError("no free port block")


def start_platform(profile: str, run_dir: Path) -> Platform:
    plat = Platform(TOPOLOGY, free_base_port(), run_dir, profile)
    plat.up()
    return plat


class Api:
    """The gateway as a client sees it, plus the knobs a test turns."""

    def __init__(self, plat: Platform) -> None:
        self.platform = plat
        self.http = httpx.Client(base_url=plat.gateway_url, timeout=15, trust_env=False)
        self.toxiproxy: ToxiproxyClient = plat.toxiproxy()
        self.secret = TOPOLOGY.extensions["x-mock"]["auth"]["token_secret"].encode()

    @property
    def fragile(self) -> bool:
        return self.platform.profile == "fragile"

    def upload(
        self, creator: str = "alice", key: str | None = None, violating: bool = False, **kw: object
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {make_token(self.secret, creator)}",
            "Idempotency-Key": key or uuid.uuid4().hex,
            "Content-Type": "video/mp4",
        }
        params = {
            "title": kw.pop("title", "a clip"),
            "hashtags": kw.pop("hashtags", "demo"),
            "violating": str(violating).lower(),
        }
        return self.http.post(
            "/v1/videos", content=b"\x00video" * 500, headers=headers, params=params, **kw
        )  # type: ignore[arg-type]

    def status_of(self, video_id: str) -> str:
        response = self.http.get(f"/v1/videos/{video_id}")
        return str(response.json().get("status", f"http {response.status_code}"))

    def search_ids(self, query: str) -> list[str]:
        """The video ids a search finds now; none while search answers otherwise (a breaker
        still open after an earlier test's fault: it closes on its next probe)."""
        response = self.http.get("/v1/search", params={"q": query})
        if response.status_code != 200:
            return []
        return [str(item["video_id"]) for item in response.json()["items"]]

    def pause(self, service: str) -> None:
        self.platform.supervisor.signal(service, signal.SIGSTOP)

    def resume(self, service: str) -> None:
        self.platform.supervisor.signal(service, signal.SIGCONT)

    def heal(self) -> None:
        for child in self.platform.supervisor.children.values():
            if child.paused:
                self.resume(child.name)
        self.toxiproxy.reset()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll with a deadline; return how long it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def running_api(profile: str, run_dir: Path) -> Iterator[Api]:
    """A platform of this profile for the duration of a fixture, always taken down."""
    plat = start_platform(profile, run_dir)
    client = Api(plat)
    try:
        yield client
    finally:
        client.http.close()
        plat.down()


@pytest.fixture(scope="module", params=["normal", "fragile"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api(request.param, tmp_path_factory.mktemp(f"platform-{request.param}"))


@pytest.fixture(autouse=True)
def _healed(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "api" in request.fixturenames:
        request.getfixturevalue("api").heal()


def published_video(api: Api, **kw: object) -> str:
    response = api.upload(**kw)
    assert response.status_code == 202, response.text
    video_id = str(response.json()["video_id"])
    wait_until(lambda: api.status_of(video_id) == "published", 15, f"{video_id} published")
    return video_id
