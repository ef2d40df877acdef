"""The service lifecycle: readiness, failures, port retries, stop, restart, and log files."""

from __future__ import annotations

import os
import select
import socket
import sys
from pathlib import Path

import pytest

from hil.errors import PortInUse, ServiceError, ServiceExited, StartupTimeout
from hil.services import (
    AllOf,
    GrpcChannelReady,
    HttpStatus,
    LogLine,
    ProcessBackend,
    ServiceSpec,
    ServiceState,
    TcpPort,
    TlsHandshake,
    current_tracker,
)

PY = sys.executable


@pytest.fixture
def backend(tmp_path: Path) -> ProcessBackend:
    return ProcessBackend(tmp_path)


def http_server(name: str = "web") -> ServiceSpec:
    return ServiceSpec(
        name,
        command=lambda ports, wd: [PY, "-u", "-m", "http.server", str(ports["http"]), "--bind", "127.0.0.1"],
        ports=("http",),
    )


def test_start_returns_only_when_ready_and_stop_is_idempotent(backend):
    service = backend.create(http_server())
    service.start(AllOf(TcpPort("http"), HttpStatus(port="http", path="/", status=200)))
    assert service.state is ServiceState.RUNNING
    with socket.create_connection(("127.0.0.1", service.port("http")), timeout=2):
        pass
    service.stop()
    service.stop()
    assert service.state is ServiceState.STOPPED
    assert service.exited() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", service.port("http")), timeout=1).close()


def test_log_line_readiness_waits_for_the_line_and_the_log_file_keeps_output(backend):
    spec = ServiceSpec(
        "printer",
        command=lambda ports, wd: [PY, "-u", "-c", "import sys; print('booting'); print('ready now'); sys.stdin.read()"],
    )
    service = backend.create(spec)
    service.start(LogLine(r"^ready now$"))
    assert service.log is not None and "booting" in service.log.lines()
    service.stop()
    text = service.log_path.read_text()
    assert "booting" in text and "ready now" in text


def test_a_service_that_exits_during_start_raises_with_its_log(backend):
    spec = ServiceSpec("crasher", command=lambda ports, wd: [PY, "-c", "print('fatal: bad config'); raise SystemExit(3)"])
    service = backend.create(spec)
    with pytest.raises(ServiceExited) as info:
        service.start(LogLine("never printed"), timeout=10)
    assert info.value.service == "crasher"
    assert "fatal: bad config" in info.value.log_tail()
    # The cause is in the message itself: CI output may be all a reader gets.
    assert str(info.value).endswith("it said: fatal: bad config")
    assert service.state is ServiceState.STOPPED


def test_a_service_that_never_gets_ready_times_out_and_is_stopped(backend):
    spec = ServiceSpec("sleeper", command=lambda ports, wd: [PY, "-c", "import threading; threading.Event().wait()"])
    service = backend.create(spec)
    with pytest.raises(StartupTimeout, match=r"not ready after 0\.3s"):
        service.start(LogLine("never printed"), timeout=0.3)
    assert service.exited() is not None, "a service that failed readiness must be stopped"


def test_probe_readiness_notices_an_exit_instead_of_timing_out(backend):
    spec = ServiceSpec("quitter", command=lambda ports, wd: [PY, "-c", "print('usage: quitter');print()"], ports=("http",))
    service = backend.create(spec)
    with pytest.raises(ServiceExited, match=r"exited with status 0 while waiting for .*; it said: usage: quitter$"):
        service.start(TcpPort("http"), timeout=30)


def test_address_in_use_is_retried_on_a_new_port(backend, tmp_path):
    # The first launch reports the port as taken (as mosquitto does), the second one serves.
    marker = tmp_path / "first-done"
    script = (
        "import sys, pathlib, http.server\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n"
        "    m.touch(); print('Error: Address already in use', flush=True); sys.exit(1)\n"
        "http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind='127.0.0.1')\n"
    )
    seen: list[int] = []

    def command(ports, wd):
        seen.append(ports["http"])
        return [PY, "-u", "-c", script, str(ports["http"])]

    service = backend.create(ServiceSpec("retry", command=command, ports=("http",)))
    service.start(HttpStatus(port="http"))
    try:
        assert len(seen) == 2 and service.port("http") == seen[1]
    finally:
        service.stop()


def test_port_in_use_gives_up_after_the_retries(backend):
    spec = ServiceSpec("taken", command=lambda ports, wd: [PY, "-c", "print('Address already in use'); raise SystemExit(1)"],
                       ports=("p",))
    with pytest.raises(PortInUse):
        backend.create(spec).start(TcpPort("p"))


def test_restart_keeps_the_same_port(backend):
    service = backend.create(http_server("restarted"))
    service.start(HttpStatus(port="http"))
    port = service.port("http")
    first_pid = service.pid
    service.restart(HttpStatus(port="http"))
    try:
        assert service.port("http") == port and service.pid != first_pid
    finally:
        service.stop()


