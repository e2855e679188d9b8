"""Prometheus metrics of the proxy server: Toxiproxy's byte counters plus our own gauges.

Byte counters are added when a link ends, as Toxiproxy does. The gauges (open connections per
proxy, asyncio tasks, and the process collector's open fds) let tests prove nothing leaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from harness.proxy.collection import ProxyCollection
from harness.proxy.link import Link
from harness.proxy.server import Proxy

__all__ = ["ProxyMetrics"]

LABELS = ("direction", "proxy", "listener", "upstream")


class _LiveGauges(Collector):
    def __init__(self, metrics: ProxyMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        conns = GaugeMetricFamily(
            "toxiproxy_proxy_open_connections", "Client connections open now", labels=["proxy"]
        )
        collection = self._metrics.collection
        if collection is not None:
            for name, proxy in sorted(collection.proxies.items()):
                conns.add_metric([name], len(proxy.connections))
        yield conns
        loop = self._metrics.loop
        tasks = len(asyncio.all_tasks(loop)) if loop is not None else 0
        yield GaugeMetricFamily("toxiproxy_asyncio_tasks", "asyncio tasks alive", value=tasks)


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "toxiproxy_proxy_received_bytes",
            "Bytes read from the source of a link",
            LABELS,
            registry=self.registry,
        )
        self.sent = Counter(
            "toxiproxy_proxy_sent_bytes",
            "Bytes written to the destination of a link",
            LABELS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)
        self.registry.register(_LiveGauges(self))
        self.collection: ProxyCollection | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def on_link_done(self, proxy: Proxy, link: Link) -> None:
        labels = (str(link.direction), proxy.name, proxy.listen, proxy.upstream)
        self.received.labels(*labels).inc(link.received_bytes)
        self.sent.labels(*labels).inc(link.sent_bytes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
