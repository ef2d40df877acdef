"""The service steps of the fault vocabulary (pause, resume, restart, stop) on both backends.

The same spec runs as a process and in a container (hil's simulators image has the project's
interpreter), and each step is judged from the outside, as a client sees it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.errors import ServiceError
from hil.services import HttpStatus, Service, ServiceSpec, ServiceState, make_backend
from hil.services.engine import docker_unavailable_reason
from hil.services.images import SIMULATORS_IMAGE

REASON = docker_unavailable_reason()
BACKENDS = ["process", pytest.param("container", marks=pytest.mark.skipif(REASON is not None, reason=f"{REASON}"))]

REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


def http_server() -> ServiceSpec:
    return ServiceSpec(
        "web",
        command=lambda ports, wd: [sys.executable, "-u", "-m", "http.server", str(ports["http"]), "--bind", "127.0.0.1"],
        ports=("http",),
        image=SIMULATORS_IMAGE,
    )


@pytest.fixture(params=BACKENDS)
def web(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    service = make_backend(request.param, tmp_path).create(http_server())
    service.start(HttpStatus("http", "/", 200), timeout=120)
    yield service
    service.stop()


def ask(port: int, timeout: float) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    connection.sendall(REQUEST)
    return connection


def test_a_paused_service_answers_nothing_until_resumed_then_answers_the_waiting_request(web):
    web.pause()
    assert web.state is ServiceState.PAUSED
    # The kernel still accepts the connection (the listening socket lives on), nobody answers.
    connection = ask(web.port("http"), timeout=0.5)
    with pytest.raises(TimeoutError):
        connection.recv(64)
    web.resume()
    assert web.state is ServiceState.RUNNING
    connection.settimeout(10)
    assert connection.recv(64).startswith(b"HTTP/1.0 200")
    connection.close()


def test_restart_comes_back_on_the_same_port(web):
    port = web.port("http")
    web.restart(HttpStatus("http", "/", 200), timeout=60)
    assert web.state is ServiceState.RUNNING and web.port("http") == port
    with ask(port, timeout=10) as connection:
        assert connection.recv(64).startswith(b"HTTP/1.0 200")


def test_a_paused_service_can_be_restarted_and_stopped(web):
    web.pause()
    web.restart(HttpStatus("http", "/", 200), timeout=60)
    assert web.state is ServiceState.RUNNING
    web.pause()
    web.stop()
    assert web.state is ServiceState.STOPPED
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", web.port("http")), timeout=2).close()


def test_pause_and_resume_refuse_the_wrong_state(web):
    with pytest.raises(ServiceError, match="cannot resume while running"):
        web.resume()
    web.stop()
    with pytest.raises(ServiceError, match="cannot pause while stopped"):
        web.pause()
