"""The container backend, for real: engine, images, labels, the reaper and the leak audit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hil.errors import ConfigError, HarnessLeak
from hil.services import HttpStatus, make_backend, ServiceSpec
from hil.services.engine import docker_unavailable_reason, lease_engine
from hil.services.images import SIMULATORS_IMAGE
from hil.services.tracking import own_tracker

REASON = docker_unavailable_reason()
needs_docker = pytest.mark.skipif(REASON is not None, reason=f"container backend: {REASON}")


def web_spec(name: str = "web") -> ServiceSpec:
    return ServiceSpec(
        name,
        command=lambda ports, wd: [sys.executable, "-u", "-m", "http.server", str(ports["http"]), "--bind", "127.0.0.1"],
        ports=("http",),
        image=SIMULATORS_IMAGE,
    )


def session_containers(session_id: str) -> list[str]:
    lease = lease_engine()
    try:
        client = lease.engine.client()
        names = [c.name for c in client.containers.list(all=True, filters={"label": f"hil.session={session_id}"})]
        client.close()
        return names
    finally:
        lease.release()


@needs_docker
def test_mosquitto_runs_in_a_container_with_the_same_readiness(tmp_path):
    from hil.mqtt.broker import MosquittoBroker
    from hil.mqtt.client import MqttSession
    from hil.pki import HarnessPKI
    from hil.services.container import ContainerService

    pki = HarnessPKI(tmp_path / "pki")
    broker = MosquittoBroker(pki, make_backend("container", tmp_path / "services"))
    assert isinstance(broker.service, ContainerService)
    broker.start(timeout=300)
    try:
        with MqttSession(broker.endpoint, broker.device_identity("hil", "dev")) as session:
            assert session.connect().accepted
    finally:
        broker.stop()


@needs_docker
def test_a_container_is_labelled_with_the_session_and_removed_by_stop(tmp_path):
    from hil.services.tracking import current_tracker

    service = make_backend("container", tmp_path).create(web_spec("labelled"))
    service.start(HttpStatus("http", "/", 200), timeout=300)
    session = current_tracker().session_id
    try:
        assert [name for name in session_containers(session)] != []
        lease = lease_engine()
        client = lease.engine.client()
        labels = client.containers.get(service.container_id).labels
        client.close()
        lease.release()
        assert labels["hil.session"] == session and labels["hil.service"] == "labelled"
    finally:
        service.stop()
    assert session_containers(session) == []


@needs_docker
def test_the_leak_audit_names_and_removes_a_forgotten_container(tmp_path):
    with own_tracker() as tracker:
        service = make_backend("container", tmp_path).create(web_spec("forgotten"))
        service.start(HttpStatus("http", "/", 200), timeout=300)
        with pytest.raises(HarnessLeak, match=r"container .*forgotten"):
            tracker.audit()
        assert session_containers(tracker.session_id) == []


REAPED_CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from hil.services import HttpStatus, make_backend
    from hil.services.tracking import current_tracker
    sys.path.insert(0, {tests!r})
    from test_container_backend import web_spec
    service = make_backend("container", Path(sys.argv[1])).create(web_spec("orphan"))
    service.start(HttpStatus("http", "/", 200), timeout=300)
    print(current_tracker().session_id, flush=True)
    sys.stdin.read()
""")


@needs_docker
def test_the_reaper_removes_the_containers_of_a_killed_session(tmp_path):
    """The role of Ryuk: a session killed by SIGKILL leaves no container behind."""
    child = subprocess.Popen(
        [sys.executable, "-c", REAPED_CHILD.format(tests=str(Path(__file__).parent)), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    session = child.stdout.readline().strip()
    assert session and session_containers(session) != []
    lease = lease_engine()  # keeps the engine up for us while the child's reaper works
    try:
        client = lease.engine.client()
        since = time.time() - 1
        child.kill()
        child.wait()
        # Wait on the engine's own event: the container's removal.
        events = client.events(decode=True, since=since, until=time.time() + 60,
                               filters={"label": f"hil.session={session}", "event": "destroy"})
        destroyed = next(iter(events), None)
        client.close()
    finally:
        lease.release()
    assert destroyed is not None, "the reaper did not remove the killed session's container"
    assert session_containers(session) == []


def test_an_unknown_backend_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown service backend 'vm'"):
        make_backend("vm", tmp_path)


def test_asking_for_containers_without_an_engine_says_why(tmp_path, monkeypatch):
    from hil.services import backends

    monkeypatch.setattr(backends, "docker_unavailable_reason", lambda: "no engine answers (test)")
    with pytest.raises(ConfigError, match=r"container backend unavailable: no engine answers \(test\)"):
        make_backend("container", tmp_path)
    assert make_backend("auto", tmp_path).name == "process"


def test_a_spec_without_an_image_runs_as_a_process_beside_the_containers(tmp_path, monkeypatch):
    """A spec without an image still runs (as a process), so a whole target can use one backend."""
    from hil.services import container as container_module
    from hil.services.process import ProcessService

    monkeypatch.setattr(container_module, "docker_unavailable_reason", lambda: None)
    backend = container_module.ContainerBackend(tmp_path)
    service = backend.create(ServiceSpec("simulator", command=lambda ports, wd: ["true"]))
    assert isinstance(service, ProcessService) and service.workdir == tmp_path / "simulator"
    imaged = backend.create(ServiceSpec("broker", command=lambda ports, wd: ["true"], image="eclipse-mosquitto:2"))
    assert isinstance(imaged, container_module.ContainerService)


@needs_docker
def test_a_session_sweeps_the_containers_of_a_dead_owner_whose_reaper_died_too(tmp_path):
    """If a session and its reaper were both killed, the next session's first use removes them."""
    import docker.errors

    from hil.services.container import _session
    from hil.services.images import BROKER_IMAGE, resolve_image

    lease = lease_engine()
    try:
        client = lease.engine.client()
        image = resolve_image(BROKER_IMAGE, lease.engine)
        orphan = client.containers.create(image, ["sleep", "600"], labels={"hil.owner": "4194304999:1"})
        alive = client.containers.create(image, ["sleep", "600"], labels={"hil.owner": f"{os.getpid()}:0"})
        from hil.services.reaper import owner

        mine = client.containers.create(image, ["sleep", "600"], labels={"hil.owner": owner()})
        try:
            with own_tracker() as tracker:
                _session()
                tracker.audit()
            with pytest.raises(docker.errors.NotFound):
                client.containers.get(orphan.id)
            with pytest.raises(docker.errors.NotFound):  # a reused pid is not its owner
                client.containers.get(alive.id)
            assert client.containers.get(mine.id).labels["hil.owner"] == owner()
        finally:
            for container in (orphan, alive, mine):
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass
            client.close()
    finally:
        lease.release()
