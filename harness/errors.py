"""One exception root for the harness; each class carries the exit code the CLI returns.

0 every expectation held   1 a resilience expectation failed
2 invalid scenario/usage   3 the harness or its environment broke
"""

__all__ = ["ConfigError", "EnvironmentFailure", "FaultError", "HarnessError", "ResilienceFailure"]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code = 3


class ConfigError(HarnessError):
    """Bad input from the user: a scenario, a config file, a command-line value."""

    exit_code = 2


class EnvironmentFailure(HarnessError):
    """The machine, a process or a server the harness needs did not behave."""

    exit_code = 3


class ResilienceFailure(HarnessError):
    """A resilience expectation did not hold (a finding, not a harness bug)."""

    exit_code = 1


class FaultError(EnvironmentFailure):
    """A fault could not be applied or removed (the Toxiproxy API refused or was unreachable).

    A run with a fault that failed to apply is errored, never passed.
    """

    exit_code = 3
