"""The MQTT benchmark's floor subscriber, in a process of its own as the realm is.

``python -m hil.benchmarks.mqtt_subscriber HOST PORT CA CERT KEY TOPIC`` connects with the given
(admin) identity, subscribes to ``TOPIC`` at QoS 2 and prints ``ready``. Then, for every line
``<topic> <count> <timeout>`` on stdin, it prints ``armed``, waits until ``count`` messages on
``<topic>`` arrived after that line (or ``timeout`` s passed) and prints them as one JSON line:
``{"values": [...]}``, each value decoded from the Astarte BSON payload.

In the benchmark's own process the subscriber's network thread would share an interpreter lock
with the sending SDK, a handicap the realm (its own process) does not have.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hil.astarte.bsonwire import decode
from hil.mqtt.broker import BrokerEndpoint
from hil.mqtt.client import MqttSession, ReceivedMessage
from hil.services.readiness import ClientIdentity

__all__ = ["main"]


def _collect(session: MqttSession, wanted: str, count: int, timeout: float) -> list[int]:
    start = time.monotonic()
    print("armed", flush=True)
    counted = 0

    def complete(message: ReceivedMessage) -> bool:
        # The session sees each message once, old ones included: count only those from now on.
        nonlocal counted
        counted += message.topic == wanted and message.received_at >= start
        return counted >= count

    session.wait_for_message(complete, timeout=timeout)
    return [int(decode(m.payload)["v"].value) for m in session.messages()
            if m.topic == wanted and m.received_at >= start]


def main(argv: list[str]) -> int:
    host, port, ca, cert, key, topic = argv
    endpoint = BrokerEndpoint(host, int(port), Path(ca))
    identity = ClientIdentity(Path(cert), Path(key), Path(ca), "admin")
    with MqttSession(endpoint, identity) as session:
        if not session.connect().accepted or "Granted QoS 2" not in session.subscribe(topic, qos=2)[0]:
            print("refused", flush=True)
            return 1
        print("ready", flush=True)
        for line in sys.stdin:
            wanted, count, timeout = line.split()
            print(json.dumps({"values": _collect(session, wanted, int(count), float(timeout))}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
