"""A small journal as the engine writes it: 40 s, a fault from 10 s to 25 s, the status page
degrading at 13 s and recovering at 30 s, a rollout, a failover, an invariant with ids."""

from __future__ import annotations

from typing import Any

from harness.record import RunRecord

T0 = 1_800_000_000.0


def journal(status: str = "failed", **changes: Any) -> dict[str, Any]:
    samples = []
    for second in range(40):
        failing = 12 <= second < 27
        samples.append(
            {
                "t": int(T0) + second,
                "endpoint": "feed",
                "build": "v1",
                "n": 10,
                "errors": 5 if failing else 0,
                "latencies_ms": [20.0 + second] * 10,
                "status": {"200": 5 if failing else 10, "503": 5 if failing else 0},
            }
        )
    data: dict[str, Any] = {
        "run_id": "r1",
        "scenario": {"name": "feed-cut", "description": "The feed is <cut> & restored."},
        "profile": "normal",
        "time_scale": 1.0,
        "started_at": T0,
        "finished_at": T0 + 40,
        "events": [
            {"t": T0 + 10, "kind": "fault_applied", "message": "cut: down on gateway-feed"},
            {"t": T0 + 11, "kind": "note", "message": "we see it"},
            {"t": T0 + 25, "kind": "fault_removed", "message": "cut: down removed"},
        ],
        "phases": [
            {"name": "baseline", "start": T0, "end": T0 + 10, "faults": []},
            {"name": "cut", "start": T0 + 10, "end": T0 + 25, "faults": ["down"]},
            {"name": "recovery", "start": T0 + 25, "end": T0 + 40, "faults": []},
        ],
        "faults": [
            {"label": "down on gateway-feed", "phase": "cut", "start": T0 + 10, "end": T0 + 25}
        ],
        "observed": [
            {
                "t": T0 + 1,
                "what": "status",
                "component": "feed",
                "state": "operational",
                "reason": "",
            },
            {
                "t": T0 + 1,
                "what": "status",
                "component": "search",
                "state": "operational",
                "reason": "",
            },
            {
                "t": T0 + 13,
                "what": "status",
                "component": "feed",
                "state": "outage",
                "reason": "cut",
            },
            {
                "t": T0 + 15,
                "what": "rollout",
                "rollout": "search@v2",
                "state": "progressing",
                "weight": 25,
                "reason": "",
            },
            {
                "t": T0 + 20,
                "what": "rollout",
                "rollout": "search@v2",
                "state": "rolled_back",
                "weight": 0,
                "reason": "errors higher",
            },
            {
                "t": T0 + 30,
                "what": "status",
                "component": "feed",
                "state": "operational",
                "reason": "",
            },
        ],
        "failovers": [{"at": T0 + 14, "from": "east", "to": "west", "reason": "down"}],
        "expectations": [
            {
                "phase": "cut",
                "name": "error_rate feed",
                "passed": False,
                "measured": "50.00%",
                "threshold": "max 1.00%",
                "detail": "",
            },
        ],
        "invariants": [
            {
                "phase": "invariants",
                "name": "no_lost_uploads",
                "passed": False,
                "measured": "2 lost of 9 acknowledged",
                "threshold": "0 lost",
                "detail": "vid-aaa, vid-bbb",
            },
        ],
        "status": status,
        "reason": "error_rate feed, no_lost_uploads" if status == "failed" else "",
        "samples": samples,
    }
    data.update(changes)
    return data


def record(status: str = "failed", **changes: Any) -> RunRecord:
    """The same journal, as the engine holds it (and as reports read it back)."""
    return RunRecord.model_validate(journal(status, **changes))
