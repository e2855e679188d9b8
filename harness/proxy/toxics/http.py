"""HTTP toxics: http_abort, http_delay, http_corrupt. Each decides, per request, what happens
to it; the connection's HTTP layer (exchange.py) carries the decision out.

    request Head -> for each HTTP toxic of the proxy, in order: matches? -> drawn (toxicity is
    the per-request probability)? -> toxic.apply(decision) -> Decision (delays, answer, spoil)

Delays add up; the first abort or corruption drawn decides the answer (later ones are not
counted). Delays are drawn stratified: every 100 draws of a toxic take one value from each
percentile band of its distribution (in a random order), so a short run already shows the
median and p99 asked for, not a sample's luck.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from statistics import NormalDist
from typing import Any

from pydantic import ValidationError

from harness.proxy.http1 import Head, dechunk, reason_phrase
from harness.proxy.http_attributes import (
    HttpAbortAttributes,
    HttpAttributes,
    HttpCorruptAttributes,
    HttpDelayAttributes,
    describe_error,
)
from harness.proxy.toxics.base import InvalidAttributes, Toxic, ToxicStub, register

__all__ = [
    "Decision",
    "HttpAbortToxic",
    "HttpCorruptToxic",
    "HttpDelayToxic",
    "HttpToxic",
    "delay_quantile",
    "spoil",
]

STRATA = 100
Z99 = NormalDist().inv_cdf(0.99)
GARBAGE_BYTES = 64


@dataclasses.dataclass
class Decision:
    """What happens to one request and its answer."""

    method: str
    request_delay_s: float = 0.0
    response_delay_s: float = 0.0
    answer: bytes | None = None  # a made-up response instead of the upstream's
    before_upstream: bool = False  # ... and the upstream never sees the request
    spoil: str | None = None  # a corruption mode for the upstream's answer
    close_after: bool = False  # the connection ends after this answer

    @property
    def decided(self) -> bool:
        return self.answer is not None or self.spoil is not None


class _Matcher:
    __slots__ = ("headers", "methods", "path")

    def __init__(self, attrs: HttpAttributes) -> None:
        self.methods = attrs.methods()
        self.path = None if attrs.path is None else re.compile(attrs.path)
        self.headers = [(n, re.compile(p)) for n, p in (attrs.header or {}).items()]

    def __call__(self, head: Head) -> bool:
        if self.methods is not None and head.method.upper() not in self.methods:
            return False
        if self.path is not None and self.path.search(head.target) is None:
            return False
        for name, pattern in self.headers:
            value = head.header(name)
            if value is None or pattern.search(value) is None:
                return False
        return True


class _Strata:
    """Uniform draws in (0, 1), one per percentile band in each block of STRATA draws."""

    __slots__ = ("_order",)

    def __init__(self) -> None:
        self._order: list[int] = []

    def draw(self, rng: random.Random) -> float:
        if not self._order:
            self._order = list(range(STRATA))
            rng.shuffle(self._order)
        band = self._order.pop()
        return (band + max(rng.random(), 1e-9)) / STRATA


def delay_quantile(attrs: HttpDelayAttributes, u: float) -> float:
    """The delay (ms) at quantile ``u`` of the distribution; never negative."""
    kind = attrs.distribution
    if kind == "fixed":
        value = attrs.latency
    elif kind == "uniform":
        value = attrs.latency + (2 * u - 1) * (attrs.jitter or 0.0)
    elif kind == "normal":
        sigma = attrs.jitter or 0.0
        value = NormalDist(attrs.latency, sigma).inv_cdf(u) if sigma > 0 else attrs.latency
    elif kind == "lognormal":
        assert attrs.p99 is not None
        sigma = math.log(attrs.p99 / attrs.latency) / Z99
        value = attrs.latency * math.exp(sigma * NormalDist().inv_cdf(u))
    else:  # pareto: minimum latency, shape alpha
        assert attrs.alpha is not None
        value = attrs.latency / (1.0 - u) ** (1.0 / attrs.alpha)
    return max(value, 0.0)


@dataclasses.dataclass(frozen=True)
class HttpToxic(Toxic):
    """An HTTP toxic: its attributes and a matcher; never a stage of its own."""

    settings: HttpAttributes
    matcher: _Matcher = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", _Matcher(self.settings))

    @classmethod
    def decode(cls, current: Toxic | None, raw: dict[str, Any]) -> Toxic:
        model = _MODELS[cls]
        base = current.settings.model_dump() if isinstance(current, HttpToxic) else {}
        merged = {**base, **{k: v for k, v in raw.items() if v is not None}}
        try:
            return cls(settings=model.model_validate(merged))
        except ValidationError as exc:
            raise InvalidAttributes(
                f"invalid attributes for {cls.type_name}: {describe_error(exc)}"
            ) from None

    def attributes(self) -> dict[str, Any]:
        """Every attribute that has a value (toxiproxy-cli shows an unset one as <nil>)."""
        return self.settings.model_dump(mode="json", exclude_none=True)

    async def pipe(self, stub: ToxicStub) -> None:  # pragma: no cover - never a stage
        raise RuntimeError("an HTTP toxic acts through the connection's HTTP layer")

    def apply(
        self, decision: Decision, head: Head, rng: random.Random, upstream: bool
    ) -> str | None:
        """Change ``decision`` for this request (``upstream``: the toxic's stream is
        upstream); the kind of fault injected, or None."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class HttpAbortToxic(HttpToxic):
    def apply(
        self, decision: Decision, head: Head, rng: random.Random, upstream: bool
    ) -> str | None:
        attrs = self.settings
        assert isinstance(attrs, HttpAbortAttributes)
        if decision.decided:
            return None
        decision.before_upstream = not attrs.after_upstream
        # A request waiting for 100-continue may never send its body: the stream cannot go on.
        expects = (head.header("expect") or "").lower() == "100-continue"
        decision.close_after = decision.before_upstream and expects
        decision.answer = abort_response(attrs, head, decision.close_after)
        return "abort"


