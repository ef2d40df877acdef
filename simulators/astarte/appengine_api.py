"""The AppEngine API subset of Astarte v1.2.0 under ``/appengine`` (astarte-apis.md sections 3, 6).

Routes under ``/v1/<realm>`` (JWT, claim ``a_aea``): ``GET /version``, ``GET /devices``,
``GET``/``PATCH /devices/<id>``, ``GET /devices/<id>/interfaces``, ``GET`` values of an interface
(root or path), ``POST``/``PUT`` a server-owned value, ``DELETE`` (unset) a server-owned property.
Lookups and errors run in the documented order; values render as 3.7 says.

Writes publish to the device through the realm's back-office session before storing, at QoS 2
for properties and the reliability's QoS for datastreams; a guaranteed/unique datastream whose
device has no broker session is 503 and nothing is stored. Astarte asks the broker whether the
publish matched a session; the simulator cannot (see :mod:`.broker_link`) and decides by its
session tracking instead (the broker's connection log, see :mod:`.data_updater`), checked before
publishing (so a 503 publishes nothing, as upstream).

``PATCH /devices/<id>`` applies its body only when Content-Type is exactly
``application/merge-patch+json`` (no parameters), checked after auth and the ``data`` key and
before the device lookup. Any other Content-Type is 400 ``Bad request``: that is upstream's answer
when Phoenix does not parse the body as JSON (no ``data`` key reaches the action clause).

Knowingly different (never 500): a PATCH whose body *is* parsed as JSON (``application/json`` or
another ``+json`` type, or the merge-patch type with parameters) but is not exactly the merge-patch
type is 400 too; v1.2.0 and HEAD answer 500, because the controller returns
``{:error, :patch_mimetype_not_supported}`` and the FallbackController has no clause for it.
A non-number on a ``double`` is 422 (v1.2.0 crashes, HEAD 422);
a partial path on a datastream read that fits several endpoints is 404 ``Path not found`` (v1.2.0
crashes); an unset on a datastream is 400 ``Bad request`` (v1.2.0 crashes); ``downsample_to`` is
validated but not applied; ``/devices`` lists every device in one page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from hil.astarte.bsonwire import BsonDocument, BsonValue, encode
from hil.oracle import Interface, Mapping, PathStatus, expected_qos, resolve
from hil.simulators.astarte.api_errors import bad_request, detail, field_errors
from hil.simulators.astarte.broker_link import BackOffice
from hil.simulators.astarte.device_ids import normalise_device_id
from hil.simulators.astarte.pairing_api import ASTARTE_VERSION
from hil.simulators.astarte.realm import MAX_RESULTS, Device, Realm, StoredRow
from hil.simulators.astarte.realm_auth import authorize
from hil.simulators.astarte.values import cast_json, iso_ms, now_ms, parse_iso, render, to_bson
from hil.simulators.astarte.web import Call, Reply, catch_all, route

__all__ = ["appengine_routes", "device_status"]

_SAFE_INTEGER_MAX: Final = 0xFFFFFFFFFFFFF
#: The one Content-Type a device PATCH is applied with (RFC 7396 JSON merge patch).
_MERGE_PATCH: Final = "application/merge-patch+json"
_FORMATS: Final = ("structured", "table", "disjoint_tables")


class _Options:
    """Validated query options (interface_values_options.ex); invalid ones are 422."""

    def __init__(self, query: dict[str, str]) -> None:
        errors: dict[str, list[str]] = {}
        self.since = self._time(query, "since", errors)
        self.since_after = self._time(query, "since_after", errors)
        if "since" in query and "since_after" in query:
            errors["since_after"] = ["conflicts already set parameter"]
        self.to = self._time(query, "to", errors)
        self.limit = self._int(query, "limit", errors, minimum=0, message="must be greater than or equal to 0")
        self.downsample_to = self._int(query, "downsample_to", errors, minimum=3, message="must be greater than 2")
        self.format = query.get("format", "structured")
        if self.format not in _FORMATS:
            errors["format"] = ["is invalid"]
        self.keep_milliseconds = self._bool(query, "keep_milliseconds", errors)
        self._bool(query, "allow_bigintegers", errors)  # numbers either way unless allow_safe_bigintegers
        self.allow_safe_bigintegers = self._bool(query, "allow_safe_bigintegers", errors)
        self._bool(query, "retrieve_metadata", errors)
        if errors:
            raise field_errors(errors)

    @staticmethod
    def _time(query: dict[str, str], key: str, errors: dict[str, list[str]]) -> int | None:
        if key not in query:
            return None
        parsed = parse_iso(query[key])
        if parsed is None:
            errors[key] = ["is invalid"]
        return parsed

    @staticmethod
    def _int(query: dict[str, str], key: str, errors: dict[str, list[str]], *, minimum: int, message: str) -> int | None:
        if key not in query:
            return None
        text = query[key].strip()
        if not text.lstrip("+-").isdigit() or len(text) > 30:
            errors[key] = ["is invalid"]
            return None
        value = int(text)
        if value < minimum:
            errors[key] = [message]
            return None
        return value

    @staticmethod
    def _bool(query: dict[str, str], key: str, errors: dict[str, list[str]], default: bool = False) -> bool:
        if key not in query:
            return default
        text = query[key].lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        errors[key] = ["is invalid"]
        return default

    def timestamp(self, ms: int) -> Any:
        return ms if self.keep_milliseconds else iso_ms(ms)

    def select(self, rows: list[StoredRow]) -> list[StoredRow]:
        """Filters and ordering of a datastream path query (astarte-apis.md 3.6)."""
        ordered = sorted(rows, key=lambda row: (row.value_timestamp, row.reception_timestamp))
        chosen = [
            row for row in ordered
            if (self.since is None or row.value_timestamp >= self.since)
            and (self.since_after is None or row.value_timestamp > self.since_after)
            and (self.to is None or row.value_timestamp < self.to)
        ]
        if self.limit is None:
            return chosen[:MAX_RESULTS]
        limit = min(self.limit, MAX_RESULTS)
        if self.since is not None or self.since_after is not None:
            return chosen[:limit]
        return list(reversed(chosen))[:limit]

    def last(self, rows: list[StoredRow]) -> StoredRow | None:
        """The root snapshot's per-path row: the last one, or the first at/after ``since``."""
        ordered = sorted(rows, key=lambda row: (row.value_timestamp, row.reception_timestamp))
        chosen = [
            row for row in ordered
            if (self.since is None or row.value_timestamp >= self.since)
            and (self.since_after is None or row.value_timestamp > self.since_after)
            and (self.to is None or row.value_timestamp < self.to)
        ]
        if not chosen:
            return None
        return chosen[0] if (self.since is not None or self.since_after is not None) else chosen[-1]

    def property_longinteger_as_string(self, value: Any) -> bool:
        return self.allow_safe_bigintegers and isinstance(value, int) and abs(value) > _SAFE_INTEGER_MAX


