"""Validation of run records against ``run-record.schema.json`` (JSON Schema 2020-12).

Why validate at all when we build records with typed dataclasses: records are also *read back*
(``hil report merge``, HTML rendering, old runs from CI artefacts), and a projection must never
render half a record. The schema is the contract between writers and readers; the few rules a
schema cannot express (unique check ids, every referenced requirement listed) are checked here
too, so one call answers "is this a usable record?".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from importlib.resources import files
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from hil.errors import ReportError

__all__ = ["SCHEMA_FILE", "load_schema", "validate_record"]

SCHEMA_FILE: Final = "run-record.schema.json"
#: Older versions still read (and upgraded) by ``RunRecord.from_dict``, each with its own schema.
_OLD_SCHEMA_FILES: Final = {"1.0": "run-record-1.0.schema.json"}
_MESSAGE_LIMIT: Final = 200

_format_checker = FormatChecker()


@_format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time with an explicit offset.

    jsonschema only checks ``date-time`` when an optional third-party package is installed;
    registering our own keeps the schema strict without another dependency.
    """
    if not isinstance(value, str):
        return True  # type errors are reported by the "type" keyword
    if "T" not in value.upper():
        raise ValueError(f"{value!r} has no 'T' between date and time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return True


@functools.cache
def load_schema(version: str | None = None) -> dict[str, Any]:
    """The run record schema as a dict (loaded once; shipped as package data).

    Args:
        version: an older schema version still read; ``None`` for the current one.
    """
    name = SCHEMA_FILE if version is None else _OLD_SCHEMA_FILES.get(version, SCHEMA_FILE)
    text = files("hil.report").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def _validator(version: str | None = None) -> Draft202012Validator:
    return Draft202012Validator(load_schema(version), format_checker=_format_checker)


def validate_record(data: Mapping[str, Any]) -> None:
    """Check that ``data`` is a complete, consistent run record.

    Raises:
        ReportError: one line naming the JSON path of the first problem, e.g.
            ``run record invalid at $.checks[2].outcome: 'passd' is not one of [...]``.
    """
    if not isinstance(data, Mapping):
        raise ReportError(f"run record invalid at $: expected an object, got {type(data).__name__}")
    version = data.get("schema_version")
    old = version if isinstance(version, str) and version in _OLD_SCHEMA_FILES else None
    error = best_match(_validator(old).iter_errors(data))
    if error is not None:
        raise ReportError(f"run record invalid at {_json_path(error)}: {_one_line(error.message)}")
    _check_consistency(data)


def _check_consistency(data: Mapping[str, Any]) -> None:
    """Cross-field rules: unique check ids; every requirement a check names is in the registry copy."""
    known = {requirement["id"] for requirement in data["requirements"]}
    seen: set[str] = set()
    for index, check in enumerate(data["checks"]):
        where = f"$.checks[{index}]"
        if check["id"] in seen:
            raise ReportError(f"run record invalid at {where}.id: duplicate check id {check['id']!r}")
        seen.add(check["id"])
        for position, requirement_id in enumerate(check["requirement_ids"]):
            if requirement_id not in known:
                raise ReportError(
                    f"run record invalid at {where}.requirement_ids[{position}]: "
                    f"{requirement_id!r} is not in the record's requirements"
                )
        finding = check["finding"]
        if finding is not None and finding["requirement"] not in known:
            raise ReportError(
                f"run record invalid at {where}.finding.requirement: "
                f"{finding['requirement']!r} is not in the record's requirements"
            )
    ids = [requirement["id"] for requirement in data["requirements"]]
    if len(ids) != len(set(ids)):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ReportError(f"run record invalid at $.requirements: duplicate id {duplicate!r}")


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _one_line(message: str) -> str:
    """jsonschema messages may embed a whole sub-document; a terminal line must stay short."""
    flat = " ".join(message.split())
    return flat if len(flat) <= _MESSAGE_LIMIT else flat[: _MESSAGE_LIMIT - 1] + "…"
