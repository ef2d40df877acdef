"""hil's fault proxy: Toxiproxy's API shapes, and each toxic on real TCP traffic through it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from hil.errors import FaultError
from hil.faults import Faults, FaultProxyServer, StepRecord, ToxiproxyClient


class EchoServer:
    """A loopback TCP server that sends back what it receives (the upstream of the proxies)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the serving thread
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultProxyServer]:
    with FaultProxyServer() as running:
        yield running


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    upstream = EchoServer()
    yield upstream
    upstream.close()


@pytest.fixture
def client(server: FaultProxyServer) -> Iterator[ToxiproxyClient]:
    api = ToxiproxyClient(server.url)
    yield api
    for name in api.proxies():
        api.delete_proxy(name)
    api.close()


def _connect(proxy: dict[str, object]) -> socket.socket:
    host, _, port = str(proxy["listen"]).rpartition(":")
    conn = socket.create_connection((host, int(port)), timeout=5)
    return conn


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_api_shapes_are_toxiproxys(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    assert set(proxy) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert proxy["enabled"] is True and proxy["toxics"] == [] and not proxy["listen"].endswith(":0")
    toxic = client.add_toxic("echo", "latency", attributes={"latency": 10})
    # Toxiproxy's defaults: name <type>_<stream>, downstream, toxicity 1, unset attributes 0.
    assert toxic == {"name": "latency_downstream", "type": "latency", "stream": "downstream", "toxicity": 1.0,
                     "attributes": {"latency": 10, "jitter": 0}}
    assert client.proxies()["echo"]["toxics"] == [toxic]
    assert client.toxic("echo", "latency_downstream") == toxic
    updated = client.update_toxic("echo", "latency_downstream", attributes={"jitter": 5}, toxicity=0.5)
    assert updated["attributes"] == {"latency": 10, "jitter": 5} and updated["toxicity"] == 0.5
    client.reset()
    assert client.toxics("echo") == [] and client.proxy("echo")["enabled"] is True
    populated = client.populate([{"name": "echo", "upstream": echo.address, "listen": proxy["listen"]},
                                 {"name": "second", "upstream": echo.address}])
    assert [p["name"] for p in populated] == ["echo", "second"] and populated[0]["listen"] == proxy["listen"]
    assert client.version()


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid, can be either upstream or downstream"),
    ({"type": "latnecy"}, 400, "invalid toxic type"),
    ({"type": "latency", "attributes": {"latnecy": 5}}, 400, "latency has no attribute 'latnecy'"),
    ({"type": "latency", "attributes": {"latency": -1}}, 400, "must be a non-negative integer"),
    ({"type": "latency", "attributes": {"latency": "100"}}, 400, "must be a non-negative integer"),
    ({"type": "latency", "toxicity": 2}, 400, "toxicity must be a number from 0 to 1"),
    ({"type": "packet_loss", "attributes": {"probability": 101}}, 400, "percentage"),
    ([1, 2], 400, "expected a JSON object"),
])
def test_bad_toxics_are_one_line_in_toxiproxys_error_shape(server: FaultProxyServer, client: ToxiproxyClient,
                                                          echo: EchoServer, body: object, status: int,
                                                          message: str) -> None:
    client.create_proxy("echo", echo.address)
    response = httpx.post(f"{server.url}/proxies/echo/toxics", json=body)
    assert response.status_code == status
    answer = response.json()
    assert set(answer) == {"error", "status"} and answer["status"] == status
    assert message in answer["error"] and "\n" not in answer["error"]
    assert client.toxics("echo") == []


def test_bad_proxies_and_unknown_names(server: FaultProxyServer, client: ToxiproxyClient, echo: EchoServer) -> None:
    assert httpx.post(f"{server.url}/proxies", json={"name": "x"}).json() == {
        "error": "missing required field: upstream", "status": 400}
    assert httpx.post(f"{server.url}/proxies", content=b"{nope").status_code == 400
    with pytest.raises(FaultError, match="listen host must be loopback") as refused:
        client.create_proxy("far", echo.address, listen="0.0.0.0:0")
    assert refused.value.status == 400
    client.create_proxy("echo", echo.address)
    with pytest.raises(FaultError, match="proxy already exists") as duplicate:
        client.create_proxy("echo", echo.address)
    assert duplicate.value.status == 409
    with pytest.raises(FaultError, match="proxy not found"):
        client.add_toxic("nope", "latency")
    with pytest.raises(FaultError, match="toxic not found"):
        client.remove_toxic("echo", "nope")


