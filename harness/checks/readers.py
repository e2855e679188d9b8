"""Every reader of an acknowledged write serves it as the system of record has it
(the readers_agree invariant): a replica that silently skipped changes, an index that lost a
document, an edge serving other bytes than were uploaded, each with a success status.

    acknowledged writes (ref, state read back, what the load recorded at invoke)
      -> each reader the invariant names whose ``when`` admits the state (topology
         load.readers): GET its url (templated), then one check:
           json + equals   the value there equals the template ({state}: the record's)
           contains        the body contains the template ({ref}: it is listed)
           sha256          the body's digest equals the template ({value[sha256]}: the bytes)
      -> WrongRead per disagreement (reader, ref, what it served); read again, only those,
         until none is left or the invariant's ``within`` has passed (readers converge)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable

import httpx

from harness.checks.paths import at
from harness.checks.rereads import read_until_settled
from harness.clock import Clock
from harness.placeholders import WriteFields, fill_write
from harness.topology import ReaderSpec, Topology

__all__ = ["ReadCheck", "ReaderClient", "WrongRead", "judge_read", "wrong_reads"]

# what one reader makes of one write: None when it agrees, else what it served
ReadCheck = Callable[[str, WriteFields], str | None]


@dataclasses.dataclass(frozen=True, order=True)
class WrongRead:
    reader: str
    ref: str
    seen: str


@dataclasses.dataclass
class ReaderClient:
    """The HTTP side: one reader's view of one write, judged."""

    topology: Topology
    base_port: int
    http: httpx.Client

    def check(self, name: str, write: WriteFields) -> str | None:
        assert self.topology.load is not None
        spec = self.topology.load.readers[name]
        url = self.topology.render(fill_write(spec.url, write, quote=True), self.base_port)
        headers = {k: self._fill(v, write) for k, v in spec.headers.items()}
        try:
            response = self.http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        if response.status_code >= 300:
            return f"http {response.status_code}"
        return judge_read(spec, response.content, lambda t: self._fill(t, write))

    def _fill(self, template: str, write: WriteFields) -> str:
        return self.topology.render(fill_write(template, write), self.base_port)


def judge_read(spec: ReaderSpec, body: bytes, fill: Callable[[str], str]) -> str | None:
    """A reader's answer against its check: None if it agrees, else what it served."""
    if spec.sha256 is not None:
        digest, want = hashlib.sha256(body).hexdigest(), fill(spec.sha256)
        return (
            None
            if digest == want
            else f"{len(body)} bytes, sha256 {digest[:12]} (want {want[:12]})"
        )
    text = body.decode("utf-8", errors="replace")
    if spec.contains is not None:
        wanted = fill(spec.contains)
        return None if wanted in text else f"not listed ({wanted!r} absent)"
    assert spec.equals is not None  # validated: equals and json go together
    assert spec.json_path is not None
    try:
        value = at(json.loads(text), spec.json_path)
    except ValueError:
        return "unreadable"
    want = fill(spec.equals)
    return None if str(value) == want else f"{spec.json_path} {value} (want {want})"


def wrong_reads(
    readers: dict[str, ReaderSpec],
    writes: list[WriteFields],
    check: ReadCheck,
    clock: Clock,
    within_s: float,
) -> tuple[list[WrongRead], int]:
    """Every (reader, write) pair the readers' ``when`` admits, read until each agrees or
    ``within_s`` has passed; the disagreements left, and how many pairs were read."""
    pairs = [
        (name, write)
        for name, spec in readers.items()
        for write in writes
        if not spec.when or write.state in spec.when
    ]
    deadline = clock.monotonic() + within_s
    answers = read_until_settled(
        pairs, lambda pair: check(*pair), lambda answer: answer is None, clock, deadline
    )
    wrong = sorted(
        WrongRead(name, write.ref, answer)
        for (name, write), answer in zip(pairs, answers, strict=True)
        if answer is not None
    )
    return wrong, len(pairs)
