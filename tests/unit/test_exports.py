"""Public names are deliberate: each module's __all__ is sorted and every name exists."""

import importlib

import pytest

MODULES = [
    "harness",
    "harness.checks",
    "harness.engine",
    "harness.errors",
    "harness.load",
    "harness.record",
    "harness.report",
    "harness.topology",
    "harness.faults",
    "harness.platform",
    "harness.proxy",
    "harness.proxy.toxics",
    "harness.scenario",
]


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr}"


def test_exit_codes_follow_design() -> None:
    from harness import errors

    assert errors.ResilienceFailure.exit_code == 1
    assert errors.ConfigError.exit_code == 2
    assert errors.EnvironmentFailure.exit_code == 3
    assert errors.HarnessError.exit_code == 3
