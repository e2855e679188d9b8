"""What an HTTP toxic takes (pydantic models, no I/O): one definition for the proxy's API and
for scenario files, so a scenario is refused for exactly what the proxy would refuse.

    {"type": "http_abort", "attributes": {...}} -> HttpAbortAttributes | HttpDelayAttributes |
        HttpCorruptAttributes (ranges checked, regexes compiled, the distribution's parameters
        present) -> the toxic (http.py) or the scenario's fault (scenario/model.py)

Every HTTP toxic matches requests by ``method`` (one or a list), ``path`` (a regex searched in
the path and query) and ``header`` ({name: regex searched in its value}); a request that does
not match is left alone. Delays are milliseconds, as Toxiproxy's.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "CORRUPT_MODES",
    "DISTRIBUTIONS",
    "HTTP_ATTRIBUTES",
    "HttpAbortAttributes",
    "HttpAttributes",
    "HttpCorruptAttributes",
    "HttpDelayAttributes",
    "describe_error",
]

MAX_DELAY_MS = 86_400_000.0  # a day; more is a typo
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal", "pareto")
CORRUPT_MODES = ("truncate_body", "wrong_length", "garbage_then_close", "empty_success")


def _regex(value: str, what: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{what} {value!r} is not a regular expression: {exc}") from None
    return value


class _Matching(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str | list[str] | None = Field(
        default=None, description="Only requests with this method (or one of these)"
    )
    path: str | None = Field(
        default=None, description="Only requests whose path and query this regex is found in"
    )
    header: dict[str, str] | None = Field(
        default=None, description="Only requests with these headers, each value matching a regex"
    )

    @field_validator("method")
    @classmethod
    def _methods(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else value or []
        if value is not None and not names:
            raise ValueError("method: an empty list matches no request")
        for name in names:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"method {name!r} is not an HTTP method")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _regex(value, "path")

    @field_validator("header")
    @classmethod
    def _header(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, pattern in (value or {}).items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a header name")
            _regex(pattern, f"header {name}:")
        return value

    def methods(self) -> frozenset[str] | None:
        if self.method is None:
            return None
        names = [self.method] if isinstance(self.method, str) else self.method
        return frozenset(name.upper() for name in names)


class HttpAbortAttributes(_Matching):
    """Answer ``status`` instead of the upstream (which never sees the request), or with
    ``after_upstream`` instead of the upstream's own answer."""

    status: int = Field(default=503, ge=100, le=599)
    body: str | None = Field(default=None, description="Default: a line naming the fault")
    headers: dict[str, str] = Field(default_factory=dict)
    after_upstream: bool = False

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a header name")
            if name.lower() in ("content-length", "transfer-encoding"):
                raise ValueError(f"header {name} is set by the proxy (it frames the body)")
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name}: a value cannot hold a line break")
        return value


class HttpDelayAttributes(_Matching):
    """Hold the request (stream upstream) or its response (downstream) for a drawn time."""

    distribution: Literal["fixed", "uniform", "normal", "lognormal", "pareto"] = "fixed"
    latency: float = Field(
        default=0.0,
        ge=0,
        le=MAX_DELAY_MS,
        description="ms: the value (fixed), the centre (uniform), the mean (normal), the median"
        " (lognormal), the minimum (pareto)",
    )
    jitter: float | None = Field(
        default=None, ge=0, le=MAX_DELAY_MS, description="ms: half-width (uniform), stddev (normal)"
    )
    p99: float | None = Field(default=None, gt=0, le=MAX_DELAY_MS, description="ms (lognormal)")
    alpha: float | None = Field(default=None, gt=0, le=100, description="shape (pareto)")

    @model_validator(mode="after")
    def _parameters(self) -> HttpDelayAttributes:
        kind = self.distribution
        if kind in ("uniform", "normal") and self.jitter is None:
            raise ValueError(f"a {kind} delay needs jitter (ms)")
        if kind == "lognormal":
            if self.p99 is None:
                raise ValueError("a lognormal delay needs p99 (ms)")
            if not 0 < self.latency < self.p99:
                raise ValueError("a lognormal delay needs 0 < latency (its median) < p99")
        if kind == "pareto":
            if self.alpha is None:
                raise ValueError("a pareto delay needs alpha (its shape)")
            if self.latency <= 0:
                raise ValueError("a pareto delay needs latency (its minimum) above 0")
        return self


class HttpCorruptAttributes(_Matching):
    """Spoil the upstream's answer on its way back."""

    mode: Literal["truncate_body", "wrong_length", "garbage_then_close", "empty_success"]


HttpAttributes = HttpAbortAttributes | HttpDelayAttributes | HttpCorruptAttributes
HTTP_ATTRIBUTES: dict[str, type[HttpAttributes]] = {
    "http_abort": HttpAbortAttributes,
    "http_delay": HttpDelayAttributes,
    "http_corrupt": HttpCorruptAttributes,
}


def describe_error(exc: ValidationError) -> str:
    """One line per problem: ``field: message`` (pydantic's wording, without its URLs)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown attribute"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
