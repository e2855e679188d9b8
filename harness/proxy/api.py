"""Toxiproxy's HTTP API over the collection: routes, JSON shapes, status codes (= api.go).

    HTTP request -> _Guard (request id, browser block) -> route -> wire.decode_body
        -> ProxyCollection / ToxicCollection -> wire JSON -> response
    ApiError anywhere -> {"error": message, "status": code}\\n

This layer only translates; every rule about proxies and toxics lives in the collection.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.proxy.collection import ProxyCollection, ProxySpec, ToxicCollection, ToxicSpec
from harness.proxy.errors import ApiError
from harness.proxy.link import ToxicEntry
from harness.proxy.metrics import ProxyMetrics
from harness.proxy.server import Proxy
from harness.proxy.wire import MAX_BODY_BYTES, decode_body, dumps, field, float32, format_float32

__all__ = ["create_api", "proxy_json", "toxic_json"]

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
DEFAULT_LISTEN = "127.0.0.1:0"  # a proxy created without ``listen``: a free loopback port
# What GET /version says: the Toxiproxy release whose API this one matches, as semver, with
# ours as build metadata (``2.12.0+shortvideo-chaos.0.1.0``): a client that compares versions
# to decide what the server supports sees 2.12.0; a person (or the harness) sees which it is.
TOXIPROXY_API = "2.12.0"


def toxic_json(entry: ToxicEntry) -> dict[str, Any]:
    return {
        "attributes": entry.toxic.attributes(),
        "name": entry.name,
        "type": entry.toxic.type_name,
        "stream": entry.stream,
        "toxicity": format_float32(entry.toxicity),
    }


def proxy_json(proxy: Proxy, toxics: ToxicCollection) -> dict[str, Any]:
    return {
        "name": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "Logger": {},
        "toxics": [toxic_json(entry) for entry in toxics.entries()],
    }


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type=JSON)


def _error(exc: ApiError) -> Response:
    body = dumps({"error": exc.message, "status": exc.status}) + b"\n"
    return Response(
        body, exc.status, headers={"X-Content-Type-Options": "nosniff"}, media_type=TEXT
    )


def _empty(status: int) -> Response:
    return Response(b"", status_code=status)


async def _read_json(request: Request) -> Any:
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError.bad_body("http: request body too large")
    return decode_body(bytes(raw))


def _object(value: Any, go_type: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else type(value).__name__
        kind = {"str": "string", "int": "number", "float": "number", "NoneType": "null"}.get(
            kind, kind
        )
        if kind == "null":
            return {}
        raise ApiError.bad_body(f"json: cannot unmarshal {kind} into Go value of type {go_type}")
    return value


def _proxy_spec(body: dict[str, Any], base: ProxySpec | None = None) -> ProxySpec:
    base = base or ProxySpec(name="", listen="", upstream="", enabled=True)
    return ProxySpec(
        name=field(body, "name", str, "Proxy", base.name),
        listen=field(body, "listen", str, "Proxy", base.listen),
        upstream=field(body, "upstream", str, "Proxy", base.upstream),
        enabled=field(body, "enabled", bool, "Proxy", base.enabled),
    )


def _toxic_spec(body: dict[str, Any], type_name: str = "") -> ToxicSpec:
    toxicity = field(body, "toxicity", float, "ToxicWrapper", None)
    attributes = body.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        kind = "array" if isinstance(attributes, list) else "value"
        go_type = f"toxics.{type_name.title().replace('_', '')}Toxic" if type_name else "object"
        raise ApiError.bad_body(
            f"json: cannot unmarshal {kind} into Go struct field "
            f"ToxicWrapper.attributes of type {go_type}"
        )
    return ToxicSpec(
        name=field(body, "name", str, "ToxicWrapper", ""),
        type=field(body, "type", str, "ToxicWrapper", ""),
        stream=field(body, "stream", str, "ToxicWrapper", None),
        toxicity=None if toxicity is None else float32(toxicity),
        attributes=attributes,
    )


class _Api:
    def __init__(self, collection: ProxyCollection, metrics: ProxyMetrics, version: str) -> None:
        self.collection = collection
        self.metrics = metrics
        self.version = version

    def _proxy_json(self, proxy: Proxy) -> dict[str, Any]:
        return proxy_json(proxy, self.collection.toxics[proxy.name])

    async def version_(self, request: Request) -> Response:
        body = f'{{"version": "{TOXIPROXY_API}+shortvideo-chaos.{self.version}"}}\n'.encode()
        return Response(body, media_type="application/json;charset=utf-8")

    async def metrics_(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def reset(self, request: Request) -> Response:
        await self.collection.reset()
        return _empty(204)

    async def list_proxies(self, request: Request) -> Response:
        proxies = self.collection.proxies
        return _json({name: self._proxy_json(proxies[name]) for name in sorted(proxies)})

    async def create_proxy(self, request: Request) -> Response:
        spec = _proxy_spec(_object(await _read_json(request), "toxiproxy.Proxy"))
        if not spec.name:
            raise ApiError.missing_field("name")
        if not spec.upstream:
            raise ApiError.missing_field("upstream")
        if not spec.listen:  # Toxiproxy: a free port on every interface; ours: on loopback
            spec = dataclasses.replace(spec, listen=DEFAULT_LISTEN)
        proxy = await self.collection.create(spec)
        return _json(self._proxy_json(proxy), 201)

    async def populate(self, request: Request) -> Response:
        try:
            specs = self._populate_specs(await _read_json(request))
            proxies = await self.collection.populate(specs)
        except ApiError as exc:
            done = [self._proxy_json(p) for p in exc.populated] if exc.populated else None
            body = {"error": exc.message, "status": exc.status, "proxies": done}
            return _json(body, exc.status)
        return _json({"proxies": [self._proxy_json(p) for p in proxies] or None}, 201)

    @staticmethod
    def _populate_specs(value: Any) -> list[ProxySpec]:
        go_type = "[]struct { Name string; Listen string; Upstream string; Enabled *bool }"
        if not isinstance(value, list):
            kind = "object" if isinstance(value, dict) else "value"
            raise ApiError.bad_body(
                f"json: cannot unmarshal {kind} into Go value of type {go_type}"
            )
        specs = []
        for index, item in enumerate(value, start=1):
            spec = _proxy_spec(_object(item, go_type))
            if not spec.name:
                raise ApiError.missing_field("name", index)
            if not spec.upstream:
                raise ApiError.missing_field("upstream", index)
            specs.append(spec)
        return specs

    async def show_proxy(self, request: Request) -> Response:
        return _json(self._proxy_json(self.collection.get(request.path_params["proxy"])))

    async def update_proxy(self, request: Request) -> Response:
        proxy = self.collection.get(request.path_params["proxy"])
        current = ProxySpec(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
        spec = _proxy_spec(_object(await _read_json(request), "toxiproxy.Proxy"), current)
        proxy = await self.collection.update(proxy.name, spec.listen, spec.upstream, spec.enabled)
        return _json(self._proxy_json(proxy))

    async def delete_proxy(self, request: Request) -> Response:
        await self.collection.delete(request.path_params["proxy"])
        return _empty(204)

    def _toxics(self, request: Request) -> ToxicCollection:
        name = self.collection.get(request.path_params["proxy"]).name
        return self.collection.toxics[name]

    async def list_toxics(self, request: Request) -> Response:
        return _json([toxic_json(entry) for entry in self._toxics(request).entries()])

    async def create_toxic(self, request: Request) -> Response:
        toxics = self._toxics(request)
        body = _object(await _read_json(request), "toxiproxy.ToxicWrapper")
        entry = await toxics.add(_toxic_spec(body, str(body.get("type") or "")))
        return _json(toxic_json(entry))

    async def show_toxic(self, request: Request) -> Response:
        return _json(toxic_json(self._toxics(request).find(request.path_params["toxic"])))

    async def update_toxic(self, request: Request) -> Response:
        toxics = self._toxics(request)
        current = toxics.find(request.path_params["toxic"])
        body = _object(await _read_json(request), "toxiproxy.ToxicWrapper")
        spec = _toxic_spec(body, current.toxic.type_name)
        entry = await toxics.update(current.name, spec)
        return _json(toxic_json(entry))

    async def delete_toxic(self, request: Request) -> Response:
        await self._toxics(request).remove(request.path_params["toxic"])
        return _empty(204)


class _Guard:
    """Pure ASGI: a request id on every response, and browsers get 403 (CSRF guard)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = base64.b32hexencode(os.urandom(12)).decode().lower()[:20]
        headers = dict(scope["headers"])
        if headers.get(b"user-agent", b"").startswith(b"Mozilla/"):
            response = Response(b"User agent not allowed\n", 403, media_type=TEXT)
            response.headers["X-Toxiproxy-Request-Id"] = request_id
            await response(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-toxiproxy-request-id", request_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _not_found(request: Request, exc: Exception) -> Response:
    return Response(
        b"404 page not found\n", 404, media_type=TEXT, headers={"X-Content-Type-Options": "nosniff"}
    )


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return _empty(405)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _empty(exc.status_code)


def create_api(collection: ProxyCollection, metrics: ProxyMetrics, version: str = "git") -> ASGIApp:
    """The Toxiproxy HTTP API as an ASGI app."""
    api = _Api(collection, metrics, version)
    update = ["POST", "PATCH"]
    any_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [
        Route("/version", api.version_, methods=["GET"]),
        Route("/metrics", api.metrics_, methods=any_method),
        Route("/reset", api.reset, methods=["POST"]),
        Route("/populate", api.populate, methods=["POST"]),
        Route("/proxies", api.list_proxies, methods=["GET"]),
        Route("/proxies", api.create_proxy, methods=["POST"]),
        Route("/proxies/{proxy}", api.show_proxy, methods=["GET"]),
        Route("/proxies/{proxy}", api.update_proxy, methods=update),
        Route("/proxies/{proxy}", api.delete_proxy, methods=["DELETE"]),
        Route("/proxies/{proxy}/toxics", api.list_toxics, methods=["GET"]),
        Route("/proxies/{proxy}/toxics", api.create_toxic, methods=["POST"]),
        Route("/proxies/{proxy}/toxics/{toxic}", api.show_toxic, methods=["GET"]),
        Route("/proxies/{proxy}/toxics/{toxic}", api.update_toxic, methods=update),
        Route("/proxies/{proxy}/toxics/{toxic}", api.delete_toxic, methods=["DELETE"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            404: _not_found,
            405: _not_allowed,
            HTTPException: _http_error,
            ApiError: _api_error,
        },
    )
    app.router.redirect_slashes = False
    return _Guard(app)