def test_start_twice_is_refused(backend):
    service = backend.create(http_server("twice"))
    service.start(HttpStatus(port="http"))
    try:
        with pytest.raises(ServiceError, match="cannot start while running"):
            service.start(HttpStatus(port="http"))
    finally:
        service.stop()


def test_a_missing_executable_is_one_clear_error(backend):
    service = backend.create(ServiceSpec("ghost", command=lambda ports, wd: ["/nonexistent/binary"]))
    with pytest.raises(ServiceError, match=r"cannot run .*not found"):
        service.start(LogLine("never printed"), timeout=5)


def test_tls_handshake_readiness_uses_the_harness_ca(backend, tmp_path):
    from hil.pki import HarnessPKI

    pki = HarnessPKI(tmp_path / "pki")
    cert = pki.issue_server("tls")
    script = (
        "import ssl, sys, http.server\n"
        "srv = http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
        "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
        "srv.serve_forever()\n"
    )
    spec = ServiceSpec(
        "tls",
        command=lambda ports, wd: [PY, "-c", script, str(ports["https"]), str(cert.cert_path), str(cert.key_path)],
        ports=("https",),
    )
    service = backend.create(spec)
    service.start(AllOf(TlsHandshake("https", pki.ca_cert_path), HttpStatus(port="https", ca_path=pki.ca_cert_path)))
    service.stop()
    # Against another CA the same handshake must fail: readiness would never pass. The first
    # check proves the server is up, so the timeout can only come from the untrusted certificate.
    other = HarnessPKI(tmp_path / "other")
    service = backend.create(ServiceSpec("tls2", command=spec.command, ports=("https",)))
    with pytest.raises(StartupTimeout, match="certificate verify failed"):
        service.start(AllOf(TlsHandshake("https", pki.ca_cert_path), TlsHandshake("https", other.ca_cert_path)),
                      timeout=3)


def test_services_carry_the_session_marker(backend):
    service = backend.create(http_server("marked"))
    service.start(HttpStatus(port="http"))
    try:
        environ = Path(f"/proc/{service.pid}/environ").read_bytes().split(b"\0")
        marker = f"HIL_SESSION_ID={current_tracker().session_id}".encode()
        assert marker in environ
    finally:
        service.stop()


GRPC_SERVER = (
    "import sys, threading, grpc\n"
    "from concurrent import futures\n"
    "server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))\n"
    "server.add_insecure_port(f'127.0.0.1:{sys.argv[1]}')\n"
    "server.start()\n"
    "threading.Event().wait()\n"
)


def test_grpc_channel_ready_waits_for_an_http2_server(backend):
    service = backend.create(
        ServiceSpec("grpc", command=lambda ports, wd: [PY, "-c", GRPC_SERVER, str(ports["grpc"])], ports=("grpc",))
    )
    service.start(GrpcChannelReady("grpc"), timeout=20)
    try:
        assert service.state is ServiceState.RUNNING
    finally:
        service.stop()
    # A plain HTTP/1 listener, up and answering, must not pass for a gRPC server.
    tcp = backend.create(http_server("not-grpc"))
    with pytest.raises(StartupTimeout, match="gRPC server answering"):
        tcp.start(AllOf(HttpStatus(port="http"), GrpcChannelReady("http")), timeout=3)


def test_mqtt_connack_readiness_fails_with_an_identity_the_broker_refuses(tmp_path):
    from hil.mqtt.broker import MosquittoBroker
    from hil.pki import HarnessPKI
    from hil.services import ClientIdentity, MqttConnack

    pki = HarnessPKI(tmp_path / "pki")
    broker = MosquittoBroker(pki, ProcessBackend(tmp_path / "services"))
    broker.start()
    try:
        foreign = pki.foreign_client("hil/intruder")
        intruder = ClientIdentity(foreign.cert_path, foreign.key_path, pki.ca_cert_path, "hil/intruder")
        from hil.services.readiness import Deadline

        with pytest.raises(StartupTimeout, match="MQTT CONNACK"):
            MqttConnack(intruder, port="mqtts").wait(broker.service, Deadline(0.5))
        MqttConnack(broker.probe_identity, port="mqtts").wait(broker.service, Deadline(5))
    finally:
        broker.stop()


def test_a_service_restarted_from_a_short_lived_thread_survives_that_thread(backend):
    """PDEATHSIG follows the forking thread: a worker thread's exit must not kill the service."""
    import threading

    service = backend.create(http_server("from-thread"))
    service.start(HttpStatus(port="http"))
    try:
        worker = threading.Thread(target=service.restart, args=(HttpStatus(port="http"),))
        worker.start()
        worker.join(20)
        assert not worker.is_alive()
        # The worker has exited; the kernel would deliver PDEATHSIG now. Wait on the pidfd for a
        # death that must not come (a bounded negative wait), then the service must still serve.
        fd = os.pidfd_open(service.pid)
        try:
            died, _, _ = select.select([fd], [], [], 1.0)
        finally:
            os.close(fd)
        assert not died, "the service died with the thread that restarted it"
        with socket.create_connection(("127.0.0.1", service.port("http")), timeout=2):
            pass
    finally:
        service.stop()
