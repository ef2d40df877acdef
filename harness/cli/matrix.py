"""``hil matrix``: the conformance checks once per SDK version set, merged into one matrix.

Each set (``sdk-sets/<name>.txt``) runs in its own environment under the hil cache (see
:mod:`hil.sdk_sets` for why and how), in a child ``python -m pytest`` of that environment, so
no two SDK releases ever share a process. Each run writes its own record under
``<reports>/matrix/<set>/``; a set pip cannot install gets a record of its own that says so, with
pip's reason, so the matrix shows it rather than leaving it out. The records are then merged by
``hil report merge`` into ``<reports>/matrix/matrix.html`` and ``merged.json``, which show per
requirement what changed between the sets.

``tox -e sdk-<name>`` remains the way to run one set by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import time
from pathlib import Path

from hil.errors import ConfigError
from hil.report import load_record, write_record
from hil.report.record import RunRecorder, SdkSetInfo, SdkVersion, Target
from hil.sdk_sets import SDK_DISTRIBUTIONS, EnvironmentResult, SdkSet, build_environment, load_sets, run_environment

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("matrix", help="run the conformance checks once per SDK version set and merge them")
    parser.add_argument("--sets", nargs="+", default=[], metavar="NAME", help="only these sets (default: every file in sdk-sets/)")
    parser.add_argument("--project", type=Path, default=Path("."), help="the hil checkout (default: the current folder)")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="report directory (default: reports)")
    parser.add_argument("--checks", default="tests/conformance", help="checks to run, relative to --project")
    parser.add_argument("-k", dest="keyword", help="only checks matching this pytest -k expression")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the set environments even when cached")
    parser.set_defaults(func=run)


def _not_installable_record(sdk_set: SdkSet, result: EnvironmentResult, out: Path) -> Path:
    """A record with no checks that says the set could not be installed, and why (pip's words)."""
    record = RunRecorder(target=Target("sim", "simulator"), sdk_names=[]).finish()
    pins = sdk_set.pins()
    asked = tuple(sorted(SdkVersion(name, pins[name]) for name in SDK_DISTRIBUTIONS if name in pins))
    record = dataclasses.replace(record, sdks=asked, sdk_set=SdkSetInfo(sdk_set.name, False, result.reason))
    path = out / "run-record.json"
    write_record(record, path)
    return path


def _run_set(result: EnvironmentResult, project: Path, args: argparse.Namespace, out: Path) -> int:
    assert result.python is not None
    argv = [
        str(result.python), "-m", "pytest", args.checks,
        # hil is not installed there, so its entry point may or may not be visible (a checkout's
        # egg-info on PYTHONPATH shows it): load exactly the plugins the checks need, by name.
        "-p", "no:cacheprovider", "-p", "hil.fixtures.plugin", "-p", "_hypothesis_pytestplugin", "-p", "pytest_timeout",
        "-p", "pytest_asyncio.plugin",
        f"--hil-report-dir={out.resolve()}", "-q", "--no-header", "-rN",
    ]
    if args.keyword:
        argv += ["-k", args.keyword]
    log = out / "pytest.log"
    with open(log, "w") as handle:
        done = subprocess.run(argv, cwd=project, env=run_environment(result, project.resolve()),
                              stdout=handle, stderr=subprocess.STDOUT, check=False)
    return done.returncode


def run(args: argparse.Namespace) -> int:
    from hil.cli.report import run_merge

    project: Path = args.project
    if not (project / "sdk-sets").is_dir() or not (project / "pyproject.toml").is_file():
        raise ConfigError("not a hil checkout (no sdk-sets/ or pyproject.toml); run from it or pass --project", source=project)
    sets = load_sets(project / "sdk-sets", args.sets)
    matrix_dir: Path = args.reports / "matrix"
    records: list[Path] = []
    summary: list[dict[str, object]] = []
    status = 0
    for sdk_set in sets:
        out = matrix_dir / sdk_set.name
        out.mkdir(parents=True, exist_ok=True)
        (out / "latest").unlink(missing_ok=True)  # a stale record must not stand in for this run
        result = build_environment(sdk_set, project_root=project.resolve(), rebuild=args.rebuild)
        how = "cached" if result.cached else f"built in {result.seconds:.0f}s"
        entry: dict[str, object] = {"set": sdk_set.name, "environment_s": round(result.seconds, 1), "cached": result.cached}
        if not result.installable:
            print(f"{sdk_set.name}: not installable ({result.reason})", flush=True)
            records.append(_not_installable_record(sdk_set, result, out))
            summary.append({**entry, "installable": False, "reason": result.reason})
            continue
        print(f"{sdk_set.name}: environment {how}; running checks", flush=True)
        started = time.monotonic()
        code = _run_set(result, project, args, out)
        seconds = time.monotonic() - started
        record_path = out / "latest" / "run-record.json"  # the run's own report directory (see hil run)
        if not record_path.is_file():  # e.g. a collection error: the other sets still run
            print(f"{sdk_set.name}: the run wrote no record (pytest exit {code}); see {out / 'pytest.log'}", flush=True)
            summary.append({**entry, "installable": True, "run_s": round(seconds, 1), "pytest_exit": code, "counts": None})
            status = 1
            continue
        counts = load_record(record_path).counts()
        shown = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        print(f"{sdk_set.name}: {shown} in {seconds:.0f}s", flush=True)
        summary.append({**entry, "installable": True, "run_s": round(seconds, 1), "pytest_exit": code, "counts": counts})
        records.append(record_path)
        if code not in (0, 5):  # 5: nothing selected by -k
            status = 1
    (matrix_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if records:
        run_merge(argparse.Namespace(records=records, output=matrix_dir))
    return status
