"""What Astarte v1.2.0's interface changeset answers for an invalid interface (astarte-apis.md 4.2).

Realm Management validates a submitted interface with astarte_core's ``Interface`` and
``Mapping`` Ecto changesets and answers 422 with Ecto's error map: ``{field: [message, ...]}``,
errors of single mappings nested as ``{"mappings": [{...}, {}, ...]}`` (one object per submitted
mapping). The oracle finds the same faults; this module turns its violations into that map with
Ecto 3.11's wire texts (the version astarte v1.2.0 locks), because clients match on them:

* a value of the wrong JSON type is a cast error, ``is invalid``; a value of the right type
  that breaks a bound gets the bound's message (``must be greater than or equal to 0``,
  ``should be at most 1000 character(s)``, ``should be at least 2 character(s)``, ...);
* Ecto lists the newest error of a field first, and the changesets check length before format,
  so ``/`` as an endpoint is ``["has invalid format", "should be at least 2 character(s)"]``;
* two checks run only while the changeset is still valid, so they say nothing once an earlier
  check failed: properties-with-object-aggregation (after the interface's own fields) and
  endpoint uniqueness (after every field and mapping);
* an error of a single mapping replaces the messages on ``mappings`` itself (Ecto puts the
  nested list under the same key);
* an empty ``mappings`` list is ``can't be blank`` (the required embed), not a length error;
  a ``mappings`` that is not a list of objects is ``is invalid``.

Overlapping endpoints (a path matching two endpoints, or one endpoint a prefix of another) are
not a changeset error: Astarte's backend finds them later, see :data:`OVERLAP_RULES`.

Known gaps, kept because the oracle decides validity: Ecto counts graphemes where the oracle
counts code points, and casts numeric strings to integers where the oracle stays strict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from hil.oracle import Violation

__all__ = ["OVERLAP_RULES", "cast_params", "changeset_errors"]

#: Refused by the backend's endpoint automaton after the 409 checks, as 422 ``detail`` (not here).
OVERLAP_RULES: Final = frozenset({"ASTARTE-IFACE-ENDPOINT-04", "ASTARTE-IFACE-ENDPOINT-05"})

_INVALID: Final = "is invalid"
_BLANK: Final = "can't be blank"
_AT_LEAST_ZERO: Final = "must be greater than or equal to 0"
_FIXED: Final = {
    "ASTARTE-IFACE-NAME-02": "should be at most 128 character(s)",
    "ASTARTE-IFACE-NAME-03": "is reserved",
    "ASTARTE-IFACE-VERSION-02": "must be > 0 if major_version is 0",
    "ASTARTE-IFACE-TYPE-01": _INVALID,
    "ASTARTE-IFACE-OWNERSHIP-01": _INVALID,
    "ASTARTE-IFACE-AGGREGATION-01": _INVALID,
    "ASTARTE-IFACE-AGGREGATION-02": "must be individual for properties interfaces",
    "ASTARTE-IFACE-MAPPING-TYPE-01": _INVALID,
    "ASTARTE-IFACE-MAPPING-RELIABILITY-01": _INVALID,
    "ASTARTE-IFACE-MAPPING-RETENTION-01": _INVALID,
    "ASTARTE-IFACE-MAPPING-DBRETENTION-01": _INVALID,
    "ASTARTE-IFACE-MAPPING-FLAGS-01": _INVALID,
    "ASTARTE-IFACE-MAPPING-DATASTREAM-ONLY-01": "must be blank",
    "ASTARTE-IFACE-MAPPING-PROPERTIES-ONLY-01": "must be blank",
}
#: Checks on the ``mappings`` list itself, in the order the interface changeset runs them.
_LIST_MESSAGES: Final = {
    "ASTARTE-IFACE-ENDPOINT-03": "contain conflicting endpoints",
    "ASTARTE-IFACE-OBJECT-02": "contain conflicting attributes",
    "ASTARTE-IFACE-OBJECT-01": "must have the same prefix in endpoints",
}
_LIST_ORDER: Final = (_INVALID, _BLANK, "should have at most 1024 item(s)", *_LIST_MESSAGES.values())
#: Only added while the changeset has no other error (Ecto's ``valid?`` guard).
_WHILE_VALID: Final = frozenset({"ASTARTE-IFACE-AGGREGATION-02", "ASTARTE-IFACE-ENDPOINT-03"})
_AFTER_UNIQUENESS: Final = frozenset({"ASTARTE-IFACE-OBJECT-01", "ASTARTE-IFACE-OBJECT-02"})
_TEXT_LIMITS: Final = {"description": 1000, "doc": 100_000}
#: mapping.ex: 60 <= database_retention_ttl < 20 years of 365 days.
_TTL_MIN, _TTL_BELOW = 60, 20 * 365 * 24 * 60 * 60
#: The fields each changeset casts; a blank string there is no value at all.
_INTERFACE_FIELDS: Final = ("interface_name", "version_major", "version_minor", "type", "ownership",
                            "aggregation", "quality", "aggregate", "description", "doc")
_MAPPING_FIELDS: Final = ("endpoint", "path", "type", "reliability", "retention", "expiry",
                          "database_retention_policy", "database_retention_ttl", "allow_unset",
                          "explicit_timestamp", "description", "doc")
_PATH: Final = re.compile(r"\$(?:\.(\w+))?(?:\[(\d+)\])?(?:\.(\w+))?$")
_MISSING_KEY: Final = re.compile(r"missing required key '(\w+)'")


def cast_params(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` as Ecto's ``cast`` reads it: a string of only whitespace counts as absent.

    So an ``interface_name`` of ``""`` is ``can't be blank`` (not a format error), and a blank
    ``description`` is simply not stored.
    """
    params = _without_blanks(doc, _INTERFACE_FIELDS)
    mappings = params.get("mappings")
    if isinstance(mappings, list):
        params["mappings"] = [_without_blanks(m, _MAPPING_FIELDS) if isinstance(m, Mapping) else m
                              for m in mappings]
    return params


