"""kill -9 of any service during uploads loses no acknowledged upload; bad input through the
gateway's OpenAPI never gives a 5xx (schemathesis)."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.integration.platform.conftest import Api, running_api, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def normal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from running_api("normal", Path(tmp_path_factory.mktemp("durability")))


def _uploader(
    api: Api, prefix: str, count: int, acked: dict[str, str], stop: threading.Event
) -> None:
    """Upload ``count`` videos, each retried with its own key until acknowledged."""
    for index in range(count):
        key = f"{prefix}-{index}"
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                response = api.upload(key=key, timeout=5)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if response.status_code == 202:
                acked[key] = response.json()["video_id"]
                break
            time.sleep(0.2)


@pytest.mark.parametrize(
    "victim",
    ["upload", "catalog-primary", "moderation", "moderation-worker", "cdn-origin", "gateway"],
)
def test_kill_9_loses_no_acknowledged_upload(normal: Api, victim: str) -> None:
    acked: dict[str, str] = {}
    stop = threading.Event()
    worker = threading.Thread(target=_uploader, args=(normal, victim, 24, acked, stop))
    worker.start()
    wait_until(lambda: len(acked) >= 4, 20, "uploads flowing")
    os.kill(normal.platform.supervisor.children[victim].pid, signal.SIGKILL)
    normal.platform.restart(victim)
    worker.join(120)
    stop.set()
    assert len(acked) == 24, f"only {len(acked)} of 24 uploads were ever acknowledged"
    assert len(set(acked.values())) == 24  # one id per key, retries included

    def all_published() -> bool:
        return all(normal.status_of(video_id) == "published" for video_id in acked.values())

    wait_until(all_published, 30, "every acknowledged upload published")


def test_gateway_never_answers_5xx_to_bad_input(normal: Api) -> None:
    """Every operation of the gateway's OpenAPI, fed schemathesis-generated input, both valid
    and invalid (wrong types, missing fields, out-of-range values)."""
    schema = schemathesis.openapi.from_url(f"{normal.platform.gateway_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(timeout=10)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.text[:300],
            )

        try:
            no_server_error()
        except Unsatisfiable:
            # An operation without parameters cannot be given invalid input.
            assert mode is schemathesis.GenerationMode.NEGATIVE
            assert not operation.query
            assert not operation.path_parameters
            assert not operation.headers
