"""``hil run``: the conformance checks against a target, writing the run record, JUnit and HTML.

On the simulated target it also runs hil's own simulator tests that name a requirement, so the
report's simulator-fidelity section shows how faithful the simulators are, not ``not covered``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.errors import ConfigError
from hil.services.backends import BACKEND_NAMES
from hil.targets import resolve_target


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run the conformance checks against a target")
    parser.add_argument("--target", default="sim", help="target name: 'sim' or one from --bench (default: sim)")
    parser.add_argument("--bench", type=Path, help="bench file (TOML) describing targets")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="process")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="where report directories go: one per run, REPORTS/latest the newest (default: reports)")
    parser.add_argument("--checks", type=Path, default=None,
                        help="folder of conformance checks (default: the checks installed with hil)")
    parser.add_argument("--fidelity", action=argparse.BooleanOptionalAction, default=None,
                        help="also run hil's own simulator tests that name requirements, for the report's "
                             "simulator-fidelity section (default: on for the sim target)")
    parser.add_argument("--fidelity-tests", type=Path, default=Path("tests/harness"),
                        help="folder of hil's simulator tests (default: tests/harness)")
    parser.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pytest

    from hil.package_data import conformance_dir

    checks = args.checks if args.checks is not None else conformance_dir()
    if not checks.is_dir():
        raise ConfigError(f"no conformance checks at {checks} (pass --checks DIR)")
    resolve_target(args.target, args.bench, backend=args.backend)  # fail fast, in one line, on a bad name
    argv = [
        str(checks),
        "-p", "no:cacheprovider",
        f"--hil-target={args.target}",
        f"--hil-backend={args.backend}",
        f"--hil-report-dir={args.reports}",
        "--hil-command=run",
        "-q",
    ]
    # By default only in a checkout: an installed hil ships its checks, not its own tests.
    fidelity = (args.target == "sim" and args.fidelity_tests.is_dir()) if args.fidelity is None else args.fidelity
    if fidelity:
        if not args.fidelity_tests.is_dir():
            raise ConfigError(f"no simulator tests at {args.fidelity_tests} (pass --fidelity-tests DIR or --no-fidelity)")
        # Every conformance check, and of hil's own tests those that judge a requirement.
        argv[1:1] = [str(args.fidelity_tests)]
        argv += ["-m", "requirement or not hil_fidelity"]
    if args.bench is not None:
        argv.append(f"--hil-bench={args.bench}")
    if args.keyword:
        argv += ["-k", args.keyword]
    return int(pytest.main(argv))
