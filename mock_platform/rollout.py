"""The rollout controller (in the gateway): canary a build, judge it, promote or roll back.

    POST /admin/rollouts {service, build, steps, interval_s, analysis}
      -> start service@build in the topology's canary slot (its own process and link)
      -> for each step weight: route that share of the service's traffic to the canary,
         wait interval_s, judge(canary samples, baseline samples) (judge.py)
           pass -> next step;  inconclusive -> wait another interval (at most max_inconclusive)
           fail (or no data in the end) -> weight 0, canary stopped, rolled_back + reason
      -> after the last step: promoted (the canary serves all traffic)
    GET /admin/rollouts/{id}: state, weight, every event with its time; DELETE aborts.

The fragile profile deploys big-bang: it sends all traffic to the new build as soon as its
process is launched (no readiness gate, no steps) and promotes it without analysis.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import random
import signal
import sys
import time
import uuid
from typing import Any

import httpx

from mock_platform.judge import Analysis, Sample, judge, warm_up
from mock_platform.settings import Settings

__all__ = ["Rollout", "RolloutController", "RolloutError"]

MAX_INCONCLUSIVE = 3
START_TIMEOUT_S = 20.0


class RolloutError(ValueError):
    """A rollout request that cannot be carried out (a 4xx with this sentence)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Rollout:
    id: str
    service: str
    slot: str
    build: str
    steps: list[int]
    interval_s: float
    analysis: Analysis
    state: str = "starting"  # starting|progressing|promoted|rolled_back|aborted
    weight: int = 0
    reason: str = ""
    started_at: float = dataclasses.field(default_factory=time.time)
    decided_at: float | None = None
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    canary: list[Sample] = dataclasses.field(default_factory=list)
    baseline: list[Sample] = dataclasses.field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.decided_at is not None

    def event(self, kind: str, message: str, **extra: Any) -> None:
        self.events.append(
            {"at": time.time(), "kind": kind, "weight": self.weight, "message": message, **extra}
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "build": self.build,
            "state": self.state,
            "weight": self.weight,
            "steps": self.steps,
            "interval_s": self.interval_s,
            "reason": self.reason,
            "started_at": self.started_at,
            "decided_at": self.decided_at,
            "canary_requests": len(self.canary),
            "baseline_requests": len(self.baseline),
            "events": self.events,
        }


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # even if stopped


