"""hil's own tests judge the harness and its simulators, not an SDK: mark them ``hil_fidelity`` so the
report shows their requirement results in the simulator-fidelity section, apart from SDK checks."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.hil_fidelity)
