"""The requirements catalog: ``*.toml`` data files read by :mod:`hil.requirements`.

This file only makes the folder a package, so that setuptools ships the TOML files as package
data in a wheel (``[tool.setuptools.package-data]``) and ``importlib.resources`` finds them.
"""