class RolloutController:
    def __init__(self, settings: Settings, canary_client: dict[str, httpx.AsyncClient]) -> None:
        warm_up()  # the gateway's first seconds pay for the statistics, not its first judgement
        self.settings = settings
        self.slots = {
            str(spec["canary_of"]): name
            for name, spec in settings.topology["services"].items()
            if spec.get("canary_of")
        }
        self.canary_client = canary_client  # slot name -> client through its link
        self.rollouts: dict[str, Rollout] = {}
        self.active: dict[str, Rollout] = {}
        self.promoted: dict[str, Rollout] = {}
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- traffic ------------------------------------------------------------------------

    def use_canary(self, service: str) -> bool:
        """Should this request go to the canary? (A promoted canary takes everything.)"""
        if service in self.promoted:
            return True
        rollout = self.active.get(service)
        return rollout is not None and random.uniform(0, 100) < rollout.weight

    def record(self, service: str, canary: bool, ok: bool, latency_s: float) -> None:
        rollout = self.active.get(service)
        if rollout is not None:
            (rollout.canary if canary else rollout.baseline).append(Sample(ok, latency_s))

    # -- API ----------------------------------------------------------------------------

    def start(self, body: dict[str, Any]) -> Rollout:
        service = str(body.get("service", ""))
        if service not in self.slots:
            slots = ", ".join(sorted(self.slots)) or "none"
            raise RolloutError(f"no canary slot for {service!r} in the topology (slots: {slots})")
        build = str(body.get("build", ""))
        if f"{service}@{build}" not in (self.settings.topology.get("builds") or {}):
            raise RolloutError(f"unknown build {service}@{build}")
        if service in self.active:
            raise RolloutError(f"a rollout of {service} is already in progress", 409)
        steps = body.get("steps", [5, 25, 50, 100])
        if (
            not isinstance(steps, list)
            or not steps
            or not all(isinstance(s, int) and 0 < s <= 100 for s in steps)
            or steps != sorted(steps)
        ):
            raise RolloutError(
                "steps must be rising whole percentages in 1-100, e.g. [5, 25, 50, 100]"
            )
        interval = body.get("interval_s", 10)
        if not isinstance(interval, int | float) or not 0.2 <= interval <= 3600:
            raise RolloutError("interval_s must be a number of seconds between 0.2 and 3600")
        analysis_body = body.get("analysis") or {}
        if not isinstance(analysis_body, dict):
            raise RolloutError("analysis must be an object")
        try:
            analysis = Analysis.from_json(analysis_body)
        except (TypeError, ValueError) as exc:
            raise RolloutError(f"analysis: {exc}") from None
        rollout = Rollout(
            uuid.uuid4().hex[:12],
            service,
            self.slots[service],
            build,
            steps,
            float(interval),
            analysis,
        )
        self.rollouts[rollout.id] = rollout
        self.active[service] = rollout
        self.promoted.pop(service, None)
        task = asyncio.create_task(self._run(rollout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return rollout

    def get(self, rollout_id: str) -> Rollout:
        if rollout_id not in self.rollouts:
            raise RolloutError(f"no rollout {rollout_id}", 404)
        return self.rollouts[rollout_id]

    async def abort(self, rollout_id: str) -> Rollout:
        rollout = self.get(rollout_id)
        if not rollout.finished:
            await self._roll_back(rollout, "aborted by an operator", state="aborted")
        return rollout

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for slot in list(self._processes):
            await self._stop(slot)

    # -- the controller loop ---------------------------------------------------------------

    async def _run(self, rollout: Rollout) -> None:
        try:
            rollout.event("started", f"starting {rollout.service}@{rollout.build} as a canary")
            await self._stop(rollout.slot)  # a previously promoted canary gives way
            if not await self._launch(rollout):
                return  # rolled back, or aborted by an operator while it started
            rollout.state = "progressing"
            steps = rollout.steps[-1:] if self.settings.has("rollout-big-bang") else rollout.steps
            for weight in steps:
                rollout.weight = weight
                rollout.event("weight", f"{weight}% of {rollout.service} traffic to the canary")
                if not await self._analyse(rollout):
                    return
            rollout.decided_at = time.time()
            rollout.event("promoted", f"{rollout.service}@{rollout.build} promoted")
            self.promoted[rollout.service] = rollout
            self.active.pop(rollout.service, None)
            rollout.state = "promoted"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the controller must never leave a half-done rollout
            await self._roll_back(rollout, f"controller error: {exc}")

    async def _analyse(self, rollout: Rollout) -> bool:
        """Judge at each interval; True to go on to the next step."""
        for _ in range(MAX_INCONCLUSIVE):
            await asyncio.sleep(rollout.interval_s)
            if rollout.finished:
                return False
            if self.settings.has("rollout-no-analysis"):
                rollout.event("judged", "promoting without analysis (rollout-no-analysis)")
                return True
            # off the event loop: the statistics must not hold up the requests being judged
            verdict = await asyncio.to_thread(
                judge, list(rollout.canary), list(rollout.baseline), rollout.analysis
            )
            rollout.event(
                "judged",
                f"{verdict.outcome}: " + ("; ".join(verdict.reasons) or "ok"),
                figures=verdict.figures,
            )
            if verdict.outcome == "pass":
                return not rollout.finished  # an abort while it judged is the decision
            if verdict.outcome == "fail":
                await self._roll_back(rollout, "; ".join(verdict.reasons))
                return False
        await self._roll_back(rollout, "no data: the canary got too little traffic to judge")
        return False

    async def _roll_back(self, rollout: Rollout, reason: str, state: str = "rolled_back") -> None:
        """Traffic off the canary first (the decision), then the process; the state last, so
        whoever sees the final state also sees every event. The first decision stands: an
        operator's abort racing the controller's own rollback is not overwritten by it."""
        if rollout.finished:
            return
        rollout.weight = 0
        self.active.pop(rollout.service, None)
        rollout.reason, rollout.decided_at = reason, time.time()
        rollout.event(state, reason)
        await self._stop(rollout.slot)
        rollout.event("stopped", "canary process stopped; all traffic on the stable build")
        rollout.state = state

    async def _launch(self, rollout: Rollout) -> bool:
        s = self.settings
        log = (s.run_dir / f"{rollout.slot}.log").open("ab")
        self._processes[rollout.slot] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_platform",
            rollout.slot,
            "--build",
            rollout.build,
            "--base-port",
            str(s.base_port),
            "--run-dir",
            str(s.run_dir),
            "--profile",
            s.profile,
            "--topology",
            str(s.topology_path),
            "--defects",
            ",".join(sorted(s.defects_on)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
        )
        log.close()
        if self.settings.has("rollout-no-readiness"):
            rollout.event("ready", "launched; taking traffic at once (no readiness check)")
            return True
        client = self.canary_client[rollout.slot]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            process = self._processes.get(rollout.slot)
            if rollout.finished or process is None:
                return False  # aborted meanwhile: the abort stopped the process
            if process.returncode is not None:
                await self._roll_back(
                    rollout, f"canary exited at start (code {process.returncode})"
                )
                return False
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200 and not rollout.finished:
                    rollout.event("ready", "canary healthy")
                    return True
            await asyncio.sleep(0.1)
        await self._roll_back(rollout, f"canary not healthy within {START_TIMEOUT_S:.0f} s")
        return False

    async def _stop(self, slot: str) -> None:
        process = self._processes.pop(slot, None)
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
