"""How the DESTINY simulator is served: see :mod:`hil.simulators.asgi_serving`.

The API and, when configured, the blob storage listen on separate sockets of one process (as the
real repository and its storage account are separate hosts). The storage's ready line comes
first; the API's, last, says the whole process is ready.
"""

from __future__ import annotations

from pathlib import Path

from hil.errors import named_os_error
from hil.simulators.asgi_serving import Listener, bind_listener, serve_listeners
from hil.simulators.destiny.app import create_app
from hil.simulators.destiny.storage_api import create_storage_app
from hil.simulators.destiny.store import Store

__all__ = ["READY_PREFIX", "STORAGE_READY_PREFIX", "StorageListener", "serve"]

READY_PREFIX = "destiny simulator listening on "
STORAGE_READY_PREFIX = "destiny storage listening on "


class StorageListener:
    """Where the blob storage listens: a port and the TLS pair (robots get ``https`` URLs)."""

    def __init__(self, port: int, tls_cert: Path, tls_key: Path) -> None:
        self.port = port
        self.tls_cert = tls_cert
        self.tls_key = tls_key


def serve(
    store: Store,
    host: str,
    port: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    storage: StorageListener | None = None,
) -> None:
    """Bind every socket first, then serve until stopped.

    Raises:
        OSError: a socket could not be bound; the message names its address (and says when it
            was the storage's).
    """
    try:
        api = bind_listener(host, port, tls_cert, tls_key)
    except OSError as exc:
        raise named_os_error(exc, f"cannot listen on {host}:{port}") from None
    blobs: Listener | None = None
    if storage is not None:
        try:
            blobs = bind_listener(host, storage.port, storage.tls_cert, storage.tls_key)
        except OSError as exc:
            api.sock.close()
            raise named_os_error(exc, f"cannot listen on {host}:{storage.port} (--storage-port)") from None
    served = [(create_app(store, storage_base=blobs.url if blobs else None), api, READY_PREFIX)]
    if blobs is not None:
        served.insert(0, (create_storage_app(store), blobs, STORAGE_READY_PREFIX))
    serve_listeners(served)
