"""Credentials never show in the repr of what carries them: a failed assertion, a log line or a
report that prints one of these objects must not leak the secret."""

from __future__ import annotations

import uuid
from pathlib import Path

from hil.fixtures.astarte import AstarteDevice
from hil.components.astarte import RegisteredDevice
from hil.components.destiny import DestinyRobot

SECRET = "s3cr3t-credential-value"


def test_no_secret_in_reprs() -> None:
    carriers = [RegisteredDevice("dev-1", SECRET), DestinyRobot(uuid.uuid4(), SECRET, "robot"),
                AstarteDevice("dev-1", SECRET, Path("/tmp/p"))]
    for carrier in carriers:
        assert SECRET not in repr(carrier), repr(carrier)
    assert carriers[0].credentials_secret == SECRET and carriers[2].credentials_secret == SECRET
