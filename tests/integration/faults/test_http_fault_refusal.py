"""HTTP faults need the embedded proxy: a run pointed at a Toxiproxy server without them is
refused before anything starts, naming the scenario, the fault and the server's version."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.engine.session import _check_http_toxics
from harness.errors import ConfigError
from harness.scenario import load_scenario
from harness.topology import load_topology

REPO = Path(__file__).resolve().parents[3]


def _version_server(version: str) -> Iterator[str]:
    class Version(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"version": version}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Version)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def real_toxiproxy() -> Iterator[str]:
    yield from _version_server("2.12.0")  # what Toxiproxy 2.12 answers


@pytest.fixture
def embedded_proxy() -> Iterator[str]:
    yield from _version_server("2.12.0+shortvideo-chaos.0.1.0")


def _library(name: str) -> object:
    scenario, problems = load_scenario(REPO / "scenarios" / f"{name}.yaml", load_topology())
    assert not problems
    return scenario


def test_http_faults_on_a_real_toxiproxy_are_refused_before_the_run(real_toxiproxy: str) -> None:
    spoiled = _library("search-answers-spoiled")
    with pytest.raises(ConfigError) as refused:
        _check_http_toxics([spoiled], real_toxiproxy)  # type: ignore[list-item]
    message = str(refused.value)
    assert f"TOXIPROXY_URL={real_toxiproxy} is Toxiproxy 2.12.0" in message
    assert (
        "search-answers-spoiled: phase search-answers-spoiled: http_corrupt on gateway-search"
        in message
    )
    assert "unset TOXIPROXY_URL" in message


def test_the_embedded_proxy_and_tcp_faults_pass(real_toxiproxy: str, embedded_proxy: str) -> None:
    _check_http_toxics([_library("search-answers-spoiled")], embedded_proxy)  # type: ignore[list-item]
    _check_http_toxics([_library("search-outage")], real_toxiproxy)  # type: ignore[list-item]
