"""Fixtures for the black-box proxy suite: a real ``harness proxy`` process, driven over HTTP
(toxiproxy-python and raw requests) and sockets, with real echo and sink servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
import toxiproxy
from toxiproxy.api import APIConsumer

from harness.faults import ToxiproxyClient


@dataclass
class ProxyProcess:
    process: subprocess.Popen[str]
    url: str
    host: str
    port: int

    def metric(self, name: str, labels: str = "") -> float:
        """The sum of the /metrics samples of ``name`` (with exactly ``labels`` if given)."""
        text = requests.get(f"{self.url}/metrics", timeout=5).text
        pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else r"(?:\{[^}]*\})?")
        values = re.findall(rf"^{pattern} ([0-9.e+-]+)$", text, re.MULTILINE)
        return sum(float(value) for value in values)


def start_proxy(*extra: str) -> ProxyProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "proxy", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if match is None:
        process.kill()
        process.wait()
        process.stdout.close()
        raise AssertionError(f"proxy did not start: {line!r}")
    port = int(match.group(1))
    return ProxyProcess(process, f"http://127.0.0.1:{port}", "127.0.0.1", port)


def stop_proxy(proxy: ProxyProcess) -> int:
    proxy.process.terminate()
    try:
        return proxy.process.wait(timeout=10)
    finally:
        if proxy.process.poll() is None:
            proxy.process.kill()
            proxy.process.wait()
        if proxy.process.stdout is not None:
            proxy.process.stdout.close()


@pytest.fixture(scope="session")
def proxy_server() -> Iterator[ProxyProcess]:
    proxy = start_proxy("--seed", "7")
    yield proxy
    assert stop_proxy(proxy) == 0


@pytest.fixture
def client(proxy_server: ProxyProcess) -> Iterator[ToxiproxyClient]:
    """Our typed client; every proxy is deleted after the test."""
    api = ToxiproxyClient(proxy_server.url)
    yield api
    for name in api.proxies():
        api.delete_proxy(name)


@pytest.fixture
def official(proxy_server: ProxyProcess, client: ToxiproxyClient) -> toxiproxy.Toxiproxy:
    """The official toxiproxy-python client, pointed at our server."""
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(proxy_server.host, proxy_server.port)
    assert APIConsumer.port == proxy_server.port
    return server


@dataclass
class TcpServer:
    """A threaded TCP server on 127.0.0.1:0 with a per-connection handler."""

    handler: Callable[[socket.socket, TcpServer], None]
    sock: socket.socket = field(init=False)
    received: list[tuple[float, bytes]] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)
    accepted: int = 0
    peers: list[socket.socket] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.sock.settimeout(0.2)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            self.peers.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handler(conn, self)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for peer in self.peers:
            with contextlib.suppress(OSError):
                peer.close()


def _echo(conn: socket.socket, server: TcpServer) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def _sink(conn: socket.socket, server: TcpServer) -> None:
    while data := conn.recv(65536):
        server.received.append((time.monotonic(), data))
    server.closed_at.append(time.monotonic())


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    server = TcpServer(_echo)
    yield server
    server.close()


@pytest.fixture
def sink_server() -> Iterator[TcpServer]:
    server = TcpServer(_sink)
    yield server
    server.close()


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            break
        data += part
    return bytes(data)


def read_until_eof(sock: socket.socket) -> bytes:
    data = bytearray()
    while part := sock.recv(65536):
        data += part
    return bytes(data)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll with a deadline (tests never sleep to wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def is_listening(listen: str) -> bool:
    try:
        connect(listen, timeout=1).close()
    except OSError:
        return False
    return True