def test_latency_delays_each_answer(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    with _connect(proxy) as conn:
        conn.sendall(b"a")
        assert _recv_exactly(conn, 1) == b"a"
        client.add_toxic("echo", "latency", attributes={"latency": 250})
        started = time.monotonic()
        conn.sendall(b"b")
        assert _recv_exactly(conn, 1) == b"b"
        assert time.monotonic() - started >= 0.25  # a floor the toxic guarantees, not a speed goal


def test_down_refuses_and_closes_then_comes_back_on_the_same_port(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    with _connect(proxy) as conn:
        client.update_proxy("echo", enabled=False)
        assert conn.recv(1) == b""  # the open connection was closed
    with pytest.raises(ConnectionRefusedError):
        _connect(proxy)
    assert client.update_proxy("echo", enabled=True)["listen"] == proxy["listen"]
    with _connect(proxy) as conn:
        conn.sendall(b"back")
        assert _recv_exactly(conn, 4) == b"back"


def test_reset_peer_resets_the_connection(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    with _connect(proxy) as conn:
        conn.sendall(b"x")
        assert _recv_exactly(conn, 1) == b"x"
        client.add_toxic("echo", "reset_peer", attributes={"timeout": 0})
        with pytest.raises(ConnectionResetError):
            conn.recv(1)


def test_timeout_zero_holds_data_until_removed(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", "timeout", stream="upstream", attributes={"timeout": 0})
    with _connect(proxy) as conn:
        conn.sendall(b"lost")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(1)  # the absence of an answer is what is checked
        client.remove_toxic("echo", "timeout_upstream")
        conn.settimeout(5)
        conn.sendall(b"kept")
        assert _recv_exactly(conn, 4) == b"kept"


def test_timeout_closes_after_its_delay(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", "timeout", attributes={"timeout": 100})
    with _connect(proxy) as conn:
        assert conn.recv(1) == b""


def test_limit_data_closes_after_the_limit(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", "limit_data", attributes={"bytes": 10})
    with _connect(proxy) as conn:
        conn.sendall(b"0123456789abcdef")
        assert _recv_exactly(conn, 100) == b"0123456789"


@pytest.mark.parametrize(("kind", "attributes"), [
    ("slicer", {"average_size": 3, "size_variation": 1, "delay": 100}),
    ("bandwidth", {"rate": 1000}),
    ("slow_close", {"delay": 10}),
    ("latency", {"latency": 1, "jitter": 1}),
])
def test_shaping_toxics_keep_the_bytes_intact(client: ToxiproxyClient, echo: EchoServer, kind: str,
                                              attributes: dict[str, int]) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", kind, attributes=attributes)
    client.add_toxic("echo", kind, stream="upstream", attributes=attributes)
    payload = bytes(range(256)) * 20
    with _connect(proxy) as conn:
        conn.sendall(payload)
        assert _recv_exactly(conn, len(payload)) == payload


def test_packet_loss_at_100_percent_drops_everything(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", "packet_loss", attributes={"probability": 100})
    with _connect(proxy) as conn:
        conn.sendall(b"gone")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(1)


def test_toxicity_zero_never_applies(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    client.add_toxic("echo", "reset_peer", toxicity=0.0)
    with _connect(proxy) as conn:
        conn.sendall(b"ok")
        assert _recv_exactly(conn, 2) == b"ok"


def test_steps_are_removed_on_exit_and_by_remove_all_even_after_a_failure(client: ToxiproxyClient,
                                                                         echo: EchoServer) -> None:
    proxy = client.create_proxy("echo", echo.address)
    records: list[StepRecord] = []
    faults = Faults(client, {"echo-service": "echo"}, record=records.append)
    with faults.latency("echo-service", 50) as step:
        assert [t["type"] for t in client.toxics("echo")] == ["latency"] and step.active
    assert client.toxics("echo") == [] and records[0].removed_at is not None
    with pytest.raises(RuntimeError), faults.down("echo-service"):
        faults.reset_peer("echo-service")  # left without ``with``: removed by remove_all
        raise RuntimeError("the check failed here")
    assert client.proxy("echo")["enabled"] is True
    faults.remove_all()
    assert client.toxics("echo") == []
    with _connect(proxy) as conn:
        conn.sendall(b"ok")
        assert _recv_exactly(conn, 2) == b"ok"
    assert [r.step for r in records] == ["latency", "down", "reset_peer"]
    assert all(r.removed_at is not None for r in records)
    with pytest.raises(FaultError, match="no fault proxy in front of service 'broker'"):
        faults.latency("broker", 10)
    with pytest.raises(FaultError, match="cannot stop, restart or pause"):
        faults.restart("echo-service")


def test_stopping_the_server_leaves_no_port_open() -> None:
    upstream = EchoServer()
    try:
        with FaultProxyServer() as running:
            with ToxiproxyClient(running.url) as api:
                proxy = api.create_proxy("echo", upstream.address)
            url = running.url
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy)
        with pytest.raises(FaultError), ToxiproxyClient(url) as late:
            late.proxies()
    finally:
        upstream.close()
