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

__all__ = ["cache_dir", "catalog_dir", "conformance_dir", "interfaces_dir", "link_tree", "source_dirs"]

SUBPACKAGES = ("simulators", "fixtures", "interfaces", "conformance")
"""hil's subpackages that live in folders of their own in a checkout (see setup.py)."""


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


def source_dirs() -> dict[str, Path]:
    """Where each top-level part of the installed package really is: ``hil`` itself and the
    :data:`SUBPACKAGES`. In a checkout (editable install) these are the repository's folders."""
    import importlib

    dirs = {"hil": Path(str(files("hil")))}
    for name in SUBPACKAGES:
        module = importlib.import_module(f"hil.{name}")
        dirs[name] = Path(next(iter(module.__path__)))
    return dirs


def link_tree(root: Path, *, leave_out: tuple[str, ...] = ()) -> Path:
    """A folder ``root/hil`` of symbolic links shaped like the installed package, and ``root``.

    An editable install is found through an import hook that only this interpreter's
    site-packages knows, naming the checkout it was installed from. What runs elsewhere (a
    container running a copy of the environment, mypy, which reads no import hooks) gets ``root``
    on its path instead: the links point at this checkout's own folders, so they see its code.
    ``leave_out`` names subpackages the reader does not need (mypy: the conformance checks).
    """
    dirs = source_dirs()
    tree = root / "hil"
    if tree.exists() or tree.is_symlink():
        import shutil

        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    for entry in dirs["hil"].iterdir():
        if entry.name not in SUBPACKAGES and entry.name != "__pycache__":
            (tree / entry.name).symlink_to(entry)
    for name in SUBPACKAGES:
        if name not in leave_out:
            (tree / name).symlink_to(dirs[name])
    return root
