"""The container backend: real where a Docker engine answers, a reasoned skip everywhere else."""

from __future__ import annotations

import pytest

from hil.errors import ConfigError
from hil.services import docker_unavailable_reason, make_backend

REASON = docker_unavailable_reason()
needs_docker = pytest.mark.skipif(REASON is not None, reason=f"container backend: {REASON}")


@needs_docker
def test_mosquitto_runs_in_a_container_with_the_same_readiness(tmp_path):
    from hil.mqtt.broker import MosquittoBroker
    from hil.mqtt.client import MqttSession
    from hil.pki import HarnessPKI

    pki = HarnessPKI(tmp_path / "pki")
    broker = MosquittoBroker(pki, make_backend("container", tmp_path / "services"))
    broker.start(timeout=120)
    try:
        with MqttSession(broker.endpoint, broker.device_identity("hil", "dev")) as session:
            assert session.connect().accepted
    finally:
        broker.stop()


@pytest.mark.skipif(REASON is None, reason="a Docker engine answers here")
def test_asking_for_containers_without_an_engine_says_why(tmp_path):
    with pytest.raises(ConfigError, match="container backend unavailable: "):
        make_backend("container", tmp_path)
    assert make_backend("auto", tmp_path).name == "process"


def test_an_unknown_backend_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown service backend 'vm'"):
        make_backend("vm", tmp_path)


def test_a_spec_without_an_image_runs_as_a_process_beside_the_containers(tmp_path, monkeypatch):
    """hil's own simulators have no image: under the container backend they still run (as
    processes), so a whole target can use one backend."""
    from hil.services import ServiceSpec
    from hil.services import container as container_module
    from hil.services.process import ProcessService

    monkeypatch.setattr(container_module, "docker_unavailable_reason", lambda: None)
    backend = container_module.ContainerBackend(tmp_path)
    service = backend.create(ServiceSpec("simulator", command=lambda ports, wd: ["true"]))
    assert isinstance(service, ProcessService) and service.workdir == tmp_path / "simulator"
    imaged = backend.create(ServiceSpec("broker", command=lambda ports, wd: ["true"], image="eclipse-mosquitto:2"))
    assert isinstance(imaged, container_module.ContainerService)
