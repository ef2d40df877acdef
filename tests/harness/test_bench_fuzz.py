"""``hil bench fuzz``: wired into the CLI, and a bad example count is one clear line."""

from __future__ import annotations

import pytest

from hil.fixtures import fuzz_benchmark as fuzz
from hil.cli.main import build_parser, main
from hil.errors import ConfigError


def test_bench_accepts_fuzz_with_an_example_count() -> None:
    args = build_parser().parse_args(["bench", "fuzz", "--examples", "7"])
    assert (args.name, args.examples) == ("fuzz", 7)


def test_zero_examples_is_a_config_error_before_anything_starts() -> None:
    with pytest.raises(ConfigError, match="--examples"):
        fuzz.measure(0)


def test_cli_reports_it_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fuzz", "--examples", "0"]) != 0
    err = capsys.readouterr().err
    assert "--examples must be at least 1" in err and "Traceback" not in err
