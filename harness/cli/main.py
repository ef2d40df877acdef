"""The ``hil`` command: one entry point, one module per subcommand.

Every subcommand module exposes ``register(subparsers)`` and sets ``func`` on its parser to a
callable ``(args) -> int``. ``main`` turns every deliberate hil error into one line on stderr and
a non-zero exit (never a traceback for a user mistake), and runs the leak audit after every
command: a command that leaves a process, port or temp dir of ours behind fails. The audit
covers what the command itself started (its own tracker), so a command run in-process never
touches its caller's services.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hil.cli.arguments import OneLineParser
from hil.errors import ConfigError, HarnessLeak, HilError
from hil.rundir import remove_orphaned_run_dirs
from hil.services.tracking import own_tracker

__all__ = ["main"]

COMMAND_MODULES = (
    "hil.cli.up",
    "hil.cli.run",
    "hil.cli.doctor",
    "hil.cli.bench_check",
    "hil.cli.benchmark",
    "hil.cli.interfaces",
    "hil.cli.report",
    "hil.cli.matrix",
    "hil.cli.fuzz",
    "hil.cli.replay",
    "hil.cli.fleet",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="hil", description="hardware-in-the-loop harness for IoT device SDKs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)  # a missing module is a bug: let it raise
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    remove_orphaned_run_dirs()  # keys left by a SIGKILLed run go before anything else starts
    with own_tracker() as tracker:
        try:
            status = int(args.func(args) or 0)
        except KeyboardInterrupt:
            status = 130
        except HilError as exc:
            print(f"hil: error: {exc}", file=sys.stderr)
            status = 2 if isinstance(exc, ConfigError) else 1
        try:
            tracker.audit()
        except HarnessLeak as exc:
            print(f"hil: leak audit failed: {exc}", file=sys.stderr)
            status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
