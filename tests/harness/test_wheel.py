"""hil as a user gets it: the wheel, installed into a fresh venv outside the checkout.

The checkout hides packaging mistakes (a data folder that is not shipped, a dependency that is
only there because the test extras pulled it in, a path computed from a source file): in a
user's venv they show as a simulator that cannot start. So this module builds the wheel, installs
it with the pinned SDK set into a new venv in a temporary directory, writes a small user project
that uses the Astarte, broker, Message Hub, DESTINY and LocknAlert fixtures and a public strategy,
and runs its tests and ``hil run`` from that project's directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USER_TESTS = '''
"""A user's own checks, written against hil's public fixtures and API only."""
import hil
from hypothesis import given, settings
from hil.mqtt.client import MqttSession


def test_broker_takes_a_device_certificate(hil_broker, hil_device_identity):
    identity = hil_device_identity("userrealm", "dev1")
    with MqttSession(hil_broker.endpoint, identity) as session:
        assert session.connect().accepted
        assert session.publish("userrealm/dev1/hello", b"hi", qos=1) in {"Success", "No matching subscribers"}


def test_astarte_registers_a_device(astarte, astarte_device):
    device = astarte_device()
    response = astarte.appengine("GET", f"devices/{device.device_id}")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == device.device_id


def test_message_hub_attaches_a_node(grpc_node):
    node = grpc_node("org.hil.test.DeviceDatastream")
    assert node.device.is_connected()


def test_destiny_robot_polls(destiny, destiny_robot):
    from destiny_sdk.client import RobotClient

    client = RobotClient(base_url=destiny.base_url, secret_key=destiny_robot.secret,
                         client_id=destiny_robot.client_id)
    assert client.poll_robot_enhancement_batch(robot_id=destiny_robot.client_id) is None


def test_locknalert_bridge_answers(locknalert):
    assert locknalert.serial


@settings(max_examples=5, deadline=None)
@given(hil.strategies.valid_interfaces())
def test_generated_interfaces_are_valid(document):
    assert hil.validate_interface(document) == []
'''


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel, the pinned SDK set and the lock; nothing of the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy holding exactly what a clean checkout holds (tracked files, and new ones
    # git does not ignore): setuptools writes its build/ folder into the source tree it builds.
    source = work / "source"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                  str(source)], source, dict(os.environ), 300)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("hil-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel),
                    "-r", str(ROOT / "sdk-sets" / "current.txt"), "-c", str(ROOT / "constraints.txt")],
                   work, dict(os.environ), 600)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


def test_the_wheel_installs_one_import_name_with_its_data(user_venv: Path) -> None:
    (wheel,) = (user_venv.parent / "dist").glob("hil-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"hil"}, tops
    assert "hil/interfaces/org.hil.test.DeviceDatastream.json" in names
    assert "hil/conformance/test_device_mqtt_data.py" in names
    assert "hil/catalog/astarte-mqtt-v1.toml" in names
    assert "hil/py.typed" in names
    check = _run([str(user_venv / "bin" / "python"), "-m", "pip", "check"], user_venv, dict(os.environ), 120)
    assert check.returncode == 0, check.stdout  # every import of hil is a declared dependency's


def test_a_user_project_runs_hil_fixtures_and_hil_run(user_venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    # A package of the user's own named like a well-known one: hil must not install or shadow it.
    (project / "fixtures").mkdir()
    (project / "fixtures" / "__init__.py").write_text("USER = True\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "HIL_"))}
    env["PATH"] = f"{user_venv / 'bin'}:{env['PATH']}"
    cache = tmp_path / "cache"
    env["HIL_CACHE_DIR"] = str(cache)  # generated protos go here, never into site-packages

    tests = _run([str(user_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                 project, env, 600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout, tests.stdout[-2000:]
    site = next((user_venv / "lib").glob("python3.*/site-packages"))
    assert not any((site / name).exists() for name in ("harness", "simulators", "fixtures", "build", "interfaces"))
    assert any(cache.joinpath("msghub").iterdir()), "the hub's generated modules belong in the user cache"

    run = _run([str(user_venv / "bin" / "hil"), "run", "--target", "sim", "-k", "broker_transport"], project, env, 600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    assert (project / "reports").is_dir(), "hil run writes its report in the user's project"
