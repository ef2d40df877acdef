"""Service lifecycle: one Service abstraction, reusable readiness checks, two backends.

Typical use::

    backend = ProcessBackend(run_dir.sub("services"))
    service = backend.create(ServiceSpec("sim", command=lambda ports, wd: [...], ports=("http",)))
    service.start(HttpStatus(port="http", path="/health"))
    ...
    service.stop()
"""

from hil.services.backends import BACKEND_NAMES, Backend, make_backend
from hil.services.base import ReadinessTarget, Service, ServiceSpec, ServiceState
from hil.services.container import ContainerBackend, ContainerService, docker_available, docker_unavailable_reason
from hil.services.logstream import LogStream
from hil.services.ports import pick_free_port
from hil.services.process import ProcessBackend, ProcessService
from hil.services.readiness import (
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
from hil.services.tracking import LeakReport, ResourceTracker, current_tracker

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
