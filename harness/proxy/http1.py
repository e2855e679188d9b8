"""HTTP/1.1 framing, read incrementally from one direction of a connection (no I/O here).

    bytes, in the chunks a link reads -> MessageReader.feed(data) -> events, lazily:
        Head(raw start line + headers)  Body(raw framed bytes)  End()  Raw(bytes to pass on)

Only the framing is parsed (start line, headers, Content-Length, chunked, read-until-close),
so every byte can be passed on unchanged. Events are yielded one at a time and the caller acts
on each before the next is parsed: a response's framing depends on the request it answers
(HEAD has no body), which the caller knows when it takes the Head.

A reader that starts on a connection already carrying traffic (a toxic added to a live
keep-alive connection) is out of step: it passes chunks on as Raw until one begins with a
start line, and parses from there (a client waiting for its answer sends nothing, so its next
request starts a read). A reader that meets what it cannot parse passes everything after it
on as Raw for good, and says so (``broken``).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Iterator
from http import HTTPStatus

__all__ = [
    "Body",
    "End",
    "Framing",
    "Head",
    "MessageReader",
    "Raw",
    "dechunk",
    "reason_phrase",
    "request_framing",
]

MAX_HEAD_BYTES = 64 * 1024
_REQUEST_LINE = re.compile(rb"([A-Z]{1,20}) (\S+) HTTP/1\.([01])")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5]\d\d)(?: .*)?")
_REQUEST_START = re.compile(rb"(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|TRACE|CONNECT) ")
_RESPONSE_START = re.compile(rb"HTTP/1\.[01] ")


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status the standard does not name (499, 520...)
        return "Status"


class Framing(enum.Enum):
    """How the body after a head ends."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until_close"
    TUNNEL = "tunnel"  # a protocol switch: what follows is not HTTP/1.1


@dataclasses.dataclass(frozen=True)
class Head:
    """A request or response head as it came, with its start line and headers parsed."""

    raw: bytes
    method: str = ""  # requests
    target: str = ""  # requests: path and query
    status: int = 0  # responses
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def chunked(self) -> bool:
        encoding = self.header("transfer-encoding")
        return encoding is not None and encoding.lower().rsplit(",", 1)[-1].strip() == "chunked"

    @property
    def informational(self) -> bool:
        """A 1xx other than 101: another head follows for the same request."""
        return 100 <= self.status < 200 and self.status != 101


@dataclasses.dataclass(frozen=True)
class Body:
    raw: bytes  # as framed on the wire (chunk sizes included)


@dataclasses.dataclass(frozen=True)
class End:
    pass


@dataclasses.dataclass(frozen=True)
class Raw:
    raw: bytes  # not parsed: out of step, after a parse error, or a tunnel


Event = Head | Body | End | Raw


def request_framing(head: Head) -> Framing:
    if head.method == "CONNECT":
        return Framing.TUNNEL
    if head.chunked:
        return Framing.CHUNKED
    length = head.content_length
    return Framing.LENGTH if length else Framing.NONE


class _State(enum.Enum):
    UNSYNCED = 0
    HEAD = 1
    LENGTH = 2
    CHUNK_SIZE = 3
    CHUNK_DATA = 4
    TRAILERS = 5
    UNTIL_CLOSE = 6
    PASS = 7


