"""The robot-facing routes, at the paths, with the parameters and answers of the real repository.

Routes (all under ``/v1``, trailing slashes included, since FastAPI answers a path without the
slash with a 307 that the SDK does not follow):

* ``POST /robot-enhancement-batches/?robot_id&limit&lease`` — claim a batch: 200 with
  ``RobotEnhancementBatch``, or 204 with an empty body when nothing is pending;
* ``PATCH /robot-enhancement-batches/{id}/renew-lease/?lease`` — 200 with the new expiry as a bare
  ISO 8601 timestamp (no content type), 409 when the batch has no PROCESSING item left (a lapsed
  lease is still PROCESSING until the expiry job ran);
* ``GET /robot-enhancement-batches/{id}/`` — the batch again, with fresh URLs (Azure service-SAS
  URLs: read-only for references and validation, write-only for results, see
  :mod:`hil.simulators.destiny.blobs`);
* ``POST /robot-enhancement-batches/{id}/results/`` — 400 on an id mismatch, 200 when the robot
  reports an error, 202 when results are accepted for import (which ends later, see
  :mod:`hil.simulators.destiny.store`), 422 on an invalid state move;
* ``POST /enhancement-requests/`` — ask for enhancements of existing references by a robot: 202
  with the request (``request_status`` ``received``), 422 ``Reference with id {…} does not
  exist.`` when a reference is unknown;
* ``GET /enhancement-requests/{id}/`` — the request with its derived status.

Every route authenticates with HMAC (:mod:`hil.simulators.destiny.hmac_auth`). Like the real routers,
authentication is a router dependency: it runs after FastAPI decoded a JSON body (so malformed
JSON is a 422 even without credentials) and before parameters are validated.

Divergences from the real server, all where it would answer 500 and our rule is "never 500":
a negative ``limit`` (422 ``greater_than_equal``), a non-positive or overflowing ``lease`` on a
poll that has work or on a renewal (422), a JSON body that is not an object on an authenticated
result post (422 from validation; the real server's tracing dependency crashes), an error
report for a batch whose items can no longer fail (422 ``Cannot process results: ...``), and an
error message holding a lone surrogate (422 ``string_unicode`` before any state change, see
:func:`hil.simulators.destiny.models.require_utf8`), and an enhancement request naming references
for a robot that does not exist (422 ``Robot with id {…} does not exist.``; the real server's
foreign key fails).
"""

from __future__ import annotations

import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from hil.simulators.destiny.blobs import SasPermission
from hil.simulators.destiny.durations import DurationError, parse_duration
from hil.simulators.destiny.hmac_auth import AuthFailure, HmacIdentity, verify_hmac_request
from hil.simulators.destiny.models import (
    DestinyUUID,
    EnhancementRequestIn,
    EnhancementRequestRead,
    RobotEnhancementBatch,
    RobotEnhancementBatchRead,
    RobotEnhancementBatchResult,
)
from hil.simulators.destiny.storage_api import blob_url, FALLBACK_PREFIX
from hil.simulators.destiny.store import (
    MAX_BATCH_SIZE,
    Batch,
    EnhancementRequest,
    LeaseError,
    StateTransitionError,
    Store,
)

__all__ = ["DEFAULT_LEASE", "build_robot_router", "storage_url"]

DEFAULT_LEASE = datetime.timedelta(minutes=10)
"""The repository's ``default_pending_enhancement_lease_duration`` (PT10M)."""

RENEW_CONFLICT = "This batch has no pending enhancements. They may have already expired or been completed."


def _lease(value: object) -> datetime.timedelta:
    """Query-parameter validator: our ISO 8601 parser, failing in pydantic's error shape."""
    if isinstance(value, datetime.timedelta):
        return value
    try:
        return parse_duration(str(value))
    except DurationError as exc:
        raise PydanticCustomError(
            "time_delta_parsing", "Input should be a valid timedelta, {error}", {"error": str(exc)}
        ) from None


Lease = Annotated[
    datetime.timedelta,
    PlainValidator(_lease),
    WithJsonSchema({"type": "string", "format": "duration"}),
]


def storage_url(request: Request, store: Store, name: str, permission: SasPermission, storage_base: str | None) -> str:
    """A signed URL for a blob: on the storage listener, else on the address the robot reached us by."""
    base = storage_base or str(request.base_url).rstrip("/") + FALLBACK_PREFIX
    return blob_url(base, store, name, permission)


def _lease_error(exc: LeaseError, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "lease"), "msg": f"Value error, {exc.detail}", "input": value}]
    )


