"""The MessageHub gRPC service: raw-bytes handlers so every status code is the real hub's.

The real hub (tonic 0.11 + prost 0.12) handles a call in this order, and so do we:

1. node-id layer (before the body is read): ``node-id-bin`` (16 raw bytes) or else ``node-id``
   (ASCII UUID). Missing -> UNAUTHENTICATED ``node not authenticated``; unparsable ->
   INVALID_ARGUMENT ``invalid argument: ...``; any method but Attach for a node that is not
   attached -> UNAUTHENTICATED.
2. body size: more than 4 MiB -> OUT_OF_RANGE ``Error, message length too large: found N bytes,
   the limit is: 4194304 bytes``.
3. protobuf decoding: failure -> INTERNAL (prost's decode error text).
4. the handler (see :mod:`hil.simulators.message_hub.hub` for its codes).

Letting grpcio deserialize would answer 1-3 in another order and with other codes (grpcio says
RESOURCE_EXHAUSTED for size), so the handlers take the request bytes and do it themselves, with
the generated message classes. RPCs of a newer proto version that we do not implement
(GetProperties, ...) answer UNIMPLEMENTED, as grpcio does for unknown methods.

Every open Attach stream occupies one server thread for its whole life (grpcio's synchronous
server iterates the stream in a worker). The service therefore caps open streams at
``max_streams`` and refuses one more with RESOURCE_EXHAUSTED (a simulator limit: tonic has none),
and :mod:`hil.simulators.message_hub.server` gives the pool that many threads *plus* some for unary
calls, so attached nodes can never take the last thread a Send or a Detach needs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final

import grpc
from google.protobuf.message import DecodeError
from google.protobuf import text_format

from hil.simulators.message_hub.codec import Codec, CodecError
from hil.simulators.message_hub.hub import CLOSE, PUBLISH_ERROR, HubError, MessageHub
from hil.simulators.message_hub.protos import SERVICE, Protos

__all__ = ["MAX_MESSAGE_BYTES", "MAX_STREAMS", "MessageHubService", "node_id_from_metadata"]

log = logging.getLogger("message_hub.grpc")
_LOGGED_CHARS: Final = 600

MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024  # tonic's default decoding limit
#: grpcio's own ceiling, above ours so that our check (and code) applies first.
TRANSPORT_LIMIT: Final = 64 * 1024 * 1024
#: Open Attach streams the hub serves at once (each holds a server thread until it ends).
MAX_STREAMS: Final = 512


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def node_id_from_metadata(metadata: tuple[tuple[str, str | bytes], ...] | None) -> uuid.UUID:
    """The node id as the real hub's interceptor reads it; raises _Refused with its status."""
    values = dict(metadata or ())
    raw = values.get("node-id-bin")
    if raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode("latin-1")
        if len(data) != 16:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT,
                           "invalid argument: Invalid Uuid bytes value for Node ID, invalid length: "
                           f"expected 16 bytes, found {len(data)}")
        return uuid.UUID(bytes=data)
    text = values.get("node-id")
    if text is None:
        raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "node not authenticated")
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise _Refused(grpc.StatusCode.INVALID_ARGUMENT,
                       f"invalid argument: Invalid Uuid str value for Node ID, {text!r} is not a UUID") from None


