"""A simulated DESTINY repository for the robot API (``python -m hil.simulators.destiny``).

It serves the robot routes of the real repository (same paths, parameters, bodies, status codes
and error texts), authenticates them with our own HMAC implementation, keeps robots, references,
enhancement requests, pending enhancements and leased batches in memory on a controllable clock,
and offers a separate ``/_sim/`` API to seed and inspect all that. Modules:

``app`` assembly · ``robot_api`` the real routes · ``control_api`` ``/_sim`` · ``store`` state
and rules, and the jobs the clock runs (lease expiry, result import) · ``hmac_auth`` signatures ·
``durations`` pydantic's timedelta grammar · ``clock`` · ``blobs`` Azure-style SAS rules ·
``storage_api`` the blob routes (on their own TLS listener) · ``journal`` · ``body_limit`` ·
``seed`` · ``server`` uvicorn runner.
"""

from __future__ import annotations

from hil.simulators.destiny.app import create_app, new_store
from hil.simulators.destiny.server import READY_PREFIX

__all__ = ["READY_PREFIX", "create_app", "new_store"]
