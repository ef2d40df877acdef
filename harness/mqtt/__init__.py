"""MQTT on hil's side: the Mosquitto broker service, its configuration, Dynamic Security, and
the MQTT client hil observes and probes with."""
