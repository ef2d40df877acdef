"""Simulated Astarte (v1.2.0 behaviour) for one realm: Pairing, AppEngine, Realm Management and
the Data Updater, over HTTPS and the harness broker.

Run it with ``python -m hil.simulators.astarte`` (see :mod:`.__main__`); the harness starts it through
``hil.components.astarte``. Module map:

* :mod:`.realm` the state; :mod:`.values` value conversion and rendering; :mod:`.device_ids`;
* :mod:`.realm_auth` JWT checks; :mod:`.web` request plumbing; :mod:`.api_errors` error bodies;
* :mod:`.pairing_api`, :mod:`.appengine_api`, :mod:`.realm_management_api`: the real routes;
* :mod:`.data_updater` device traffic; :mod:`.broker_link` back-office session + forced disconnect;
* :mod:`.control_api` ``/_sim``, the simulator's own inspection/control API (why it exists is in
  its docstring: a real Astarte shows what it saw only through triggers and its database);
* :mod:`.app`, :mod:`.server` assembly and serving.

What is knowingly different from a real Astarte is listed in each API module's docstring; the
main points: one realm; writes are synchronous; connection state is inferred from traffic
(:mod:`.data_updater`); no 500 answers where v1.2.0 crashes on bad input.
"""
