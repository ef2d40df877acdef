"""``import hil``: the curated public API resolves, and costs a simulator nothing."""

from __future__ import annotations

import subprocess
import sys

import hil


def test_every_public_name_resolves() -> None:
    missing = [name for name in hil.__all__ if getattr(hil, name, None) is None]
    assert missing == []
    assert sorted(dir(hil)) == sorted(hil.__all__)


def test_a_simulator_process_imports_no_test_machinery() -> None:
    # Every ``python -m hil.simulators.NAME`` runs hil/__init__ first: the re-exports must stay lazy.
    code = (
        "import sys, hil.simulators.astarte.app, hil.simulators.destiny.app;"
        "print(sorted(m for m in ('pytest', 'hypothesis', 'astarte', 'destiny_sdk') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
