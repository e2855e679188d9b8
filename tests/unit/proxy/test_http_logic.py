"""The HTTP layer's logic without sockets: framing, delay distributions, decisions, spoiling."""

from __future__ import annotations

import math
import random

import pytest

from harness.proxy.exchange import Exchange, HttpCounters
from harness.proxy.http1 import (
    Body,
    End,
    Framing,
    Head,
    MessageReader,
    Raw,
    dechunk,
    request_framing,
)
from harness.proxy.http_attributes import HttpDelayAttributes
from harness.proxy.link import ToxicEntry
from harness.proxy.stream import Direction
from harness.proxy.toxics.base import InvalidAttributes
from harness.proxy.toxics.http import (
    STRATA,
    HttpAbortToxic,
    HttpCorruptToxic,
    HttpDelayToxic,
    _Strata,
    delay_quantile,
    spoil,
)


def _events(reader: MessageReader, *pieces: bytes) -> list[object]:
    return [event for piece in pieces for event in reader.feed(piece)]


def _response_reader(method: str = "GET", synced: bool = True) -> MessageReader:
    def framing(head: Head) -> Framing:
        if method == "HEAD" or head.status in (204, 304):
            return Framing.NONE
        if head.chunked:
            return Framing.CHUNKED
        length = head.content_length
        return (
            Framing.UNTIL_CLOSE if length is None else (Framing.LENGTH if length else Framing.NONE)
        )

    return MessageReader(False, framing, synced=synced)


def test_a_request_split_anywhere_is_one_head_its_body_and_an_end() -> None:
    raw = b"POST /v1/videos?x=1 HTTP/1.1\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"
    for cut in range(1, len(raw)):
        reader = MessageReader(True, request_framing)
        events = _events(reader, raw[:cut], raw[cut:])
        heads = [e for e in events if isinstance(e, Head)]
        assert len(heads) == 1
        assert heads[0].method == "POST"
        assert heads[0].target == "/v1/videos?x=1"
        assert heads[0].header("x-a") == "b"
        assert b"".join(e.raw for e in events if isinstance(e, Head | Body)) == raw
        assert isinstance(events[-1], End)


