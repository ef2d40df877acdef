"""An emulated LocknAlert bridge: HTTPS onboarding API, real MQTT credentials, a control port.

No public bridge server exists; the emulator follows the contract the ``aiolocknalert`` client
documents and behaves like a careful device. Modules, one concept each:

* :mod:`.onboarding`   serial, onboarding window, pairing token rotation (pure rules)
* :mod:`.provisioning` MQTT accounts on the broker (Dynamic Security plugin)
* :mod:`.mqtt_link`    the bridge's own MQTT session (availability, lock, alerts, commands)
* :mod:`.emulator`     ties them together, persists the pairing
* :mod:`.bridge_api`   ``/api/info`` and ``/api/mqtt/bootstrap`` with the documented status codes
* :mod:`.control_api`  ``/_sim/...`` on a separate port (window, reset, faults, alerts)
* :mod:`.http_server`  HTTP/1.1 with device-like limits (slowloris, size, connection caps)
* :mod:`.self_signed`  the bridge's self-signed HTTPS certificate
* :mod:`.server`       start-up order, ready line, clean stop
"""