def device_status(device: Device) -> dict[str, Any]:
    """The status object of ``GET /devices/<id>``: every key, always."""

    def when(ms: int | None) -> str | None:
        return None if ms is None else iso_ms(ms)

    introspection = {}
    for name, (major, minor) in device.introspection.items():
        msgs, size = device.exchanged.get((name, major), [0, 0])
        introspection[name] = {"major": major, "minor": minor, "exchanged_msgs": msgs, "exchanged_bytes": size}
    previous = []
    for (name, major), minor in device.previous_interfaces.items():
        msgs, size = device.exchanged.get((name, major), [0, 0])
        previous.append({"name": name, "major": major, "minor": minor, "exchanged_msgs": msgs, "exchanged_bytes": size})
    return {
        "id": device.device_id,
        "aliases": dict(device.aliases),
        "attributes": dict(device.attributes),
        "introspection": introspection,
        "connected": device.connected,
        "last_connection": when(device.last_connection),
        "last_disconnection": when(device.last_disconnection),
        "first_registration": when(device.first_registration),
        "first_credentials_request": when(device.first_credentials_request),
        "last_seen_ip": device.last_seen_ip,
        "last_credentials_request_ip": device.last_credentials_request_ip,
        "total_received_msgs": device.total_received_msgs,
        "total_received_bytes": device.total_received_bytes,
        "credentials_inhibited": device.credentials_inhibited,
        "groups": [],
        "previous_interfaces": previous,
        "deletion_in_progress": False,
    }


