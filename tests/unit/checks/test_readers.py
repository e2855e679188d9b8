"""The readers_agree invariant: each reader's answer judged, disagreements read again until
the deadline (fake clock, no sockets)."""

from __future__ import annotations

import hashlib

from harness.checks.invariants import InvariantInputs, judge_invariants
from harness.checks.readers import judge_read, wrong_reads
from harness.load.result import History, HistoryEvent
from harness.placeholders import WriteFields, fill_write
from harness.scenario.model import Invariant
from harness.topology import ReaderSpec, load_topology
from tests.unit.fakes import FakeClock

BYTES = b"the very bytes uploaded"
WRITE = WriteFields(
    "v1", "published", {"take": "take42", "sha256": hashlib.sha256(BYTES).hexdigest()}
)


def _fill(template: str) -> str:
    return fill_write(template, WRITE)


def test_each_kind_of_check_judges_what_a_reader_served() -> None:
    replica = ReaderSpec(url="u", json="status", equals="{state}")
    assert judge_read(replica, b'{"status": "published"}', _fill) is None
    assert judge_read(replica, b'{"status": "pending"}', _fill) == "status pending (want published)"
    assert judge_read(replica, b"<html>", _fill) == "unreadable"
    search = ReaderSpec(url="u", contains="{ref}")
    assert judge_read(search, b'{"items": [{"video_id": "v1"}]}', _fill) is None
    assert judge_read(search, b'{"items": []}', _fill) == "not listed ('v1' absent)"
    playback = ReaderSpec(url="u", sha256="{value[sha256]}")
    assert judge_read(playback, BYTES, _fill) is None
    served = judge_read(playback, BYTES[:10], _fill)
    assert served is not None
    assert served.startswith("10 bytes, sha256 ")


def test_a_write_s_placeholders_are_filled_quoted_and_escaped() -> None:
    write = WriteFields("a b", "x", {"q": "cat & {dog}"})
    assert (
        fill_write("/s?q={value[q]}&r={ref}", write, quote=True)
        == "/s?q=cat%20%26%20%7Bdog%7D&r=a%20b"
    )
    assert (
        fill_write("{value[q]} {value[none]}|{entrypoint}", write) == "cat & {{dog}} |{entrypoint}"
    )


def test_readers_are_read_again_until_they_agree_or_time_runs_out() -> None:
    clock = FakeClock()
    reads: list[tuple[str, str]] = []

    def check(reader: str, write: WriteFields) -> str | None:
        reads.append((reader, write.ref))
        if reader == "slow" and len(reads) < 6:
            return "not listed"  # an index a few reads behind: it converges
        return "http 404" if reader == "broken" and write.ref == "v2" else None

    writes = [
        WriteFields("v1", "published"),
        WriteFields("v2", "published"),
        WriteFields("v3", "rejected"),
    ]
    readers = {
        "slow": ReaderSpec(url="u", contains="{ref}", when=["published"]),
        "broken": ReaderSpec(url="u", contains="{ref}"),
    }
    wrong, read = wrong_reads(readers, writes, check, clock, within_s=5.0)
    assert read == 5  # slow is not asked about the rejected write
    assert [(w.reader, w.ref, w.seen) for w in wrong] == [("broken", "v2", "http 404")]
    assert 4.5 <= clock.slept <= 5.5  # broken never agreed: read again until the deadline
    assert reads.count(("broken", "v1")) == 1  # an agreeing pair is not read again


def _history(*writes: tuple[str, str, dict[str, object]]) -> History:
    events = []
    for key, ref, value in writes:
        events.append(HistoryEvent(key, "upload", key, "invoke", 1.0, value))
        events.append(HistoryEvent(key, "upload", key, "ok", 2.0, None, ref))
    return History(tuple(events))


def test_the_mock_s_invariant_reads_every_reader_with_what_the_load_recorded() -> None:
    topology = load_topology()
    asked: list[tuple[str, WriteFields]] = []

    def read_as(reader: str, write: WriteFields) -> str | None:
        asked.append((reader, write))
        return "http 404" if (reader, write.ref) == ("replica", "v2") else None

    states = {"v1": "published", "v2": "rejected", "v3": "missing"}
    inputs = InvariantInputs(
        history=_history(("k1", "v1", {"take": "t1"}), ("k2", "v2", {}), ("k3", "v3", {})),
        samples=[],
        read_state=lambda ref: states[ref],
        read_as=read_as,
        counter=lambda _probe: None,
        counted_before={},
        clock=FakeClock(),
    )
    invariant = Invariant(name="served_as_acknowledged", within=3.0)
    [judgement] = judge_invariants([invariant], topology, inputs)
    assert not judgement.passed
    assert judgement.measured == "1 wrong of 4 reads (replica)"
    assert judgement.detail == "replica v2: http 404"
    first = {(r, w.ref) for r, w in asked}
    assert first == {("replica", "v1"), ("replica", "v2"), ("search", "v1"), ("playback", "v1")}
    assert all(w.value == {"take": "t1"} for r, w in asked if w.ref == "v1")


def test_nothing_to_read_is_no_pass() -> None:
    inputs = InvariantInputs(
        history=History(),
        samples=[],
        read_state=lambda ref: "published",
        read_as=lambda reader, write: None,
        counter=lambda _probe: None,
        counted_before={},
        clock=FakeClock(),
    )
    invariant = Invariant(name="served_as_acknowledged", within=1.0)
    [judgement] = judge_invariants([invariant], load_topology(), inputs)
    assert not judgement.passed
    assert "nothing to read" in judgement.measured