def build_robot_router(store: Store, storage_base: str | None = None) -> APIRouter:
    """The ``/v1`` routes, bound to ``store``; blob URLs point at ``storage_base`` when given."""

    async def robot_auth(request: Request) -> HmacIdentity:
        """HMAC auth of :mod:`hmac_auth`, behind the repository's Bearer/HMAC switch.

        A ``Bearer`` token would go to JWT validation on the real server; the simulator has no
        identity provider, so every token fails the way a garbage token does there.
        """
        scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            raise AuthFailure("Unable to parse authentication token.")
        body = await request.body()
        return verify_hmac_request(request.headers, body, now=store.clock.time(), secret_for=store.secret_for)

    batches = APIRouter(prefix="/robot-enhancement-batches", dependencies=[Depends(robot_auth)])
    requests = APIRouter(prefix="/enhancement-requests", dependencies=[Depends(robot_auth)])

    def url(request: Request, name: str, permission: SasPermission) -> str:
        return storage_url(request, store, name, permission, storage_base)

    def batch_view(request: Request, batch: Batch) -> RobotEnhancementBatch:
        return RobotEnhancementBatch(
            id=batch.id,
            reference_storage_url=url(request, batch.reference_blob, SasPermission.READ),
            result_storage_url=url(request, batch.result_blob, SasPermission.WRITE),
        )

    def batch_read(request: Request, batch: Batch) -> RobotEnhancementBatchRead:
        validation = batch.validation_blob
        return RobotEnhancementBatchRead(
            robot_id=batch.robot_id,
            id=batch.id,
            reference_data_url=url(request, batch.reference_blob, SasPermission.READ),
            result_storage_url=url(request, batch.result_blob, SasPermission.WRITE),
            validation_result_url=url(request, validation, SasPermission.READ) if validation else None,
            error=batch.error,
        )

    @batches.post("/", response_model=RobotEnhancementBatch, responses={204: {"model": None}})
    async def request_robot_enhancement_batch(
        request: Request,
        robot_id: Annotated[DestinyUUID, Query()],
        limit: Annotated[int, Query(ge=0)] = MAX_BATCH_SIZE,
        lease: Annotated[Lease, Query()] = DEFAULT_LEASE,
    ) -> RobotEnhancementBatch | Response:
        # Like the repository, robot_id is not compared with the authenticated client id.
        try:
            batch = store.claim_batch(robot_id, limit, lease)
        except LeaseError as exc:
            raise _lease_error(exc, request.query_params.get("lease")) from None
        if batch is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        return batch_view(request, batch)

    @batches.patch("/{robot_enhancement_batch_id}/renew-lease/", status_code=status.HTTP_200_OK)
    async def renew_robot_enhancement_batch_lease(
        request: Request,
        robot_enhancement_batch_id: DestinyUUID,
        lease: Annotated[Lease, Query()] = DEFAULT_LEASE,
    ) -> Response:
        try:
            expiry = store.renew_lease(robot_enhancement_batch_id, lease)
        except LeaseError as exc:
            raise _lease_error(exc, request.query_params.get("lease")) from None
        if expiry is None:
            raise HTTPException(status.HTTP_409_CONFLICT, RENEW_CONFLICT)
        return Response(content=expiry.isoformat(), status_code=status.HTTP_200_OK)

    @batches.get("/{robot_enhancement_batch_id}/", response_model=RobotEnhancementBatch)
    async def get_robot_enhancement_batch(
        request: Request, robot_enhancement_batch_id: DestinyUUID
    ) -> RobotEnhancementBatch:
        return batch_view(request, store.get_batch(robot_enhancement_batch_id))

    @batches.post("/{robot_enhancement_batch_id}/results/", status_code=status.HTTP_202_ACCEPTED)
    async def fulfill_robot_enhancement_batch(
        request: Request,
        response: Response,
        robot_enhancement_batch_id: Annotated[DestinyUUID, Path()],
        robot_result: RobotEnhancementBatchResult,
    ) -> RobotEnhancementBatchRead:
        batch_id: UUID = robot_enhancement_batch_id
        if robot_result.request_id != batch_id:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Request ID mismatch")
        if robot_result.error is not None:
            try:
                batch = store.fail_batch(batch_id, robot_result.error.message)
            except StateTransitionError as exc:
                store.record_result(batch_id, robot_result.error.message, 422)
                raise HTTPException(422, f"Cannot process results: {exc.detail}") from None
            store.record_result(batch_id, robot_result.error.message, 200)
            response.status_code = status.HTTP_200_OK
            return batch_read(request, batch)
        batch = store.get_batch(batch_id)
        try:
            store.start_import(batch_id)
        except StateTransitionError as exc:
            store.record_result(batch_id, None, 422)
            raise HTTPException(422, f"Cannot process results: {exc.detail}") from None
        answer = batch_read(request, batch)  # the batch as it is before the import, like the real 202
        store.record_result(batch_id, None, 202)  # the import itself ends later, by the clock
        return answer

    def request_read(found: EnhancementRequest) -> EnhancementRequestRead:
        return EnhancementRequestRead(
            robot_id=found.robot_id,
            reference_ids=found.reference_ids,
            source=found.source,
            id=found.id,
            request_status=store.request_status(found),
            error=found.error,
        )

    @requests.post("/", response_model=EnhancementRequestRead, status_code=status.HTTP_202_ACCEPTED)
    async def request_enhancement(enhancement_request_in: EnhancementRequestIn) -> EnhancementRequestRead:
        # Like the repository, any robot may ask for any robot's enhancements.
        found = store.request_enhancements(
            enhancement_request_in.robot_id, enhancement_request_in.reference_ids, enhancement_request_in.source
        )
        return request_read(found)

    @requests.get("/{enhancement_request_id}/", response_model=EnhancementRequestRead)
    async def check_enhancement_request_status(
        enhancement_request_id: Annotated[DestinyUUID, Path()],
    ) -> EnhancementRequestRead:
        return request_read(store.get_request(enhancement_request_id))

    v1 = APIRouter(prefix="/v1")
    v1.include_router(batches)
    v1.include_router(requests)
    return v1
