"""The MQTT QoS a data message must travel at (080-mqtt-v1-protocol.md, "Publishing Data").

Properties always use QoS 2. Datastreams use the mapping reliability: unreliable 0, guaranteed 1,
unique 2. The document has no separate row for object aggregates; since every mapping of an
object interface must share one reliability (ASTARTE-IFACE-OBJECT-02), an object message uses the
QoS of that shared reliability, which is also what Astarte does when it publishes one.
"""

from __future__ import annotations

from typing import Final

from hil.oracle.model import Interface, Mapping, Reliability

__all__ = ["expected_qos", "qos_rule"]

_QOS_BY_RELIABILITY: Final = {Reliability.UNRELIABLE: 0, Reliability.GUARANTEED: 1, Reliability.UNIQUE: 2}


def expected_qos(interface: Interface, mapping: Mapping | None = None) -> int:
    """The QoS for a message on ``interface`` (``mapping`` may be omitted for objects and properties).

    Raises:
        ValueError: an individual datastream without the mapping the message is for.
    """
    if interface.is_properties:
        return 2  # ASTARTE-QOS-PROPERTIES-01
    if interface.is_object:
        return _QOS_BY_RELIABILITY[interface.mappings[0].reliability]  # ASTARTE-QOS-OBJECT-01
    if mapping is None:
        raise ValueError(f"{interface.name}: an individual datastream needs the mapping to pick a QoS")
    return _QOS_BY_RELIABILITY[mapping.reliability]  # ASTARTE-QOS-RELIABILITY-01


def qos_rule(interface: Interface) -> str:
    """The requirement id :func:`expected_qos` applies to ``interface``."""
    if interface.is_properties:
        return "ASTARTE-QOS-PROPERTIES-01"
    if interface.is_object:
        return "ASTARTE-QOS-OBJECT-01"
    return "ASTARTE-QOS-RELIABILITY-01"
