"""The Realm Management API subset of Astarte v1.2.0 under ``/realmmanagement`` (astarte-apis.md 4).

Routes under ``/v1/<realm>`` (JWT, claim ``a_rma``): list interface names, list majors, get one
(normalised form, 4.4), install (201 + ``location``; 409 duplicate or name collision; 422 with the
oracle's violations as an Ecto-style field map), minor update (PUT, 204; 409/404 as the table
says), delete a draft (major 0; 403 for a real major or one still in a device's introspection).
Validation uses the oracle's SERVER profile (what Astarte itself refuses, legacy aliases allowed).
Writes are synchronous (as with ``?async_operation=false``).

Knowingly different (never 500): DELETE with a non-integer major is 404 ``Invalid major version``
(v1.2.0 crashes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from harness.oracle import Interface, InvalidInterface, Mapping, Profile, Violation, names_collide, parse_interface
from simulators.astarte.api_errors import detail, field_errors
from simulators.astarte.realm import InstalledInterface, Realm
from simulators.astarte.realm_auth import authorize
from simulators.astarte.web import Call, Reply, catch_all, route

__all__ = ["interface_document", "realm_management_routes", "violations_to_errors"]

#: Ecto's message for each oracle rule, where Astarte's changeset has a stock one.
_ECTO_MESSAGES: Final = {
    "ASTARTE-IFACE-NAME-01": "has invalid format",
    "ASTARTE-IFACE-NAME-02": "should be at most 128 character(s)",
    "ASTARTE-IFACE-NAME-03": "is reserved",
    "ASTARTE-IFACE-VERSION-02": "must be > 0 if major_version is 0",
    "ASTARTE-IFACE-TYPE-01": "is invalid",
    "ASTARTE-IFACE-OWNERSHIP-01": "is invalid",
    "ASTARTE-IFACE-AGGREGATION-01": "is invalid",
    "ASTARTE-IFACE-AGGREGATION-02": "must be individual for properties interfaces",
    "ASTARTE-IFACE-ENDPOINT-01": "has invalid format",
    "ASTARTE-IFACE-MAPPING-TYPE-01": "is invalid",
    "ASTARTE-IFACE-MAPPING-RELIABILITY-01": "is invalid",
    "ASTARTE-IFACE-MAPPING-RETENTION-01": "is invalid",
    "ASTARTE-IFACE-MAPPING-DBRETENTION-01": "is invalid",
    "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01": "must be blank",
    "ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01": "must be blank",
    "ASTARTE-IFACE-MAPPING-FLAGS-01": "is invalid",
}
#: Whole-interface rules Ecto reports on ``mappings`` itself.
_MAPPINGS_MESSAGES: Final = {
    "ASTARTE-IFACE-ENDPOINT-03": "contain conflicting endpoints",
    "ASTARTE-IFACE-ENDPOINT-04": "contain conflicting endpoints",
    "ASTARTE-IFACE-ENDPOINT-05": "contain conflicting endpoints",
    "ASTARTE-IFACE-OBJECT-01": "must have the same prefix in endpoints",
    "ASTARTE-IFACE-OBJECT-02": "contain conflicting attributes",
    "ASTARTE-IFACE-MAPPINGS-01": "should have at least 1 item(s)",
}
_MAPPING_FIELD: Final = re.compile(r"\$\.mappings\[(\d+)\](?:\.(\w+))?$")
_TOP_FIELD: Final = re.compile(r"\$\.(\w+)$")
_MISSING_KEY: Final = re.compile(r"missing required key '(\w+)'")
_COLLISION: Final = ("Interface name collision detected. Make sure that the difference between two interface "
                     "names is not limited to the casing or the presence of hyphens.")


def violations_to_errors(violations: list[Violation], mapping_count: int) -> dict[str, Any]:
    """The oracle's violations as Ecto's nested changeset error map."""
    errors: dict[str, Any] = {}
    per_mapping: list[dict[str, list[str]]] = [{} for _ in range(mapping_count)]
    mapping_errors = False
    conflicts: list[str] = []
    for violation in violations:
        if violation.rule_id in _MAPPINGS_MESSAGES:
            conflicts.append(_MAPPINGS_MESSAGES[violation.rule_id])
            continue
        missing = _MISSING_KEY.search(violation.message)
        message = "can't be blank" if missing else _ECTO_MESSAGES.get(violation.rule_id, violation.message)
        in_mapping = _MAPPING_FIELD.match(violation.json_path)
        if in_mapping and int(in_mapping.group(1)) < mapping_count:
            field = in_mapping.group(2) or (missing.group(1) if missing else "endpoint")
            per_mapping[int(in_mapping.group(1))].setdefault(field, []).append(message)
            mapping_errors = True
            continue
        top = _TOP_FIELD.match(violation.json_path)
        field = missing.group(1) if missing else (top.group(1) if top else "interface")
        errors.setdefault(field, []).append(message)
    if mapping_errors:
        errors["mappings"] = per_mapping
    elif conflicts:
        errors["mappings"] = list(dict.fromkeys(conflicts))
    return errors


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
    def _parse(data: Any) -> Interface:
        try:
            return parse_interface(data, profile=Profile.SERVER)
        except InvalidInterface as exc:
            count = len(data["mappings"]) if isinstance(data, dict) and isinstance(data.get("mappings"), list) else 0
            raise field_errors(violations_to_errors(list(exc.violations), count)) from None

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
        data = call.data()
        interface = self._parse(data)
        with self.realm.lock:
            self.install_parsed(interface)
        location = f"/v1/{self.realm.name}/interfaces/{interface.name}/{interface.version_major}"
        return Reply(201, headers={"location": location}, empty=True)

    def install_parsed(self, interface: Interface) -> None:
        """Install, or raise the 409 Astarte gives (caller holds the lock)."""
        if (interface.name, interface.version_major) in self.realm.interfaces:
            raise detail(409, "Interface already exists")
        if any(names_collide(interface.name, name) for name, _ in self.realm.interfaces):
            raise detail(409, _COLLISION)
        self.realm.interfaces[(interface.name, interface.version_major)] = InstalledInterface(
            interface, interface_document(interface))

    def update(self, call: Call) -> Reply:
        self._auth(call)
        name, major = call.path_params["name"], self._major(call.path_params["major"])
        data = call.data()
        interface = self._parse(data)
        if interface.name != name:
            raise detail(409, "Interface name doesn't match the one in the interface json")
        if interface.version_major != major:
            raise detail(409, "Interface major version doesn't match the one in the interface json")
        with self.realm.lock:
            entry = self.realm.interfaces.get((name, major))
            if entry is None:
                raise detail(404, "Interface major not found")
            old = entry.interface
            if interface.version_minor == old.version_minor:
                raise detail(409, "Interface minor version was not increased")
            if interface.version_minor < old.version_minor:
                raise detail(409, "Interface downgrade not allowed")
            if (interface.type, interface.ownership, interface.aggregation) != (old.type, old.ownership, old.aggregation):
                raise detail(409, "Invalid update")
            new_by_endpoint = {m.endpoint: m for m in interface.mappings}
            for mapping in old.mappings:
                if mapping.endpoint not in new_by_endpoint:
                    raise detail(409, "Interface update has missing endpoints")
                if _comparable(mapping) != _comparable(new_by_endpoint[mapping.endpoint]):
                    raise detail(409, "Interface update contains incompatible endpoint changes")
            self.realm.interfaces[(name, major)] = InstalledInterface(interface, interface_document(interface))
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