def _without_blanks(fields: Mapping[str, Any], cast: Sequence[str]) -> dict[str, Any]:
    return {key: None if key in cast and isinstance(value, str) and not value.strip() else value
            for key, value in fields.items()}


def changeset_errors(violations: Sequence[Violation], doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Ecto error map for ``violations`` of ``doc`` (changeset rules only, none of
    :data:`OVERLAP_RULES`)."""
    mappings = doc.get("mappings")
    uncastable = "mappings" in doc and not (
        isinstance(mappings, list) and all(isinstance(m, Mapping) for m in mappings))
    located = [(v, _location(v)) for v in violations]
    if uncastable:
        # cast_embed fails as a whole (null included, unlike the other fields): no mapping
        # changesets exist, so nothing about single mappings or their combination is reported,
        # only "is invalid" on the list.
        located = [(v, where) for v, where in located if where[0] != "mappings"]
    errors: dict[str, list[str]] = {}
    per_mapping: list[dict[str, list[str]]] = [{} for _ in mappings] if isinstance(mappings, list) else []
    on_list: list[str] = [_INVALID] if uncastable else []
    for violation, (field, index, mapping_field) in located:
        if violation.rule_id in _WHILE_VALID and not _ran(violation, located):
            continue
        message = _message(violation, doc)
        if index is not None:
            per_mapping[index].setdefault(mapping_field, []).append(message)
        elif field == "mappings":
            on_list.append(message)
        else:
            errors.setdefault(field, []).append(message)
    result: dict[str, Any] = {field: _newest_first(messages) for field, messages in errors.items()}
    if any(per_mapping):
        result["mappings"] = [{k: _newest_first(v) for k, v in m.items()} for m in per_mapping]
    elif on_list:
        result["mappings"] = list(reversed(sorted(dict.fromkeys(on_list), key=_LIST_ORDER.index)))
    return result


def _newest_first(messages: list[str]) -> list[str]:
    """One field's messages as Ecto lists them.

    A value that fails its cast is never stored as a change, and every later validation of the
    field looks at changes only: ``is invalid`` stands alone. Otherwise Ecto lists the newest
    error first, where the oracle reports them in check order.
    """
    if _INVALID in messages:
        return [_INVALID]
    return list(reversed(list(dict.fromkeys(messages))))


def _ran(violation: Violation, located: list[tuple[Violation, tuple[str, int | None, str]]]) -> bool:
    """Whether a check guarded by Ecto's ``valid?`` ran: no other error came before it.

    The aggregation/type combination runs right after the interface's own fields; endpoint
    uniqueness after every field and mapping, and before only the object-interface list checks.
    """
    others = [(v, where) for v, where in located if v.rule_id != violation.rule_id]
    if violation.rule_id == "ASTARTE-IFACE-AGGREGATION-02":
        return not any(index is None and field != "mappings" for _, (field, index, _) in others)
    return all(v.rule_id in _AFTER_UNIQUENESS for v, _ in others)


def _location(violation: Violation) -> tuple[str, int | None, str]:
    """(top-level field, mapping index or None, mapping field) the error belongs to."""
    if violation.rule_id in _LIST_MESSAGES or violation.rule_id == "ASTARTE-IFACE-MAPPINGS-01":
        return ("mappings", None, "")
    match = _PATH.match(violation.json_path)
    missing = _MISSING_KEY.search(violation.message)
    if match is None:
        return ("interface", None, "")
    field, index, sub = match.groups()
    if index is None:
        return (missing.group(1) if missing else field or "interface", None, "")
    if sub is None and not missing:
        return ("mappings", None, "")  # a mapping that is not an object: the embed cast fails
    return ("mappings", int(index), missing.group(1) if missing else sub)


def _message(violation: Violation, doc: Mapping[str, Any]) -> str:
    """Ecto's message for ``violation``, chosen by the offending value where Ecto's is."""
    rule_id = violation.rule_id
    if _MISSING_KEY.search(violation.message):
        return _BLANK
    if rule_id in _LIST_MESSAGES:
        return _LIST_MESSAGES[rule_id]
    if rule_id in _FIXED:
        return _FIXED[rule_id]
    value = _value_at(doc, violation.json_path)
    field = violation.json_path.rsplit(".", 1)[-1]
    if rule_id == "ASTARTE-IFACE-MAPPINGS-01":
        return _mappings_message(value)
    if rule_id in ("ASTARTE-IFACE-NAME-01", "ASTARTE-IFACE-ENDPOINT-01"):
        return "has invalid format" if isinstance(value, str) else _INVALID
    if rule_id == "ASTARTE-IFACE-MAPPING-REQUIRED-01":
        return _INVALID
    if rule_id in ("ASTARTE-IFACE-VERSION-01", "ASTARTE-IFACE-MAPPING-EXPIRY-01"):
        return _AT_LEAST_ZERO if _is_int(value) else _INVALID
    if rule_id in ("ASTARTE-IFACE-TEXT-01", "ASTARTE-IFACE-MAPPING-TEXT-01"):
        limit = _TEXT_LIMITS.get(field)
        return f"should be at most {limit} character(s)" if isinstance(value, str) and limit else _INVALID
    if rule_id == "ASTARTE-IFACE-ENDPOINT-02":
        short = isinstance(value, str) and len(value) < 2
        return "should be at least 2 character(s)" if short else "should be at most 256 character(s)"
    if rule_id == "ASTARTE-IFACE-MAPPING-DBRETENTION-02":
        return _ttl_message(value)
    if rule_id == "ASTARTE-IFACE-MAPPING-DBRETENTION-03":
        if field == "database_retention_ttl":
            return "must be set if database_retention_policy is use_ttl"
        return "must be use_ttl if database_retention_ttl is set"
    return _INVALID


def _mappings_message(value: Any) -> str:
    if not isinstance(value, list):
        return _INVALID
    return _BLANK if not value else "should have at most 1024 item(s)"


def _ttl_message(value: Any) -> str:
    if not _is_int(value):
        return _INVALID
    return f"must be greater than or equal to {_TTL_MIN}" if value < _TTL_MIN else f"must be less than {_TTL_BELOW}"


def _value_at(doc: Mapping[str, Any], json_path: str) -> Any:
    """The submitted value a violation points at (a mapping's legacy ``path`` stands for ``endpoint``)."""
    match = _PATH.match(json_path)
    if match is None:
        return None
    field, index, sub = match.groups()
    value: Any = doc.get(field) if field else doc
    if index is not None:
        value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if sub is not None and isinstance(value, Mapping):
            raw = value
            value = raw.get(sub)
            if sub == "endpoint" and value is None:
                value = raw.get("path")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
