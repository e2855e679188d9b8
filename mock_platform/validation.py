"""Input checks shared by services: bad input is a 4xx with a JSON sentence, never a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_platform.common import json_error

__all__ = ["MAX_JSON_BYTES", "BadInput", "int_param", "read_json", "valid_id"]

MAX_JSON_BYTES = 64 * 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadInput(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @staticmethod
    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadInput)
        return json_error(exc.status, exc.message)


def valid_id(value: str, what: str = "id") -> str:
    """Ids are short and plain: no path separators, dots or traversal."""
    if not _ID.match(value):
        raise BadInput(f"{what} must be 1-64 letters, digits, '-' or '_', got {value[:80]!r}")
    return value


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise BadInput(f"body larger than {MAX_JSON_BYTES} bytes", 413)
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise BadInput("body must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadInput("body must be a JSON object")
    return value


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; anything else is a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}, got {value}")
    return value
