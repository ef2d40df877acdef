"""``hil fuzz --budget SECONDS``: the long-running fuzz profile for benches and nightly jobs.

Runs the property tests (``tests/conformance/test_fuzz_*.py``) under the ``nightly`` Hypothesis
profile, sharing the time budget equally between them; each keeps starting freshly seeded runs
until its share is spent. Every new disagreement is written as a capsule under ``--findings``
(replay it with ``hil replay FILE``). Prints examples run, requirements exercised, known findings
hit and new findings; exits 1 when there is a new finding.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hil.errors import ConfigError

__all__ = ["register", "run", "summarise"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fuzz", help="fuzz the SDKs against the spec oracle for a time budget")
    parser.add_argument("--budget", type=float, required=True, metavar="SECONDS", help="total fuzzing time")
    parser.add_argument("--checks", type=Path, default=None,
                        help="folder holding the test_fuzz_*.py properties (default: the checks installed with hil)")
    parser.add_argument("--findings", type=Path, default=Path("reports/findings"),
                        help="where counterexample capsules go (default: reports/findings)")
    parser.add_argument("--target", default="sim", help="target for end-to-end properties (default: sim)")
    parser.add_argument("-k", dest="keyword", help="only properties matching this pytest -k expression")
    parser.set_defaults(func=run)


class _BudgetSplitter:
    """pytest plugin: give each property test that will run an equal share of the budget.

    Counted once collection is final (after ``-k`` and the ``not finding`` selection), so a
    selection of one property gets the whole budget.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.properties = 0

    def pytest_collection_finish(self, session: Any) -> None:
        self.properties = len(session.items)
        os.environ["HIL_FUZZ_SECONDS"] = str(self.budget / max(self.properties, 1))


def run(args: argparse.Namespace) -> int:
    import pytest

    if args.budget <= 0:
        raise ConfigError("--budget must be a positive number of seconds")
    from hil.package_data import conformance_dir

    checks = args.checks if args.checks is not None else conformance_dir()
    files = sorted(str(p) for p in checks.glob("test_fuzz_*.py")) if checks.is_dir() else []
    if not files:
        raise ConfigError(f"no test_fuzz_*.py properties in {checks} (pass --checks DIR)")
    splitter = _BudgetSplitter(args.budget)
    saved = {key: os.environ.get(key) for key in ("HIL_FUZZ_SECONDS", "HIL_FUZZ_FINDINGS_DIR", "HIL_FUZZ_STATS_DIR")}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hil-fuzz-stats-") as stats_dir:
        os.environ["HIL_FUZZ_FINDINGS_DIR"] = str(args.findings.resolve())
        os.environ["HIL_FUZZ_STATS_DIR"] = stats_dir
        # The budget bounds each property; pytest-timeout's per-test limit (for CI) must not.
        # The recorded findings' strict expected failures are CI's business, not the budget's.
        argv = [*files, "-p", "no:cacheprovider", "--hypothesis-profile=nightly", f"--hil-target={args.target}", "--hil-command=fuzz", "-q",
                "-o", "timeout=0", "-m", "not finding"]
        if args.keyword:
            argv += ["-k", args.keyword]
        try:
            status = int(pytest.main(argv, plugins=[splitter]))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        summary = summarise(Path(stats_dir), elapsed=time.monotonic() - started)
    for line in summary["lines"]:
        print(line)
    if summary["new_findings"]:
        return 1
    return status


def summarise(stats_dir: Path, *, elapsed: float) -> dict[str, Any]:
    """Sum the per-test counters ``hil.fixtures.fuzzing`` wrote into one report."""
    examples = runs = 0
    requirements: Counter[str] = Counter()
    known: Counter[str] = Counter()
    findings: list[str] = []
    properties = 0
    for path in sorted(stats_dir.glob("*.json")):
        data = json.loads(path.read_text())
        properties += 1
        examples += data["examples"]
        runs += data["runs"]
        requirements.update(data["requirements"])
        known.update(data["known"])
        findings += data["findings"]
    rate = examples / elapsed if elapsed > 0 else 0.0
    lines = [
        f"hil fuzz: {examples} examples in {elapsed:.1f} s ({rate:.0f}/s) over {properties} properties, {runs} runs",
        f"requirements exercised: {len(requirements)} ({', '.join(sorted(requirements))})",
        f"known findings hit: {len(known)} ({', '.join(f'{k} x{n}' for k, n in sorted(known.items()))})",
        f"new findings: {len(findings)}" + "".join(f"\n  {f}" for f in findings),
    ]
    return {"examples": examples, "runs": runs, "requirements": dict(requirements), "known": dict(known),
            "new_findings": findings, "lines": lines}
