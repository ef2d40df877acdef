"""The realm the fuzz properties are judged on.

A property compares what the SDK was asked to send with the bytes the realm received, so it needs
the simulated Astarte's raw message log (:class:`~hil.targets.protocols.RealmMessageLog`) beside
Pairing and AppEngine: one object on the simulated target, which this module hands out typed as
what it is. A target without that log cannot take a fuzz property; it is told so in one line.
"""

from __future__ import annotations

from hil.components.astarte import SimulatedAstarteClient
from hil.errors import MissingCapability
from hil.targets import Target
from hil.targets.protocols import RealmMessageLog

__all__ = ["fuzz_realm"]


def fuzz_realm(target: Target) -> SimulatedAstarteClient:
    """The simulated realm of ``target``: Pairing, AppEngine and the raw message log in one."""
    realm = target.get(RealmMessageLog)
    if not isinstance(realm, SimulatedAstarteClient):
        raise MissingCapability(target.name, RealmMessageLog, "its message log is not a simulated realm's")
    return realm
