"""Which mapping does a data path name? Two answers: the specification's and Astarte's.

:func:`resolve` applies the specification (030-interface.md "Mappings"/"Limitations",
080-mqtt-v1-protocol.md "Publishing Data"): a path is ``/``-separated non-empty levels; on an
individual interface it must match exactly one endpoint, with parameter values that are non-empty
UTF-8 strings without ``/``, ``+`` or ``#``; on an object interface it must be the endpoints'
common parent (``/`` when the endpoints have depth 1).

:func:`server_resolve` reproduces what Astarte v1.2.0's data updater does with the same path
(``impl.ex`` ``validate_path`` + ``resolve_path`` over ``EndpointsAutomaton``), including its
leniencies: empty levels at either end are dropped (``/a/`` resolves like ``/a``) and a level that
looks like ``%{x}`` matches any endpoint level.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hil.oracle.endpoints import EndpointTemplate, Level, is_placeholder
from hil.oracle.model import Interface, Mapping

__all__ = ["PathStatus", "Resolution", "ServerResolution", "resolve", "server_resolve"]

_FORBIDDEN_IN_PARAMETERS = ("+", "#")


class PathStatus(enum.StrEnum):
    """Outcome of :func:`resolve`."""

    MATCH = "match"
    INVALID_PATH = "invalid_path"  # not '/'-separated non-empty levels, or not valid UTF-8
    BAD_PARAMETER = "bad_parameter"  # the levels fit, but a parameter value is not allowed
    NOT_FOUND = "not_found"  # no endpoint fits
    PARTIAL = "partial"  # individual: the path only names a prefix of endpoints
    AMBIGUOUS = "ambiguous"  # several endpoints fit (only possible with an invalid interface)
    NOT_OBJECT_PARENT = "not_object_parent"  # object: not the common parent of the endpoints


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a path resolves to under the specification.

    Attributes:
        status: the outcome; ``ok`` is ``status is MATCH``.
        mapping: the single matched mapping (individual interfaces only).
        mappings: the mappings the message addresses: the matched one, or for an object every
            mapping of the interface.
        parameters: parameter name -> value taken from the path.
        reason: one line for a failure ("" on a match).
        rule_id: the rule a failure breaks (None on a match).
    """

    status: PathStatus
    mapping: Mapping | None = None
    mappings: tuple[Mapping, ...] = field(default=(), repr=False)
    parameters: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    rule_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is PathStatus.MATCH


def split_path(path: str) -> list[str] | None:
    """The levels of a well-formed path (``/`` -> ``[]``), or None (ASTARTE-PAYLOAD-PATH-03)."""
    if not isinstance(path, str) or not path.startswith("/") or not _is_utf8(path):
        return None
    if path == "/":
        return []
    levels = path[1:].split("/")
    return None if any(level == "" for level in levels) else levels


def resolve(interface: Interface, path: str) -> Resolution:
    """Resolve ``path`` on ``interface`` the way the specification defines it."""
    levels = split_path(path)
    if levels is None:
        return _fail(PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03",
                     f"{path!r} is not '/'-separated non-empty levels in valid UTF-8")
    if interface.is_object:
        return _resolve_object(interface, levels, path)
    full = [m for m in interface.mappings if _fits(m.template.levels, levels)]
    if len(full) > 1:
        return _fail(PathStatus.AMBIGUOUS, "ASTARTE-PAYLOAD-PATH-01",
                     f"{path!r} matches {len(full)} endpoints: " + ", ".join(m.endpoint for m in full))
    if not full:
        if any(m.template.depth > len(levels) and _fits(m.template.levels[: len(levels)], levels)
               for m in interface.mappings):
            return _fail(PathStatus.PARTIAL, "ASTARTE-PAYLOAD-PATH-01",
                         f"{path!r} is only the beginning of an endpoint")
        return _fail(PathStatus.NOT_FOUND, "ASTARTE-PAYLOAD-PATH-01", f"{path!r} matches no endpoint")
    mapping = full[0]
    parameters = _parameters(mapping.template.levels, levels)
    bad = _bad_parameter(parameters)
    if bad:
        return Resolution(PathStatus.BAD_PARAMETER, mapping, (mapping,), parameters, bad, "ASTARTE-PAYLOAD-PARAM-01")
    return Resolution(PathStatus.MATCH, mapping, (mapping,), parameters)


