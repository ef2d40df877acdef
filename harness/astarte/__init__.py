"""Astarte knowledge shared by the harness and the simulators: the BSON wire format of device
payloads and realm JWTs. (The specification oracle is :mod:`hil.oracle`.)"""
