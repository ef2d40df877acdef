"""``hil bench check FILE``: validate a bench file and probe what each of its targets offers.

Each target is listed with the capability protocols it offers; each public one is reached once
(reachability, authorisation), as the health gate of a run does. Exit status 0 when every probe
passes, 1 when one fails (the line says which and why); a mistake in the file is one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.targets.bench import load_bench
from hil.targets.protocols import SimulatorOnly

__all__ = ["register", "run_check"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``hil bench`` is about hardware benches only (measurements are ``hil benchmark``)."""
    parser = subparsers.add_parser("bench", help="bench files: check FILE validates one and probes its targets")
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate a bench file and probe what each target offers")
    check.add_argument("file", help="the bench file (TOML)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    targets = load_bench(Path(args.file))
    failed = False
    for name, target in targets.items():
        print(f"target {name} ({target.kind}){': ' + target.description if target.description else ''}")
        offered = target.offered()
        if not offered:
            print("  offers nothing (add astarte, broker, message_hub, destiny or locknalert sections)")
        public = [p for p in offered if not issubclass(p, SimulatorOnly)]
        print("  offers: " + ", ".join(p.name() for p in public))
        if len(public) < len(offered):
            print("  simulator only: " + ", ".join(p.name() for p in offered if issubclass(p, SimulatorOnly)))
        try:
            for probe in target.probe():
                print(f"  {probe.line()}")
                failed = failed or not probe.ok
        finally:
            target.close()
    return 1 if failed else 0
