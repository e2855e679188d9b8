"""The topology as a docker-compose.yml, for teams who run the platform themselves.

topology + base port + profile + run dir -> compose document (dict) + toxiproxy.json
    proxy: the proxy image, populated at start from toxiproxy.json (one proxy per link)
    one service per started service: the platform image, the same command the harness runs,
    host network (the same loopback ports), the run directory bind-mounted at the same path
The harness's own docker backend does not use this file (it starts containers itself, so it
can pause, kill and remove them by label); the two run the same images and commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.platform.containers import IMAGE, LABEL, PROXY_IMAGE, PYTHON
from harness.topology import Topology

__all__ = ["compose_document"]


def compose_document(
    topology: Topology,
    base_port: int,
    profile: str,
    run_dir: Path,
    proxy_config: Path,
    proxy_flavour: str = "embedded",
    defects: tuple[str, ...] = (),
) -> dict[str, Any]:
    """proxy_config: where toxiproxy.json lies on the host (mounted read-only); the topology
    is copied to run_dir/topology.yaml by the caller (the services read it there)."""
    run_dir, proxy_config = run_dir.resolve(), proxy_config.resolve()
    port = topology.proxy_api_port(base_port)
    if proxy_flavour == "official":
        proxy_command = ["-host=127.0.0.1", f"-port={port}", "-config=/etc/toxiproxy.json"]
    else:
        proxy_command = [
            PYTHON,
            "-m",
            "harness",
            "proxy",
            "--port",
            str(port),
            "--config",
            "/etc/toxiproxy.json",
        ]
    services: dict[str, Any] = {
        "proxy": {
            "image": PROXY_IMAGE,
            "command": proxy_command,
            "network_mode": "host",
            "volumes": [f"{proxy_config}:/etc/toxiproxy.json:ro"],
            "labels": {f"{LABEL}.service": "proxy"},
            "restart": "unless-stopped",
        }
    }
    for service in topology.started_services:
        values = topology.command_values(base_port, service, PYTHON, run_dir, profile, defects)
        spec = topology.services[service]
        argv = [part.format(**values) for part in spec.command or topology.command or []]
        services[service] = {
            "image": IMAGE,
            "command": argv,
            "network_mode": "host",
            "init": True,
            "working_dir": str(run_dir),
            "volumes": [f"{run_dir}:{run_dir}"],
            "labels": {f"{LABEL}.service": service},
            "depends_on": ["proxy"],
            **(
                {"environment": {k: v.format(**values) for k, v in spec.env.items()}}
                if spec.env
                else {}
            ),
            "restart": "unless-stopped",
            "healthcheck": {
                "test": [
                    "CMD",
                    PYTHON,
                    "-c",
                    "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)",
                    topology.health_url(base_port, service),
                ],
                "interval": "5s",
                "timeout": "3s",
                "retries": 6,
            },
        }
    # "version" keeps docker-compose 1.x (Debian's) reading it; Compose v2 ignores it
    return {"version": "3.8", "services": services}
