"""The OpenAPI 3.1 description a simulator serves at ``/_sim/openapi.json``.

Why: hil fuzzes its own simulators (``tests/harness/test_simulator_robustness.py``) from what each
one says it serves, so a route added to a simulator is fuzzed without anyone listing it again, and
a user of ``hil up`` can see the control API in any OpenAPI viewer. The DESTINY simulator is a
FastAPI app and has FastAPI's own description; the others build theirs here from their route
tables. The query parameters the control APIs share are described with the bounds
:mod:`hil.simulators.request_bounds` enforces, so the description and the checks cannot disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from hil.simulators.request_bounds import CONTROL_QUERY

__all__ = ["DESCRIPTION_PATH", "Operation", "describe"]

DESCRIPTION_PATH: Final = "/_sim/openapi.json"

_PATH_PARAMETER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")


@dataclass(frozen=True)
class Operation:
    """One method on one path: ``path`` may use Starlette templates (``{name}``, ``{name:path}``).

    Args:
        control_query: the shared :data:`~hil.simulators.request_bounds.CONTROL_QUERY` parameters
            apply (a ``/_sim`` route).
        json_body: the operation reads a JSON body.
        json_answers: every answer, errors included, is JSON (the documented shape).
    """

    method: str
    path: str
    summary: str = ""
    control_query: bool = False
    json_body: bool = False
    json_answers: bool = True


def describe(title: str, operations: Iterable[Operation], *, version: str = "hil") -> dict[str, Any]:
    """The OpenAPI document of ``operations`` (HEAD is implied by GET and not listed)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        method = operation.method.lower()
        if method == "head":
            continue
        template = _PATH_PARAMETER.sub(r"{\1}", operation.path)
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAMETER.findall(operation.path)
        ]
        if operation.control_query:
            parameters += [_query_parameter(name) for name in CONTROL_QUERY]
        body: dict[str, Any] = {"description": "JSON"}
        if operation.json_answers:
            body["content"] = {"application/json": {"schema": {}}}
        entry: dict[str, Any] = {
            "summary": operation.summary,
            "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', template).strip('_') or 'root'}",
            "parameters": parameters,
            "responses": {"default": body},
        }
        if operation.json_body:
            entry["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
        paths.setdefault(template, {})[method] = entry
    return {"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths}


def _query_parameter(name: str) -> dict[str, Any]:
    bound = CONTROL_QUERY[name]
    schema: dict[str, Any] = {"type": "integer" if bound.integral else "number", "minimum": bound.low}
    if bound.clamp:
        schema["description"] = f"values above {bound.high:g} are taken as {bound.high:g}"
    else:
        schema["maximum"] = bound.high
    return {"name": name, "in": "query", "required": False, "schema": schema}
