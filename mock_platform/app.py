"""build_app(settings): the ASGI app of one service, chosen by name from the topology."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mock_platform.defects import Defects
from mock_platform.services import (
    catalog,
    cdn,
    feed,
    gateway,
    metrics,
    moderation,
    search,
    status,
    upload,
)
from mock_platform.settings import Settings

__all__ = ["FACTORIES", "build_app"]

FACTORIES: dict[str, Callable[[Settings], Any]] = {
    "gateway": gateway.create_app,
    "upload": upload.create_app,
    "moderation": moderation.create_api,
    "moderation-worker": moderation.create_worker,
    "catalog-primary": catalog.create_app,
    "catalog-replica": catalog.create_app,
    "feed-a": feed.create_app,
    "feed-b": feed.create_app,
    "search": search.create_app,
    "search-canary": search.create_app,
    "cdn-origin": cdn.create_origin,
    "cdn-edge": cdn.create_edge,
    "metrics": metrics.create_app,
    "status": status.create_app,
}


def build_app(settings: Settings) -> Any:
    """The service's app, with its build's defects (if any) in front of it."""
    if settings.defects.get("crash_on_start"):
        raise SystemExit(f"{settings.service}@{settings.build}: crash on start (declared defect)")
    app = FACTORIES[settings.role](settings)
    return Defects(app, settings.defects, settings.build) if settings.defects else app
