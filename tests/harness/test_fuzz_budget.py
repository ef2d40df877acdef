"""``hil fuzz``'s time budget: runs sized to end at the deadline, one capsule per finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hil.fixtures.fuzzing import (
    BUDGET_RUN_EXAMPLES,
    FIRST_RUN_EXAMPLES,
    FuzzStats,
    budget_runs,
    fuzz_check,
    run_machine,
    run_property,
)
from hil.fuzzing.properties import Disagreement


class FakeClock:
    """Time that passes only when an example "runs"."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seconds_per_example", [0.001, 0.5, 3.0, 40.0])
def test_runs_are_sized_to_end_near_the_deadline(seconds_per_example: float) -> None:
    clock, stats, budget = FakeClock(), FuzzStats("p"), 60.0
    sizes = []
    for _seed, examples in budget_runs(budget, stats, clock):
        sizes.append(examples)
        stats.examples += examples
        clock.now += examples * seconds_per_example
    assert sizes[0] == FIRST_RUN_EXAMPLES and max(sizes) <= BUDGET_RUN_EXAMPLES
    assert stats.runs == len(sizes)
    overshoot = clock.now - (100.0 + budget)
    # After the measuring run, the last run may pass the deadline by at most one example.
    first_run = FIRST_RUN_EXAMPLES * seconds_per_example
    assert overshoot <= max(seconds_per_example, first_run - budget), (sizes, overshoot)


def test_a_finding_found_in_every_run_is_one_capsule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example database used to replay the first failure in every run: 200 copies of one finding."""
    monkeypatch.setenv("HIL_FUZZ_SECONDS", "1.5")
    monkeypatch.setenv("HIL_FUZZ_FINDINGS_DIR", str(tmp_path / "findings"))
    monkeypatch.setenv("HIL_FUZZ_STATS_DIR", str(tmp_path / "stats"))

    def check(n: int) -> list[str]:
        if n >= 10:
            raise Disagreement(property="toy", direction="accepts-invalid", requirement="TOY-01",
                               example={"n": n}, oracle={}, observed={}, known=None)
        return []

    def toy(n: int) -> None:
        fuzz_check(check, n)

    with pytest.raises(Disagreement):
        run_property(given(st.integers(0, 1000)), toy, property_name="toy", nodeid="toy")
    capsules = sorted((tmp_path / "findings").glob("*.json"))
    assert len(capsules) == 1, capsules
    stats = json.loads((tmp_path / "stats" / "toy.json").read_text())
    assert stats["runs"] > 1 and stats["findings"] == [str(capsules[0])]
    capsule = json.loads(capsules[0].read_text())
    assert capsule["example"] == {"n": 10} and isinstance(capsule["seed"], int)


class Counter(RuleBasedStateMachine):
    """A toy session: the 'model' disagrees once three steps have been taken."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    @rule(n=st.integers(0, 9))
    def step(self, n: int) -> None:
        self.steps.append(n)

    @invariant()
    def agrees(self) -> None:
        fuzz_check(self._check)

    def _check(self) -> list[str]:
        if len(self.steps) >= 3:
            raise Disagreement(property="toy-session", direction="diverges-from-model", requirement="TOY-02",
                               example={"steps": list(self.steps)}, oracle={}, observed={}, known=None)
        return ["TOY-02"]


def test_a_state_machine_finding_becomes_a_capsule_with_its_shrunk_steps(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIL_FUZZ_SECONDS", "1")
    monkeypatch.setenv("HIL_FUZZ_FINDINGS_DIR", str(tmp_path / "findings"))
    monkeypatch.setenv("HIL_FUZZ_STATS_DIR", str(tmp_path / "stats"))
    with pytest.raises(Disagreement):
        run_machine(Counter, property_name="toy-session", nodeid="toy-session", bounds=settings(max_examples=5))
    capsules = sorted((tmp_path / "findings").glob("*.json"))
    assert len(capsules) == 1, capsules
    capsule = json.loads(capsules[0].read_text())
    assert capsule["property"] == "toy-session" and capsule["example"] == {"steps": [0, 0, 0]}
    assert isinstance(capsule["seed"], int)
    stats = json.loads((tmp_path / "stats" / "toy-session.json").read_text())
    assert stats["findings"] == [str(capsules[0])] and stats["requirements"]["TOY-02"] > 0


def _disagreement(requirement: str) -> Disagreement:
    return Disagreement(property="toy-two", direction="diverges-from-model", requirement=requirement,
                        example={"requirement": requirement}, oracle={}, observed={}, known=None)


class TwoBugs(RuleBasedStateMachine):
    """Fails in two places (two raising lines): Hypothesis would report both at once, as an
    ExceptionGroup, unless told to report one bug per run."""

    @rule(n=st.integers(0, 9))
    def first(self, n: int) -> None:
        fuzz_check(self._first, n)

    @rule(n=st.integers(0, 9))
    def second(self, n: int) -> None:
        fuzz_check(self._second, n)

    @staticmethod
    def _first(n: int) -> list[str]:
        if n >= 5:
            raise _disagreement("TOY-03")
        return ["TOY-03"]

    @staticmethod
    def _second(n: int) -> list[str]:
        if n >= 5:
            raise _disagreement("TOY-04")
        return ["TOY-04"]


def test_a_machine_failing_in_two_places_still_leaves_capsules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIL_FUZZ_SECONDS", "1")
    monkeypatch.setenv("HIL_FUZZ_FINDINGS_DIR", str(tmp_path / "findings"))
    monkeypatch.setenv("HIL_FUZZ_STATS_DIR", str(tmp_path / "stats"))
    with pytest.raises(Disagreement):
        run_machine(TwoBugs, property_name="toy-two", nodeid="toy-two", bounds=settings(max_examples=5))
    assert sorted((tmp_path / "findings").glob("*.json"))