def _resolve_object(interface: Interface, levels: list[str], path: str) -> Resolution:
    # All endpoints share one parent (ASTARTE-IFACE-OBJECT-01), so the first one speaks for all.
    parent = interface.mappings[0].template.parent
    if len(levels) == len(parent) and _fits(parent, levels):
        parameters = _parameters(parent, levels)
        bad = _bad_parameter(parameters)
        if bad:
            return Resolution(PathStatus.BAD_PARAMETER, None, interface.mappings, parameters, bad,
                              "ASTARTE-PAYLOAD-PARAM-01")
        return Resolution(PathStatus.MATCH, None, interface.mappings, parameters)
    if any(_fits(m.template.levels, levels) for m in interface.mappings):
        return _fail(PathStatus.NOT_OBJECT_PARENT, "ASTARTE-PAYLOAD-PATH-02",
                     f"{path!r} is a full endpoint; object values are published on the parent path")
    return _fail(PathStatus.NOT_FOUND, "ASTARTE-PAYLOAD-PATH-02",
                 f"{path!r} is not the parent path of the object endpoints")


def _fits(template: tuple[Level, ...], levels: list[str]) -> bool:
    return len(template) == len(levels) and all(
        t.parameter or t.name == level for t, level in zip(template, levels, strict=True)
    )


def _parameters(template: tuple[Level, ...], levels: list[str]) -> dict[str, str]:
    return {t.name: level for t, level in zip(template, levels, strict=True) if t.parameter}


def _bad_parameter(parameters: dict[str, str]) -> str:
    for name, value in parameters.items():
        for char in _FORBIDDEN_IN_PARAMETERS:
            if char in value:
                return f"parameter {name}={value!r} contains {char!r}"
    return ""


def _fail(status: PathStatus, rule_id: str, reason: str) -> Resolution:
    return Resolution(status, reason=reason, rule_id=rule_id)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return False
    return True


# --------------------------------------------------------------------------- server behaviour


@dataclass(frozen=True, slots=True)
class ServerResolution:
    """What Astarte v1.2.0 does with a path: ``error_name`` is None when it accepts it.

    ``mappings`` are the addressed mappings on success (one, or all of an object).
    """

    error_name: str | None
    mappings: tuple[Mapping, ...] = field(default=(), repr=False)


def server_resolve(interface: Interface, path: str) -> ServerResolution:
    """Resolve like Astarte v1.2.0's data updater (error names as in its ``device_error`` events)."""
    if not isinstance(path, str) or not _is_utf8(path) or "//" in path:
        return ServerResolution("invalid_path")
    tokens = [token for token in path.split("/") if token]
    full = [m for m in interface.mappings if _server_fits(m.template, tokens, full=True)]
    guessed = [m for m in interface.mappings
               if m.template.depth > len(tokens) and _server_fits(m.template, tokens, full=False)]
    if interface.is_object:
        # resolve_path must "guess" (a strict prefix) and every guessed endpoint must be exactly
        # one level deeper than the path (check_object_aggregation_prefix).
        if guessed and not full and all(m.template.depth == len(tokens) + 1 for m in guessed):
            return ServerResolution(None, interface.mappings)
        return ServerResolution("mapping_not_found")
    if len(full) == 1 and not guessed:
        return ServerResolution(None, (full[0],))
    if full or guessed:
        return ServerResolution("ambiguous_path")
    return ServerResolution("mapping_not_found")


def _server_fits(template: EndpointTemplate, tokens: list[str], *, full: bool) -> bool:
    levels = template.levels if full else template.levels[: len(tokens)]
    if len(levels) != len(tokens):
        return False
    return all(
        level.parameter or is_placeholder(token) or level.name == token
        for level, token in zip(levels, tokens, strict=True)
    )