class MessageReader:
    """Splits one direction's bytes into messages. ``framing(head)`` says how a head's body
    ends; it is asked when the head is complete, before the Head is yielded."""

    def __init__(
        self, requests: bool, framing: Callable[[Head], Framing], *, synced: bool = True
    ) -> None:
        self.requests = requests
        self.broken = False
        self._framing = framing
        self._state = _State.HEAD if synced else _State.UNSYNCED
        self._buffer = bytearray()
        self._remaining = 0
        self._pending_end = False  # a message just ended: End comes next

    @property
    def between_messages(self) -> bool:
        """Nothing of a message is pending (or the reader cannot tell and passes bytes on)."""
        idle = self._state in (_State.HEAD, _State.UNSYNCED, _State.PASS)
        return idle and not self._buffer and not self._pending_end

    def feed(self, data: bytes) -> Iterator[Event]:
        if self._state is _State.UNSYNCED:
            start = _REQUEST_START if self.requests else _RESPONSE_START
            if not start.match(data):
                if data:
                    yield Raw(data)
                return
            self._state = _State.HEAD
        if self._state is _State.PASS:
            if data:
                yield Raw(data)
            return
        self._buffer += data
        while True:
            if self._pending_end:
                self._pending_end = False
                yield End()
                continue
            if not self._buffer:
                return
            event = self._next()
            if event is None:
                return
            yield event

    def finish(self) -> Iterator[Event]:
        """The stream ended: a body read until the close is complete; anything else left
        over (a cut message) goes on as it is."""
        if self._state is _State.UNTIL_CLOSE:
            self._state = _State.HEAD
            yield End()
        elif self._buffer:
            yield Raw(bytes(self._buffer))
            self._buffer.clear()

    # -- one step: an event, or None when more bytes are needed ----------------------------

    def _next(self) -> Event | None:
        state = self._state
        if state is _State.HEAD:
            return self._head()
        if state is _State.LENGTH:
            return self._counted(_State.HEAD)
        if state is _State.CHUNK_SIZE:
            return self._chunk_size()
        if state is _State.CHUNK_DATA:
            return self._counted(_State.CHUNK_SIZE)
        if state is _State.TRAILERS:
            return self._trailers()
        data = bytes(self._buffer)  # UNTIL_CLOSE and PASS take everything
        self._buffer.clear()
        return Body(data) if state is _State.UNTIL_CLOSE else Raw(data)

    def _give_up(self) -> Raw:
        self.broken = True
        self._state = _State.PASS
        data = bytes(self._buffer)
        self._buffer.clear()
        return Raw(data)

    def _head(self) -> Event | None:
        while self._buffer.startswith(b"\r\n"):  # stray blank lines between messages
            del self._buffer[:2]
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return self._give_up() if len(self._buffer) > MAX_HEAD_BYTES else None
        raw = bytes(self._buffer[: end + 4])
        head = self._parse_head(raw)
        if head is None:
            return self._give_up()
        del self._buffer[: end + 4]
        framing = self._framing(head)
        if framing is Framing.NONE:
            self._state = _State.HEAD
            self._pending_end = True
        elif framing is Framing.LENGTH:
            self._remaining = head.content_length or 0
            self._state = _State.LENGTH
        elif framing is Framing.CHUNKED:
            self._state = _State.CHUNK_SIZE
        elif framing is Framing.UNTIL_CLOSE:
            self._state = _State.UNTIL_CLOSE
        else:
            self._state = _State.PASS
        return head

    def _parse_head(self, raw: bytes) -> Head | None:
        lines = raw[:-4].split(b"\r\n")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                return None
            headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        if self.requests:
            match = _REQUEST_LINE.fullmatch(lines[0])
            if match is None:
                return None
            return Head(
                raw,
                method=match[1].decode(),
                target=match[2].decode("latin-1"),
                headers=tuple(headers),
            )
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            return None
        return Head(raw, status=int(match[2]), headers=tuple(headers))

    def _counted(self, after: _State) -> Event | None:
        take = min(self._remaining, len(self._buffer))
        data = bytes(self._buffer[:take])
        del self._buffer[:take]
        self._remaining -= take
        if not self._remaining:
            self._state = after
            self._pending_end = after is _State.HEAD
        return Body(data)

    def _chunk_size(self) -> Event | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            return self._give_up() if len(self._buffer) > 4096 else None
        size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return self._give_up()
        line = bytes(self._buffer[: end + 2])
        del self._buffer[: end + 2]
        if size == 0:
            self._state = _State.TRAILERS
        else:
            self._remaining = size + 2  # the data and its CRLF
            self._state = _State.CHUNK_DATA
        return Body(line)

    def _trailers(self) -> Event | None:
        if self._buffer.startswith(b"\r\n"):
            del self._buffer[:2]
            self._state = _State.HEAD
            self._pending_end = True
            return Body(b"\r\n")
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return self._give_up() if len(self._buffer) > MAX_HEAD_BYTES else None
        data = bytes(self._buffer[: end + 4])
        del self._buffer[: end + 4]
        self._state = _State.HEAD
        self._pending_end = True
        return Body(data)


def dechunk(raw: bytes) -> bytes:
    """The payload of a complete chunked body (as framed on the wire)."""
    out = bytearray()
    position = 0
    while True:
        end = raw.find(b"\r\n", position)
        if end < 0:
            return bytes(out)
        size = int(raw[position:end].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        out += raw[end + 2 : end + 2 + size]
        position = end + 2 + size + 2
