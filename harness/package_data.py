"""Where hil's shipped data lives and where it keeps what it generates.

hil is installed as one package; its interface files and conformance checks are package data,
found through :mod:`importlib.resources` so that a wheel in a user's ``site-packages`` and an
editable checkout behave alike. What hil *generates* (gRPC modules built from the installed
protos, container images, environments of other SDK versions) never goes into the package:
``site-packages`` may be read-only and is shared by every project of the interpreter. It goes to
a per-user cache directory instead.

This module imports nothing of hil, so simulators may use it too.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["cache_dir", "catalog_dir", "conformance_dir", "interfaces_dir"]


def _package_dir(package: str) -> Path:
    # hil is never installed zipped (its simulators run as ``python -m``), so a resource
    # traversable is a real directory.
    return Path(str(files(package)))


def interfaces_dir() -> Path:
    """The Astarte interface files (``*.json``) that the checks and fixtures use."""
    return _package_dir("hil.interfaces")


def conformance_dir() -> Path:
    """The conformance checks that ``hil run`` runs."""
    return _package_dir("hil.conformance")


def catalog_dir() -> Path:
    """The requirement catalog (``*.toml``)."""
    return _package_dir("hil.catalog")


def cache_dir() -> Path:
    """hil's per-user cache: ``$HIL_CACHE_DIR``, else ``$XDG_CACHE_HOME/hil``, else
    ``~/.cache/hil``. Created on first use, private to the user."""
    explicit = os.environ.get("HIL_CACHE_DIR")
    if explicit:
        root = Path(explicit)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "hil"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root
