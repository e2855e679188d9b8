"""``harness proxy`` as a program: config file, signals, exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.faults import ToxiproxyClient
from tests.integration.proxy.conftest import is_listening, start_proxy, stop_proxy, wait_for

pytestmark = pytest.mark.integration


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "proxy", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_config_file_creates_proxies_and_sigint_closes_everything(tmp_path: Path) -> None:
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps(
            [
                {"name": "web", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
                {
                    "name": "db",
                    "listen": "127.0.0.1:0",
                    "upstream": "127.0.0.1:2",
                    "enabled": False,
                },
            ]
        )
    )
    proxy = start_proxy("--config", str(config))
    client = ToxiproxyClient(proxy.url)
    proxies = client.proxies()
    assert sorted(proxies) == ["db", "web"]
    assert proxies["web"].enabled
    assert not proxies["db"].enabled
    listen = proxies["web"].listen
    with socket.create_connection(("127.0.0.1", int(listen.rsplit(":", 1)[1]))) as live:
        proxy.process.send_signal(signal.SIGINT)
        assert proxy.process.wait(timeout=10) == 0
        assert live.recv(10) == b""
    assert not is_listening(listen)
    assert not is_listening(f"127.0.0.1:{proxy.port}")
    assert proxy.process.stdout is not None
    proxy.process.stdout.close()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not valid JSON"),
        ('{"name": "x"}', "must be a JSON array"),
        ('[{"listen": "127.0.0.1:0"}]', "[0].name: required"),
        (
            '[{"name": "a", "upstream": "b:1", "enabled": "yes"}]',
            "[0].enabled: must be true or false",
        ),
        ('[{"name": "a", "upstream": "b:1", "listen": "nowhere"}]', "missing port in address"),
    ],
)
def test_bad_config_is_exit_2_with_a_clear_message(
    tmp_path: Path, content: str, fragment: str
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content)
    result = _run("--port", "0", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_is_exit_2() -> None:
    result = _run("--port", "0", "--config", "/no/such/file.json")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_api_port_in_use_is_exit_3() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        result = _run("--port", str(busy.getsockname()[1]))
    assert result.returncode == 3, result.stderr
    assert "address already in use" in result.stderr


def test_sigterm_exits_zero_and_frees_proxy_ports() -> None:
    proxy = start_proxy()
    client = ToxiproxyClient(proxy.url)
    created = client.create_proxy("p", "127.0.0.1:1")
    wait_for(lambda: is_listening(created.listen))
    assert stop_proxy(proxy) == 0
    assert not is_listening(created.listen)
