"""The blob storage behind the batch URLs: Azure's Put Blob and Get Blob, under a service SAS.

Served on the simulator's own TLS listener (``--storage-port`` with ``--storage-tls-cert`` and
``--storage-tls-key``) at ``/<container>/<blob>``, the shape of an Azure blob URL, so a robot
gets ``https`` URLs on another host:port than the API, as it does from the real repository. A
simulator started without that listener serves the same routes under ``/_sim/storage/`` on its
API address instead. The rules (signatures, permissions, headers, XML errors) are in
:mod:`hil.simulators.destiny.blobs`.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

from fastapi import APIRouter, FastAPI, Request, Response

from hil.simulators.destiny.blobs import CONTAINER, SERVICE_VERSION, SasPermission, StorageError, http_date
from hil.simulators.destiny.body_limit import STORAGE_BODY_LIMIT, BodyLimitMiddleware
from hil.simulators.destiny.store import Store

__all__ = ["FALLBACK_PREFIX", "blob_url", "build_storage_router", "create_storage_app"]

FALLBACK_PREFIX = "/_sim/storage"


def blob_url(base: str, store: Store, name: str, permission: SasPermission) -> str:
    """The signed URL of blob ``name`` under ``base`` (no trailing slash)."""
    return f"{base}/{CONTAINER}/{name}?{store.blobs.sas_query(name, permission, store.clock.now())}"


def _error(store: Store, exc: StorageError) -> Response:
    request_id = str(uuid.uuid4())
    return Response(
        content=exc.xml(store.clock.now(), request_id),
        status_code=exc.status,
        media_type="application/xml",
        headers={"x-ms-error-code": exc.code, "x-ms-request-id": request_id, "x-ms-version": SERVICE_VERSION},
    )


def _blob_name(store: Store, container: str, name: str) -> str:
    if container != CONTAINER:  # a SAS signs its container, so this only follows a valid signature
        raise StorageError(404, "ContainerNotFound", "The specified container does not exist.")
    return name


def build_storage_router(store: Store, prefix: str = "") -> APIRouter:
    router = APIRouter(prefix=prefix)

    @router.get("/{container}/{name:path}")
    async def get_blob(request: Request, container: str, name: str) -> Response:
        try:
            headers = dict(store.blobs.authorize(name, request.query_params, SasPermission.READ, store.clock.now()))
            blob = store.blobs.get(_blob_name(store, container, name))
            if blob is None:
                raise StorageError(404, "BlobNotFound", "The specified blob does not exist.")
        except StorageError as exc:
            return _error(store, exc)
        headers.update({
            "ETag": blob.etag,
            "Last-Modified": http_date(blob.last_modified),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-version": SERVICE_VERSION,
        })
        return Response(content=blob.data, media_type=blob.content_type, headers=headers)

    @router.put("/{container}/{name:path}")
    async def put_blob(request: Request, container: str, name: str) -> Response:
        try:
            store.blobs.authorize(name, request.query_params, SasPermission.WRITE, store.clock.now())
            blob_name = _blob_name(store, container, name)
            blob_type = request.headers.get("x-ms-blob-type")
            if blob_type is None:
                raise StorageError(400, "MissingRequiredHeader",
                                   "An HTTP header that's mandatory for this request is not specified.",
                                   {"HeaderName": "x-ms-blob-type"})
            if blob_type != "BlockBlob":
                raise StorageError(400, "InvalidHeaderValue",
                                   "The value for one of the HTTP headers is not in the correct format.",
                                   {"HeaderName": "x-ms-blob-type", "HeaderValue": blob_type})
        except StorageError as exc:
            return _error(store, exc)
        data = await request.body()
        content_type = (request.headers.get("x-ms-blob-content-type") or request.headers.get("content-type")
                        or "application/octet-stream")
        blob = store.blobs.put(blob_name, data, content_type, now=store.clock.now())
        return Response(status_code=201, headers={
            "ETag": blob.etag,
            "Last-Modified": http_date(blob.last_modified),
            "Content-MD5": base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),  # Azure's checksum
            "x-ms-request-server-encrypted": "true",
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-version": SERVICE_VERSION,
        })

    return router


def create_storage_app(store: Store) -> FastAPI:
    """The app of the storage listener: blobs only, nothing of the API or ``/_sim``."""
    app = FastAPI(title="DESTINY simulator blob storage", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(build_storage_router(store))
    app.add_middleware(BodyLimitMiddleware, limits=[("/", STORAGE_BODY_LIMIT)])
    return app
