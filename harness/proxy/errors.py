"""The proxy's errors, each with the HTTP status and message Toxiproxy answers with."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "ConfigFileError"]


class ApiError(Exception):
    """An error the API turns into ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        # /populate only: what was created before the failing entry (there is no rollback).
        self.populated: list[Any] | None = None

    @classmethod
    def bad_body(cls, detail: str) -> ApiError:
        return cls(400, f"bad request body: {detail}")

    @classmethod
    def missing_field(cls, field: str, index: int | None = None) -> ApiError:
        where = "" if index is None else f" at proxy {index}"
        return cls(400, f"missing required field: {field}{where}")


PROXY_NOT_FOUND = (404, "proxy not found")
PROXY_EXISTS = (409, "proxy already exists")
TOXIC_NOT_FOUND = (404, "toxic not found")
TOXIC_EXISTS = (409, "toxic already exists")
INVALID_STREAM = (400, "stream was invalid, can be either upstream or downstream")
INVALID_TOXIC_TYPE = (400, "invalid toxic type")


class ConfigFileError(Exception):
    """A ``--config`` file that cannot be read or is not Toxiproxy's populate format."""
