"""The floor for ``hil benchmark startup``: a bare mosquitto started by the most direct script.

Deliberately uses nothing of hil: write the config, spawn mosquitto, and try a mutual-TLS MQTT
connect until a CONNACK succeeds. Whatever hil's Service adds on top of this is its overhead.
Only its failures are hil's own errors, so that ``hil benchmark`` reports them in one line.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hil.errors import ServiceError, ServiceExited, StartupTimeout, describe_os_error

FLOOR_SERVICE = "floor-mosquitto"


def connack(port: int, ctx: ssl.SSLContext, until: float) -> bool:
    done: dict[str, object] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.tls_set_context(ctx)

    def settle(c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: Properties | None) -> None:
        done.setdefault("rc", rc)

    client.on_connect = client.on_disconnect = settle
    try:
        client.connect("127.0.0.1", port, keepalive=10)
        while "rc" not in done and time.monotonic() < until:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                break
        ok = done.get("rc") == 0
        if ok:
            client.disconnect()
        return ok
    except OSError:
        return False
    finally:
        sock = client.socket()
        if sock is not None:
            sock.close()


def start_floor(
    binary: str, config: str, config_path: Path, probes: list[tuple[int, ssl.SSLContext]], *,
    timeout: float = 10.0,
) -> tuple[float, subprocess.Popen[bytes]]:
    """Seconds from nothing to a successful mTLS CONNACK on every listener, and the process.

    ``probes`` are (port, client context) pairs, one per listener, checked in order: the same
    definition of "ready" as hil's readiness for the broker. The caller stops the process.

    Raises:
        ServiceExited: mosquitto ended before it was ready (a bad config, a taken port).
        StartupTimeout: it was not ready within ``timeout`` seconds; it is killed first.
        ServiceError: it could not be spawned at all.
    """
    t0 = time.perf_counter()
    config_path.write_text(config)
    try:
        proc = subprocess.Popen([binary, "-c", str(config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise ServiceError(FLOOR_SERVICE, describe_os_error(exc, "cannot start")) from None
    until = time.monotonic() + timeout
    pending = list(probes)
    while time.monotonic() < until:
        while pending and connack(pending[0][0], pending[0][1], until):
            pending.pop(0)
        if not pending:
            return time.perf_counter() - t0, proc
        if proc.poll() is not None:
            raise ServiceExited(FLOOR_SERVICE, f"{binary} exited with status {proc.returncode} before it was ready",
                                returncode=proc.returncode)
        socket.socket().close()  # nothing to wait on here: retry at once, as a naive script would
    proc.kill()
    proc.wait()
    raise StartupTimeout(FLOOR_SERVICE, f"{binary} not ready within {timeout:g} s")
