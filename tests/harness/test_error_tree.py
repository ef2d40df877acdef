"""Every error hil raises on purpose is defined in ``harness/errors.py``, in the tree it draws.

A user-facing error class defined beside the code that raises it is invisible to a reader of the
error tree and to a caller choosing what to catch; modules may re-export one, never define it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import hil
import hil.fixtures
import hil.simulators
from hil import errors
from hil.errors import HilError

# The engine is hil itself; simulators and fixtures are subpackages kept in folders of their own.
_PACKAGES = (hil, hil.simulators, hil.fixtures)


def _import_every_module() -> None:
    for package in _PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)


def _hil_errors() -> set[type[HilError]]:
    """Every subclass of HilError defined by hil itself (tests may define their own)."""
    found: set[type[HilError]] = set()
    pending = [HilError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.split(".")[0] == "hil":
                found.add(sub)
            pending.append(sub)
    return found


def test_every_hil_error_is_defined_in_errors_py_and_drawn_in_its_tree() -> None:
    _import_every_module()
    classes = _hil_errors()
    assert sorted(f"{c.__module__}.{c.__qualname__}" for c in classes if c.__module__ != errors.__name__) == []
    drawn = re.findall(r"^\s*[│ ]*[├└]── (\w+)", errors.__doc__ or "", re.MULTILINE)
    assert sorted(drawn) == sorted(c.__name__ for c in classes)
    assert set(drawn) <= set(errors.__all__)


def test_the_tree_draws_each_error_under_its_base() -> None:
    lines = [line for line in (errors.__doc__ or "").splitlines() if re.search(r"[├└]── \w+", line)]
    stack: list[tuple[int, str]] = [(-1, "HilError")]
    for line in lines:
        match = re.search(r"[├└]── (\w+)", line)
        assert match is not None
        depth = match.start() // 4
        while stack[-1][0] >= depth:
            stack.pop()
        cls = getattr(errors, match.group(1))
        assert cls.__bases__[0].__name__ == stack[-1][1], f"{cls.__name__} is drawn under {stack[-1][1]}"
        stack.append((depth, cls.__name__))
