"""Wire models of the robot API, written from the repository's documented contract.

These are our own pydantic models, not the SDK's: the SDK is the system under test, and a
simulator that serialised with the SDK's models would agree with it by construction. Field names,
optionality and the UUID rule (version 4 or 7 only) follow the repository's schemas.
"""

from __future__ import annotations

import enum
from typing import Annotated
from uuid import UUID

from pydantic import UUID4, UUID7, AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticKnownError

__all__ = [
    "DestinyUUID",
    "EnhancementRequestIn",
    "EnhancementRequestRead",
    "EnhancementRequestStatus",
    "RobotEnhancementBatch",
    "RobotEnhancementBatchRead",
    "RobotEnhancementBatchResult",
    "RobotErrorIn",
    "UnicodeText",
    "require_utf8",
]

DestinyUUID = UUID4 | UUID7
"""Every id the repository issues or accepts is a version 4 or version 7 UUID."""


def require_utf8(value: str) -> str:
    """Refuse text that cannot be written as UTF-8 (lone surrogates such as ``"\\ud800"``).

    Python's ``json`` (which FastAPI decodes bodies with) turns the escape ``"\\ud800"`` into a
    lone surrogate. pydantic v2 in Python mode passes such text through a plain ``str`` field,
    but refuses it with ``string_unicode`` wherever it has to read the text as UTF-8 (a UUID,
    int, float or timedelta field), and its JSON mode (jiter) refuses the escape outright. On the
    real repository a surrogate that got into a ``str`` field fails deep inside the route, where
    the text is written out (the database, the JSON answer): a 500. We refuse it during validation
    instead, with pydantic's own ``string_unicode`` error, so the answer is a 422 and the request
    is rejected before anything changes.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticKnownError("string_unicode") from None
    return value


UnicodeText = Annotated[str, AfterValidator(require_utf8)]
"""A ``str`` field for text we store and later answer with: see :func:`require_utf8`."""


class EnhancementRequestStatus(enum.StrEnum):
    """The states an enhancement request reports (its status is derived from its items)."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    PROCESSING = "processing"
    REJECTED = "rejected"
    PARTIAL_FAILED = "partial_failed"
    FAILED = "failed"
    IMPORTING = "importing"
    INDEXING = "indexing"
    INDEXING_FAILED = "indexing_failed"
    COMPLETED = "completed"


class RobotErrorIn(BaseModel):
    """A robot's report that a whole batch failed."""

    message: UnicodeText


class RobotEnhancementBatchResult(BaseModel):
    """Body of ``POST /v1/robot-enhancement-batches/{id}/results/``; extra keys are ignored."""

    request_id: DestinyUUID
    error: RobotErrorIn | None = None


class RobotEnhancementBatch(BaseModel):
    """Poll and GET answer: where to read the references and where to write the results."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    reference_storage_url: str
    result_storage_url: str
    extra_fields: dict[str, object] | None = None


class RobotEnhancementBatchRead(BaseModel):
    """Answer to a result post: the batch as the repository now records it."""

    robot_id: UUID
    id: UUID
    source: str | None = None
    reference_data_url: str | None = None
    result_storage_url: str | None = None
    validation_result_url: str | None = None
    error: str | None = None


class EnhancementRequestIn(BaseModel):
    """Body of ``POST /v1/enhancement-requests/``: enhance these references with that robot.

    Extra keys are ignored; a repeated reference id is refused during validation (a 422 whose
    message is the repository's).
    """

    robot_id: DestinyUUID
    reference_ids: list[DestinyUUID]
    source: UnicodeText | None = None

    @field_validator("reference_ids")
    @classmethod
    def _distinct(cls, value: list[UUID]) -> list[UUID]:
        if len(value) != len(set(value)):
            raise ValueError("reference_ids must not contain duplicate ids.")
        return value


class EnhancementRequestRead(BaseModel):
    """Answer of ``GET /v1/enhancement-requests/{id}/``."""

    robot_id: UUID
    reference_ids: list[UUID]
    source: str | None = None
    id: UUID
    request_status: EnhancementRequestStatus
    reference_data_url: str | None = None
    result_storage_url: str | None = None
    validation_result_url: str | None = None
    error: str | None = None