@dataclasses.dataclass(frozen=True)
class HttpDelayToxic(HttpToxic):
    strata: _Strata = dataclasses.field(default_factory=_Strata, compare=False, repr=False)

    def apply(
        self, decision: Decision, head: Head, rng: random.Random, upstream: bool
    ) -> str | None:
        attrs = self.settings
        assert isinstance(attrs, HttpDelayAttributes)
        delay_s = delay_quantile(attrs, self.strata.draw(rng)) / 1000.0
        if upstream:  # the request waits; downstream, its answer does
            decision.request_delay_s += delay_s
        else:
            decision.response_delay_s += delay_s
        return "delay"


@dataclasses.dataclass(frozen=True)
class HttpCorruptToxic(HttpToxic):
    def apply(
        self, decision: Decision, head: Head, rng: random.Random, upstream: bool
    ) -> str | None:
        attrs = self.settings
        assert isinstance(attrs, HttpCorruptAttributes)
        if decision.decided:
            return None
        decision.spoil = attrs.mode
        return attrs.mode


_MODELS: dict[type[HttpToxic], type[HttpAttributes]] = {
    HttpAbortToxic: HttpAbortAttributes,
    HttpDelayToxic: HttpDelayAttributes,
    HttpCorruptToxic: HttpCorruptAttributes,
}


def _response(status: int, headers: list[tuple[str, str]], body: bytes, method: str) -> bytes:
    """A whole answer. 1xx, 204 and 304 have no body and no length; HEAD has the length of
    the body it does not get."""
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}", *(f"{n}: {v}" for n, v in headers)]
    bodiless = status < 200 or status in (204, 304)
    if not bodiless:
        lines.append(f"Content-Length: {len(body)}")
    payload = b"" if bodiless or method == "HEAD" else body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def abort_response(attrs: HttpAbortAttributes, head: Head, close: bool) -> bytes:
    body = attrs.body
    if body is None:
        body = f"{attrs.status} {reason_phrase(attrs.status)} (http_abort: injected fault)\n"
    headers = list(attrs.headers.items())
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", "text/plain; charset=utf-8"))
    if close:
        headers.append(("Connection", "close"))
    return _response(attrs.status, headers, body.encode(), head.method)


def _framing_free(head: Head) -> list[tuple[str, str]]:
    drop = {"content-length", "transfer-encoding"}
    return [(name, value) for name, value in head.headers if name.lower() not in drop]


def spoil(mode: str, head: Head, body: bytes, chunked: bool, rng: random.Random) -> bytes:
    """The bytes the client gets instead of a response (``head`` + raw ``body``); every mode
    but empty_success closes the connection after them."""
    if mode == "empty_success":
        headers = [*_framing_free(head), ("Content-Length", "0")]
        lines = ["HTTP/1.1 200 OK", *(f"{n}: {v}" for n, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if mode == "garbage_then_close":
        noise = bytes(rng.randrange(256) for _ in range(GARBAGE_BYTES))
        return b"\x00\xff" + noise  # never a status line
    if mode == "truncate_body":
        if not body:
            return head.raw[: len(head.raw) // 2]
        return head.raw + body[: len(body) // 2]
    # wrong_length: the head declares half the payload, which comes; the rest never does
    payload = dechunk(body) if chunked else body
    declared = len(payload) // 2 if len(payload) > 1 else len(payload) + 1
    headers = [*_framing_free(head), ("Content-Length", str(declared))]
    lines = [head.raw.split(b"\r\n", 1)[0].decode("latin-1"), *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload[:declared]


register("http_abort", HttpAbortToxic)
register("http_delay", HttpDelayToxic)
register("http_corrupt", HttpCorruptToxic)
