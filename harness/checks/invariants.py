"""Invariants after healing (Jepsen-style), from the operation history and the topology.

    scenario invariants (names) -> topology.invariants[name].check -> _CHECKS[check]
    history: every acknowledged write (ok, with its ref) is read back at load.read_back:
        missing (e.g. 404) | its state (JSON path) | "http NNN" | "unreachable"
        read again (only those not yet terminal) until all are, or the longest all_terminal
        ``within`` has passed
    no_lost_writes    no acknowledged write reads back as missing
    no_duplicates     no key acknowledged with two refs
    all_terminal      every acknowledged write reached a terminal state in time
    never_in_state    no write invoked with value[flag] true reads back in the forbidden state
    acknowledged_counted  responses with the status on these endpoints (the load's samples)
                      all reach a counter probe (its growth since the run began), in time
    readers_agree     every reader named (load.readers) serves each acknowledged write as it
                      read back (checks/readers.py), in time: a replica or index that
                      silently skipped it, other bytes than were uploaded
An ``info`` write (outcome unknown) is never counted as lost nor as acknowledged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import httpx

from harness.checks.paths import at
from harness.checks.readers import ReadCheck, wrong_reads
from harness.checks.rereads import READ_AGAIN_EVERY_S, read_until_settled
from harness.clock import SYSTEM_CLOCK, Clock
from harness.load.result import History, Sample
from harness.placeholders import WriteFields, fill_write
from harness.record import Judgement
from harness.scenario.model import Invariant
from harness.topology import InvariantSpec, ReaderSpec, Topology

__all__ = ["NOTHING_READ", "InvariantInputs", "ReadBack", "judge_invariants"]

SHOWN_IDS = 20


@dataclasses.dataclass
class ReadBack:
    """Reads an acknowledged write back through the topology's template."""

    topology: Topology
    base_port: int
    http: httpx.Client

    def state(self, ref: str) -> str:
        spec = self.topology.load.read_back if self.topology.load else None
        assert spec is not None
        url = self.topology.render(
            fill_write(spec.url, WriteFields(ref), quote=True), self.base_port
        )
        try:
            response = self.http.get(url)
        except httpx.HTTPError:
            return "unreachable"
        if response.status_code in spec.missing:
            return "missing"
        if response.status_code != 200:
            return f"http {response.status_code}"
        try:
            return str(at(response.json(), spec.json_path))
        except ValueError:
            return "unreadable"


@dataclasses.dataclass
class InvariantInputs:
    history: History
    samples: list[Sample]
    read_state: Callable[[str], str]
    read_as: ReadCheck  # (reader, write) -> None when that reader agrees, else what it served
    counter: Callable[[str], float | None]  # probe name -> its value now
    counted_before: dict[str, float | None]  # probe name -> its value when the run began
    clock: Clock = SYSTEM_CLOCK
    progress: Callable[[str], None] = lambda _line: None  # long waits are announced


@dataclasses.dataclass
class _Context:
    spec: InvariantSpec
    invariant: Invariant
    inputs: InvariantInputs
    states: dict[str, str]  # key -> read-back state (acknowledged writes of the spec's kind)
    terminal: list[str]
    readers: dict[str, ReaderSpec]  # the topology's load.readers


def _ids(keys: list[str], history: History) -> str:
    acked = history.acknowledged
    return ", ".join(sorted(acked.get(k, k) for k in keys)[:SHOWN_IDS])


def _no_lost_writes(name: str, ctx: _Context) -> Judgement:
    history = ctx.inputs.history.of_kind(ctx.spec.kind)
    lost = [k for k, s in ctx.states.items() if s == "missing"]
    return Judgement(
        phase="invariants",
        name=name,
        passed=not lost,
        measured=f"{len(lost)} lost of {len(ctx.states)} acknowledged",
        threshold="0 lost",
        detail=_ids(lost, history),
    )


def _no_duplicates(name: str, ctx: _Context) -> Judgement:
    dups = ctx.inputs.history.of_kind(ctx.spec.kind).keys_with_many_ids
    return Judgement(
        phase="invariants",
        name=name,
        passed=not dups,
        measured=f"{len(dups)} keys with several ids",
        threshold="0",
        detail=", ".join(sorted(dups)[:SHOWN_IDS]),
    )


def _all_terminal(name: str, ctx: _Context) -> Judgement:
    history = ctx.inputs.history.of_kind(ctx.spec.kind)
    stuck = [k for k, s in ctx.states.items() if s not in ctx.terminal]
    return Judgement(
        phase="invariants",
        name=name,
        passed=not stuck,
        measured=f"{len(stuck)} of {len(ctx.states)} not terminal",
        threshold=f"all within {ctx.invariant.within:g} s",
        detail=_ids(stuck, history),
    )


def _never_in_state(name: str, ctx: _Context) -> Judgement:
    history = ctx.inputs.history.of_kind(ctx.spec.kind)
    flagged = history.flagged(str(ctx.spec.flag))
    bad = [k for k in flagged if ctx.states.get(k) == ctx.spec.state]
    return Judgement(
        phase="invariants",
        name=name,
        passed=not bad,
        measured=f"{len(bad)} {ctx.spec.flag} writes {ctx.spec.state}",
        threshold="0",
        detail=_ids(bad, history),
    )


def _acknowledged(spec: InvariantSpec, samples: list[Sample]) -> int:
    return sum(s.status.get(spec.status, 0) for s in samples if s.endpoint in spec.endpoints)


