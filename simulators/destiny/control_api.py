"""The seeding and inspection API under ``/_sim/``, kept apart from the real routes.

Nothing here exists on the real repository; tests and ``hil up`` use it to set the scene and read
the outcome. It carries no authentication (the simulator listens on loopback).

* ``POST /_sim/robots`` ``{"name"?, "client_id"?, "secret"?}`` → 201 ``{"client_id", "client_secret", "name"}``
* ``GET /_sim/robots``
* ``POST /_sim/references`` ``{"references": [{...}, ...]}`` → 201 ``{"ids": [...]}``
* ``POST /_sim/enhancement-requests`` ``{"robot_id", "reference_ids"? | "count"?, "source"?}`` → 201
* ``GET /_sim/pending-enhancements?robot_id=`` — every item with status, batch, lease end
* ``GET /_sim/batches`` and ``GET /_sim/batches/{id}`` — a batch with items, the result reports it
  received, and the reference/result/validation files as text
* ``GET /_sim/requests`` — the journal of ``/v1`` calls (method, path, query, client id, status)
* ``GET /_sim/clock``, ``POST /_sim/clock/advance`` ``{"seconds": n}`` (negative moves it back)
* ``POST /_sim/jobs/expire-leases`` — run the repository's lease-expiry job now →
  ``{"expired": n, "replaced_with": m}``; ``POST /_sim/jobs/import-results`` — end every result
  import under way now → ``{"imported": [batch ids]}`` (both otherwise run by the clock)
* ``POST /_sim/reset`` — forget everything and zero the clock offset
* ``GET|PUT /_sim/storage/<container>/<blob>?<SAS>`` — the blob storage behind the batch URLs, when
  the simulator has no storage listener of its own (:mod:`hil.simulators.destiny.storage_api`)
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from hil.simulators.destiny.journal import Journal
from hil.simulators.destiny.models import DestinyUUID, require_utf8, UnicodeText
from hil.simulators.destiny.store import Batch, PendingEnhancement, Store
from fastapi.exceptions import RequestValidationError
from hil.simulators.destiny.clock import MAX_OFFSET_SECONDS
from hil.simulators.request_bounds import number, OutOfBounds

__all__ = ["EnhancementRequestSeed", "ReferenceSeed", "RobotSeed", "build_control_router"]


class RobotSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UnicodeText = "robot"
    client_id: DestinyUUID | None = None
    secret: Annotated[str, Field(min_length=1), AfterValidator(require_utf8)] | None = None


class ReferenceSeed(BaseModel):
    """A reference record; any fields beyond ``id`` are served to robots verbatim."""

    model_config = ConfigDict(extra="allow")

    id: DestinyUUID | None = None


class ReferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    references: list[ReferenceSeed] = Field(min_length=1, max_length=10_000)


class EnhancementRequestSeed(BaseModel):
    """Work for a robot: explicit reference ids, or ``count`` fresh references."""

    model_config = ConfigDict(extra="forbid")

    robot_id: DestinyUUID
    reference_ids: list[DestinyUUID] | None = None
    count: int | None = Field(default=None, ge=1, le=10_000)
    source: UnicodeText | None = None

    @model_validator(mode="after")
    def _ids_or_count(self) -> EnhancementRequestSeed:
        if self.reference_ids is not None and self.count is not None:
            raise ValueError("give reference_ids or count, not both")
        return self

    def reference_list(self) -> list[UUID] | None:
        return list(self.reference_ids) if self.reference_ids is not None else None


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float

    @field_validator("seconds")
    @classmethod
    def _bounded(cls, value: float) -> float:
        try:
            return number(value, name="seconds", low=-MAX_OFFSET_SECONDS, high=MAX_OFFSET_SECONDS)
        except OutOfBounds as exc:
            raise ValueError(str(exc)) from None


def _item_view(item: PendingEnhancement) -> dict[str, object]:
    return {
        "id": str(item.id),
        "reference_id": str(item.reference_id),
        "robot_id": str(item.robot_id),
        "enhancement_request_id": str(item.enhancement_request_id) if item.enhancement_request_id else None,
        "status": item.status.value,
        "robot_enhancement_batch_id": str(item.batch_id) if item.batch_id else None,
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "retry_of": str(item.retry_of) if item.retry_of else None,
        "outcome": item.outcome,
    }


def _text(store: Store, name: str | None) -> str | None:
    blob = store.blobs.get(name) if name else None
    return blob.data.decode("utf-8", "replace") if blob else None


def _batch_view(store: Store, batch: Batch) -> dict[str, object]:
    return {
        "id": str(batch.id),
        "robot_id": str(batch.robot_id),
        "created_at": batch.created_at.isoformat(),
        "error": batch.error,
        "items": [_item_view(p) for p in store.items_of(batch.id)],
        "results": [{"at": r.at.isoformat(), "error": r.error, "status_code": r.status_code} for r in batch.results],
        "reference_file": _text(store, batch.reference_blob),
        "result_file": _text(store, batch.result_blob),
        "validation_file": _text(store, batch.validation_blob),
    }


def seed_enhancement_request(store: Store, seed: EnhancementRequestSeed) -> dict[str, object]:
    """Create the request (and its references when needed); shared by the API and seed files."""
    ids = seed.reference_list()
    if ids is None:
        ids = [store.add_reference().id for _ in range(seed.count or 1)]
    request = store.add_enhancement_request(seed.robot_id, ids, seed.source)
    return {
        "id": str(request.id),
        "robot_id": str(request.robot_id),
        "reference_ids": [str(r) for r in request.reference_ids],
        "source": request.source,
        "pending_enhancement_ids": [
            str(p.id) for p in store.pending.values() if p.enhancement_request_id == request.id
        ],
    }


def build_control_router(store: Store, journal: Journal) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    @router.post("/robots", status_code=status.HTTP_201_CREATED)
    async def create_robot(seed: RobotSeed) -> dict[str, str]:
        robot = store.add_robot(seed.name, seed.client_id, seed.secret)
        return {"client_id": str(robot.client_id), "client_secret": robot.secret, "name": robot.name}

    @router.get("/robots")
    async def list_robots() -> list[dict[str, str]]:
        return [{"client_id": str(r.client_id), "name": r.name} for r in store.robots.values()]

    @router.post("/references", status_code=status.HTTP_201_CREATED)
    async def create_references(body: ReferencesIn) -> dict[str, list[str]]:
        ids = [store.add_reference(_reference_record(seed)).id for seed in body.references]
        return {"ids": [str(i) for i in ids]}

    @router.post("/enhancement-requests", status_code=status.HTTP_201_CREATED)
    async def create_enhancement_request(seed: EnhancementRequestSeed) -> dict[str, object]:
        return seed_enhancement_request(store, seed)

    @router.get("/pending-enhancements")
    async def list_pending(robot_id: Annotated[UUID | None, Query()] = None) -> list[dict[str, object]]:
        store.sweep()
        items = sorted(store.pending.values(), key=lambda p: p.created_seq)
        return [_item_view(p) for p in items if robot_id is None or p.robot_id == robot_id]

    @router.get("/batches")
    async def list_batches() -> list[dict[str, object]]:
        store.sweep()
        return [_batch_view(store, b) for b in store.batches.values()]

    @router.get("/batches/{batch_id}")
    async def get_batch(batch_id: UUID) -> dict[str, object]:
        store.sweep()
        batch = store.batches.get(batch_id)
        if batch is None:
            raise HTTPException(404, f"no batch {batch_id}")
        return _batch_view(store, batch)

    @router.get("/requests")
    async def list_requests() -> list[dict[str, object]]:
        return journal.entries()

    @router.get("/clock")
    async def get_clock() -> dict[str, object]:
        return {"now": store.clock.now().isoformat(), "offset_seconds": store.clock.offset}

    @router.post("/clock/advance")
    async def advance_clock(body: ClockAdvance) -> dict[str, object]:
        try:
            store.clock.advance(body.seconds)
        except ValueError as exc:  # the sum of the moves left the bounds: answered as the model's refusal
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body", "seconds"), "msg": str(exc), "input": body.seconds}]
            ) from None
        store.sweep()
        return {"now": store.clock.now().isoformat(), "offset_seconds": store.clock.offset}

    @router.post("/jobs/expire-leases")
    async def run_expiry_job() -> dict[str, int]:
        return store.run_expiry_job()

    @router.post("/jobs/import-results")
    async def run_imports() -> dict[str, list[str]]:
        return {"imported": [str(b) for b in store.run_imports()]}

    @router.post("/reset", status_code=status.HTTP_204_NO_CONTENT)
    async def reset() -> Response:
        store.reset()
        journal.clear()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _reference_record(seed: ReferenceSeed) -> dict[str, object]:
    return seed.model_dump(mode="json", exclude_none=True)
