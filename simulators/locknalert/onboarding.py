"""The bridge's onboarding state: serial number, onboarding window, pairing token, credentials.

Pure logic (no I/O, an injectable clock) so the rules are readable in one place and testable:

* the serial number is the identity proof of every bootstrap; a wrong one is refused (401)
  whatever the state, compared in constant time;
* while the onboarding window is open (the pairing button was pressed) one bootstrap with the
  right serial provisions the bridge: new MQTT credentials (the old ones are revoked), a new
  pairing token, and the window closes (one press, one pairing);
* with the window closed, an unprovisioned bridge refuses with 409 (pairing required), and a
  provisioned one accepts only its *current* token (else 403, already provisioned): the token
  rotates on every success and the previous one is dead at once;
* a factory reset forgets everything.

The aiolocknalert client documents these codes (401 invalid auth, 403 already provisioned, 409
pairing required); which condition gives which code is this emulator's careful reading of it.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_WINDOW_SECONDS", "Decision", "MqttCredentials", "Onboarding"]

DEFAULT_WINDOW_SECONDS = 120.0


class Decision(enum.Enum):
    WRONG_SERIAL = 401
    ALREADY_PROVISIONED = 403
    PAIRING_REQUIRED = 409
    PROVISION = "provision"  # issue new credentials and a token
    REISSUE = "reissue"  # same credentials, rotated token


@dataclass(frozen=True)
class MqttCredentials:
    username: str
    password: str


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


class Onboarding:
    """State of one bridge. Not thread-safe: the emulator serialises bootstraps."""

    def __init__(
        self,
        serial: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        token_factory: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    ) -> None:
        self.serial = serial
        self.window_seconds = window_seconds
        self._clock = clock
        self._new_token = token_factory
        self._window_until: float | None = None
        self.credentials: MqttCredentials | None = None
        self.token: str | None = None

    @property
    def provisioned(self) -> bool:
        return self.credentials is not None

    def window_open(self) -> bool:
        return self._window_until is not None and self._clock() < self._window_until

    def window_remaining(self) -> float:
        return max(0.0, self._window_until - self._clock()) if self._window_until is not None else 0.0

    def open_window(self, seconds: float | None = None) -> None:
        self._window_until = self._clock() + (self.window_seconds if seconds is None else seconds)

    def close_window(self) -> None:
        self._window_until = None

    def decide(self, serial: str, token: str | None) -> Decision:
        if not _same(serial, self.serial):
            return Decision.WRONG_SERIAL
        if self.window_open():
            return Decision.PROVISION
        if not self.provisioned:
            return Decision.PAIRING_REQUIRED
        if token is None or self.token is None or not _same(token, self.token):
            return Decision.ALREADY_PROVISIONED
        return Decision.REISSUE

    def provisioned_with(self, credentials: MqttCredentials) -> str:
        """Record new credentials (already created on the broker); returns the new token."""
        self.credentials = credentials
        self.token = self._new_token()
        self.close_window()
        return self.token

    def rotate_token(self) -> str:
        self.token = self._new_token()
        return self.token

    def factory_reset(self) -> MqttCredentials | None:
        """Forget the pairing; returns the credentials the caller must revoke."""
        old = self.credentials
        self.credentials = None
        self.token = None
        self.close_window()
        return old

    # -- persistence (a bridge keeps its pairing across power cycles) ------------------------
    def snapshot(self) -> dict[str, str | None]:
        creds = self.credentials
        return {
            "username": creds.username if creds else None,
            "password": creds.password if creds else None,
            "token": self.token,
        }

    def restore(self, data: object) -> None:
        """Take back a :meth:`snapshot`.

        Raises:
            ValueError: ``data`` is not what :meth:`snapshot` writes (a state file edited by
                hand, or from something else); nothing is restored then.
        """
        if not isinstance(data, dict) or not data.keys() >= _SNAPSHOT_KEYS:
            raise ValueError(f"expected a JSON object with {', '.join(sorted(_SNAPSHOT_KEYS))}, "
                             f"got {_json_shape(data)}")
        username, password, token = data["username"], data["password"], data["token"]
        if all(value is None for value in (username, password, token)):
            return  # the snapshot of a bridge that is not provisioned
        if not all(isinstance(value, str) for value in (username, password, token)):
            raise ValueError("username, password and token must be all strings (provisioned) or all null")
        self.credentials = MqttCredentials(username, password)
        self.token = token


_SNAPSHOT_KEYS = frozenset({"username", "password", "token"})


def _json_shape(data: object) -> str:
    """What a parsed JSON value is, in a few words, for an error message."""
    if isinstance(data, dict):
        return f"an object with keys {', '.join(sorted(map(repr, data)))}" if data else "an empty object"
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(data), "null")
