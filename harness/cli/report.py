"""``hil report merge RECORD...``: several run records (targets, SDK versions) as one matrix."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from hil.errors import ConfigError
from hil.report import load_record, merge_records
from hil.report.atomic_file import write_atomically
from hil.report.html import render_merged_html


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("report", help="combine run records")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(parser))
    merge = actions.add_parser("merge", help="merge run records into one matrix (HTML and JSON)")
    merge.add_argument("records", nargs="+", type=Path, metavar="RECORD", help="run-record.json files")
    merge.add_argument("--output", type=Path, default=Path("reports/merged"), help="folder for the result")
    merge.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    for path in args.records:
        if not path.is_file():
            raise ConfigError("run record not found", source=path)
    records = [(path, load_record(path)) for path in args.records]
    merged = merge_records(record for _, record in records)
    # Evidence links of the matrix point into each run's own report directory.
    output = args.output.resolve()
    record_dirs = {record.run_id: Path(os.path.relpath(path.resolve().parent, output)).as_posix()
                   for path, record in records}
    write_atomically(args.output / "merged.json", (json.dumps(merged.to_dict(), indent=2) + "\n").encode())
    write_atomically(args.output / "matrix.html", render_merged_html(merged, record_dirs).encode())
    print(f"merged {len(args.records)} record(s) into {args.output}/matrix.html and merged.json")
    return 0
