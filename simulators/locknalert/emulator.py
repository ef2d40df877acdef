"""The emulated bridge: onboarding rules + broker accounts + the bridge's MQTT link, in one object.

Both HTTP faces call into it: the bridge API (:mod:`hil.simulators.locknalert.bridge_api`) and the
control API (:mod:`hil.simulators.locknalert.control_api`). Bootstraps and resets are serialised by
one asyncio lock, so two clients racing for one onboarding window cannot both get credentials.
Broker work (blocking dynsec calls) runs in worker threads.

State that a physical bridge keeps across power cycles (credentials, current token) is written
to ``state.json`` in the state directory after every change, and read back at start-up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.locknalert.control import Fault
from hil.errors import HilError
from hil.locknalert.bridge import BridgeTopics
from hil.simulators.locknalert.mqtt_link import BridgeLink, LockState
from hil.simulators.locknalert.onboarding import Decision, Onboarding
from hil.simulators.locknalert.provisioning import BrokerProvisioner

__all__ = ["BridgeEmulator", "BrokerAddress", "Outcome"]

LOG = logging.getLogger("locknalert.bridge")

MODEL = "LNA-BRIDGE-2 (hil emulator)"
FIRMWARE = "hil-emulator-1.0"

_REFUSALS = {
    Decision.WRONG_SERIAL: ("invalid_serial", "serial number does not match this bridge"),
    Decision.ALREADY_PROVISIONED: ("already_provisioned",
                                   "bridge is provisioned; send the current pairing_token or press Allow Provisioning"),
    Decision.PAIRING_REQUIRED: ("pairing_required", "onboarding window is closed; press the pairing button"),
}


@dataclass(frozen=True)
class BrokerAddress:
    """The broker as the bridge advertises it to clients."""

    host: str
    port: int
    tls_port: int | None = None


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]


class BridgeEmulator:
    def __init__(
        self,
        onboarding: Onboarding,
        provisioner: BrokerProvisioner,
        link: BridgeLink,
        broker: BrokerAddress,
        topics: BridgeTopics,
        *,
        state_file: Path | None = None,
        mqtt_tls: bool = False,
    ) -> None:
        self.onboarding = onboarding
        self.provisioner = provisioner
        self.link = link
        self.broker = broker
        self.topics = topics
        self.state_file = state_file
        self.mqtt_tls = mqtt_tls
        self.fault = Fault.NONE
        self.fault_delay = 0.0
        self._lock = asyncio.Lock()
        if state_file is not None and state_file.is_file():
            try:
                onboarding.restore(json.loads(state_file.read_text()))
            except (OSError, ValueError) as exc:  # not JSON, or JSON of the wrong shape: start unpaired
                LOG.warning("ignoring unreadable state file %s: %s", state_file, exc)

    @property
    def serial(self) -> str:
        return self.onboarding.serial

    # -- bridge API ------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "bridge_serial": self.serial,
            "model": MODEL,
            "firmware_version": FIRMWARE,
            "provisioned": self.onboarding.provisioned,
            "onboarding_window_open": self.onboarding.window_open(),
            "mqtt_tls_required": self.mqtt_tls,
        }

    async def bootstrap(self, serial: str, token: str | None) -> Outcome:
        async with self._lock:
            decision = self.onboarding.decide(serial, token)
            if decision in _REFUSALS:
                error, detail = _REFUSALS[decision]
                LOG.info("bootstrap refused: %s", error)
                return Outcome(int(decision.value), {"error": error, "detail": detail})
            try:
                if decision is Decision.PROVISION:
                    previous = self.onboarding.credentials
                    credentials = await asyncio.to_thread(self.provisioner.issue)
                    if previous is not None and previous != credentials:
                        await asyncio.to_thread(self.provisioner.revoke, previous)
                    new_token = self.onboarding.provisioned_with(credentials)
                    LOG.info("provisioned MQTT account %s", credentials.username)
                else:
                    assert self.onboarding.credentials is not None
                    await asyncio.to_thread(self.provisioner.ensure, self.onboarding.credentials)
                    new_token = self.onboarding.rotate_token()
                    LOG.info("re-bootstrap: token rotated for %s", self.onboarding.credentials.username)
            except HilError as exc:
                LOG.warning("broker unavailable during bootstrap: %s", exc)
                return Outcome(503, {"error": "broker_unavailable", "detail": "the MQTT broker did not answer"})
            self._save()
            granted = self.onboarding.credentials
            assert granted is not None
            port = self.broker.tls_port if self.mqtt_tls and self.broker.tls_port else self.broker.port
            return Outcome(200, {
                "host": self.broker.host,
                "port": port,
                "username": granted.username,
                "password": granted.password,
                "tls_required": bool(self.mqtt_tls and self.broker.tls_port),
                "topic_prefix": self.topics.prefix,
                "pairing_token": new_token,
                "bridge_serial": self.serial,
            })

    # -- control ---------------------------------------------------------------------------
    async def factory_reset(self) -> None:
        async with self._lock:
            previous = self.onboarding.factory_reset()
            self.fault, self.fault_delay = Fault.NONE, 0.0
            if previous is not None:
                await asyncio.to_thread(self.provisioner.revoke, previous)
                LOG.info("factory reset: revoked MQTT account %s", previous.username)
            self.link.set_lock_state(LockState.LOCKED)
            self._save()

    def set_fault(self, fault: Fault, delay: float) -> None:
        self.fault, self.fault_delay = fault, delay
        LOG.info("fault mode: %s (delay %gs)", fault, delay)

    def set_mqtt_tls(self, required: bool) -> None:
        if required and self.broker.tls_port is None:
            raise ValueError("this emulator was started without --broker-tls-port")
        self.mqtt_tls = required

    def state(self) -> dict[str, Any]:
        credentials = self.onboarding.credentials
        return {
            "serial": self.serial,
            "provisioned": self.onboarding.provisioned,
            "username": credentials.username if credentials else None,
            "window_open": self.onboarding.window_open(),
            "window_remaining": round(self.onboarding.window_remaining(), 3),
            "fault": str(self.fault),
            "fault_delay": self.fault_delay,
            "mqtt_tls_required": self.mqtt_tls,
            "lock_state": self.link.lock_state,
            "bridge_link_connected": self.link.connected.is_set(),
            "topic_prefix": self.topics.prefix,
        }

    def _save(self) -> None:
        if self.state_file is None:
            return
        temporary = self.state_file.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.onboarding.snapshot(), handle)
        os.replace(temporary, self.state_file)
