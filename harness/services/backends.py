"""Choosing a backend: ``process`` (default), ``container``, or ``auto``.

``auto`` takes the container backend only where a Docker engine answers, else processes. Asking
for ``container`` explicitly where there is no engine is an error that says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hil.errors import ConfigError
from hil.services.base import Service, ServiceSpec
from hil.services.container import ContainerBackend, docker_unavailable_reason
from hil.services.process import ProcessBackend

__all__ = ["BACKEND_NAMES", "Backend", "make_backend"]

BACKEND_NAMES = ("process", "container", "auto")


class Backend(Protocol):
    name: str

    def create(self, spec: ServiceSpec) -> Service: ...


def make_backend(name: str, root: Path) -> Backend:
    if name not in BACKEND_NAMES:
        raise ConfigError(f"unknown service backend {name!r} (choose one of {', '.join(BACKEND_NAMES)})")
    if name == "process" or (name == "auto" and docker_unavailable_reason() is not None):
        return ProcessBackend(root)
    reason = docker_unavailable_reason()
    if reason is not None:
        raise ConfigError(f"container backend unavailable: {reason}")
    return ContainerBackend(root)
