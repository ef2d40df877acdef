"""The one Service abstraction every backend implements, and the spec that describes a service.

Life cycle (explicit, enforced)::

    NEW --start(readiness)--> STARTING --ready--> RUNNING --stop()--> STOPPED
                                  |                 pause() | ^ resume()  ^
                                  |                       PAUSED          |
                                  +--- readiness failed / exited ---------+  (start raises)

``start`` takes the readiness check as a *required* argument and returns only once that check
passed, so a service can never be used half-started (a readiness strategy set after start would
silently never run). ``pause``/``resume``/``restart`` are the service steps of the fault
vocabulary; each backend realises them with its own means (signals, or the engine). ``stop`` is idempotent and safe in any state, which is what teardown needs.

The spec is backend-agnostic: a process backend runs ``command`` on the host, a container
backend runs the same command in ``image``; both hand the same ports and working directory in.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from hil.errors import ServiceError

if TYPE_CHECKING:
    from hil.services.logstream import LogStream
    from hil.services.readiness import Readiness

__all__ = ["CommandBuilder", "ReadinessTarget", "Service", "ServiceSpec", "ServiceState"]

CommandBuilder = Callable[[Mapping[str, int], Path], Sequence[str]]
"""Builds argv from the ports picked for the service and its private working directory.

It may write config files into that directory: it is called again with new ports when a start
is retried after "address in use".
"""


@dataclass(frozen=True)
class ServiceSpec:
    """What to run, independent of how.

    Args:
        name: unique within a run; names the log file and appears in every error.
        command: argv builder, see :data:`CommandBuilder`.
        ports: names of the TCP ports the service listens on; the harness picks free ones.
        env: extra environment for the service.
        image: container image for the container backend (unused by the process backend).
        mounts: host directories the command refers to besides its working directory (a
            PKI, say); the container backend mounts each read-only at the same path.
        writable: host directories the service writes besides its working directory (a store,
            a PKI it issues its own certificate into); mounted read-write at the same path.
        host: the address the service listens on; loopback by default so a run never exposes
            simulators or their credentials on the network.
        port_in_use: a log pattern meaning "the picked port was taken": start retries then.
    """

    name: str
    command: CommandBuilder
    ports: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    mounts: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    host: str = "127.0.0.1"
    port_in_use: str = r"[Aa]ddress already in use"


class ServiceState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class ReadinessTarget(Protocol):
    """What a readiness check may look at: satisfied by every backend and by physical targets."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    def port(self, name: str) -> int: ...
    @property
    def log(self) -> LogStream | None: ...
    def exited(self) -> int | None:
        """The exit status if the service has ended, else None."""
        ...


class Service(ABC):
    """A running (or runnable) service. Backends subclass this; tests only use this surface."""

    def __init__(self, spec: ServiceSpec, workdir: Path, log_path: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.log_path = log_path
        self.state = ServiceState.NEW
        self._ports: dict[str, int] = {}

    # -- identity --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def host(self) -> str:
        return self.spec.host

    @property
    def ports(self) -> Mapping[str, int]:
        return dict(self._ports)

    def port(self, name: str) -> int:
        try:
            return self._ports[name]
        except KeyError:
            raise ServiceError(self.name, f"has no port named {name!r} (it has {sorted(self._ports)})") from None

    # -- life cycle ------------------------------------------------------------------------
    @abstractmethod
    def start(self, readiness: Readiness, *, timeout: float = 15.0) -> None:
        """Start and return once ``readiness`` passed; raise StartupTimeout/ServiceExited otherwise.

        On failure the service is already stopped again, and its log is kept.
        """

    @abstractmethod
    def restart(self, readiness: Readiness, *, timeout: float = 15.0) -> None:
        """Stop, then start again on the same ports (clients reconnect to the same address)."""

    @abstractmethod
    def pause(self) -> None:
        """Freeze the service without ending it: its ports stay bound, nothing is answered."""

    @abstractmethod
    def resume(self) -> None:
        """Undo :meth:`pause`: the service carries on where it was frozen."""

    @abstractmethod
    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop if running; a no-op in any other state."""

    @abstractmethod
    def exited(self) -> int | None:
        """The exit status once the service ended on its own or was stopped, else None."""

    @property
    @abstractmethod
    def log(self) -> LogStream | None:
        """The output of the current (or last) start."""

    def log_tail(self, count: int = 20) -> str:
        log = self.log
        return log.tail(count) if log is not None else ""

    def _require(self, *states: ServiceState, action: str) -> None:
        if self.state not in states:
            wanted = " or ".join(s.value for s in states)
            raise ServiceError(self.name, f"cannot {action} while {self.state.value} (must be {wanted})")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        ports = ", ".join(f"{k}={v}" for k, v in self._ports.items())
        return f"<{type(self).__name__} {self.name} {self.state.value} {self.host} {ports}>"
