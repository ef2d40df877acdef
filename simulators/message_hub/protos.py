"""Import the *generated* message hub modules, never the SDK's wheel copy.

The generated folder has the same import names as the ``astarte-message-hub-proto`` wheel
(``astarteplatform.msghub.*``); see :mod:`hil.simulators.message_hub.protogen`. This module puts the
generated root first on ``sys.path`` and refuses to go on if ``astarteplatform`` was already
imported from anywhere else, because protobuf would then hold two definitions of the same files.

Message classes are looked up by their full proto names (``astarteplatform.msghub.Node``), not by
module, so a later proto version that moved a message to another file still works as long as
the message itself exists.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hil.errors import ConfigError

__all__ = ["Protos", "load_protos"]

PACKAGE = "astarteplatform.msghub"
SERVICE = f"{PACKAGE}.MessageHub"


@dataclass(frozen=True)
class Protos:
    """The generated modules of one proto version, and lookups that survive file moves."""

    root: Path
    version: str
    modules: dict[str, ModuleType]

    def message(self, name: str) -> Any:
        """The message class for ``astarteplatform.msghub.<name>`` (or a full name with dots)."""
        from google.protobuf import symbol_database

        full = name if "." in name else f"{PACKAGE}.{name}"
        try:
            return symbol_database.Default().GetSymbol(full)
        except KeyError:
            raise ConfigError(f"proto {self.version} has no message {full}") from None

    def has_message(self, name: str) -> bool:
        try:
            self.message(name)
        except ConfigError:
            return False
        return True

    @property
    def service_module(self) -> ModuleType:
        return self.modules["message_hub_service_pb2_grpc"]

    def service_methods(self) -> list[str]:
        """The RPC names of the MessageHub service in this proto version."""
        descriptor = self.modules["message_hub_service_pb2"].DESCRIPTOR.services_by_name["MessageHub"]
        return [method.name for method in descriptor.methods]

    def method_input(self, method: str) -> Any:
        descriptor = self.modules["message_hub_service_pb2"].DESCRIPTOR.services_by_name["MessageHub"]
        return self.message(descriptor.methods_by_name[method].input_type.full_name)


def load_protos(root: Path, version: str) -> Protos:
    """Import every generated module under ``root`` (which goes first on ``sys.path``)."""
    loaded = sys.modules.get("astarteplatform")
    if loaded is not None:
        origin = Path(getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", [""]))))
        if root.resolve() not in origin.resolve().parents:
            raise ConfigError(
                f"astarteplatform is already imported from {origin}; the hub must run in its own "
                "process with only the generated modules"
            )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    package_dir = root / "astarteplatform" / "msghub"
    modules: dict[str, ModuleType] = {}
    for path in sorted(package_dir.glob("*_pb2*.py")):
        modules[path.stem] = importlib.import_module(f"{PACKAGE}.{path.stem}")
    if "message_hub_service_pb2_grpc" not in modules:
        raise ConfigError(f"{package_dir} holds no generated MessageHub service")
    return Protos(root, version, modules)
