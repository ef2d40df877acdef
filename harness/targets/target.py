"""The target base class: what checks run against, asked for capabilities by protocol class.

Life cycle: created (from a name or a bench file) -- ``get(Protocol)`` any number of times (a
simulated target starts the component that implements it on first use) -- ``close()`` once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, TypeVar

from hil.errors import MissingCapability
from hil.targets.protocols import PUBLIC_PROTOCOLS, SIMULATOR_ONLY_PROTOCOLS, Capability

__all__ = ["Probe", "Target"]

P = TypeVar("P", bound=Capability)


@dataclass(frozen=True)
class Probe:
    """One capability of a target as ``hil bench check`` and the health gate saw it."""

    protocol: type[Capability]
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'BAD'} {self.protocol.name():<32} {self.detail}"


class Target(ABC):
    """A system under observation. Created lazily, closed once at the end of the run."""

    name: str
    kind: str
    description: str

    @abstractmethod
    def offers(self, protocol: type[Capability]) -> bool:
        """Whether the target implements ``protocol`` (without starting or contacting anything)."""

    @abstractmethod
    def _implementation(self, protocol: type[Capability]) -> Any:
        """The object implementing ``protocol``; only called when :meth:`offers` said yes."""

    def get(self, protocol: type[P]) -> P:
        """The target's implementation of ``protocol``.

        Raises:
            MissingCapability: the target does not offer it (fixtures skip with this message).
        """
        if not self.offers(protocol):
            raise MissingCapability(self.name, protocol)
        implementation = self._implementation(protocol)
        if not isinstance(implementation, protocol):
            raise MissingCapability(self.name, protocol, f"{type(implementation).__name__} does not implement it")
        return implementation

    def require(self, *protocols: type[Capability]) -> None:
        """Raise :class:`MissingCapability` for the first of ``protocols`` the target lacks."""
        for protocol in protocols:
            if not self.offers(protocol):
                raise MissingCapability(self.name, protocol)

    def offered(self) -> list[type[Capability]]:
        """Every protocol the target offers, public ones first."""
        return [p for p in (*PUBLIC_PROTOCOLS, *SIMULATOR_ONLY_PROTOCOLS) if self.offers(p)]

    def probe(self) -> list[Probe]:
        """Reach each offered public capability once (reachability, authorisation).

        The health gate of a run: a capability that fails here makes the run inconclusive rather
        than failing checks that would blame an SDK. The simulated target starts its own servers
        and needs no probe.
        """
        return []

    def describe(self) -> list[tuple[str, str]]:
        """Label/value lines a user needs to talk to the target (``hil up`` prints them)."""
        return [("target", f"{self.name} ({self.kind})")]

    def close(self) -> None:  # noqa: B027 - most targets start nothing: closing is optional
        """Stop what the target started; idempotent."""
