"""The fleet on Locust: every Locust user is a real ``DeviceMqtt``, for fleets beyond one machine.

Locust's master/worker mode spreads users over worker processes and machines, which is what a
fleet of paho clients needs (one process holds a few hundred at most); hil adds no load engine
of its own. Run one master and any number of workers with this file::

    locust -f $(python -c "import hil.fleet.locustfile as m; print(m.__file__)") --master --headless \\
        -u 1000 -r 50 -t 60s --expect-workers 2
    locust -f ... --worker --master-host <master>        # on every load machine

Each user registers a device through the Pairing agent route, lets the SDK pair (certificate,
broker URL) and connect, then calls ``send`` on the guaranteed mapping of
``org.hil.test.DeviceReliability`` ``HIL_FLEET_RATE`` times a second; every call is a Locust
request named ``DeviceMqtt.send`` (its time is the SDK call's). What reaches the realm is read
from the realm, not from Locust. The environment says where the realm is (the realm JWT travels
there, never in argv):

* ``HIL_FLEET_ASTARTE_URL``: the simulated Astarte's base URL (``https://localhost:N``);
* ``HIL_FLEET_REALM`` and ``HIL_FLEET_TOKEN``: the realm and a JWT for its Pairing API;
* ``HIL_FLEET_CA``: the CA its servers chain to; ``HIL_FLEET_RATE``: messages/s per user (1);
* ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE``: a bundle trusting that CA, for the SDK
  (``HarnessPKI.trust_environment()``).

The users are defined only inside Locust (``locust.main`` already imported): importing locust
monkey-patches the standard library with gevent, which would break any other process that
merely imports every hil module (as hil's own error-tree test does).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from hil.components.astarte import INTERFACES_DIR, AstarteClient
from hil.fleet.worker import INTERFACE, PATH

__all__ = ["IN_LOCUST"]

_log = logging.getLogger("hil.fleet")

#: Whether Locust is running this file (see the module docstring).
IN_LOCUST = "locust.main" in sys.modules


if IN_LOCUST:
    from locust import User, constant_throughput, task

    def _client() -> AstarteClient:
        return AstarteClient(base_url=os.environ["HIL_FLEET_ASTARTE_URL"], realm=os.environ["HIL_FLEET_REALM"],
                             ca_path=Path(os.environ["HIL_FLEET_CA"]), private_key_path=None,
                             token=os.environ["HIL_FLEET_TOKEN"])


    class SdkDevice(User):
        """One real ``DeviceMqtt``, paired and connected in ``on_start``, sending in its task."""

        wait_time = constant_throughput(float(os.environ.get("HIL_FLEET_RATE", "1")))

        def on_start(self) -> None:
            from astarte.device import DeviceMqtt

            astarte = _client()
            registered = astarte.register_device()
            self.device_id = registered.device_id
            self.sent = 0
            self._directory = tempfile.mkdtemp(prefix="hil-fleet-locust-")
            connected = threading.Event()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # paho callback API v1
                self.device: Any = DeviceMqtt(registered.device_id, astarte.realm, registered.credentials_secret,
                                              astarte.pairing_base_url, self._directory)
                self.device.add_interface_from_file(INTERFACES_DIR / f"{INTERFACE}.json")
                self.device.set_events_callbacks(on_connected=lambda _device: connected.set())
                self.device.connect()
            if not connected.wait(30.0):
                raise RuntimeError(f"device {self.device_id} did not connect within 30 s")
            # The realm refuses data on an interface until it has handled the introspection.
            if not astarte.wait_for_introspection(self.device_id, INTERFACE, timeout=30.0):
                raise RuntimeError(f"the realm never handled the introspection of {self.device_id}")
            _log.info("hil fleet device connected: %s", self.device_id)

        @task
        def send(self) -> None:
            started = time.perf_counter()
            exception: BaseException | None = None
            try:
                self.device.send(INTERFACE, PATH, self.sent)
                self.sent += 1
            except Exception as exc:  # noqa: BLE001 - Locust counts it as a failed request
                exception = exc
            self.environment.events.request.fire(
                request_type="sdk", name="DeviceMqtt.send", response_time=(time.perf_counter() - started) * 1000,
                response_length=0, exception=exception, context={"device_id": self.device_id},
            )

        def on_stop(self) -> None:
            device = getattr(self, "device", None)
            if device is not None:
                try:
                    device.disconnect()
                except AttributeError:
                    pass  # DeviceMqtt.disconnect races its own on_disconnect (see hil.fuzzing.astarte_sdk)
                _log.info("hil fleet device sent %d: %s", self.sent, self.device_id)
            shutil.rmtree(getattr(self, "_directory", ""), ignore_errors=True)
