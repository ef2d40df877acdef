"""Fuzzing support: the oracle's expectations for SDK calls, SDK drivers, property checks.

Strategies live in :mod:`hil.fixtures.strategies` (tests -> fixtures -> harness); this package holds
what both the pytest properties and the ``hil replay`` / ``hil fuzz`` commands need.
"""
