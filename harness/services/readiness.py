"""Readiness checks: reusable objects that block until a service really serves.

Each check waits on a real signal (a log line, an accepted connection, a TLS handshake, an HTTP
status, an MQTT CONNACK, a gRPC channel turning READY), never on a fixed delay. Probes that must
be retried (a port that is not bound yet) retry on a short back-off, and every wait gives up at
once when the service has exited, so a crash reports its log instead of a timeout.

The checks only need a :class:`~hil.services.base.ReadinessTarget`, so the same objects judge
a process, a container, or a physical device on a bench.

Example::

    broker.start(AllOf(LogLine(r"mosquitto version \\S+ running"), MqttConnack(admin_identity)))
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, TYPE_CHECKING

from hil.errors import ServiceExited, StartupTimeout
from hil.services.base import ReadinessTarget

if TYPE_CHECKING:
    from hil.services.logstream import LogStream

__all__ = [
    "AllOf",
    "ClientIdentity",
    "Deadline",
    "GrpcChannelReady",
    "HttpStatus",
    "LogLine",
    "MqttConnack",
    "Readiness",
    "TcpPort",
    "TlsHandshake",
]


@dataclass(frozen=True)
class ClientIdentity:
    """A TLS client identity: certificate, key, and the CA that the server must chain to."""

    cert_path: Path
    key_path: Path
    ca_path: Path
    common_name: str

    def ssl_context(self, *, check_hostname: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        ctx.check_hostname = check_hostname
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


class Deadline:
    """A point in monotonic time that all steps of one start share."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at


class Readiness(Protocol):
    """The readiness protocol: ``wait`` returns when ready, raises StartupTimeout/ServiceExited."""

    def describe(self) -> str: ...

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None: ...


def _raise_if_exited(target: ReadinessTarget, waiting_for: str) -> None:
    status = target.exited()
    if status is not None:
        log = target.log
        raise ServiceExited(
            target.name,
            f"exited with status {status} while waiting for {waiting_for}{_said(log)}",
            returncode=status,
            log_path=log.path if log is not None else None,
        )


def _said(log: LogStream | None) -> str:
    """``; it said: <last line>`` when the service left one: the cause, in the error itself."""
    words = log.last_words() if log is not None else ""
    return f"; it said: {words[:300]}" if words else ""


def _timeout(target: ReadinessTarget, waiting_for: str, deadline: Deadline, last: str = "") -> StartupTimeout:
    log = target.log
    detail = f" (last attempt: {last})" if last else ""
    return StartupTimeout(
        target.name,
        f"not ready after {deadline.seconds:g}s: {waiting_for}{detail}",
        log_path=log.path if log is not None else None,
    )


def _retry[T](target: ReadinessTarget, what: str, deadline: Deadline, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it returns, backing off 2 ms -> 50 ms between failures.

    The back-off waits on the service's output closing (its exit), not on a bare sleep, so an
    exit is noticed at once. Any OSError/ssl error/ConnectionError counts as "not yet".
    """
    pause = 0.002
    last = ""
    while True:
        _raise_if_exited(target, what)
        try:
            return attempt()
        except (OSError, ConnectionError, _NotYet) as exc:
            last = str(exc) or type(exc).__name__
        if deadline.expired():
            raise _timeout(target, what, deadline, last)
        log = target.log
        wait = min(pause, deadline.remaining())
        if log is not None:
            log.wait_closed(time.monotonic() + wait)
        else:  # a physical target has no output to watch: a plain timed wait on an event
            threading.Event().wait(wait)
        pause = min(pause * 2, 0.05)


class _NotYet(Exception):
    """An attempt reached the service but it is not ready yet (wrong status, no CONNACK)."""


@dataclass(frozen=True)
class LogLine:
    """Ready when the service prints a line matching ``pattern`` (a regular expression)."""

    pattern: str

    def describe(self) -> str:
        return f"log line /{self.pattern}/"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        log = target.log
        if log is None:
            raise _timeout(target, self.describe() + " (this target has no log)", deadline)
        if log.wait_for(self.pattern, deadline=deadline.at) is not None:
            return
        if log.closed:
            status = target.exited()
            raise ServiceExited(
                target.name,
                f"output ended (status {status}) before {self.describe()}{_said(log)}",
                returncode=status,
                log_path=log.path,
            )
        raise _timeout(target, self.describe(), deadline)

    def match(self, target: ReadinessTarget) -> re.Match[str] | None:
        """The matching line of the current start, once ready (e.g. to read a printed port)."""
        return target.log.search(self.pattern) if target.log is not None else None


@dataclass(frozen=True)
class TcpPort:
    """Ready when the named port accepts a TCP connection."""

    port: str

    def describe(self) -> str:
        return f"TCP accept on port {self.port!r}"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        address = (target.host, target.port(self.port))

        def attempt() -> None:
            with socket.create_connection(address, timeout=max(0.05, deadline.remaining())):
                pass

        _retry(target, self.describe(), deadline, attempt)


@dataclass(frozen=True)
class TlsHandshake:
    """Ready when a TLS handshake succeeds against ``ca_path`` (and, optionally, a client cert)."""

    port: str
    ca_path: Path
    server_hostname: str = "localhost"
    client: ClientIdentity | None = None

    def describe(self) -> str:
        return f"TLS handshake on port {self.port!r}"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        if self.client is not None:
            ctx = self.client.ssl_context()
        else:
            ctx = ssl.create_default_context(cafile=str(self.ca_path))
        address = (target.host, target.port(self.port))

        def attempt() -> None:
            with (socket.create_connection(address, timeout=max(0.05, deadline.remaining())) as raw,
                  ctx.wrap_socket(raw, server_hostname=self.server_hostname)):
                pass

        _retry(target, self.describe(), deadline, attempt)


@dataclass(frozen=True)
class HttpStatus:
    """Ready when ``GET path`` answers ``status`` (HTTPS when ``ca_path`` is given)."""

    port: str
    path: str = "/"
    status: int = 200
    ca_path: Path | None = None
    server_hostname: str = "localhost"

    def describe(self) -> str:
        return f"HTTP {self.status} from GET {self.path} on port {self.port!r}"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        port = target.port(self.port)

        def attempt() -> None:
            timeout = max(0.05, deadline.remaining())
            if self.ca_path is not None:
                ctx = ssl.create_default_context(cafile=str(self.ca_path))
                conn: http.client.HTTPConnection = _HostHTTPSConnection(
                    target.host, port, self.server_hostname, ctx, timeout
                )
            else:
                conn = http.client.HTTPConnection(target.host, port, timeout=timeout)
            try:
                conn.request("GET", self.path)
                status = conn.getresponse().status
            finally:
                conn.close()
            if status != self.status:
                raise _NotYet(f"status {status}")

        _retry(target, self.describe(), deadline, attempt)


class _HostHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an IP address while verifying the certificate for a host name."""

    def __init__(self, host: str, port: int, server_hostname: str, ctx: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, context=ctx, timeout=timeout)
        self._server_hostname = server_hostname
        self._ssl_context = ctx

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)


