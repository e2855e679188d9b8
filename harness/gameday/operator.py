"""The operator between the phases of a drill: Enter to go on, s to skip a fault, a to abort,
n to add a note. --auto is the same drill with nobody at the keyboard.

    stdin lines -> reader thread -> queue -> Operator.before_phase (waits at the prompt)
                                          -> Operator.during_phase (a / n while a phase runs)
Everything the operator does is an event, so it lands on the run's timeline.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TextIO

from harness.engine.console import RunView
from harness.engine.runner import Aborted
from harness.scenario.model import Phase

__all__ = ["AutoOperator", "Operator", "phase_plan"]

PROMPT = "Enter: start the phase · s: skip a fault · n: add a note · a: abort and clean up"
DURING = "while it runs: a + Enter aborts and cleans up, n + Enter adds a note"


def _fault_text(fault: object) -> str:
    data = fault.model_dump(exclude_none=True, by_alias=True)  # type: ignore[attr-defined]
    kind = data.pop("type")
    where = data.pop("link", None) or data.pop("service", None) or data.pop("rollout", None) or ""
    rest = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("name",))
    return f"{kind} {where}".strip() + (f" ({rest})" if rest else "")


def phase_plan(index: int, total: int, phase: Phase, expectations: list[str]) -> list[str]:
    """What the operator reads before a phase: what will be injected, what should hold."""
    lines = [f"next: phase {index + 1}/{total} '{phase.name}' ({phase.duration:g} s)"]
    if phase.faults:
        lines.append("  will inject:")
        lines += [f"    [{i + 1}] {_fault_text(f)}" for i, f in enumerate(phase.faults)]
    else:
        lines.append("  will inject: nothing")
    if expectations:
        lines.append("  should hold:")
        lines += [f"    - {label}" for label in expectations]
    return lines


def _cbreak(stream: TextIO, restore: list[object]) -> bool:
    """Put a terminal in cbreak mode (keys as typed, no echo); the way back goes in restore."""
    try:
        if not stream.isatty():
            return False
        import termios
        import tty

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
    except (OSError, ValueError, ImportError, AttributeError):
        return False

    def back() -> None:
        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    restore.append(back)
    atexit.register(back)
    return True


class AutoOperator:
    """Nobody at the keyboard: the same plan is printed, every phase starts at once."""

    def __init__(self, view: RunView, total: int) -> None:
        self.view, self.total = view, total

    def before_phase(
        self,
        index: int,
        phase: Phase,
        expectations: list[str],
        event: Callable[[str, str], None],
        idle: Callable[[], None],
    ) -> set[int]:
        for line in phase_plan(index, self.total, phase, expectations):
            self.view.say(line)
        self.view.say("auto: starting the phase")
        return set()

    def during_phase(self, event: Callable[[str, str], None]) -> None:
        return None


class Operator:
    """A person at a terminal. Input is read by a daemon thread so phases never wait on it.

    On a terminal it reads characters (cbreak mode: the line being typed is shown in the live
    panel, or echoed when no panel is drawn, so a note is visible while it is typed); from a
    pipe it reads lines."""

    def __init__(self, view: RunView, total: int, stream: TextIO, out: TextIO) -> None:
        self.view, self.total = view, total
        self.out = out
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._note_next = False
        self._restore: list[object] = []
        reader = self._read_keys if _cbreak(stream, self._restore) else self._read_lines
        threading.Thread(target=reader, args=(stream,), daemon=True).start()

    def _read_lines(self, stream: TextIO) -> None:
        for line in stream:
            self.lines.put(line.strip())
        self.lines.put(None)  # end of input

    def _read_keys(self, stream: TextIO) -> None:
        typed = ""
        while True:
            key = stream.read(1)
            if key in ("", "\x04") and not typed:  # end of input, or Ctrl-D on an empty line
                self.lines.put(None)
                return
            if key in ("\n", "\r"):
                self._show(None, "\n")
                self.lines.put(typed.strip())
                typed = ""
            elif key in ("\x7f", "\b"):
                if typed:
                    typed = typed[:-1]
                    self._show(typed, "\b \b")
            elif key.isprintable():
                typed += key
                self._show(typed, key)

    def _show(self, typed: str | None, echo: str) -> None:
        if not self.view.typing(typed):
            self.out.write(echo)
            self.out.flush()

    def close(self) -> None:
        """The terminal as it was (cbreak off)."""
        for restore in self._restore:
            if callable(restore):
                restore()
        self._restore.clear()

    def _ask(self, text: str) -> None:
        print(f">>> {text}", file=self.out, flush=True)

    def _next_line(self, idle: Callable[[], None]) -> str:
        while True:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                idle()
                continue
            if line is None:
                raise Aborted("operator input closed")
            return line

    def _note(self, text: str, event: Callable[[str, str], None], idle: Callable[[], None]) -> None:
        if not text:
            self._ask("note (one line, Enter to record):")
            text = self._next_line(idle)
        if text:
            event("note", text)

    def before_phase(
        self,
        index: int,
        phase: Phase,
        expectations: list[str],
        event: Callable[[str, str], None],
        idle: Callable[[], None],
    ) -> set[int]:
        self.view.close()  # a live panel would redraw over the prompt
        for line in phase_plan(index, self.total, phase, expectations):
            self.view.say(line)
        skipped: set[int] = set()
        while True:
            self._ask(PROMPT)
            line = self._next_line(idle)
            command, _, rest = line.partition(" ")
            command = command.lower()
            if command == "":
                self.view.say(DURING)
                return skipped
            if command == "a":
                raise Aborted(f"aborted by the operator before phase {phase.name}")
            if command == "n":
                self._note(rest.strip(), event, idle)
            elif command == "s":
                self._skip(phase, rest.strip(), skipped, idle)
            else:
                self._ask(f"'{line}'? Enter, s, n or a")

    def _skip(self, phase: Phase, given: str, skipped: set[int], idle: Callable[[], None]) -> None:
        if not phase.faults:
            self._ask("this phase injects nothing")
            return
        if not given and len(phase.faults) == 1:
            given = "1"
        if not given:
            self._ask(f"skip which fault? 1-{len(phase.faults)}:")
            given = self._next_line(idle)
        if not given.isdigit() or not 1 <= int(given) <= len(phase.faults):
            self._ask(f"no fault '{given}' in this phase (1-{len(phase.faults)})")
            return
        skipped.add(int(given) - 1)
        self._ask(f"fault {given} will be skipped: {_fault_text(phase.faults[int(given) - 1])}")

    def during_phase(self, event: Callable[[str, str], None]) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                raise Aborted("operator input closed")
            if self._note_next:
                self._note_next = False
                if line:
                    event("note", line)
                continue
            command, _, rest = line.partition(" ")
            if command.lower() == "a":
                raise Aborted("aborted by the operator during the phase")
            if command.lower() == "n":
                if rest.strip():
                    event("note", rest.strip())
                else:
                    self._note_next = True
                    self._ask("note (one line, Enter to record):")
