"""Communication checks against a status page that is not the platform's own: a topology
points the harness at a canned Statuspage v2 page (served here) that lies in known ways
while search is cut off; the checks name each lie. (The mock's own page passing them, and
each of its communication defects failing them, is in test_run.py and test_defects.py.)"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness.topology import DEFAULT_TOPOLOGY
from tests.e2e.test_any_platform import _results, _run
from tests.integration.platform.conftest import free_base_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NAMES = {"search": "Search", "feed": "For You feed", "upload": "Upload", "playback": "Playback"}
SCENARIO = """
name: search-cut-lying-page
phases:
  - {name: baseline, duration: 4s}
  - name: search-blackholed
    duration: 10s
    faults:
      - {type: timeout, link: gateway-search, stream: downstream, attributes: {timeout: 0}}
  - {name: recovery, duration: 4s}
communication:
  components: [search, feed]
  acknowledge_within: 6s
  max_false_green: 4s
  update_every: 5s
"""


OPENS_AFTER_S = 8.0  # of the run's first read: after the baseline, while search is cut off


class _LyingPage(BaseHTTPRequestHandler):
    """Every component operational; from OPENS_AFTER_S on, one incident about the feed, with
    one update that promises nothing, never resolved."""

    first_read: float | None = None

    def do_GET(self) -> None:
        now = time.time()
        first = _LyingPage.first_read = _LyingPage.first_read or now
        opened = first + OPENS_AFTER_S
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(opened))
        incident = {
            "id": "lie1",
            "name": "Feed slowness",
            "status": "investigating",
            "impact": "minor",
            "components": [{"id": "c-feed", "name": NAMES["feed"]}],
            "incident_updates": [
                {
                    "id": "u1",
                    "status": "investigating",
                    "body": "Looking into it.",
                    "created_at": stamp,
                    "affected_components": [],
                }
            ],
        }
        components = [
            {"id": f"c-{k}", "name": v, "status": "operational"} for k, v in NAMES.items()
        ]
        incidents = [incident] if now >= opened else []
        documents = {
            "/api/v2/summary.json": {"components": components, "incidents": incidents},
            "/api/v2/incidents.json": {"incidents": incidents},
        }
        body = json.dumps(documents.get(self.path.split("?")[0], {})).encode()
        self.send_response(200 if self.path.split("?")[0] in documents else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lying_page() -> Iterator[str]:
    _LyingPage.first_read = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LyingPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_checks_name_the_lies_of_an_external_status_page(
    tmp_path: Path, lying_page: str
) -> None:
    topology = yaml.safe_load(DEFAULT_TOPOLOGY.read_text(encoding="utf-8"))
    topology["load"]["locustfile"] = str(DEFAULT_TOPOLOGY.parent / topology["load"]["locustfile"])
    topology["status_page"] = {
        "url": f"{lying_page}/api/v2/summary.json",
        "key": "name",
        "incidents": {"url": f"{lying_page}/api/v2/incidents.json"},
    }
    topology["components"] = NAMES
    (tmp_path / "topology.yaml").write_text(yaml.safe_dump(topology), encoding="utf-8")
    (tmp_path / "lying.yaml").write_text(SCENARIO, encoding="utf-8")
    reports = tmp_path / "reports"
    result = _run(
        str(tmp_path / "lying.yaml"),
        "--topology",
        str(tmp_path / "topology.yaml"),
        "--base-port",
        str(free_base_port()),
        "--report-dir",
        str(reports),
    )
    run = _results(reports)["search-cut-lying-page"]
    assert result.returncode == 1, result.stderr[-3000:]
    judged = {j["name"]: j for j in run["communication"]}  # type: ignore[attr-defined]
    failed = {name for name, j in judged.items() if not j["passed"]}
    # search failed while the page said it was fine and never named it...
    assert {"false green search", "time to acknowledge search"} <= failed, judged
    assert judged["time to acknowledge search"]["measured"] == "never"
    # ...it named the feed, which held, and went silent without saying when it would speak
    assert "right component feed" in failed, judged
    assert "update cadence Feed slowness" in failed, judged
    assert "do not say when the next is due" in judged["update cadence Feed slowness"]["measured"]
    # the feed itself: shown operational and measured healthy, so no false green or alarm
    assert judged["false green feed"]["passed"]
    assert judged["false alarm feed"]["passed"]
    assert run["reason"]
    assert "false green search" in str(run["reason"])
