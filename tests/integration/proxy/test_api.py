"""Toxiproxy API conformance (reference §1 and the §5.1 checklist), black-box over HTTP."""

from __future__ import annotations

import socket

import pytest
import requests
import toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists

from harness.errors import FaultError
from harness.faults import ToxiproxyClient
from tests.integration.proxy.conftest import ProxyProcess, TcpServer, is_listening

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_routed_response_has_a_request_id(proxy_server: ProxyProcess) -> None:
    for path in ("/version", "/proxies"):
        response = requests.get(proxy_server.url + path, timeout=5)
        assert len(response.headers["X-Toxiproxy-Request-Id"]) == 20


def test_browsers_are_refused_other_agents_are_not(proxy_server: ProxyProcess) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
    response = requests.get(proxy_server.url + "/proxies", headers=browser, timeout=5)
    assert (response.status_code, response.text) == (403, "User agent not allowed\n")
    wget = requests.get(
        proxy_server.url + "/proxies", headers={"User-Agent": "Wget/2.1"}, timeout=5
    )
    assert wget.status_code == 200


def test_empty_server_lists_an_empty_object(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    response = requests.get(proxy_server.url + "/proxies", timeout=5)
    assert response.text == "{}"
    assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "a"}, "missing required field: upstream"),
    ],
)
def test_create_requires_name_and_upstream(
    proxy_server: ProxyProcess, client: ToxiproxyClient, body: dict[str, str], message: str
) -> None:
    response = requests.post(proxy_server.url + "/proxies", json=body, timeout=5)
    assert response.status_code == 400
    assert response.text == f'{{"error":"{message}","status":400}}\n'
    assert response.headers["Content-Type"].startswith("text/plain")


def test_create_resolves_listen_and_keeps_upstream(
    official: toxiproxy.Toxiproxy, echo_server: TcpServer
) -> None:
    port = _free_port()
    proxy = official.create(upstream="localhost:20001", name="mysql", listen=f"localhost:{port}")
    assert proxy.listen == f"127.0.0.1:{port}"
    listed = official.proxies()["mysql"]
    assert (listed.listen, listed.upstream, listed.enabled) == (
        f"127.0.0.1:{port}",
        "localhost:20001",
        True,
    )
    assert listed.toxics() == {}


def test_disabled_proxy_echoes_listen_and_does_not_listen(
    official: toxiproxy.Toxiproxy, client: ToxiproxyClient
) -> None:
    port = _free_port()
    proxy = official.create(
        upstream="127.0.0.1:1", name="off", listen=f"localhost:{port}", enabled=False
    )
    assert proxy.listen == f"localhost:{port}"
    assert not is_listening(f"127.0.0.1:{port}")
    proxy.enable()
    assert is_listening(f"127.0.0.1:{port}")
    proxy.disable()
    assert not is_listening(f"127.0.0.1:{port}")


def test_delete_then_second_delete_is_404(official: toxiproxy.Toxiproxy) -> None:
    proxy = official.create(upstream="127.0.0.1:1", name="gone")
    assert is_listening(proxy.listen)
    official.destroy(proxy)
    assert not is_listening(proxy.listen)
    assert official.proxies() == {}
    with pytest.raises(NotFound, match="proxy not found"):
        proxy.destroy()


