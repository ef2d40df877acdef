"""MQTT accounts on the bridge's broker: the bridge's own, and the one it hands to a client.

The bridge is the broker's tenant administrator for its own topic tree. It owns two roles (names
carry the serial, so several emulated bridges can share one broker):

* ``locknalert-bridge-<serial>``: publish anything under ``<prefix>/<serial>/``, subscribe to the
  command topics ``<prefix>/<serial>/+/set``;
* ``locknalert-client-<serial>``: subscribe under ``<prefix>/<serial>/#``, publish only commands.

A provisioned client gets a fresh account with the client role; revoking deletes the account,
which makes the broker disconnect its sessions at once. All calls block (they wait for the
plugin's answer): the emulator runs them in a worker thread.
"""

from __future__ import annotations

import secrets

from hil.mqtt.dynsec import Acl, DynamicSecurityClient
from hil.locknalert.bridge import BridgeTopics
from hil.simulators.locknalert.onboarding import MqttCredentials

__all__ = ["BrokerProvisioner"]


class BrokerProvisioner:
    def __init__(self, dynsec: DynamicSecurityClient, topics: BridgeTopics) -> None:
        self.dynsec = dynsec
        self.topics = topics
        self.client_role = f"locknalert-client-{topics.serial}"
        self.bridge_role = f"locknalert-bridge-{topics.serial}"
        self.bridge_username = f"locknalert-bridge-{topics.serial}"

    def prepare(self) -> MqttCredentials:
        """Create (or refresh) both roles and the bridge's own account; returns its credentials."""
        self.dynsec.create_role(
            self.client_role,
            [Acl("subscribePattern", self.topics.all), Acl("publishClientSend", self.topics.commands)],
        )
        self.dynsec.create_role(
            self.bridge_role,
            [Acl("publishClientSend", self.topics.all), Acl("subscribePattern", self.topics.commands)],
        )
        password = secrets.token_urlsafe(24)
        if self.dynsec.client_exists(self.bridge_username):
            self.dynsec.set_client_password(self.bridge_username, password)
        else:
            self.dynsec.create_client(self.bridge_username, password, roles=(self.bridge_role,))
        return MqttCredentials(self.bridge_username, password)

    def issue(self) -> MqttCredentials:
        """A new client account (random user name suffix, so a revoked one is never reused)."""
        credentials = MqttCredentials(
            f"lna-{self.topics.serial}-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        )
        self.dynsec.create_client(credentials.username, credentials.password, roles=(self.client_role,))
        return credentials

    def ensure(self, credentials: MqttCredentials) -> None:
        """Re-create a remembered account the broker lost (e.g. a broker without its state)."""
        if not self.dynsec.client_exists(credentials.username):
            self.dynsec.create_client(credentials.username, credentials.password, roles=(self.client_role,))

    def revoke(self, credentials: MqttCredentials) -> None:
        self.dynsec.delete_client(credentials.username)
