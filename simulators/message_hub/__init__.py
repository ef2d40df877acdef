"""A simulated Astarte Message Hub (astarte-message-hub v0.7.0 behaviour, proto of the installed SDK).

Modules: :mod:`.protogen` (generated gRPC modules from the installed proto descriptors),
:mod:`.protos` (imports them, never the SDK's copy), :mod:`.codec` (protobuf <-> typed values),
:mod:`.hub` (nodes, introspection, validation, routing), :mod:`.grpc_service` (the MessageHub
service with the real hub's status codes), :mod:`.astarte_link` (the hub's own Astarte MQTT
device connection), :mod:`.property_store`, :mod:`.pairing`, :mod:`.control_api`, :mod:`.server`.

Nothing here is imported by ``import hil.simulators.message_hub``: the generated modules must be put
on the path first, in a process of their own (see :mod:`.protos`).
"""
