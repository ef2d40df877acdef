"""Benchmarks behind ``hil bench``: each measures hil against a floor in the same run."""
