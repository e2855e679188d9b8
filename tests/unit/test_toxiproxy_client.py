"""ToxiproxyClient: where it points, without sockets (httpx-style seam: the URL only)."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.faults import DEFAULT_URL, ToxiproxyClient


def test_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    assert ToxiproxyClient().url == DEFAULT_URL


def test_toxiproxy_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", "http://127.0.0.1:9999/")
    client = ToxiproxyClient()
    assert client.url == "http://127.0.0.1:9999"
    assert (client._api.host, client._api.port) == ("127.0.0.1", 9999)


def test_two_clients_do_not_share_the_official_clients_global_address() -> None:
    first, second = ToxiproxyClient("http://127.0.0.1:1111"), ToxiproxyClient("http://[::1]:2222")
    assert (first._api.host, first._api.port) == ("127.0.0.1", 1111)
    assert (second._api.host, second._api.port) == ("[::1]", 2222)


@pytest.mark.parametrize("url", ["ftp://x:1", "http://nohost", "http://:80"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="toxiproxy url"):
        ToxiproxyClient(url)
