"""Counterexample capsules: one JSON file per SDK-vs-spec disagreement, replayable by ``hil replay``.

A capsule holds everything needed to judge and re-run a finding without the fuzzer: the property
that failed, the requirement it concerns, the shrunk example (JSON-safe, see
:mod:`hil.fuzzing.jsonvalues`), what the oracle expected, what the SDK did, and the
Hypothesis seed and ``@reproduce_failure`` blob so the fuzzer can reproduce the exact run too.

Format (``format = "hil-finding/1"``)::

    {"format": "hil-finding/1", "property": "interface-acceptance",
     "requirement": "ASTARTE-IFACE-NAME-02", "direction": "accepts-invalid",
     "sdk": "astarte-device-sdk==0.14.0", "summary": "...",
     "example": {...}, "oracle": {...}, "observed": {...},
     "known_finding": "sdk-accepts-long-interface-name" | null,
     "seed": 123 | null, "reproduce_failure": "@reproduce_failure(...)" | null,
     "hypothesis_version": "6.170.15", "test": "tests/...::test_x", "found_at": "2026-...Z"}
"""

from __future__ import annotations

import builtins
import datetime as _dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from hil.errors import ConfigError
from hil.report.atomic_file import write_atomically

__all__ = ["CAPSULE_FORMAT", "Capsule", "read_capsule", "write_capsule"]

CAPSULE_FORMAT: Final = "hil-finding/1"
_REQUIRED: Final = ("property", "requirement", "direction", "sdk", "summary", "example")


@dataclass(frozen=True, slots=True)
class Capsule:
    """One finding. ``example`` and ``oracle``/``observed`` are JSON-safe dicts."""

    property: str
    requirement: str
    direction: str
    sdk: str
    summary: str
    example: dict[str, Any]
    oracle: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    known_finding: str | None = None
    seed: int | None = None
    reproduce_failure: str | None = None
    hypothesis_version: str | None = None
    test: str | None = None
    found_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_json(self) -> dict[str, Any]:
        return {"format": CAPSULE_FORMAT, **asdict(self)}

    @builtins.property  # the field ``property`` shadows the builtin in this class body
    def fingerprint(self) -> str:
        """Stable short id of (property, requirement, example): equal findings get one file."""
        key = json.dumps([self.property, self.requirement, self.example], sort_keys=True)
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def write_capsule(capsule: Capsule, directory: Path) -> Path:
    """Write ``capsule`` as ``<requirement>-<fingerprint>.json`` under ``directory``; return the path.

    The same finding found twice lands in the same file (rewritten with the newer metadata).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{capsule.requirement}-{capsule.fingerprint}.json"
    write_atomically(path, (json.dumps(capsule.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8", "surrogatepass"))
    return path


def read_capsule(path: Path) -> Capsule:
    """Load a capsule; a missing, unreadable or malformed file is one :class:`ConfigError` line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read counterexample file: {exc.strerror or exc}", source=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a counterexample file (bad JSON: {exc})", source=path) from None
    if not isinstance(data, dict) or data.get("format") != CAPSULE_FORMAT:
        raise ConfigError(f"not a counterexample file (format is not {CAPSULE_FORMAT!r})", source=path)
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ConfigError(f"counterexample file lacks {', '.join(missing)}", source=path)
    known = {name for name in Capsule.__dataclass_fields__}
    return Capsule(**{key: value for key, value in data.items() if key in known})