def _acknowledged_counted(name: str, ctx: _Context) -> Judgement:
    spec, inputs = ctx.spec, ctx.inputs
    assert spec.probe is not None
    acked = _acknowledged(spec, inputs.samples)
    before = inputs.counted_before.get(spec.probe)
    deadline = inputs.clock.monotonic() + ctx.invariant.within
    counted: float | None = None
    inputs.progress(
        f"{name}: waiting up to {ctx.invariant.within:g} s for {acked} acknowledged"
        f" {'/'.join(spec.endpoints)} to reach {spec.probe}"
    )
    while True:
        now = inputs.counter(spec.probe)
        counted = None if now is None or before is None else now - before
        if (counted is not None and counted >= acked) or inputs.clock.monotonic() >= deadline:
            break
        inputs.clock.sleep(READ_AGAIN_EVERY_S)
    lost = acked if counted is None else max(acked - int(counted), 0)
    what = "/".join(spec.endpoints)
    return Judgement(
        phase="invariants",
        name=name,
        passed=lost == 0,
        measured=f"{lost} lost of {acked} acknowledged {what}"
        + ("" if counted is not None else f" ({spec.probe} unreadable)"),
        threshold=f"0 lost within {ctx.invariant.within:g} s",
    )


NOTHING_READ = "nothing to read: no data is no pass"
# what a write reads back as when there is nothing a reader could agree with
_NOT_A_STATE = ("missing", "unreachable", "unreadable")


def _readers_agree(name: str, ctx: _Context) -> Judgement:
    spec, inputs = ctx.spec, ctx.inputs
    history = inputs.history.of_kind(spec.kind)
    readers = {r: ctx.readers[r] for r in spec.readers}
    values = history.values
    writes = [
        WriteFields(history.acknowledged[key], state, values.get(key, {}))
        for key, state in sorted(ctx.states.items())
        if state not in _NOT_A_STATE and not state.startswith("http ")
    ]
    inputs.progress(
        f"{name}: reading {len(writes)} acknowledged writes from {', '.join(readers)}"
        f" (up to {ctx.invariant.within:g} s for them to agree)"
    )
    wrong, read = wrong_reads(readers, writes, inputs.read_as, inputs.clock, ctx.invariant.within)
    shown = [f"{w.reader} {w.ref}: {w.seen}" for w in wrong[:SHOWN_IDS]]
    by_reader = sorted({w.reader for w in wrong})
    return Judgement(
        phase="invariants",
        name=name,
        passed=not wrong and read > 0,
        measured=f"{len(wrong)} wrong of {read} reads"
        + (f" ({', '.join(by_reader)})" if by_reader else "")
        + ("" if read else f" ({NOTHING_READ})"),
        threshold=f"0 wrong within {ctx.invariant.within:g} s",
        detail="; ".join(shown),
    )


_CHECKS: dict[str, Callable[[str, _Context], Judgement]] = {
    "no_lost_writes": _no_lost_writes,
    "no_duplicates": _no_duplicates,
    "all_terminal": _all_terminal,
    "never_in_state": _never_in_state,
    "acknowledged_counted": _acknowledged_counted,
    "readers_agree": _readers_agree,
}
_READS_BACK = {"no_lost_writes", "all_terminal", "never_in_state", "readers_agree"}


def _read_states(
    wanted: list[tuple[Invariant, InvariantSpec]], inputs: InvariantInputs, terminal: list[str]
) -> dict[str, str]:
    """key -> state of every acknowledged write the checks need, re-read until terminal."""
    kinds = {spec.kind for _, spec in wanted if spec.check in _READS_BACK}
    if not kinds:
        return {}
    acked: dict[str, str] = {}
    for kind in kinds:
        acked.update(inputs.history.of_kind(kind).acknowledged)
    waits = [inv.within for inv, spec in wanted if spec.check == "all_terminal"]
    deadline = inputs.clock.monotonic() + (max(waits) if waits else 0.0)
    inputs.progress(f"invariants: reading back {len(acked)} acknowledged writes")
    announced = False

    def waiting(pending: int) -> None:
        nonlocal announced
        if not announced:
            left = deadline - inputs.clock.monotonic()
            inputs.progress(
                f"invariants: waiting up to {left:.0f} s for {pending} writes to reach"
                f" {' or '.join(terminal)}"
            )
            announced = True

    keys = list(acked)
    states = read_until_settled(
        keys,
        lambda key: inputs.read_state(acked[key]),
        lambda state: not terminal or state in terminal,
        inputs.clock,
        deadline,
        waiting,
    )
    return dict(zip(keys, states, strict=True))


def judge_invariants(
    invariants: list[Invariant], topology: Topology, inputs: InvariantInputs
) -> list[Judgement]:
    wanted = [(inv, topology.invariants[inv.name]) for inv in invariants]
    read_back = topology.load.read_back if topology.load else None
    terminal = list(read_back.terminal) if read_back else []
    readers = topology.load.readers if topology.load else {}
    states = _read_states(wanted, inputs, terminal)
    results = []
    for invariant, spec in wanted:
        history = inputs.history.of_kind(spec.kind)
        mine = {k: states[k] for k in history.acknowledged if k in states}
        ctx = _Context(spec, invariant, inputs, mine, terminal, readers)
        results.append(_CHECKS[spec.check](invariant.name, ctx))
    return results
