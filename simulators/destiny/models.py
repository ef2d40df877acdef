"""Wire models of the robot API, written from the repository's documented contract.

These are our own pydantic models, not the SDK's: the SDK is the system under test, and a
simulator that serialised with the SDK's models would agree with it by construction. Field names,
optionality and the UUID rule (version 4 or 7 only) follow the repository's schemas.
"""

from __future__ import annotations

import enum
from uuid import UUID

from pydantic import UUID4, UUID7, BaseModel, ConfigDict

__all__ = [
    "DestinyUUID",
    "EnhancementRequestRead",
    "EnhancementRequestStatus",
    "RobotEnhancementBatch",
    "RobotEnhancementBatchRead",
    "RobotEnhancementBatchResult",
    "RobotErrorIn",
]

DestinyUUID = UUID4 | UUID7
"""Every id the repository issues or accepts is a version 4 or version 7 UUID."""


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

    message: str


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
