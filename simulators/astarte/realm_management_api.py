"""The Realm Management API subset of Astarte v1.2.0 under ``/realmmanagement`` (astarte-apis.md 4).

Routes under ``/v1/<realm>`` (JWT, claim ``a_rma``): list interface names, list majors, get one
(normalised form, 4.4), install (201 + ``location``), minor update (PUT, 204), delete a draft
(major 0; 403 for a real major or one still in a device's introspection).
Validation uses the oracle's SERVER profile (what Astarte itself refuses, legacy aliases allowed).
Writes are synchronous (as with ``?async_operation=false``).

Errors come in upstream's order, because a client sees only the first: ``data`` that is not an
object is 400 (no controller clause); then the changeset, 422 with Ecto's field map
(:mod:`.interface_changeset`); then the backend: for an install 409 duplicate, 409 name collision,
and last 422 ``Overlapping endpoints in interface mappings`` (the endpoint automaton is built after
the 409 checks, astarte_realm_management ``engine.ex`` ``install_interface``); for an update 409
name/major mismatch, 404 unknown major, 409 ``Invalid update`` (type, ownership or aggregation
changed), 409 same/lower minor, 409 missing or changed endpoints, and last the overlap 422.

Knowingly different (never 500): DELETE with a non-integer major is 404 ``Invalid major version``
(v1.2.0 crashes).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hil.oracle import Interface, Mapping, Profile, names_collide, parse_interface, validate_interface
from hil.simulators.astarte.api_errors import bad_request, detail, field_errors
from hil.simulators.astarte.interface_changeset import OVERLAP_RULES, cast_params, changeset_errors
from hil.simulators.astarte.realm import InstalledInterface, Realm
from hil.simulators.astarte.realm_auth import authorize
from hil.simulators.astarte.web import Call, Reply, catch_all, route

__all__ = ["interface_document", "realm_management_routes"]

_COLLISION: Final = ("Interface name collision detected. Make sure that the difference between two interface "
                     "names is not limited to the casing or the presence of hyphens.")
_OVERLAPPING: Final = "Overlapping endpoints in interface mappings"


@dataclass(frozen=True)
class _Submitted:
    """A submitted interface that passed the changeset; ``overlapping`` is decided later."""

    interface: Interface
    overlapping: bool


def interface_document(interface: Interface) -> dict[str, Any]:
    """The normalised JSON Astarte returns for an installed interface (4.4)."""
    document: dict[str, Any] = {
        "interface_name": interface.name,
        "version_major": interface.version_major,
        "version_minor": interface.version_minor,
        "type": interface.type.value,
        "ownership": interface.ownership.value,
    }
    if interface.is_object:
        document["aggregation"] = "object"
    if interface.description is not None:
        document["description"] = interface.description
    if interface.doc is not None:
        document["doc"] = interface.doc
    document["mappings"] = [_mapping_document(m) for m in interface.mappings]
    return document


def _mapping_document(mapping: Mapping) -> dict[str, Any]:
    document: dict[str, Any] = {"endpoint": mapping.endpoint, "type": mapping.type.value}
    optional = (
        ("reliability", mapping.reliability.value, "unreliable"),
        ("retention", mapping.retention.value, "discard"),
        ("expiry", mapping.expiry, 0),
        ("database_retention_policy", mapping.database_retention_policy.value, "no_ttl"),
        ("database_retention_ttl", mapping.database_retention_ttl, None),
        ("allow_unset", mapping.allow_unset, False),
        ("explicit_timestamp", mapping.explicit_timestamp, False),
        ("description", mapping.description, None),
        ("doc", mapping.doc, None),
    )
    for key, value, default in optional:
        if value != default:
            document[key] = value
    return document


def _comparable(mapping: Mapping) -> tuple[Any, ...]:
    """What a minor update may not change in an existing mapping."""
    return (mapping.type, mapping.reliability, mapping.allow_unset, mapping.database_retention_policy,
            mapping.database_retention_ttl)


def _parse_one_mapping_at_a_time(params: dict[str, Any]) -> Interface:
    """Parse an interface whose only fault is overlapping endpoints.

    ``parse_interface`` refuses it, but Astarte's changeset accepts it and the overlap is found
    only after the 409 checks, which need the parsed interface. Every mapping is valid on its own
    (an overlap takes two), so parse them one by one and put them back together.
    """
    parts = [parse_interface({**params, "mappings": [m]}, profile=Profile.SERVER) for m in params["mappings"]]
    return dataclasses.replace(parts[0], mappings=tuple(part.mappings[0] for part in parts))


def _refuse_update(old: Interface, new: Interface) -> None:
    """The 409 a minor update gets, in engine.ex ``update_interface`` order: the descriptor
    (type, ownership, aggregation) before the minor version, then the mappings."""
    if (new.type, new.ownership, new.aggregation) != (old.type, old.ownership, old.aggregation):
        raise detail(409, "Invalid update")
    if new.version_minor == old.version_minor:
        raise detail(409, "Interface minor version was not increased")
    if new.version_minor < old.version_minor:
        raise detail(409, "Interface downgrade not allowed")
    new_by_endpoint = {m.endpoint: m for m in new.mappings}
    for mapping in old.mappings:
        if mapping.endpoint not in new_by_endpoint:
            raise detail(409, "Interface update has missing endpoints")
        if _comparable(mapping) != _comparable(new_by_endpoint[mapping.endpoint]):
            raise detail(409, "Interface update contains incompatible endpoint changes")


class RealmManagementApi:
    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    def _auth(self, call: Call) -> None:
        realm_name = call.path_params["realm"]
        key = self.realm.public_key_pem if realm_name == self.realm.name else None
        marker = f"/v1/{realm_name}/"
        auth_path = call.path.split(marker, 1)[1] if marker in call.path else ""
        authorize(call.authorization, public_key_pem=key, claim="a_rma", method=call.method, auth_path=auth_path)

    @staticmethod
    def _major(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,9}", text):
            raise detail(404, "Invalid major version")
        return int(text)

    @staticmethod
    def _object_data(call: Call) -> dict[str, Any]:
        """The body's ``data``; 400 unless it is an object (the controller clause wants ``"data" => %{}``,
        matched before anything else of the action runs)."""
        data = call.data()
        if not isinstance(data, dict):
            raise bad_request()
        return data

    @staticmethod
    def _parse(data: dict[str, Any]) -> _Submitted:
        """The submitted interface, or the 422 of Astarte's changeset."""
        params = cast_params(data)
        violations = validate_interface(params, profile=Profile.SERVER)
        refused = [v for v in violations if v.rule_id not in OVERLAP_RULES]
        if refused:
            raise field_errors(changeset_errors(refused, params))
        if not violations:
            return _Submitted(parse_interface(params, profile=Profile.SERVER), overlapping=False)
        return _Submitted(_parse_one_mapping_at_a_time(params), overlapping=True)

    # -- routes ----------------------------------------------------------------------------
    def list_names(self, call: Call) -> Reply:
        self._auth(call)
        with self.realm.lock:
            names = list(dict.fromkeys(name for name, _ in self.realm.interfaces))
        return Reply(200, {"data": names})

    def list_majors(self, call: Call) -> Reply:
        self._auth(call)
        name = call.path_params["name"]
        with self.realm.lock:
            majors = sorted(major for n, major in self.realm.interfaces if n == name)
        if not majors:
            raise detail(404, "Interface not found")
        return Reply(200, {"data": majors})

    def get(self, call: Call) -> Reply:
        self._auth(call)
        major = self._major(call.path_params["major"])
        with self.realm.lock:
            entry = self.realm.interfaces.get((call.path_params["name"], major))
        if entry is None:
            raise detail(404, "Interface not found")
        return Reply(200, {"data": entry.document})

    def install(self, call: Call) -> Reply:
        self._auth(call)
        submitted = self._parse(self._object_data(call))
        interface = submitted.interface
        with self.realm.lock:
            self._refuse_install(interface)
            if submitted.overlapping:
                raise detail(422, _OVERLAPPING)
            self._store(interface)
        location = f"/v1/{self.realm.name}/interfaces/{interface.name}/{interface.version_major}"
        return Reply(201, headers={"location": location}, empty=True)

    def install_parsed(self, interface: Interface) -> None:
        """Install, or raise the 409 Astarte gives (caller holds the lock)."""
        self._refuse_install(interface)
        self._store(interface)

    def _refuse_install(self, interface: Interface) -> None:
        if (interface.name, interface.version_major) in self.realm.interfaces:
            raise detail(409, "Interface already exists")
        if any(names_collide(interface.name, name) for name, _ in self.realm.interfaces):
            raise detail(409, _COLLISION)

    def _store(self, interface: Interface) -> None:
        self.realm.interfaces[(interface.name, interface.version_major)] = InstalledInterface(
            interface, interface_document(interface))

    def update(self, call: Call) -> Reply:
        self._auth(call)
        data = self._object_data(call)
        name, major = call.path_params["name"], self._major(call.path_params["major"])
        submitted = self._parse(data)
        interface = submitted.interface
        if interface.name != name:
            raise detail(409, "Interface name doesn't match the one in the interface json")
        if interface.version_major != major:
            raise detail(409, "Interface major version doesn't match the one in the interface json")
        with self.realm.lock:
            entry = self.realm.interfaces.get((name, major))
            if entry is None:
                raise detail(404, "Interface major not found")
            _refuse_update(entry.interface, interface)
            if submitted.overlapping:
                raise detail(422, _OVERLAPPING)
            self._store(interface)
        return Reply(204, empty=True)

    def delete(self, call: Call) -> Reply:
        self._auth(call)
        name, major = call.path_params["name"], self._major(call.path_params["major"])
        if major != 0:
            raise detail(403, "Interface can't be deleted")
        with self.realm.lock:
            if (name, major) not in self.realm.interfaces:
                raise detail(404, "Interface major not found")
            if any(device.introspection.get(name, (None,))[0] == 0 for device in self.realm.devices.values()):
                raise detail(403, "Interface can't be deleted since it's currently used")
            del self.realm.interfaces[(name, major)]
        return Reply(204, empty=True)


def realm_management_routes(realm: Realm) -> tuple[list[Any], RealmManagementApi]:
    api = RealmManagementApi(realm)
    table: list[tuple[str, Callable[[Call], Reply], list[str]]] = [
        ("/v1/{realm}/interfaces", api.list_names, ["GET"]),
        ("/v1/{realm}/interfaces", api.install, ["POST"]),
        ("/v1/{realm}/interfaces/{name}", api.list_majors, ["GET"]),
        ("/v1/{realm}/interfaces/{name}/{major}", api.get, ["GET"]),
        ("/v1/{realm}/interfaces/{name}/{major}", api.update, ["PUT"]),
        ("/v1/{realm}/interfaces/{name}/{major}", api.delete, ["DELETE"]),
    ]
    routes = [route(path, handler, methods) for path, handler, methods in table] + [catch_all("Not found")]
    return routes, api

