"""Toxiproxy's JSON on the wire: decoding request bodies the way Go's encoding/json does
(same error texts), and encoding proxies and toxics with Toxiproxy's field names and order."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from harness.proxy.errors import ApiError

__all__ = [
    "MAX_BODY_BYTES",
    "decode_body",
    "dumps",
    "field",
    "float32",
    "format_float32",
    "json_kind",
]

MAX_BODY_BYTES = 1 << 20  # Toxiproxy has no limit; one MiB is plenty for any real request


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def decode_body(raw: bytes) -> Any:
    """The first JSON value of ``raw``; trailing bytes are ignored, as Go's Decoder does."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError.bad_body("http: request body too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError.bad_body("invalid character looking for beginning of value") from None
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise ApiError.bad_body("EOF")
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    try:
        value, _ = decoder.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped.rstrip()):
            raise ApiError.bad_body("unexpected EOF") from None
        bad = stripped[exc.pos] if exc.pos < len(stripped) else ""
        raise ApiError.bad_body(
            f"invalid character {bad!r} looking for beginning of value"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError.bad_body(str(exc) or "invalid JSON") from None
    return value


def json_kind(value: object) -> str:
    """The JSON type name Go's decoder uses in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def field(body: dict[str, Any], name: str, kind: type, struct_name: str, default: Any) -> Any:
    """``body[name]`` checked against Go's field type; absent or null gives ``default``."""
    value = body.get(name)
    if value is None:
        return default
    go_type = {str: "string", bool: "bool", float: "float32", dict: "object"}[kind]
    ok = (
        isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float
        else isinstance(value, kind)
    )
    if not ok:
        raise ApiError.bad_body(
            f"json: cannot unmarshal {json_kind(value)} into Go struct field "
            f"{struct_name}.{name} of type {go_type}"
        )
    return value


def float32(value: float) -> float:
    """Round to the nearest float32, as Toxiproxy stores toxicity."""
    if not math.isfinite(value) or abs(value) > 3.4e38:
        raise ApiError.bad_body(
            f"json: cannot unmarshal number {value} into Go struct field "
            "ToxicWrapper.toxicity of type float32"
        )
    return float(struct.unpack("f", struct.pack("f", value))[0])


def format_float32(value: float) -> float | int:
    """The shortest decimal that reads back as the same float32: 1 not 1.0, 0.3 not 0.30000001."""
    if value == int(value):
        return int(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if float32(candidate) == value:
            return candidate
    return value


def dumps(value: Any) -> bytes:
    """Compact JSON, no trailing newline, as Go's json.Marshal."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
