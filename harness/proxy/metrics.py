"""Prometheus metrics of the proxy server: Toxiproxy's byte counters plus our own gauges.

Byte counters are added when a link ends, as Toxiproxy does. The gauges (open connections per
proxy, asyncio tasks, and the process collector's open fds) let tests prove nothing leaks.
The HTTP counters (requests the HTTP layer saw, per toxic the requests it matched and the
faults it injected by kind, connections it could not parse) are read from each proxy's
HttpCounters when scraped; they live as long as the proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from harness.proxy.collection import ProxyCollection
from harness.proxy.link import Link
from harness.proxy.server import Proxy

__all__ = ["ProxyMetrics"]

LABELS = ("direction", "proxy", "listener", "upstream")


class _LiveGauges(Collector):
    def __init__(self, metrics: ProxyMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        conns = GaugeMetricFamily(
            "toxiproxy_proxy_open_connections", "Client connections open now", labels=["proxy"]
        )
        collection = self._metrics.collection
        if collection is not None:
            for name, proxy in sorted(collection.proxies.items()):
                conns.add_metric([name], len(proxy.connections))
        yield conns
        yield from _http_families(collection)
        loop = self._metrics.loop
        tasks = len(asyncio.all_tasks(loop)) if loop is not None else 0
        yield GaugeMetricFamily("toxiproxy_asyncio_tasks", "asyncio tasks alive", value=tasks)


def _http_families(collection: ProxyCollection | None) -> Iterator[CounterMetricFamily]:
    requests = CounterMetricFamily(
        "toxiproxy_http_requests", "Requests the HTTP layer saw", labels=["proxy"]
    )
    matched = CounterMetricFamily(
        "toxiproxy_http_toxic_matched",
        "Requests an HTTP toxic matched (before its toxicity is drawn)",
        labels=["proxy", "toxic"],
    )
    faults = CounterMetricFamily(
        "toxiproxy_http_faults", "Faults an HTTP toxic injected", labels=["proxy", "toxic", "kind"]
    )
    unparsable = CounterMetricFamily(
        "toxiproxy_http_unparsable_connections",
        "Connections whose HTTP could not be parsed (passed through untouched from there)",
        labels=["proxy", "direction"],
    )
    for name, toxics in sorted(collection.toxics.items() if collection is not None else []):
        counts = toxics.http
        if counts.requests or counts.unparsable:
            requests.add_metric([name], counts.requests)
        for toxic, value in sorted(counts.matched.items()):
            matched.add_metric([name, toxic], value)
        for (toxic, kind), value in sorted(counts.faults.items()):
            faults.add_metric([name, toxic, kind], value)
        for direction, value in sorted(counts.unparsable.items()):
            unparsable.add_metric([name, direction], value)
    yield from (requests, matched, faults, unparsable)


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
