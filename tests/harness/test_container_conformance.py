"""Conformance checks on the container backend, for real, as part of the README's test command.

A child pytest runs the broker checks and one check per simulated system with
``--hil-backend container``: every service of the simulated target (both brokers and every
simulator) then runs in a container of hil's own images. The child must pass with nothing
skipped, and the engine's own events must show a container started for each service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.services.engine import docker_unavailable_reason, lease_engine

REASON = docker_unavailable_reason()
ROOT = Path(__file__).resolve().parents[2]

SELECTION = (
    "tests/conformance/test_broker_transport.py",
    "tests/conformance/test_device_mqtt_pairing.py::test_jwt_registration_certificate_and_reuse_after_verify",
    "tests/conformance/test_device_mqtt_session.py::test_first_connection_declares_the_introspection_then_resyncs",
    "tests/conformance/test_device_grpc.py::test_connect_attaches_the_node_with_its_interfaces",
    "tests/conformance/test_destiny_robot_client.py::test_poll_with_defaults_claims_work_for_the_default_lease",
    "tests/conformance/test_locknalert_onboarding.py::test_info_names_the_bridge_over_https_with_its_self_signed_certificate",
)
# Every service of the simulated target these checks need, by its service name.
SERVICES = {"mosquitto", "astarte", "message-hub", "destiny", "locknalert", "locknalert-mosquitto"}


@pytest.mark.skipif(REASON is not None, reason=f"container backend: {REASON}")
def test_the_conformance_selection_passes_with_every_service_in_a_container(tmp_path):
    # Our lease keeps a private engine up from before the child to after it: the engine keeps
    # its event history only while it runs.
    lease = lease_engine()
    try:
        since = time.time() - 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        child = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hil-backend", "container",
             f"--hil-report-dir={tmp_path / 'reports'}", f"--junitxml={tmp_path / 'child.xml'}", *SELECTION],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        client = lease.engine.client()
        events = client.events(decode=True, since=since, until=time.time(),
                               filters={"type": "container", "event": "start", "label": "hil.service"})
        started = {event["Actor"]["Attributes"].get("hil.service") for event in events}
        client.close()
    finally:
        lease.release()
    assert child.returncode == 0, child.stdout[-4000:] + child.stderr[-2000:]
    suite = ET.parse(tmp_path / "child.xml").getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("skipped", "0")) == 0, child.stdout[-2000:]
    assert int(suite.get("tests", "0")) >= len(SELECTION) + 3
    assert started >= SERVICES, f"services not run in a container: {sorted(SERVICES - started)}"
