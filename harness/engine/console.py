"""What the person running the suite sees: a live rich view on a terminal, plain lines elsewhere.

    session/runner -> view.say(line)          platform start-up, reports, verdicts
                   -> view.event(...)          faults applied/removed, phases, aborts
                   -> view.phase(...)          a phase starts: its faults and expectations
                   -> view.tick(...)           about once a second: live figures, and each
                                               expectation's state so far (None: no data yet)
RichView redraws one panel (scenario, phase progress bar, active faults, live error rate and
p95 per endpoint, expectations turning green/red) and prints events above it. PlainView prints
events and a live line every LIVE_EVERY_S, so CI logs stay readable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import time
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

__all__ = ["LiveFigures", "PlainView", "RichView", "RunView", "choose_view"]

LIVE_EVERY_S = 10.0
KIND_PREFIX = {"note": "note: "}
PAGE_STYLES = {"operational": "green", "degraded": "yellow", "outage": "bold red"}


@dataclasses.dataclass(frozen=True)
class LiveFigures:
    """The last few seconds of one endpoint."""

    endpoint: str
    throughput: float
    error_rate: float
    p95_s: float


class RunView(Protocol):
    def say(self, line: str) -> None: ...

    def event(self, scenario: str, kind: str, message: str) -> None: ...

    def phase(
        self,
        scenario: str,
        position: tuple[int, int],
        name: str,
        seconds: float,
        faults: list[str],
        expectations: list[str],
    ) -> None: ...

    def tick(
        self,
        elapsed_s: float,
        live: list[LiveFigures],
        states: list[tuple[bool | None, str]],
        page: dict[str, str] | None = None,
    ) -> None:
        """page: the status page as users see it, component -> state."""
        ...

    def typing(self, text: str | None) -> bool:
        """What the operator is typing now (None: nothing); True if the view shows it (else
        the operator echoes it)."""
        ...

    def close(self) -> None: ...


def _live_text(item: LiveFigures) -> str:
    error = "-" if math.isnan(item.error_rate) else f"{item.error_rate:.1%}"
    p95 = "-" if math.isnan(item.p95_s) else f"{item.p95_s * 1000:.0f} ms"
    return f"{item.endpoint} {item.throughput:.0f}/s err {error} p95 {p95}"


class PlainView:
    """Lines on stderr, for logs and pipes: no cursor movement, no colours."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._scenario = ""
        self._last_live = 0.0

    def _print(self, line: str) -> None:
        # A reader that went away (a closed pipe) must never stop the cleanup midway.
        with contextlib.suppress(OSError, ValueError):
            print(f"==> {line}", file=self.stream, flush=True)

    def say(self, line: str) -> None:
        self._print(line)

    def event(self, scenario: str, kind: str, message: str) -> None:
        if kind != "phase":  # phase() prints it with its expectations
            self._print(f"[{scenario}] {KIND_PREFIX.get(kind, '')}{message}")

    def phase(
        self,
        scenario: str,
        position: tuple[int, int],
        name: str,
        seconds: float,
        faults: list[str],
        expectations: list[str],
    ) -> None:
        self._scenario = scenario
        self._last_live = time.monotonic()
        self._print(
            f"[{scenario}] phase {position[0]}/{position[1]} {name} ({seconds:g} s)"
            + (f"; expecting: {'; '.join(expectations)}" if expectations else "")
        )

    def tick(
        self,
        elapsed_s: float,
        live: list[LiveFigures],
        states: list[tuple[bool | None, str]],
        page: dict[str, str] | None = None,
    ) -> None:
        if time.monotonic() - self._last_live < LIVE_EVERY_S or not live:
            return
        self._last_live = time.monotonic()
        troubled = {k: v for k, v in (page or {}).items() if v != "operational"}
        status = ", ".join(f"{k} {v}" for k, v in troubled.items()) or "all operational"
        self._print(
            f"[{self._scenario}] {elapsed_s:.0f} s: "
            + " | ".join(_live_text(i) for i in live)
            + (f" | status page: {status}" if page else "")
        )

    def typing(self, text: str | None) -> bool:
        return False

    def close(self) -> None:
        pass


@dataclasses.dataclass
class _Panel:
    scenario: str = ""
    position: tuple[int, int] = (0, 0)
    phase: str = ""
    seconds: float = 0.0
    elapsed: float = 0.0
    faults: list[str] = dataclasses.field(default_factory=list)
    expectations: list[str] = dataclasses.field(default_factory=list)
    states: list[tuple[bool | None, str]] = dataclasses.field(default_factory=list)
    live: list[LiveFigures] = dataclasses.field(default_factory=list)
    page: dict[str, str] = dataclasses.field(default_factory=dict)
    typing: str | None = None


