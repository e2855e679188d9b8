"""An embedded, Toxiproxy-compatible fault proxy: asyncio on uvloop, speaking Toxiproxy's API.

It imports nothing else of the harness, so a real Toxiproxy server can replace it.

    API (api.py, Starlette on uvicorn)
      -> ProxyCollection / ToxicCollection (collection.py: all state, one lock)
      -> Proxy (server.py: listener; per client one task: dial the upstream, then adopt the
         client's socket; sockets from forwarding.py)
      -> Connection = upstream Link + downstream Link (link.py)
      -> Link, no toxic yet: the reader's data callback writes to the other socket; no task
         runs until the reader wakes one (a backlog, the EOF)
         Link, piped: reader -> [noop] -> toxic stages (toxics/*.py) -> writer
         HTTP toxics (toxics/http.py): no stage of their own; a proxy with one gives each
         connection an HTTP layer (exchange.py, framing by http1.py) first in both links'
         lines, which asks them about every request

Toxic timers (latency, bandwidth, slicer...) wait on a timerfd (timers.py), microsecond-precise
on any loop. Run it with ``harness proxy`` (on uvloop; ``--loop asyncio`` for asyncio's own) or
embed ``ProxyServer`` in an event loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.proxy.app import ProxyServer, load_config, run_proxy
    from harness.proxy.errors import ApiError, ConfigFileError

__all__ = ["ApiError", "ConfigFileError", "ProxyServer", "load_config", "run_proxy"]

_HOMES = {
    "ApiError": "errors",
    "ConfigFileError": "errors",
    "ProxyServer": "app",
    "load_config": "app",
    "run_proxy": "app",
}


def __getattr__(name: str) -> Any:
    """Exports load on first use: a scenario file's HTTP toxic attributes
    (http_attributes.py) are read without starting up the server's modules."""
    if name not in _HOMES:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"harness.proxy.{_HOMES[name]}"), name)
