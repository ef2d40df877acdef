"""Where hil keeps what it can rebuild: generated gRPC modules, SDK-set environments.

One rule, used by everything hil caches: ``$HIL_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/hil``, else ``~/.cache/hil`` (the XDG base-directory default). Never the
checkout's ``build/`` nor site-packages: a checkout may be read-only or shared by several
worktrees with different SDK sets, and site-packages belongs to the environment under test.
Everything under it is derived data; deleting the folder only costs a rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    """``<hil cache>/<parts...>`` (not created: the caller creates what it writes)."""
    override = os.environ.get("HIL_CACHE_DIR")
    if override:
        root = Path(override)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "hil"
    return root.joinpath(*parts)
