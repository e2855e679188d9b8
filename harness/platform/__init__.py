"""Running a platform under test: its topology file, its processes, its link proxies.

topology.yaml -> Topology (topology.py)
Platform.up(): ports free? -> proxy (embedded or TOXIPROXY_URL) -> /populate links
               -> Supervisor starts each service (supervisor.py) -> health
Platform.down(): every child stopped (paused ones resumed first), our proxies removed
"""

from harness.platform.platform import Platform, PlatformError
from harness.platform.supervisor import Child, Supervisor
from harness.platform.topology import DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = [
    "DEFAULT_TOPOLOGY",
    "Child",
    "Platform",
    "PlatformError",
    "Supervisor",
    "Topology",
    "load_topology",
]
