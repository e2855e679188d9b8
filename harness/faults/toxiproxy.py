"""A typed client for any Toxiproxy server, built on the official toxiproxy-python client.

toxiproxy-python keeps the server address in class attributes of ``APIConsumer`` (one global
server), sends no timeouts, cannot update a toxic and returns untyped dicts. We wrap it thinly:
each client gets its own ``APIConsumer`` subclass bound to its URL (so two servers can be used
at once), passes a timeout on every call, updates toxics via the documented POST route, turns
answers into small typed records, and re-raises every failure as ``FaultError``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.errors import ConfigError, FaultError

__all__ = ["DEFAULT_URL", "ProxyInfo", "ToxicInfo", "ToxiproxyClient"]

DEFAULT_URL = "http://127.0.0.1:8474"


@dataclasses.dataclass(frozen=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToxicInfo:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data["stream"]),
            toxicity=float(data["toxicity"]),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclasses.dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProxyInfo:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or []),
        )

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclasses.dataclass(frozen=True)
class HttpToxicCount:
    proxy: str
    toxic: str
    kind: str
    matched: int
    injected: int


def _server_message(exc: Exception) -> str:
    """The ``error`` text of a Toxiproxy error body carried by a toxiproxy-python exception."""
    raw = exc.args[0] if exc.args else b""
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)


class ToxiproxyClient:
    """Talks to the Toxiproxy server at ``url`` (default: $TOXIPROXY_URL, else 127.0.0.1:8474)."""

    def __init__(self, url: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = (url or os.environ.get("TOXIPROXY_URL") or DEFAULT_URL).rstrip("/")
        parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ConfigError(
                f"toxiproxy url must look like http://127.0.0.1:8474, got {self.url!r}"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.timeout_s = timeout_s
        self._api: type[APIConsumer] = type(
            "BoundAPIConsumer", (APIConsumer,), {"host": host, "port": parts.port}
        )

    # -- transport: the official client's calls, with a timeout and our errors -----------------

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        response: requests.Response
        try:
            if method == "GET":
                response = self._api.get(path, timeout=self.timeout_s)
            elif method == "DELETE":
                response = self._api.delete(path, timeout=self.timeout_s)
            else:
                response = self._api.post(path, json=body, timeout=self.timeout_s)
        except (ProxyExists, NotFound, InvalidToxic) as exc:
            raise FaultError(f"toxiproxy {method} {path}: {_server_message(exc)}") from exc
        except requests.RequestException as exc:
            raise FaultError(f"cannot reach Toxiproxy at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise FaultError(
                f"toxiproxy {method} {path}: HTTP {response.status_code}: "
                f"{_server_message(Exception(response.content))}"
            )
        return response

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self._call(method, path, body)
        try:
            return response.json()
        except ValueError as exc:
            raise FaultError(f"toxiproxy {method} {path}: answer is not JSON") from exc

    def http_counts(self) -> list[HttpToxicCount]:
        """The embedded proxy's HTTP toxic counters (/metrics); none from a server without
        HTTP toxics. Counters outlive their toxic, so a run reads them after removing it."""
        text = self._call("GET", "/metrics").text
        matched: dict[tuple[str, str], int] = {}
        injected: list[tuple[str, str, str, int]] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "toxiproxy_http_toxic_matched_total":
                    matched[(labels["proxy"], labels["toxic"])] = int(sample.value)
                elif sample.name == "toxiproxy_http_faults_total":
                    key = (labels["proxy"], labels["toxic"], labels["kind"])
                    injected.append((*key, int(sample.value)))
        return [
            HttpToxicCount(proxy, toxic, kind, matched.get((proxy, toxic), 0), count)
            for proxy, toxic, kind, count in injected
        ]

    # -- server ---------------------------------------------------------------------------

    def version(self) -> str:
        return str(self._json("GET", "/version")["version"])

    def is_running(self) -> bool:
        try:
            self.version()
        except FaultError:
            return False
        return True

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    # -- proxies --------------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        data = self._json("GET", "/proxies")
        return {name: ProxyInfo.from_json(value) for name, value in data.items()}

    def proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_json(self._json("GET", f"/proxies/{name}"))

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.from_json(self._json("POST", "/proxies", body))

    def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyInfo]:
        """Create or replace these proxies (Toxiproxy's /populate: unchanged ones are kept)."""
        data = self._json("POST", "/populate", proxies)
        return [ProxyInfo.from_json(p) for p in data.get("proxies") or []]

    def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Disabled = partition: the listener and every live connection are closed."""
        return ProxyInfo.from_json(self._json("POST", f"/proxies/{name}", {"enabled": enabled}))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    # -- toxics ---------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        return [ToxicInfo.from_json(t) for t in self._json("GET", f"/proxies/{proxy}/toxics")]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, object] | None = None,
    ) -> ToxicInfo:
        body = {
            "name": name or f"{type}_{stream}",
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        return ToxicInfo.from_json(self._json("POST", f"/proxies/{proxy}/toxics", body))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        toxicity: float | None = None,
        attributes: Mapping[str, object] | None = None,
    ) -> ToxicInfo:
        """Change a live toxic; omitted fields keep their values (the client lacks this call)."""
        body: dict[str, Any] = {}
        if toxicity is not None:
            body["toxicity"] = toxicity
        if attributes is not None:
            body["attributes"] = attributes
        path = f"/proxies/{proxy}/toxics/{name}"
        return ToxicInfo.from_json(self._json("POST", path, body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
