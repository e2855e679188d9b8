"""Pure parts of the proxy: attribute validation, slicer chunking, limit_data, wire formats."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.proxy.errors import ApiError
from harness.proxy.stream import Direction, parse_direction
from harness.proxy.toxics import TOXIC_TYPES
from harness.proxy.toxics.base import InvalidAttributes, decode_attributes
from harness.proxy.toxics.limit_data import LimitState, take
from harness.proxy.toxics.slicer import SlicerToxic, split_points
from harness.proxy.wire import decode_body, float32, format_float32


def test_every_toxiproxy_type_is_registered_and_our_http_ones() -> None:
    assert sorted(TOXIC_TYPES) == sorted(
        [
            "latency",
            "bandwidth",
            "slow_close",
            "timeout",
            "reset_peer",
            "slicer",
            "limit_data",
            "noop",
            "http_abort",
            "http_delay",
            "http_corrupt",
        ]
    )


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("latency", {"latency": 0, "jitter": 0}),
        ("bandwidth", {"rate": 0}),
        ("slow_close", {"delay": 0}),
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("limit_data", {"bytes": 0}),
        ("noop", {}),
    ],
)
def test_defaults_in_api_order(name: str, defaults: dict[str, int]) -> None:
    assert decode_attributes(TOXIC_TYPES[name], None, {}).attributes() == defaults


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_latency_takes_any_int64(value: int) -> None:
    toxic = decode_attributes(TOXIC_TYPES["latency"], None, {"latency": value, "other": "x"})
    assert toxic.attributes()["latency"] == value


@given(
    st.one_of(
        st.floats(), st.text(), st.booleans(), st.lists(st.integers()), st.integers(min_value=2**63)
    )
)
def test_non_int64_values_are_rejected(value: object) -> None:
    with pytest.raises(InvalidAttributes):
        decode_attributes(TOXIC_TYPES["latency"], None, {"latency": value})


def test_null_and_unknown_keys_keep_current_values() -> None:
    current = decode_attributes(TOXIC_TYPES["latency"], None, {"latency": 5, "jitter": 3})
    merged = decode_attributes(
        TOXIC_TYPES["latency"], current, {"latency": None, "x": 1, "jitter": 4}
    )
    assert merged.attributes() == {"latency": 5, "jitter": 4}


@given(
    average=st.integers(min_value=-5, max_value=50),
    variation=st.integers(min_value=-5, max_value=60),
    delay=st.integers(min_value=-5, max_value=5),
)
def test_slicer_accepts_every_configuration_toxiproxy_accepts(
    average: int, variation: int, delay: int
) -> None:
    raw = {"average_size": average, "size_variation": variation, "delay": delay}
    toxic = decode_attributes(SlicerToxic, None, raw)
    assert isinstance(toxic, SlicerToxic)
    assert toxic.attributes() == raw  # shown as given, as Toxiproxy shows them


@given(
    size=st.integers(min_value=0, max_value=5_000),
    average=st.integers(min_value=-5, max_value=0),
    variation=st.integers(min_value=-5, max_value=100),
)
def test_a_slicer_with_no_average_size_passes_chunks_whole(
    size: int, average: int, variation: int
) -> None:
    points = split_points(size, average, variation, random.Random(0))
    assert points == ([0, size] if size else [0])  # Toxiproxy recurses until its stack overflows


@given(
    size=st.integers(min_value=0, max_value=20_000),
    average=st.integers(min_value=1, max_value=50),
    variation=st.integers(min_value=-5, max_value=500),
    seed=st.integers(),
)
def test_a_variation_above_the_average_gives_uneven_pieces_of_at_least_a_byte(
    size: int, average: int, variation: int, seed: int
) -> None:
    points = split_points(size, average, variation, random.Random(seed))
    assert points[0] == 0
    assert points[-1] == size
    assert points == sorted(set(points))
    assert all(0 < b - a <= average + max(variation, 0) for a, b in itertools.pairwise(points))


@given(
    size=st.integers(min_value=0, max_value=50_000),
    average=st.integers(min_value=1, max_value=5000),
    data=st.data(),
    seed=st.integers(),
)
def test_slicer_pieces_cover_the_chunk_in_order(
    size: int, average: int, data: st.DataObject, seed: int
) -> None:
    variation = data.draw(st.integers(min_value=0, max_value=average))
    points = split_points(size, average, variation, random.Random(seed))
    assert points[0] == 0
    assert points[-1] == size
    assert points == sorted(set(points))
    assert all(0 < b - a <= average + variation for a, b in itertools.pairwise(points))


def test_slicer_reference_cases() -> None:
    assert split_points(24, 1, 0, random.Random(1)) == list(range(25))
    pieces = len(split_points(480_000, 1024, 512, random.Random(1))) - 1
    assert 240 <= pieces <= 720


@pytest.mark.parametrize(
    ("limit", "chunks", "expected", "closes_after"),
    [
        (100, [50], [50], None),
        (100, [100], [100], 0),
        (100, [150], [100], 0),
        (100, [25, 25, 25, 25], [25, 25, 25, 25], 3),
        (100, [90, 20], [90, 10], 1),
        (0, [10], [0], 0),
    ],
)
def test_limit_data_take(
    limit: int, chunks: list[int], expected: list[int], closes_after: int | None
) -> None:
    state = LimitState()
    passed, closed_at = [], None
    for index, size in enumerate(chunks):
        allowed, close = take(limit, state, b"x" * size)
        passed.append(len(allowed))
        if close and closed_at is None:
            closed_at = index
    assert passed == expected
    assert closed_at == closes_after


@pytest.mark.parametrize("text", ["upstream", "DOWNSTREAM", "UpStream"])
def test_direction_parsing_ignores_case(text: str) -> None:
    assert parse_direction(text) in (Direction.UPSTREAM, Direction.DOWNSTREAM)


@pytest.mark.parametrize("text", ["", "unknown", "-123"])
def test_bad_directions(text: str) -> None:
    assert parse_direction(text) is None


@pytest.mark.parametrize(
    ("value", "shown"), [(1.0, 1), (0.3, 0.3), (0.2, 0.2), (-1.0, -1), (0.5, 0.5)]
)
def test_toxicity_is_float32_shown_shortest(value: float, shown: float) -> None:
    assert format_float32(float32(value)) == shown


@given(st.binary(max_size=200))
def test_decode_body_never_raises_anything_but_api_errors(raw: bytes) -> None:
    error: ApiError | None = None
    try:
        decode_body(raw)
    except ApiError as exc:
        error = exc
    if error is not None:
        assert error.status == 400
        assert error.message.startswith("bad request body: ")


def test_decode_body_ignores_trailing_bytes() -> None:
    assert decode_body(b'{"name":"a"} trailing') == {"name": "a"}
