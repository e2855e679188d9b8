"""What an exploration found, as explore.json holds it (typed, versioned with the file).

Outcome: one experiment's faults, verdict, the properties that broke or degraded
PutOff: a link fault not run (yet) because a service loss the platform absorbed implies it
Finding: a broken experiment shrunk to its minimal scenario, how often it reproduced, and
         whether it passes on a reference build (--reference-profile)
Exploration: the run's options, discovery, outcomes, findings (explore.json)
regressions(previous, now): what broke now that held (or was not broken) before
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Exploration", "FaultRecord", "Finding", "Outcome", "PutOff", "regressions"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultRecord(_Record):
    kind: str
    target: str
    latency_ms: int = 0
    toxicity: float = 1.0
    label: str


class Outcome(_Record):
    faults: list[FaultRecord]
    label: str
    verdict: str = Field(description="held, degraded, broken or inconclusive")
    broken: list[str] = Field(default_factory=list, description="Each property that broke")
    degraded: list[str] = Field(default_factory=list)
    seconds: float
    run_dir: str


class PutOff(_Record):
    fault: FaultRecord
    label: str
    implied_by: str = Field(description="The service fault absorbed (held or degraded)")


class Finding(_Record):
    label: str = Field(description="The original experiment")
    broken: list[str]
    minimal: str = Field(description="The minimal experiment, as faults + users + seconds")
    scenario: str = Field(description="Path of the minimal scenario YAML")
    faults: int
    fault_seconds: float
    users: int
    reproduced: int
    reruns: int
    runs_used: int = Field(description="Experiments spent shrinking and confirming it")
    reference: str | None = Field(
        default=None, description="The profile the minimal scenario was run once on (no defect)"
    )
    reference_passed: bool | None = Field(
        default=None,
        description="It passed there (it isolates this build's bug); None: not run",
    )

    @property
    def unreproduced(self) -> bool:
        """Re-run, and it did not fail 90% of the re-runs (none run: not decided)."""
        from harness.explore.shrink import needed_failures  # the one 90% rule

        return bool(self.reruns) and self.reproduced < needed_failures(self.reruns)

    @property
    def confirmation(self) -> str:
        """``failed 9 of 10 seeded re-runs``, and whether that is reproducible (90%)."""
        if not self.reruns:
            return "not confirmed: no time left for a re-run"
        said = f"failed {self.reproduced} of {self.reruns} seeded re-runs"
        return f"{said}: not reproducible" if self.unreproduced else said

    @property
    def refuted(self) -> bool:
        """It did not reproduce, or it fails on the reference build too: no evidence of this
        build's bug (a finding left unconfirmed for want of time is not refuted)."""
        return self.unreproduced or self.reference_passed is False

    @property
    def on_reference(self) -> str:
        """``; passes on normal`` (the scenario isolates the bug), or why it does not."""
        if self.reference is None:
            return ""
        if self.reference_passed is None:
            return f"; not run on {self.reference} (no time left)"
        if self.reference_passed:
            return f"; passes on {self.reference}"
        return f"; FAILS on {self.reference} too (it does not isolate a bug of this build)"


class Exploration(_Record):
    version: int = 1
    topology: str
    stack: str
    profile: str
    defects: list[str]
    seed: int
    depth: int
    budget_s: float
    elapsed_s: float = 0.0
    complete: bool = Field(default=False, description="Every planned experiment ran")
    interrupted: bool = False
    links_used: list[str] = Field(default_factory=list)
    links_unused: list[str] = Field(default_factory=list)
    endpoints: list[str] = Field(default_factory=list)
    baseline_p95_ms: dict[str, float] = Field(default_factory=dict)
    planned: int = 0
    outcomes: list[Outcome] = Field(default_factory=list)
    put_off: list[PutOff] = Field(
        default_factory=list,
        description="Link faults moved to the end of the plan, implied by a service loss the"
        " platform absorbed, and not run",
    )
    findings: list[Finding] = Field(default_factory=list)

    def experiments_run(self) -> int:
        return len(self.outcomes) + sum(f.runs_used for f in self.findings)


def regressions(previous: Exploration, now: Exploration) -> list[str]:
    """Experiments broken now that were run before and not broken then, and properties broken
    now that the same experiment did not break before. New experiments that break count too:
    a gate cannot tell "never tried" from "fine"."""
    before = {o.label: o for o in previous.outcomes}
    found: list[str] = []
    for outcome in now.outcomes:
        if outcome.verdict != "broken":
            continue
        earlier = before.get(outcome.label)
        if earlier is None:
            found.append(f"{outcome.label}: broken ({', '.join(outcome.broken)}); not run before")
        elif earlier.verdict != "broken":
            found.append(
                f"{outcome.label}: broken ({', '.join(outcome.broken)}); {earlier.verdict} before"
            )
        else:
            new = sorted(set(outcome.broken) - set(earlier.broken))
            if new:
                found.append(f"{outcome.label}: newly broken {', '.join(new)}")
    return found
