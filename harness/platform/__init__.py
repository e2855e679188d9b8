"""Running a platform under test: its topology file, its processes, its link proxies.

harness/topology.py (the contract) -> Topology
Platform.up(): [docker: sweep containers of dead runs] -> ports free? -> proxy (embedded,
               its container, or TOXIPROXY_URL) -> /populate links
               -> Supervisor starts each service as a process (supervisor.py), or
                  ContainerSupervisor as a container (containers.py, --backend docker) -> health
Platform.down(): every child stopped (paused ones resumed first), our proxies removed
compose.py: the same topology as a docker-compose.yml for people to run themselves
"""

from harness.platform.platform import Platform, PlatformError, ServiceHealth
from harness.platform.supervisor import Child, Supervisor

__all__ = ["Child", "Platform", "PlatformError", "ServiceHealth", "Supervisor"]
