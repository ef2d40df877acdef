"""Command-line parsing shared by ``hil`` and the simulators' ``python -m`` entry points.

A user mistake on any of hil's command lines is one line and exit status 2: argparse's usage dump
in front of the message is noise for a typo, and port numbers are checked while parsing, where the
option can still be named (a bind or connect would fail later and less clearly; gRPC even binds
a number out of range).
"""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["OneLineParser", "check_port_options"]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, ``<prog>: error: <message>``, and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def check_port_options(parser: argparse.ArgumentParser, args: argparse.Namespace, *options: str) -> None:
    """Stop with a usage error at the first of ``options`` (``dest`` names) that is not a port number;
    an option left out (None) is not checked."""
    for option in options:
        value = getattr(args, option)
        if value is not None and not 0 <= value <= 65535:
            parser.error(f"--{option.replace('_', '-')} {value} is not a port number")
