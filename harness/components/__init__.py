"""Components of the simulated target: each one a simulator (or the broker) that plugs in.

A component module registers a factory with :func:`component`; the simulated target starts a
component (and first what it ``requires``) on first use, ``hil up`` starts all of them, and the
target stops them in reverse order. Adding a simulator therefore means adding one module here
and one entry to :data:`COMPONENT_MODULES`, and nothing else in the engine::

    @component("destiny", provides=(DestinyRepository, DestinyControl))
    def start_destiny(target: SimulatedTarget) -> DestinyComponent:
        ...

``provides`` lists the capability protocols (:mod:`hil.targets.protocols`) the component
implements; the target asks the started component for each with ``component.provide(protocol)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hil.errors import ConfigError

if TYPE_CHECKING:
    from hil.services.base import Service
    from hil.targets import SimulatedTarget

__all__ = ["COMPONENT_MODULES", "Component", "ComponentFactory", "Registration", "component", "registry"]

COMPONENT_MODULES = (
    "hil.components.broker",
    "hil.components.astarte",
    "hil.components.message_hub",
    "hil.components.destiny",
    "hil.components.locknalert",
)


class Component(Protocol):
    """A started component: what it prints in ``hil up``, its services, and how to stop it."""

    def describe(self) -> list[tuple[str, str]]: ...

    def services(self) -> list[Service]: ...

    def provide(self, protocol: type) -> Any:
        """The object implementing ``protocol`` (one of the component's ``provides``)."""

    def stop(self) -> None: ...


ComponentFactory = Callable[["SimulatedTarget"], Any]


@dataclass(frozen=True)
class Registration:
    name: str
    factory: ComponentFactory
    requires: tuple[str, ...]
    provides: tuple[type, ...]


_REGISTRY: dict[str, Registration] = {}


def component(
    name: str, *, requires: tuple[str, ...] = (), provides: tuple[type, ...] = ()
) -> Callable[[ComponentFactory], ComponentFactory]:
    """Register a component factory under ``name``; a duplicate name is a programming error."""

    def decorate(factory: ComponentFactory) -> ComponentFactory:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ConfigError(f"component {name!r} is registered twice")
        _REGISTRY[name] = Registration(name, factory, requires, provides)
        return factory

    return decorate


def registry() -> dict[str, Registration]:
    """Every registered component, in :data:`COMPONENT_MODULES` order (modules load lazily)."""
    for module in COMPONENT_MODULES:
        importlib.import_module(module)  # a missing module is a bug: let it raise
    return dict(_REGISTRY)