def test_pipelined_requests_in_one_read_come_out_one_by_one() -> None:
    reader = MessageReader(True, request_framing)
    events = _events(reader, b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
    assert [type(e).__name__ for e in events] == ["Head", "End", "Head", "End"]


def test_a_chunked_answer_with_trailers_ends_after_them() -> None:
    body = b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n"
    reader = _response_reader()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = _events(reader, head + body[:7], body[7:] + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert [type(e).__name__ for e in events].count("End") == 2
    assert b"".join(e.raw for e in events if isinstance(e, Body)) == body
    assert dechunk(body) == b"wikipedia"


def test_an_answer_without_length_ends_at_the_close() -> None:
    reader = _response_reader()
    events = _events(reader, b"HTTP/1.0 200 OK\r\n\r\nsome", b" bytes")
    assert not any(isinstance(e, End) for e in events)
    assert isinstance(next(iter(reader.finish())), End)


def test_a_reader_out_of_step_waits_for_a_start_line() -> None:
    reader = MessageReader(True, request_framing, synced=False)
    events = _events(reader, b"tail of an earlier body", b"GET /next HTTP/1.1\r\n\r\n")
    assert isinstance(events[0], Raw)
    assert isinstance(events[1], Head)


def test_what_cannot_be_parsed_passes_through_for_good() -> None:
    reader = MessageReader(True, request_framing)
    events = _events(reader, b"\x16\x03\x01 hello\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n")
    assert reader.broken
    assert all(isinstance(e, Raw) for e in events)
    assert b"".join(e.raw for e in events if isinstance(e, Raw)).startswith(b"\x16\x03\x01")


def _delay(**attributes: object) -> HttpDelayAttributes:
    return HttpDelayAttributes.model_validate(attributes)


def test_distributions_have_the_quantiles_they_are_given() -> None:
    lognormal = _delay(distribution="lognormal", latency=50, p99=200)
    assert delay_quantile(lognormal, 0.5) == pytest.approx(50)
    assert delay_quantile(lognormal, 0.99) == pytest.approx(200)
    normal = _delay(distribution="normal", latency=100, jitter=10)
    assert delay_quantile(normal, 0.8413) == pytest.approx(110, abs=0.01)
    assert delay_quantile(_delay(distribution="normal", latency=1, jitter=10), 0.01) == 0
    uniform = _delay(distribution="uniform", latency=100, jitter=20)
    assert (delay_quantile(uniform, 0.0), delay_quantile(uniform, 1.0)) == (80, 120)
    pareto = _delay(distribution="pareto", latency=10, alpha=2)
    assert delay_quantile(pareto, 0.0) == 10
    assert delay_quantile(pareto, 0.75) == pytest.approx(20)
    assert delay_quantile(_delay(latency=7), 0.3) == 7


def test_each_block_of_draws_takes_every_percentile_band_once() -> None:
    strata, rng = _Strata(), random.Random(1)
    bands = sorted(math.floor(strata.draw(rng) * STRATA) for _ in range(STRATA))
    assert bands == list(range(STRATA))


def test_5000_stratified_draws_give_the_median_and_p99_asked_for_within_5_percent() -> None:
    lognormal = _delay(distribution="lognormal", latency=50, p99=200)
    for seed in range(20):  # whatever the seed: the 5% over 5,000 requests
        strata, rng = _Strata(), random.Random(seed)
        drawn = sorted(delay_quantile(lognormal, strata.draw(rng)) for _ in range(5000))
        assert 47.5 <= drawn[2500] <= 52.5, seed
        assert 190 <= drawn[4950] <= 210, seed


def _entry(name: str, toxic: object, toxicity: float = 1.0, upstream: bool = False) -> ToxicEntry:
    direction = Direction.UPSTREAM if upstream else Direction.DOWNSTREAM
    return ToxicEntry(name, str(direction), direction, toxicity, toxic)  # type: ignore[arg-type]


def _head(
    method: str = "GET", target: str = "/", headers: tuple[tuple[str, str], ...] = ()
) -> Head:
    return Head(b"", method=method, target=target, headers=headers)


def test_the_first_answer_drawn_decides_and_delays_add_up() -> None:
    abort = HttpAbortToxic.decode(None, {"status": 503})
    corrupt = HttpCorruptToxic.decode(None, {"mode": "empty_success"})
    delay = HttpDelayToxic.decode(None, {"latency": 100})
    entries = [
        _entry("slow-in", delay, upstream=True),
        _entry("abort", abort),
        _entry("spoil", corrupt),
        _entry("slow-out", delay),
    ]
    counters = HttpCounters()
    decision = Exchange(lambda: entries, counters, random.Random(1)).decide(_head())
    assert decision.before_upstream
    assert decision.answer is not None
    assert decision.answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert decision.spoil is None
    assert (decision.request_delay_s, decision.response_delay_s) == (0.1, 0.1)
    assert counters.faults == {
        ("slow-in", "delay"): 1,
        ("abort", "abort"): 1,
        ("slow-out", "delay"): 1,
    }
    assert counters.matched["spoil"] == 1
    assert counters.requests == 1


def test_toxicity_is_drawn_per_request_and_matching_comes_first() -> None:
    abort = HttpAbortToxic.decode(None, {"method": "post"})
    entries = [_entry("abort", abort, toxicity=0.25)]
    counters = HttpCounters()
    exchange = Exchange(lambda: entries, counters, random.Random(7))
    for _ in range(4000):
        exchange.decide(_head("POST"))
        exchange.decide(_head("GET"))
    assert counters.matched["abort"] == 4000
    assert abs(counters.faults[("abort", "abort")] / 4000 - 0.25) < 0.03


def test_an_update_merges_over_the_current_attributes() -> None:
    first = HttpAbortToxic.decode(None, {"status": 503, "path": "^/a"})
    second = HttpAbortToxic.decode(first, {"status": 429})
    assert second.attributes()["path"] == "^/a"
    assert second.attributes()["status"] == 429
    with pytest.raises(InvalidAttributes, match="invalid attributes for http_abort: status"):
        HttpAbortToxic.decode(first, {"status": 99})


def test_wrong_length_declares_half_the_payload_of_a_chunked_answer() -> None:
    head = Head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: a/b\r\n\r\n",
        status=200,
        headers=(("Transfer-Encoding", "chunked"), ("Content-Type", "a/b")),
    )
    data = spoil(
        "wrong_length", head, b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n", True, random.Random(1)
    )
    assert data == b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 4\r\n\r\nwiki"