class RichView:
    """A live panel at the bottom of the terminal; events scroll above it."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.panel = _Panel()
        self._live = Live(
            self._render(), console=self.console, refresh_per_second=4, transient=True
        )
        self._started = False

    def _ensure(self) -> None:
        if not self._started:
            self._live.start()
            self._started = True

    def say(self, line: str) -> None:
        self.console.print(Text(f"==> {line}", style="dim"))

    def event(self, scenario: str, kind: str, message: str) -> None:
        style = {
            "fault_applied": "yellow",
            "fault_removed": "green",
            "aborted": "bold red",
            "errored": "bold red",
            "note": "bold cyan",
        }.get(kind, "")
        self.console.print(Text(f"[{scenario}] {KIND_PREFIX.get(kind, '')}{message}", style=style))
        if kind == "fault_removed":
            label = message.split(": ", 1)[-1].removesuffix(" removed")
            self.panel.faults = [f for f in self.panel.faults if f != label]
            self._refresh()

    def phase(
        self,
        scenario: str,
        position: tuple[int, int],
        name: str,
        seconds: float,
        faults: list[str],
        expectations: list[str],
    ) -> None:
        page, typing = self.panel.page, self.panel.typing
        self.panel = _Panel(
            scenario, position, name, seconds, 0.0, list(faults), list(expectations)
        )
        self.panel.page, self.panel.typing = page, typing
        self.panel.states = [(None, "") for _ in expectations]
        self._ensure()
        self._refresh()

    def tick(
        self,
        elapsed_s: float,
        live: list[LiveFigures],
        states: list[tuple[bool | None, str]],
        page: dict[str, str] | None = None,
    ) -> None:
        self.panel.elapsed = elapsed_s
        self.panel.live = live
        if page:
            self.panel.page = page
        if states:
            self.panel.states = states
        self._refresh()

    def _refresh(self) -> None:
        if self._started:
            self._live.update(self._render(), refresh=True)

    def _render(self) -> Any:
        panel = self.panel
        done, total = panel.position
        head = Text.assemble(
            ("scenario ", "dim"),
            (panel.scenario, "bold"),
            ("  phase ", "dim"),
            (f"{done}/{total} {panel.phase}", "bold cyan"),
        )
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=max(panel.seconds, 1e-9), completed=panel.elapsed, width=50),
            f"{min(panel.elapsed, panel.seconds):.0f}/{panel.seconds:.0f} s",
        )
        faults = Text("faults: ", style="dim")
        faults.append(", ".join(panel.faults) or "none", style="yellow" if panel.faults else "")
        live = Table(box=None, padding=(0, 2), show_edge=False)
        for column in ("endpoint", "req/s", "errors", "p95"):
            live.add_column(column, justify="left" if column == "endpoint" else "right")
        for item in panel.live:
            live.add_row(
                item.endpoint,
                f"{item.throughput:.0f}",
                "-" if math.isnan(item.error_rate) else f"{item.error_rate:.1%}",
                "-" if math.isnan(item.p95_s) else f"{item.p95_s * 1000:.0f} ms",
                style="red" if item.error_rate > 0.01 else "",
            )
        page = Text("status page: ", style="dim")
        for component, shown in panel.page.items():
            page.append(f"{component} ", style="")
            page.append(f"{shown}  ", style=PAGE_STYLES.get(shown, "dim"))
        if not panel.page:
            page.append("not read yet", style="dim")
        checks = Text()
        for text, (state, measured) in zip(panel.expectations, panel.states, strict=False):
            mark, style = {True: ("✓", "green"), False: ("✗", "red"), None: ("…", "dim")}[state]
            checks.append(f"{mark} {text}", style=style)
            checks.append(f"  {measured}\n" if measured else "\n", style="dim")
        parts: list[Any] = [head, bar, faults, page, live, checks]
        if panel.typing is not None:
            parts.append(Text.assemble(("you are typing: ", "bold cyan"), panel.typing + "▏"))
        return Group(*parts)

    def typing(self, text: str | None) -> bool:
        self.panel.typing = text
        self._refresh()
        return self._started

    def close(self) -> None:
        if self._started:
            self._live.stop()
            self._started = False


def choose_view(stream: TextIO | None = None, plain: bool = False) -> RunView:
    """The rich view on a terminal, plain lines otherwise (or when asked)."""
    stream = stream or sys.stderr
    if plain or not stream.isatty():
        return PlainView(stream)
    return RichView(Console(file=stream))
