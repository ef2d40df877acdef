"""A LocknAlert bridge as the checks see it: its API address, its serial, its MQTT topics.

There is no public bridge firmware, so the MQTT topic layout below is *our* definition, shared by
the emulator (which publishes it) and the checks (which expect it); a physical bridge whose
layout differs needs its own :class:`BridgeTopics`. The HTTPS API follows the contract the
``aiolocknalert`` client documents (see ``shared/reference/sdk-contracts.md`` section 4).

Topic layout under the ``topic_prefix`` the bootstrap returns, for bridge serial ``S``::

    <prefix>/S/availability   retained  "online" | "offline" (the bridge's last will)
    <prefix>/S/lock/state     retained  "locked" | "unlocked"
    <prefix>/S/lock/set       client -> bridge: "LOCK" | "UNLOCK"
    <prefix>/S/alert          bridge -> client: {"zone": int, "kind": str, "seq": int, "time": str}
    <prefix>/S/error          bridge -> client: {"topic": str, "error": str} for a bad command

A provisioned client may subscribe to ``<prefix>/S/#`` and publish to ``<prefix>/S/+/set``
only; nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hil.locknalert.control import BridgeControl

__all__ = ["BridgeTopics", "LocknAlertBridge"]


@dataclass(frozen=True)
class BridgeTopics:
    prefix: str
    serial: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.serial}"

    @property
    def all(self) -> str:
        return f"{self.root}/#"

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def lock_state(self) -> str:
        return f"{self.root}/lock/state"

    @property
    def lock_set(self) -> str:
        return f"{self.root}/lock/set"

    @property
    def commands(self) -> str:
        """What a client may publish to."""
        return f"{self.root}/+/set"

    @property
    def alert(self) -> str:
        return f"{self.root}/alert"

    @property
    def error(self) -> str:
        return f"{self.root}/error"


@dataclass(frozen=True)
class LocknAlertBridge:
    """Everything a check needs to reach a bridge (emulated or physical).

    Args:
        host, port: the bridge's HTTPS API (``LocknAlertBridgeApi(host, port)``).
        serial: the serial number printed on the bridge (the bootstrap's identity proof).
        control: how to press its buttons (emulator routes or an operator).
        mqtt_ca_path: the CA the bridge's broker certificate chains to, for TLS MQTT checks
            (None when the bench does not know it).
    """

    host: str
    port: int
    serial: str
    control: BridgeControl
    mqtt_ca_path: Path | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"