class MessageHubService:
    """Builds the generic handler for ``astarteplatform.msghub.MessageHub``.

    Args:
        max_streams: open Attach streams served at once; the server's pool must have more threads.
    """

    def __init__(self, hub: MessageHub, protos: Protos, codec: Codec, *, max_streams: int = MAX_STREAMS) -> None:
        self.hub = hub
        self.protos = protos
        self.codec = codec
        self.empty = _empty_class()
        self.max_streams = max_streams
        self._stream_slots = threading.BoundedSemaphore(max_streams)

    def handler(self) -> grpc.GenericRpcHandler:
        handlers: dict[str, grpc.RpcMethodHandler[bytes, Any]] = {}
        implemented: dict[str, Callable[..., Any]] = {
            "Attach": self._attach,
            "Send": self._send,
            "Detach": self._detach,
            "AddInterfaces": self._add_interfaces,
            "RemoveInterfaces": self._remove_interfaces,
        }
        for method in self.protos.service_methods():
            behaviour = implemented.get(method)
            if behaviour is None:
                continue  # grpcio answers UNIMPLEMENTED for it
            wrapped = self._checked(method, behaviour)
            if method == "Attach":
                handlers[method] = grpc.unary_stream_rpc_method_handler(wrapped, response_serializer=_serialize)
            else:
                handlers[method] = grpc.unary_unary_rpc_method_handler(wrapped, response_serializer=_serialize)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def _checked(self, method: str, behaviour: Callable[..., Any]) -> Callable[[bytes, grpc.ServicerContext], Any]:
        request_class = self.protos.method_input(method)

        def run(raw: bytes, context: grpc.ServicerContext) -> Any:
            try:
                node_id = node_id_from_metadata(context.invocation_metadata())
                if method != "Attach" and not self.hub.is_attached(node_id):
                    raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "node not authenticated")
                if len(raw) > MAX_MESSAGE_BYTES:
                    raise _Refused(grpc.StatusCode.OUT_OF_RANGE,
                                   f"Error, message length too large: found {len(raw)} bytes, "
                                   f"the limit is: {MAX_MESSAGE_BYTES} bytes")
                try:
                    request = request_class.FromString(raw)
                except DecodeError as exc:
                    raise _Refused(grpc.StatusCode.INTERNAL, f"failed to decode Protobuf message: {exc}") from None
                if log.isEnabledFor(logging.INFO):
                    # The decoded call is the gRPC evidence of a check (hil copies this log's excerpt).
                    log.info("call %s node %s: %s", method, node_id, _one_line(request))
                return behaviour(node_id, request, context)
            except _Refused as refusal:
                log.info("call %s refused %s: %s", method, refusal.code.name, refusal.message)
                context.abort(refusal.code, refusal.message)
            except HubError as error:
                log.info("call %s refused %s: %s", method, error.code, error.message)
                context.abort(grpc.StatusCode[error.code], error.message)

        if method == "Attach":
            # A streaming handler must return an iterator; refusals happen before the first event.
            def run_stream(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
                events: Iterator[Any] = run(raw, context)
                return events

            return run_stream
        return run

    # -- RPCs ------------------------------------------------------------------------------------
    def _attach(self, node_id: uuid.UUID, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if not self._stream_slots.acquire(blocking=False):
            raise _Refused(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           f"the hub serves at most {self.max_streams} open Attach streams")
        try:
            node = self.hub.attach(node_id, list(request.interfaces_json))
        except BaseException:
            self._stream_slots.release()
            raise

        def ended() -> None:
            """The RPC is over (finished or cancelled): end the stream and give its slot back."""
            node.events.put(CLOSE)
            self.hub.stream_closed(node)  # here too: a generator never started has no ``finally``
            self._stream_slots.release()

        # The slot goes back when the RPC ends, not when the generator does: grpcio may never
        # start the generator of a call cancelled early, and then its ``finally`` never runs.
        if not context.add_callback(ended):
            ended()
        return self._stream(node, context)

    def _stream(self, node: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            while True:
                event = node.events.get()
                if event is CLOSE:
                    return
                yield event
        finally:
            if not context.is_active():
                self.hub.stream_closed(node)

    def _send(self, node_id: uuid.UUID, request: Any, context: grpc.ServicerContext) -> Any:
        supported, why = self.codec.supports_data()
        if not supported:
            raise _Refused(grpc.StatusCode.UNIMPLEMENTED, f"proto {self.protos.version}: {why}")
        try:
            message = self.codec.decode_message(request)
        except CodecError as exc:
            raise HubError("INTERNAL", PUBLISH_ERROR + exc.detail) from None
        self.hub.send(message)
        return self.empty()

    def _detach(self, node_id: uuid.UUID, request: Any, context: grpc.ServicerContext) -> Any:
        self.hub.detach(node_id)
        return self.empty()

    def _add_interfaces(self, node_id: uuid.UUID, request: Any, context: grpc.ServicerContext) -> Any:
        self.hub.add_interfaces(node_id, list(request.interfaces_json))
        return self.empty()

    def _remove_interfaces(self, node_id: uuid.UUID, request: Any, context: grpc.ServicerContext) -> Any:
        self.hub.remove_interfaces(node_id, list(request.names))
        return self.empty()


def _one_line(message: Any) -> str:
    """A protobuf message as one bounded log line (payload bytes shown escaped, not dumped)."""
    text = text_format.MessageToString(message, as_one_line=True)
    return text if len(text) <= _LOGGED_CHARS else text[:_LOGGED_CHARS] + f"... ({len(text)} characters)"


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


def _empty_class() -> Any:
    from google.protobuf.empty_pb2 import Empty

    return Empty


class DiscardService:
    """The benchmark floor: node-id checked, the request parsed, and the message thrown away."""

    def __init__(self, protos: Protos) -> None:
        self.protos = protos
        self.nodes: set[uuid.UUID] = set()

    def handler(self) -> grpc.GenericRpcHandler:
        empty = _empty_class()
        node_class = self.protos.method_input("Attach")
        send_class = self.protos.method_input("Send")

        def attach(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
            node_class.FromString(raw)
            self.nodes.add(node_id_from_metadata(context.invocation_metadata()))
            return iter(())  # the stream ends at once; the floor needs no events

        def send(raw: bytes, context: grpc.ServicerContext) -> Any:
            send_class.FromString(raw)
            return empty()

        def other(raw: bytes, context: grpc.ServicerContext) -> Any:
            return empty()

        handlers: dict[str, grpc.RpcMethodHandler[bytes, Any]] = {
            "Attach": grpc.unary_stream_rpc_method_handler(attach, response_serializer=_serialize),
            "Send": grpc.unary_unary_rpc_method_handler(send, response_serializer=_serialize),
            "Detach": grpc.unary_unary_rpc_method_handler(other, response_serializer=_serialize),
            "AddInterfaces": grpc.unary_unary_rpc_method_handler(other, response_serializer=_serialize),
            "RemoveInterfaces": grpc.unary_unary_rpc_method_handler(other, response_serializer=_serialize),
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)
