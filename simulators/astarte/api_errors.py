"""The error answers of the simulated Astarte APIs, shaped as the Phoenix apps shape them.

Every error body is ``{"errors": {...}}``: fixed errors ``{"errors": {"detail": text}}``, Ecto
changeset errors ``{"errors": {field: [message, ...]}}``. A handler raises :class:`ApiError`
anywhere below a route and the app turns it into the response, so no route formats errors itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ApiError", "bad_request", "detail", "field_errors"]


class ApiError(Exception):
    """An HTTP error answer: ``status`` and the JSON ``body``."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = dict(body)


def detail(status: int, text: str, **more: Any) -> ApiError:
    """A fixed error ``{"errors": {"detail": text, **more}}``."""
    return ApiError(status, {"errors": {"detail": text, **more}})


def field_errors(errors: Mapping[str, Any], status: int = 422) -> ApiError:
    """A changeset error: ``{"errors": {field: [messages]}}`` (422 unless told otherwise)."""
    return ApiError(status, {"errors": dict(errors)})


def bad_request() -> ApiError:
    """400 ``Bad request``: body not JSON, or the action's ``data`` key missing."""
    return detail(400, "Bad request")
