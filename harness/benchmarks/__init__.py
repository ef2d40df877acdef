"""Benchmarks behind ``hil benchmark``: each measures hil against a floor in the same run."""
