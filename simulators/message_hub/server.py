"""Wire the hub together and serve it: MQTT device first, then gRPC, then the ready line.

As the real hub, the gRPC server opens only once the Astarte connection is up. Must be imported
*after* :func:`hil.simulators.message_hub.protos.load_protos` put the generated modules on the path
(``__main__`` does that); it never imports the SDK's wheel copy of the protos.

grpcio's server is synchronous: each call runs in a pool thread, and an Attach stream keeps its
thread until it ends. The pool has a thread for every stream the service admits (``max_streams``)
plus ``unary_calls`` for everything else, and grpcio refuses a call beyond that total with
RESOURCE_EXHAUSTED instead of queueing it behind streams that may never end.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc

from hil.mqtt.broker import BrokerEndpoint
from hil.errors import named_os_error
from hil.services.readiness import ClientIdentity

from hil.simulators.message_hub.astarte_link import AstarteLink
from hil.simulators.message_hub.codec import Codec
from hil.simulators.message_hub.control_api import ControlApi
from hil.simulators.message_hub.grpc_service import MAX_STREAMS, TRANSPORT_LIMIT, DiscardService, MessageHubService
from hil.simulators.message_hub.hub import MessageHub
from hil.simulators.message_hub.property_store import InterfaceCache, PropertyStore
from hil.simulators.message_hub.protos import Protos

__all__ = ["HubConfig", "grpc_server", "serve"]

log = logging.getLogger("message_hub")


@dataclass(frozen=True)
class HubConfig:
    host: str
    port: int
    control_port: int
    store_dir: Path
    realm: str = ""
    device_id: str = ""
    endpoint: BrokerEndpoint | None = None  # None with discard=True only
    identity: ClientIdentity | None = None
    discard: bool = False
    max_streams: int = MAX_STREAMS  # open Attach streams (one thread each)
    unary_calls: int = 64  # Send, Detach, ... in flight at once, whatever the streams hold

    @property
    def workers(self) -> int:
        """Threads for every admitted call, so none waits in the pool's queue behind a stream."""
        return self.max_streams + self.unary_calls


def grpc_server(handler: grpc.GenericRpcHandler, workers: int) -> grpc.Server:
    """A server with ``workers`` threads that refuses (RESOURCE_EXHAUSTED) a call it has none for.

    The pool starts its threads on demand, so a high ceiling costs nothing while unused.
    """
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        handlers=[handler],
        options=[("grpc.max_receive_message_length", TRANSPORT_LIMIT), ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=workers,
    )


def _control_api(hub: MessageHub, config: HubConfig) -> ControlApi:
    """The control API, bound; a port it cannot bind is named here, where the address is known.

    The socket's error says only "Address already in use". Caught around this call alone: a catch
    further out would put this address on unrelated errors too (ssl, Pairing, the broker).
    """
    device = {"realm": config.realm, "device_id": config.device_id, "mode": "discard" if config.discard else "astarte"}
    try:
        return ControlApi(hub, config.host, config.control_port, device)
    except OSError as exc:
        raise named_os_error(exc, f"control API cannot listen on {config.host}:{config.control_port}") from None


def serve(config: HubConfig, protos: Protos, stop: threading.Event) -> None:
    """Run until ``stop`` is set (SIGTERM/SIGINT set it too)."""
    codec = Codec(protos)
    store = PropertyStore(config.store_dir / "properties.sqlite")
    cache = InterfaceCache(config.store_dir / "interfaces")
    link: AstarteLink | None = None
    hub: MessageHub
    if config.discard:
        hub = MessageHub(None, codec, store, cache)
        service_handler = DiscardService(protos).handler()
    else:
        assert config.endpoint is not None and config.identity is not None
        hub_ref: list[MessageHub] = []
        link = AstarteLink(config.endpoint, config.identity, config.realm, config.device_id, store,
                           lambda i, p, d: hub_ref[0].on_server_data(i, p, d))
        hub = MessageHub(link, codec, store, cache)
        hub_ref.append(hub)
        restored = hub.restore_cached_interfaces()
        if restored:
            log.info("restored cached interfaces %s", restored)
        link.start()
        service_handler = MessageHubService(hub, protos, codec, max_streams=config.max_streams).handler()
    supported, why = codec.supports_data()
    if not supported:
        log.warning("proto %s: Send and server events are unavailable (%s)", protos.version, why)
    server = grpc_server(service_handler, config.workers)
    port = server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise OSError(f"Address already in use: {config.host}:{config.port}")
    control = _control_api(hub, config)
    server.start()
    control.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    mode = " (discard mode)" if config.discard else f" as Astarte device {config.realm}/{config.device_id}"
    print(f"message hub simulator listening on grpc://{config.host}:{port} control http://{config.host}:{control.port}"
          f" proto {protos.version}{mode}", flush=True)
    try:
        stop.wait()
    finally:
        log.info("stopping")
        control.stop()
        server.stop(grace=0.5).wait(2)
        if link is not None:
            link.stop()
        store.close()
