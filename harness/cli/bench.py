"""``hil bench NAME``: run a benchmark and save its figures under benchmarks/results/."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("bench", help="run a benchmark (startup)")
    parser.add_argument("name", choices=["startup"], help="which benchmark")
    parser.add_argument("--runs", type=int, default=20, help="measurements per side (default: 20)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"), help="where results go")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise ConfigError("--runs must be at least 1")
    from harness.bench import startup

    result = startup.measure(args.runs)
    path = startup.save(result, args.output)
    hil, floor = result["hil"], result["floor"]
    print(f"hil Service : median {hil['median_ms']:.1f} ms, p90 {hil['p90_ms']:.1f} ms")
    print(f"bare floor  : median {floor['median_ms']:.1f} ms, p90 {floor['p90_ms']:.1f} ms")
    verdict = "meets" if result["meets_goal"] else "MISSES"
    print(f"ratio {result['ratio_median']:.2f} ({verdict} the goal of <= {result['goal_ratio']}); saved {path}")
    return 0
