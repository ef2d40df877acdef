"""``hil interfaces validate FILE...``: check Astarte interface files against the oracle.

Prints one line per violation, ``FILE: JSON_PATH: RULE_ID: message``, and exits 0 when every file
is valid, 1 otherwise (2 for a usage error). An unreadable file or bad JSON is a violation line
like any other, so a directory of interfaces can be checked in one go. A directory argument
stands for the ``*.json`` files in it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from hil.oracle import (
    InvalidInterface,
    Profile,
    Violation,
    interface_advisories,
    names_collide,
    read_interface_json,
    validate_interface,
)

__all__ = ["register", "validate_files"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("interfaces", help="work with Astarte interface files")
    parser.set_defaults(func=lambda args: _usage(parser))
    commands = parser.add_subparsers(dest="interfaces_command", metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check interface JSON files (exit 0 when all are valid)",
        description="Check Astarte interface JSON files; one line per violation.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="interface file or directory of them")
    validate.add_argument(
        "--profile",
        choices=[p.value for p in Profile],
        default=Profile.SPEC.value,
        help="spec: every rule of the specification (default); server: only what Astarte v1.2.0 rejects",
    )
    validate.add_argument("--strict", action="store_true",
                          help="count SHOULD-level advice (always shown) as violations")
    validate.set_defaults(func=run_validate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    print("hil interfaces: error: a command is required (validate)", file=sys.stderr)
    return 2


def run_validate(args: argparse.Namespace) -> int:
    violations, advice = validate_files(args.files, profile=Profile(args.profile))
    for line in violations:
        print(line)
    # SHOULD-level advice is shown either way; only --strict makes it fail the files.
    for line in advice:
        print(line if args.strict else f"advice: {line}")
    return 1 if violations or (args.strict and advice) else 0


def validate_files(paths: Iterable[Path], *, profile: Profile = Profile.SPEC) -> tuple[list[str], list[str]]:
    """Violation lines and SHOULD-level advice lines (``FILE: JSON_PATH: RULE_ID: message``)."""
    lines: list[str] = []
    advice: list[str] = []
    names: list[tuple[Path, str]] = []
    for path in _expand(paths):
        try:
            doc = read_interface_json(path)
        except InvalidInterface as exc:
            lines += [_line(path, v) for v in exc.violations]
            continue
        lines += [_line(path, v) for v in validate_interface(doc, profile=profile)]
        advice += [_line(path, v) for v in interface_advisories(doc)]
        name = doc.get("interface_name") if isinstance(doc, dict) else None
        if isinstance(name, str):
            for other_path, other in names:
                if names_collide(name, other):
                    message = f"{name!r} collides with {other!r} in {other_path} (case or hyphens only)"
                    lines.append(_line(path, Violation("ASTARTE-IFACE-NAME-05", "$.interface_name", message)))
            names.append((path, name))
    return lines, advice


def _expand(paths: Iterable[Path]) -> list[Path]:
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            expanded += sorted(path.glob("*.json"))
        else:
            expanded.append(path)
    return expanded


def _line(path: Path, violation: Violation) -> str:
    return f"{path}: {violation.json_path}: {violation.rule_id}: {violation.message}"
