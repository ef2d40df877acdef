"""Service lifecycle: one Service abstraction, reusable readiness checks, two backends.

Typical use::

    backend = ProcessBackend(run_dir.sub("services"))
    service = backend.create(ServiceSpec("sim", command=lambda ports, wd: [...], ports=("http",)))
    service.start(HttpStatus(port="http", path="/health"))
    ...
    service.stop()
"""

from harness.services.backends import BACKEND_NAMES, Backend, make_backend
from harness.services.base import ReadinessTarget, Service, ServiceSpec, ServiceState
from harness.services.container import ContainerBackend, ContainerService, docker_available, docker_unavailable_reason
from harness.services.logstream import LogStream
from harness.services.ports import pick_free_port
from harness.services.process import ProcessBackend, ProcessService
from harness.services.readiness import (
    AllOf,
    ClientIdentity,
    Deadline,
    GrpcChannelReady,
    HttpStatus,
    LogLine,
    MqttConnack,
    Readiness,
    TcpPort,
    TlsHandshake,
)
from harness.services.tracking import LeakReport, ResourceTracker, current_tracker

__all__ = [
    "BACKEND_NAMES",
    "AllOf",
    "Backend",
    "ClientIdentity",
    "ContainerBackend",
    "ContainerService",
    "Deadline",
    "GrpcChannelReady",
    "HttpStatus",
    "LeakReport",
    "LogLine",
    "LogStream",
    "MqttConnack",
    "ProcessBackend",
    "ProcessService",
    "Readiness",
    "ReadinessTarget",
    "ResourceTracker",
    "Service",
    "ServiceSpec",
    "ServiceState",
    "TcpPort",
    "TlsHandshake",
    "current_tracker",
    "docker_available",
    "docker_unavailable_reason",
    "make_backend",
    "pick_free_port",
]
