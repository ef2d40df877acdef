"""``hil fleet``: many real devices at once, spread over worker processes, against a floor.

One process cannot hold many paho clients (paho's loop uses ``select()``, which fails on a file
descriptor above 1023), so :mod:`.run` spreads the devices over :mod:`.worker` processes and
drives them through their standard streams. :mod:`.locustfile` runs the same SDK devices as
Locust users, for fleets larger than one machine (Locust's master/worker mode).
"""
