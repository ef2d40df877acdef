#!/usr/bin/env bash
# The two entry points of the README: `./hil.sh main` and `./hil.sh test`.
# Each one sets the machine up first (idempotent), then runs.
set -euo pipefail
cd "$(dirname "$0")"
cmd="${1:-}"; shift || true
case "$cmd" in
    main) scripts/setup; exec .venv/bin/hil run --target sim "$@" ;;
    # Lint and type-check first: they take seconds, and fail the run before minutes of tests.
    test) scripts/setup; .venv/bin/ruff check; scripts/typecheck; exec .venv/bin/python -m pytest "$@" ;;
    *) echo "usage: ./hil.sh main|test [args...]" >&2; exit 2 ;;
esac
