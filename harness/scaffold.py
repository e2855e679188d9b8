"""``harness init DIR``: the files a team starts from to gate its own platform.

    DIR/topology.yaml           the contract, commented field by field, for one running service
                                (external) and one dependency behind a link
    DIR/locustfile.py           a plain locustfile with one user class and one endpoint
    DIR/scenarios/dependency-slow.yaml   a first scenario: the dependency gets slow
Nothing is overwritten; every file validates as written (harness validate DIR/...).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from harness.errors import ConfigError

__all__ = ["scaffold"]

TOPOLOGY = """\
# yaml-language-server: $schema=topology.schema.json   (harness schema --topology -o ...)
# Your platform as the harness sees it: it knows nothing else. Field by field: README,
# "The topology". Check it with: harness validate topology.yaml
name: {name}
description: my platform, gated by the chaos harness
base_port: {base_port}    # link proxies listen on base_port + their port; the proxy API on +474
entrypoint: app           # the service the load talks to
profiles: [normal]        # names a team can switch its own weak/test modes with (--profile)

services:
  app:
    address: "{app_address}"   # where it runs now
    external: true             # already running: health-checked, never started or signalled
    health: /healthz           # a path on the service (or a full URL) answering 200
  # A service the harness starts itself (and may kill, pause, restart) has a command:
  # worker: {{port: 5, command: ["{{python}}", "-m", "myapp.worker", "--port", "{{port}}"]}}

links:
  # Faults reach only traffic that goes through a link: point the app's address for this
  # dependency at 127.0.0.1:<base_port + port> ({link_port} here) instead of the real one.
  app-dependency: {{from: app, upstream: "{dependency}", port: 30}}

load:
  locustfile: locustfile.py
  user_classes: [visitor]      # the locustfile's classes, as scenarios name them in mix
  endpoints: [home]            # the request names it reports (name="home")
  users: 10
  spawn_rate: 10
  # env: {{API_TOKEN: "..."}}   # secrets for the locustfile, by environment (never argv)
  # read_back: {{url: "{{entrypoint}}/orders/{{ref}}", json: state, terminal: [done]}}

probes:
  up:
    description: the app's own health answer
    http: {{path: /healthz}}
  # queue: {{http: {{service: app, path: /stats, json: queue.depth}}}}
  # errors: {{prometheus: {{path: /metrics, metric: http_errors_total, labels: {{route: "/"}}}}}}
  # lag: {{command: {{argv: [psql, -tAc, "select 1"], timeout: 2s}}}}

# status_page: {{url: "https://status.example.com/api/v2/summary.json"}}   # Statuspage shape
# components: {{checkout: Checkout}}   # how scenarios name them -> the page's names
# invariants:
#   no_lost_orders: {{check: no_lost_writes, kind: order}}   # needs load.read_back
"""

LOCUSTFILE = '''\
"""The platform's load: a plain locustfile (the harness adds its own half beside it)."""

from locust import HttpUser, between, task


class Visitor(HttpUser):
    wait_time = between(0.5, 1.5)

    @task
    def home(self) -> None:
        self.client.get("/", name="home")
'''

SCENARIO = """\
# yaml-language-server: $schema=../scenario.schema.json   (harness schema -o ...)
name: dependency-slow
topology: ../topology.yaml
description: >
  The app's dependency answers 500 ms slower. A well-built app keeps its own latency close
  to normal (timeouts, caches) and does not fail.
steady_state:
  - {metric: error_rate, endpoint: home, max: 0.01}
phases:
  - {name: baseline, duration: 15s}
  - name: dependency-slow
    duration: 20s
    faults:
      - {type: latency, link: app-dependency, attributes: {latency: 500}}
    expect:
      - {metric: p95, endpoint: home, max: 3x baseline + 250ms}
      - {metric: error_rate, endpoint: home, max: 0.01}
  - {name: recovery, duration: 15s}
"""


def _address(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigError(f"--url {url!r}: give a host and port, e.g. http://127.0.0.1:8080")
    return f"{parts.hostname}:{port}"


def scaffold(
    directory: Path, app_url: str, dependency: str, name: str, base_port: int
) -> list[Path]:
    """Write the three files (none may exist yet); return their paths."""
    files = {
        directory / "topology.yaml": TOPOLOGY.format(
            name=name,
            base_port=base_port,
            app_address=_address(app_url),
            dependency=_address(dependency),
            link_port=base_port + 30,
        ),
        directory / "locustfile.py": LOCUSTFILE,
        directory / "scenarios" / "dependency-slow.yaml": SCENARIO,
    }
    existing = [str(p) for p in files if p.exists()]
    if existing:
        raise ConfigError(f"not overwriting {', '.join(existing)}")
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write there ({exc.strerror or exc})") from None
    return list(files)
