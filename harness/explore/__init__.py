"""harness explore: find the fault combinations that break a platform, with no scenario.

topology (+ --profile/--defect/--stack) -> explorer.Explorer.run():
  discover  one fault-free run; the proxy's byte counters -> links that carried traffic
  plan      space.singles(): link x {down, blackhole, latency, reset_peer, partial, HTTP}
            + service x {kill, pause}; --depth 2: space.pairs() chosen by the singles;
            a service loss absorbed puts off the link faults it implies (space.implied)
  judge     oracle.experiment_scenario() -> a scenario file run by the engine on the one
            platform (reused) -> oracle.judge(): held / degraded / broken (named property)
  shrink    shrink.shrink(): fewer faults, shorter, fewer users, weaker; confirmed by
            seeded re-runs -> OUT/scenarios/*.yaml (valid for harness run)
  output    output.write_outputs(): explore.json (results.Exploration), matrix.md/.html
  compare   results.regressions(previous explore.json, this one) -> exit 1 on any
"""

from harness.explore.explorer import ExploreOptions, Explorer
from harness.explore.results import Exploration, regressions

__all__ = ["Exploration", "ExploreOptions", "Explorer", "regressions"]