@dataclass(frozen=True)
class MqttConnack:
    """Ready when an MQTT CONNECT over mutual TLS gets a successful CONNACK.

    This proves what a log line cannot: the TLS listener is up, the broker trusts our CA and
    accepts the identity. The client runs its network loop in the calling thread (no extra
    thread per probe), and disconnects cleanly afterwards.
    """

    identity: ClientIdentity
    port: str = "mqtts"
    server_hostname: str = "localhost"

    def describe(self) -> str:
        return f"MQTT CONNACK over mutual TLS as {self.identity.common_name!r} on port {self.port!r}"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        port = target.port(self.port)
        _retry(target, self.describe(), deadline, lambda: mqtt_connack(target.host, port, self.identity, deadline))


def mqtt_connack(host: str, port: int, identity: ClientIdentity, deadline: Deadline) -> None:
    """One mutual-TLS MQTT 3.1.1 connect; returns on CONNACK success, raises otherwise."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties

    from hil.mqtt.paho import ReasonCode, new_client

    outcome: dict[str, object] = {}
    client = new_client(client_id="", protocol=mqtt.MQTTv311)
    client.tls_set_context(identity.ssl_context())

    def settle(c: mqtt.Client, u: object, flags: object, rc: ReasonCode, props: Properties | None) -> None:
        outcome.setdefault("rc", rc)

    client.on_connect = client.on_disconnect = settle
    try:
        client.connect(host, port, keepalive=10)
        while "rc" not in outcome:
            if deadline.expired():
                raise _NotYet("no CONNACK")
            if client.loop(timeout=min(0.05, max(0.001, deadline.remaining()))) != mqtt.MQTT_ERR_SUCCESS:
                raise _NotYet("connection lost before CONNACK")
        rc = outcome["rc"]
        if getattr(rc, "is_failure", False) or rc != 0:
            raise _NotYet(f"CONNACK {rc}")
        client.disconnect()
        client.loop(timeout=0.01)
    finally:
        sock = client.socket()
        if sock is not None:  # a failed attempt leaves the socket open; never leak it
            sock.close()


@dataclass(frozen=True)
class GrpcChannelReady:
    """Ready when a gRPC server on the named port answers a call (any gRPC status will do).

    The probe calls a method no server has and takes ``UNIMPLEMENTED`` (or any answer at the gRPC
    level) as proof that an HTTP/2 gRPC server is there; a plain TCP or HTTP/1 listener never
    gets that far. It deliberately avoids ``channel_ready_future``: that future's polling thread
    outlives a timed-out wait and, once the channel is closed, dies with "Channel closed!".
    """

    port: str

    PROBE_METHOD: ClassVar[str] = "/hil.readiness.Probe/Ping"
    NOT_YET: ClassVar[frozenset[str]] = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})

    def describe(self) -> str:
        return f"gRPC server answering on port {self.port!r}"

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        import grpc

        channel = grpc.insecure_channel(f"{target.host}:{target.port(self.port)}")
        probe: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(self.PROBE_METHOD)
        try:
            while True:
                _raise_if_exited(target, self.describe())
                try:
                    # wait_for_ready: the call itself waits (up to its timeout) for a connection,
                    # so a server that is not up yet costs no busy loop.
                    probe(b"", timeout=min(0.25, max(0.01, deadline.remaining())), wait_for_ready=True)
                    return
                except grpc.RpcError as exc:
                    if exc.code().name not in self.NOT_YET:
                        return
                if deadline.expired():
                    raise _timeout(target, self.describe(), deadline)
        finally:
            channel.close()


@dataclass(frozen=True)
class AllOf:
    """Ready when every check passed, in order (later checks get what time is left)."""

    checks: tuple[Readiness, ...] = field(default_factory=tuple)

    def __init__(self, *checks: Readiness) -> None:
        object.__setattr__(self, "checks", tuple(checks))

    def describe(self) -> str:
        return " and ".join(check.describe() for check in self.checks)

    def wait(self, target: ReadinessTarget, deadline: Deadline) -> None:
        for check in self.checks:
            check.wait(target, deadline)