def test_port_conflict_is_500_and_works_after_delete(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    first = client.create_proxy("one", "127.0.0.1:1")
    response = requests.post(
        proxy_server.url + "/proxies",
        json={"name": "two", "listen": first.listen, "upstream": "127.0.0.1:1"},
        timeout=5,
    )
    assert response.status_code == 500
    assert response.json()["error"] == f"listen tcp {first.listen}: bind: address already in use"
    assert "two" not in client.proxies()
    client.delete_proxy("one")
    assert client.create_proxy("two", "127.0.0.1:1", listen=first.listen).listen == first.listen


def test_name_conflict_is_409(official: toxiproxy.Toxiproxy, client: ToxiproxyClient) -> None:
    client.create_proxy("dup", "127.0.0.1:1")
    with pytest.raises(FaultError, match="proxy already exists"):
        client.create_proxy("dup", "127.0.0.1:2")
    with pytest.raises(ProxyExists):
        official.create(upstream="127.0.0.1:2", name="dup")


def test_populate_creates_in_order_and_honours_enabled(client: ToxiproxyClient) -> None:
    proxies = client.populate(
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
            {"name": "two", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:2", "enabled": False},
        ]
    )
    assert [p.name for p in proxies] == ["one", "two"]
    assert proxies[0].enabled
    assert is_listening(proxies[0].listen)
    assert not proxies[1].enabled


def test_populate_keeps_unchanged_proxies_and_moves_changed_ones(client: ToxiproxyClient) -> None:
    port_one, port_two = _free_port(), _free_port()
    client.populate(
        [
            {"name": "one", "listen": f"127.0.0.1:{port_one}", "upstream": "localhost:7171"},
            {"name": "two", "listen": f"127.0.0.1:{port_two}", "upstream": "localhost:7171"},
        ]
    )
    client.add_toxic("one", "latency", attributes={"latency": 10})
    new_port = _free_port()
    proxies = client.populate(
        [
            {"name": "one", "listen": f"localhost:{port_one}", "upstream": "localhost:7171"},
            {"name": "two", "listen": f"127.0.0.1:{new_port}", "upstream": "localhost:7171"},
        ]
    )
    assert [p.listen for p in proxies] == [f"127.0.0.1:{port_one}", f"127.0.0.1:{new_port}"]
    assert [t.name for t in client.proxy("one").toxics] == ["latency_downstream"]
    assert not is_listening(f"127.0.0.1:{port_two}")


def test_populate_with_a_nameless_entry_creates_nothing(
    proxy_server: ProxyProcess, client: ToxiproxyClient
) -> None:
    body = [
        {"name": "ok", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
    ]
    response = requests.post(proxy_server.url + "/populate", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json() == {
        "error": "missing required field: name at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert client.proxies() == {}


def test_populate_stops_at_a_bad_listen_without_rollback(
    proxy_server: ProxyProcess, client: ToxiproxyClient
) -> None:
    body = [
        {"name": "ok1", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "bad2", "listen": "local373", "upstream": "127.0.0.1:1"},
        {"name": "ok3", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
    ]
    response = requests.post(proxy_server.url + "/populate", json=body, timeout=5)
    assert response.status_code == 500
    answer = response.json()
    assert answer["error"] == "listen tcp: address local373: missing port in address"
    assert [p["name"] for p in answer["proxies"]] == ["ok1"]
    assert sorted(client.proxies()) == ["ok1"]
    client.add_toxic("ok1", "noop")  # a populated proxy takes toxics


def test_reset_enables_proxies_and_removes_toxics(client: ToxiproxyClient) -> None:
    proxy = client.create_proxy("r", "127.0.0.1:1")
    client.add_toxic("r", "latency", attributes={"latency": 100})
    client.set_enabled("r", False)
    client.reset()
    after = client.proxy("r")
    assert after.enabled
    assert after.toxics == ()
    assert after.listen == proxy.listen
    assert is_listening(after.listen)


def test_toxic_create_read_defaults_and_conflicts(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    client.create_proxy("t", "127.0.0.1:1")
    url = f"{proxy_server.url}/proxies/t/toxics"
    response = requests.post(
        url,
        json={"name": "foobar", "type": "latency", "attributes": {"latency": 100, "jitter": 10}},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.text == (
        '{"attributes":{"latency":100,"jitter":10},"name":"foobar","type":"latency",'
        '"stream":"downstream","toxicity":1}'
    )
    conflict = requests.post(
        url, json={"name": "foobar", "type": "timeout", "stream": "upstream"}, timeout=5
    )
    assert (conflict.status_code, conflict.json()["error"]) == (409, "toxic already exists")
    up = client.add_toxic("t", "latency", name="", stream="upstream")
    down2 = requests.post(url, json={"type": "latency"}, timeout=5).json()
    assert (up.name, down2["name"]) == ("latency_upstream", "latency_downstream")
    assert down2["attributes"] == {"latency": 0, "jitter": 0}
    noop = requests.post(url, json={"type": "noop", "name": "n"}, timeout=5).json()
    assert (noop["stream"], noop["toxicity"], noop["attributes"]) == ("downstream", 1, {})
    shy = client.add_toxic("t", "latency", name="shy", toxicity=0.2)
    assert shy.toxicity == 0.2
    assert requests.get(f"{url}/shy", timeout=5).json()["toxicity"] == 0.2
    # Listing order: upstream toxics first, then downstream, each in the order added.
    assert [t.name for t in client.toxics("t")] == [
        "latency_upstream",
        "foobar",
        "latency_downstream",
        "n",
        "shy",
    ]


def test_stream_is_case_insensitive_and_kept_as_spelled(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    client.create_proxy("s", "127.0.0.1:1")
    url = f"{proxy_server.url}/proxies/s/toxics"
    upper = requests.post(url, json={"type": "latency", "stream": "UPSTREAM"}, timeout=5).json()
    assert (upper["name"], upper["stream"]) == ("latency_UPSTREAM", "UPSTREAM")
    for stream in ("walrustream", ""):
        bad = requests.post(url, json={"type": "latency", "stream": stream}, timeout=5)
        assert bad.status_code == 400
        assert bad.json()["error"] == "stream was invalid, can be either upstream or downstream"
    assert (
        requests.post(url, json={"type": "poison"}, timeout=5).json()["error"]
        == "invalid toxic type"
    )


def test_update_merges_attributes_and_keeps_toxicity(client: ToxiproxyClient) -> None:
    client.create_proxy("u", "127.0.0.1:1")
    client.add_toxic("u", "latency", name="lat", attributes={"latency": 100, "jitter": 10})
    first = client.update_toxic("u", "lat", toxicity=0.5, attributes={"latency": 1000})
    assert (first.toxicity, first.attributes) == (0.5, {"latency": 1000, "jitter": 10})
    second = client.update_toxic("u", "lat", attributes={"latency": 500})
    assert (second.toxicity, second.attributes) == (0.5, {"latency": 500, "jitter": 10})


def test_a_rejected_update_changes_nothing(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    client.create_proxy("v", "127.0.0.1:1")
    client.add_toxic("v", "latency", name="lat", attributes={"latency": 100})
    response = requests.post(
        f"{proxy_server.url}/proxies/v/toxics/lat",
        json={"attributes": {"jitter": 5, "latency": "x"}},
        timeout=5,
    )
    assert response.status_code == 400
    assert client.toxics("v")[0].attributes == {"latency": 100, "jitter": 0}


def test_remove_toxic_and_unknown_names(
    client: ToxiproxyClient, proxy_server: ProxyProcess
) -> None:
    client.create_proxy("w", "127.0.0.1:1")
    client.add_toxic("w", "noop", name="x")
    client.remove_toxic("w", "x")
    assert client.toxics("w") == []
    for method in ("get", "delete"):
        response = requests.request(method, f"{proxy_server.url}/proxies/w/toxics/x", timeout=5)
        assert (response.status_code, response.json()["error"]) == (404, "toxic not found")
    response = requests.get(f"{proxy_server.url}/proxies/nope/toxics/x", timeout=5)
    assert response.json()["error"] == "proxy not found"


def test_version_and_routing_errors(proxy_server: ProxyProcess) -> None:
    version = requests.get(proxy_server.url + "/version", timeout=5)
    # the Toxiproxy API it matches, as semver, with ours as build metadata
    assert version.text.startswith('{"version": "2.12.0+shortvideo-chaos.')
    assert version.text.endswith('"}\n')
    not_found = requests.get(proxy_server.url + "/proxies/", timeout=5)
    assert (not_found.status_code, not_found.text) == (404, "404 page not found\n")
    for method, path in (("PUT", "/proxies"), ("DELETE", "/proxies"), ("GET", "/reset")):
        response = requests.request(method, proxy_server.url + path, timeout=5)
        assert (response.status_code, response.content) == (405, b""), (method, path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "bad request body: EOF"),
        (b'{"name":"a"', "bad request body: unexpected EOF"),
        (b"garbage", "bad request body: invalid character 'g' looking for beginning of value"),
        (
            b"[1]",
            "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy",
        ),
        (
            b'{"name": 5}',
            "bad request body: json: cannot unmarshal number into Go struct field "
            "Proxy.name of type string",
        ),
        (b"{" * 100_000, None),
        (b'{"name":"' + b"x" * (2 << 20) + b'"}', "bad request body: http: request body too large"),
    ],
)
def test_bad_proxy_bodies_are_400(
    proxy_server: ProxyProcess, client: ToxiproxyClient, body: bytes, message: str | None
) -> None:
    response = requests.post(proxy_server.url + "/proxies", data=body, timeout=10)
    assert response.status_code == 400, response.text
    if message is not None:
        assert response.json()["error"] == message


@pytest.mark.parametrize(
    ("toxic", "fragment"),
    [
        ({"type": "latency", "attributes": {"latency": 1.5}}, "number 1.5"),
        ({"type": "latency", "attributes": {"latency": "100"}}, "string"),
        ({"type": "latency", "attributes": [1]}, "array"),
        ({"type": "latency", "toxicity": "high"}, "toxicity of type float32"),
    ],
)
def test_bodies_the_reference_cannot_decode_are_400(
    proxy_server: ProxyProcess, client: ToxiproxyClient, toxic: dict[str, object], fragment: str
) -> None:
    client.create_proxy("c", "127.0.0.1:1")
    response = requests.post(proxy_server.url + "/proxies/c/toxics", json=toxic, timeout=5)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert client.toxics("c") == []


def test_metrics_count_bytes_when_a_link_ends(
    proxy_server: ProxyProcess, client: ToxiproxyClient, echo_server: TcpServer
) -> None:
    from tests.integration.proxy.conftest import connect, recv_exactly, wait_for

    proxy = client.create_proxy("m", echo_server.address)
    with connect(proxy.listen) as sock:
        sock.sendall(b"hello")
        assert recv_exactly(sock, 5) == b"hello"
    labels = (
        f'direction="upstream",listener="{proxy.listen}",proxy="m",upstream="{echo_server.address}"'
    )
    wait_for(lambda: proxy_server.metric("toxiproxy_proxy_received_bytes_total", labels) == 5)
    assert proxy_server.metric("toxiproxy_proxy_sent_bytes_total", labels) == 5


def test_client_errors_are_fault_errors(proxy_server: ProxyProcess) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = ToxiproxyClient(f"http://127.0.0.1:{sock.getsockname()[1]}", timeout_s=1)
    assert not dead.is_running()
    with pytest.raises(FaultError, match="cannot reach Toxiproxy"):
        dead.proxies()
    live = ToxiproxyClient(proxy_server.url)
    with pytest.raises(FaultError, match="proxy not found"):
        live.add_toxic("missing", "latency")


def test_a_proxy_created_without_listen_gets_a_free_loopback_port(
    proxy_server: ProxyProcess, client: ToxiproxyClient, echo_server: TcpServer
) -> None:
    from tests.integration.proxy.conftest import connect, recv_exactly

    body = {"name": "free", "upstream": echo_server.address}
    response = requests.post(proxy_server.url + "/proxies", json=body, timeout=5)
    assert response.status_code == 201, response.text  # Toxiproxy: [::]:<free port>
    host, _, port = response.json()["listen"].rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    with connect(response.json()["listen"]) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
