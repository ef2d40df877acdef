"""The Astarte specification oracle: interface validity, path resolution, payload verdicts, QoS.

Written from Astarte's documentation and server behaviour, never from a device SDK (the SDKs are
what it judges). One module per concern:

* :mod:`.rules` every rule as data (ids = requirement ids of ``harness/catalog/astarte-*.toml``);
* :mod:`.violations` :class:`Violation` and :class:`InvalidInterface`;
* :mod:`.interface` :func:`validate_interface`, :func:`parse_interface`, :func:`load_interface`;
* :mod:`.model` the parsed :class:`Interface` / :class:`Mapping`;
* :mod:`.endpoints` endpoint templates and their clash geometry;
* :mod:`.paths` :func:`resolve` (specification) and :func:`server_resolve` (Astarte v1.2.0);
* :mod:`.payload` :func:`judge_device_message` and friends (two verdicts: spec and server);
* :mod:`.qos` :func:`expected_qos`.
"""

from __future__ import annotations

from hil.oracle.interface import (
    interface_advisories,
    load_interface,
    names_collide,
    parse_interface,
    read_interface_json,
    validate_interface,
)
from hil.oracle.model import (
    Aggregation,
    DatabaseRetentionPolicy,
    Interface,
    InterfaceType,
    Mapping,
    Ownership,
    Reliability,
    Retention,
    ValueType,
)
from hil.oracle.paths import PathStatus, Resolution, ServerResolution, resolve, server_resolve
from hil.oracle.payload import (
    Verdict,
    astarte_bson_value,
    check_value,
    judge_device_message,
    judge_device_payload,
    judge_server_message,
    server_value_error,
)
from hil.oracle.qos import expected_qos, qos_rule
from hil.oracle.rules import RULES, Profile, Rule, rule
from hil.oracle.violations import InvalidInterface, Violation

__all__ = [
    "RULES",
    "Aggregation",
    "DatabaseRetentionPolicy",
    "Interface",
    "InterfaceType",
    "InvalidInterface",
    "Mapping",
    "Ownership",
    "PathStatus",
    "Profile",
    "Reliability",
    "Resolution",
    "Retention",
    "Rule",
    "ServerResolution",
    "ValueType",
    "Verdict",
    "Violation",
    "astarte_bson_value",
    "check_value",
    "expected_qos",
    "interface_advisories",
    "judge_device_message",
    "judge_device_payload",
    "judge_server_message",
    "load_interface",
    "names_collide",
    "parse_interface",
    "qos_rule",
    "read_interface_json",
    "resolve",
    "rule",
    "server_resolve",
    "server_value_error",
    "validate_interface",
]