def _tree(entries: list[tuple[list[str], Any]]) -> Any:
    """Nest ``(levels, leaf)`` pairs; an empty level list is the bare leaf."""
    if len(entries) == 1 and not entries[0][0]:
        return entries[0][1]
    root: dict[str, Any] = {}
    for levels, leaf in entries:
        node = root
        for level in levels[:-1]:
            child = node.get(level)
            if not isinstance(child, dict):
                child = node[level] = {}
            node = child
        if levels:
            node[levels[-1]] = leaf
    return root


def _levels(path: str) -> list[str]:
    return [token for token in path.split("/") if token]


class AppEngineApi:
    def __init__(self, realm: Realm, back_office: Callable[[], BackOffice | None]) -> None:
        self.realm = realm
        self._back_office = back_office

    # -- lookups ---------------------------------------------------------------------------
    def _auth(self, call: Call) -> None:
        realm_name = call.path_params["realm"]
        key = self.realm.public_key_pem if realm_name == self.realm.name else None
        marker = f"/v1/{realm_name}/"
        auth_path = call.path.split(marker, 1)[1] if marker in call.path else ""
        authorize(call.authorization, public_key_pem=key, claim="a_aea", method=call.method, auth_path=auth_path)

    def _device(self, call: Call) -> Device:
        device_id = normalise_device_id(call.path_params["device_id"])
        if device_id is None:
            raise bad_request()
        device = self.realm.devices.get(device_id)
        if device is None:
            raise detail(404, "Device not found")
        return device

    def _interface(self, device: Device, name: str) -> Interface:
        if name not in device.introspection:
            raise detail(404, "Interface not found in device introspection")
        interface = self.realm.introspected_interface(device, name)
        if interface is None:
            raise detail(404, "Interface not found")
        return interface

    # -- device routes ---------------------------------------------------------------------
    def version(self, call: Call) -> Reply:
        self._auth(call)
        return Reply(200, {"data": ASTARTE_VERSION})

    def list_devices(self, call: Call) -> Reply:
        self._auth(call)
        details = call.query.get("details", "false").lower() == "true"
        with self.realm.lock:
            devices = list(self.realm.devices.values())
            data = [device_status(d) for d in devices] if details else [d.device_id for d in devices]
        return Reply(200, {"links": {"self": f"/v1/{self.realm.name}/devices"}, "data": data})

    def status(self, call: Call) -> Reply:
        self._auth(call)
        with self.realm.lock:
            return Reply(200, {"data": device_status(self._device(call))})

    def patch(self, call: Call) -> Reply:
        self._auth(call)
        data = call.data()
        if call.headers.get("content-type") != _MERGE_PATCH:
            # DeviceStatusController.update compares the header to this exact string before it
            # looks at the device; see the module docstring for the status.
            raise bad_request()
        with self.realm.lock:
            device = self._device(call)
            if not isinstance(data, dict):
                raise bad_request()
            errors: dict[str, list[str]] = {}
            for key in ("aliases", "attributes"):
                if key not in data:
                    continue
                patch = data[key]
                if not isinstance(patch, dict) or not all(isinstance(v, str) or v is None for v in patch.values()):
                    errors[key] = ["is invalid"]
            inhibit = data.get("credentials_inhibited")
            if "credentials_inhibited" in data and not isinstance(inhibit, bool):
                errors["credentials_inhibited"] = ["is invalid"]
            if errors:
                raise field_errors(errors)
            for key in ("aliases", "attributes"):
                target = getattr(device, key)
                for name, value in data.get(key, {}).items():
                    if value is None:
                        target.pop(name, None)
                    else:
                        target[name] = value
            if isinstance(inhibit, bool):
                device.credentials_inhibited = inhibit
            return Reply(200, {"data": device_status(device)})

    def interfaces(self, call: Call) -> Reply:
        self._auth(call)
        with self.realm.lock:
            return Reply(200, {"data": list(self._device(call).introspection)})

    # -- values ----------------------------------------------------------------------------
    def read(self, call: Call) -> Reply:
        self._auth(call)
        options = _Options(dict(call.query))
        path = "/" + "/".join(_levels(call.path_params.get("path", "")))
        with self.realm.lock:
            device = self._device(call)
            interface = self._interface(device, call.path_params["interface"])
            key = (interface.name, interface.version_major)
            if interface.is_properties:
                return self._read_properties(interface, device.properties.get(key, {}), path, options)
            streams = device.datastreams.get(key, {})
            if interface.is_object:
                return self._read_object(interface, streams, path, options)
            return self._read_individual(interface, streams, path, options)

    @staticmethod
    def _resolve_read(interface: Interface, path: str) -> PathStatus:
        if path == "/":
            return PathStatus.PARTIAL
        status = resolve(interface, path).status
        if status in (PathStatus.MATCH, PathStatus.BAD_PARAMETER, PathStatus.PARTIAL):
            return PathStatus.MATCH if status is PathStatus.BAD_PARAMETER else status
        if interface.is_object:
            levels = _levels(path)
            parent = interface.mappings[0].template.parent
            if len(levels) < len(parent) and all(
                level.parameter or level.name == token for level, token in zip(parent, levels, strict=False)
            ):
                return PathStatus.PARTIAL
        raise detail(400, "Endpoint not found")

    def _read_properties(self, interface: Interface, stored: dict[str, Any], path: str, options: _Options) -> Reply:
        status = self._resolve_read(interface, path)
        if status is PathStatus.MATCH:
            if path not in stored:
                return Reply(200, {"data": {}})
            return Reply(200, {"data": self._property_value(interface, path, stored[path], options)})
        prefix = _levels(path)
        entries = []
        for stored_path, value in stored.items():
            levels = _levels(stored_path)
            if levels[: len(prefix)] == prefix and len(levels) > len(prefix):
                entries.append((levels[len(prefix):], self._property_value(interface, stored_path, value, options)))
        return Reply(200, {"data": _tree(entries) if entries else {}})

    @staticmethod
    def _property_value(interface: Interface, path: str, value: Any, options: _Options) -> Any:
        mapping = resolve(interface, path).mapping
        assert mapping is not None
        as_string = options.property_longinteger_as_string(value)
        return render(mapping.type, value, longinteger_as_string=as_string)

    def _read_individual(self, interface: Interface, streams: dict[str, list[StoredRow]], path: str,
                         options: _Options) -> Reply:
        status = self._resolve_read(interface, path)
        if path == "/":
            entries = []
            for stored_path, rows in streams.items():
                row = options.last(rows)
                if row is None:
                    continue
                mapping = resolve(interface, stored_path).mapping
                assert mapping is not None
                leaf = {
                    "value": render(mapping.type, row.value,
                                    longinteger_as_string=options.property_longinteger_as_string(row.value)),
                    "timestamp": options.timestamp(row.value_timestamp),
                    "reception_timestamp": options.timestamp(row.reception_timestamp),
                }
                entries.append((_levels(stored_path), leaf))
            return Reply(200, {"data": _tree(entries) if entries else {}})
        if status is not PathStatus.MATCH:
            raise detail(404, "Path not found")
        rows = options.select(streams.get(path, []))
        if not rows:
            raise detail(404, "Path not found")
        mapping = resolve(interface, path).mapping
        assert mapping is not None
        values = [(options.timestamp(r.value_timestamp), render(mapping.type, r.value, longinteger_as_string=True))
                  for r in rows]
        if options.format == "table":
            segment = _levels(path)[-1]
            metadata = {"columns": {"timestamp": 0, segment: 1}, "table_header": ["timestamp", segment]}
            return Reply(200, {"data": [[ts, v] for ts, v in values], "metadata": metadata})
        if options.format == "disjoint_tables":
            return Reply(200, {"data": {"value": [[v, ts] for ts, v in values]}})
        return Reply(200, {"data": [{"timestamp": ts, "value": v} for ts, v in values]})

    def _object_rows(self, interface: Interface, rows: list[StoredRow], options: _Options) -> Any:
        by_key = interface.object_mappings()
        if options.format == "table":
            header = ["timestamp", *by_key]
            data = [[options.timestamp(r.value_timestamp),
                     *(render(m.type, r.value.get(k), longinteger_as_string=True) for k, m in by_key.items())]
                    for r in rows]
            return data, {"columns": {name: i for i, name in enumerate(header)}, "table_header": header}
        if options.format == "disjoint_tables":
            return {k: [[render(m.type, r.value.get(k), longinteger_as_string=True), options.timestamp(r.value_timestamp)]
                        for r in rows] for k, m in by_key.items()}, None
        return [self._object_row(by_key, r, options) for r in rows], None

    @staticmethod
    def _object_row(by_key: dict[str, Mapping], row: StoredRow, options: _Options) -> dict[str, Any]:
        rendered: dict[str, Any] = {"timestamp": options.timestamp(row.value_timestamp)}
        for key, mapping in by_key.items():
            rendered[key] = render(mapping.type, row.value.get(key), longinteger_as_string=True)
        return rendered

    def _read_object(self, interface: Interface, streams: dict[str, list[StoredRow]], path: str,
                     options: _Options) -> Reply:
        status = self._resolve_read(interface, path)
        if path == "/" and not (status is PathStatus.MATCH and interface.mappings[0].template.depth == 1):
            stored = {p: rows for p, rows in streams.items() if rows}
            if not stored:
                return Reply(200, {"data": {}})
            if len(stored) == 1:
                only_path, rows = next(iter(stored.items()))
                data, metadata = self._object_rows(interface, options.select(rows), options)
                body: dict[str, Any] = {"data": _tree([(_levels(only_path), data)])}
                if metadata is not None:
                    body["metadata"] = metadata
                return Reply(200, body)
            by_key = interface.object_mappings()
            entries = []
            for stored_path, rows in stored.items():
                row = options.last(rows)
                if row is not None:
                    entries.append((_levels(stored_path), self._object_row(by_key, row, options)))
            return Reply(200, {"data": _tree(entries) if entries else {}})
        if status is not PathStatus.MATCH:
            raise detail(404, "Path not found")
        rows = options.select(streams.get(path, []))
        if not rows:
            raise detail(404, "Path not found")
        data, metadata = self._object_rows(interface, rows, options)
        body = {"data": data}
        if metadata is not None:
            body["metadata"] = metadata
        return Reply(200, body)

    # -- writes ----------------------------------------------------------------------------
    def _server_owned(self, call: Call) -> tuple[Any, Any, str, str]:
        """The (device, interface, device id, path) a write or unset targets, checked in the
        order the real API checks them; a device-owned interface is 405."""
        path = "/" + "/".join(_levels(call.path_params.get("path", "")))
        with self.realm.lock:
            device = self._device(call)
            interface = self._interface(device, call.path_params["interface"])
            device_id = device.device_id
        if interface.ownership == "device":
            raise detail(405, "Cannot write to device owned resource")
        return device, interface, device_id, path

    def write(self, call: Call) -> Reply:
        self._auth(call)
        data = call.data()
        device, interface, device_id, path = self._server_owned(call)
        if interface.is_object:
            if resolve(interface, path).status is not PathStatus.MATCH:
                raise detail(404, "Internal server error")
            stored, bson = self._cast_object(interface, data)
            qos = expected_qos(interface)
        else:
            mapping = self._write_mapping(interface, path)
            stored = cast_json(mapping.type, data)
            bson = to_bson(mapping.type, stored)
            qos = expected_qos(interface, mapping)
        payload = encode(BsonDocument.of(v=bson))
        topic = f"{self.realm.name}/{device_id}/{interface.name}{path}"
        back_office = self._back_office()
        with self.realm.lock:
            has_session = device.connected  # the realm's session tracking (see data_updater)
        if interface.is_datastream and qos > 0 and not has_session:
            raise detail(503, "Cannot push to device")
        if back_office is not None:
            back_office.publish(topic, payload, qos)
        now = now_ms()
        key = (interface.name, interface.version_major)
        with self.realm.lock:
            if interface.is_properties:
                device.properties.setdefault(key, {})[path] = stored
            else:
                device.datastreams.setdefault(key, {}).setdefault(path, []).append(StoredRow(stored, now, now))
        return Reply(200, {"data": data})

    @staticmethod
    def _write_mapping(interface: Interface, path: str) -> Mapping:
        resolution = resolve(interface, path)
        if resolution.status is PathStatus.PARTIAL or path == "/":
            raise detail(405, "Cannot write to read-only resource")
        if resolution.status is not PathStatus.MATCH or resolution.mapping is None:
            raise detail(400, "Endpoint not found")
        return resolution.mapping

    @staticmethod
    def _cast_object(interface: Interface, data: Any) -> tuple[dict[str, Any], BsonValue]:
        by_key = interface.object_mappings()
        if not isinstance(data, dict):
            raise detail(422, "Unexpected value type", expected_type={k: m.type.value for k, m in by_key.items()})
        for key in data:
            if key not in by_key:
                raise detail(400, "Unexpected object key")
        stored: dict[str, Any] = {}
        items: list[tuple[str, BsonValue]] = []
        for key, value in data.items():
            mapping = by_key[key]
            stored[key] = cast_json(mapping.type, value)
            items.append((key, to_bson(mapping.type, stored[key])))
        return {k: stored.get(k) for k in by_key}, BsonValue.document(BsonDocument(tuple(items)))

    def unset(self, call: Call) -> Reply:
        self._auth(call)
        device, interface, device_id, path = self._server_owned(call)
        if not interface.is_properties:
            raise bad_request()
        self._write_mapping(interface, path)
        with self.realm.lock:
            device.properties.get((interface.name, interface.version_major), {}).pop(path, None)
        back_office = self._back_office()
        if back_office is not None:
            back_office.publish(f"{self.realm.name}/{device_id}/{interface.name}{path}", b"", 2)
        return Reply(204, empty=True)


def appengine_routes(realm: Realm, back_office: Callable[[], BackOffice | None]) -> list[Any]:
    api = AppEngineApi(realm, back_office)
    values = "/v1/{realm}/devices/{device_id}/interfaces/{interface}"
    table: list[tuple[str, Callable[[Call], Reply], list[str]]] = [
        ("/v1/{realm}/version", api.version, ["GET"]),
        ("/v1/{realm}/devices", api.list_devices, ["GET"]),
        ("/v1/{realm}/devices/{device_id}", api.status, ["GET"]),
        ("/v1/{realm}/devices/{device_id}", api.patch, ["PATCH"]),
        ("/v1/{realm}/devices/{device_id}/interfaces", api.interfaces, ["GET"]),
        (values, api.read, ["GET"]),
        (values + "/{path:path}", api.read, ["GET"]),
        (values + "/{path:path}", api.write, ["POST", "PUT"]),
        (values + "/{path:path}", api.unset, ["DELETE"]),
    ]
    return [route(path, handler, methods) for path, handler, methods in table] + [catch_all("Not found")]
