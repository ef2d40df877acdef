"""The requirements registry: every normative statement a check can claim to verify.

Requirements live as data in ``harness/catalog/<document>.toml``, one ``[[requirement]]`` table per
statement, so that adding a requirement never means touching code::

    [[requirement]]
    id = "ASTARTE-MQTT-INTROSPECTION-01"
    title = "Device publishes its introspection on the device root topic"
    level = "MUST"
    source = "Astarte MQTT v1 protocol"
    section = "Introspection"
    document = "astarte-platform/astarte:doc/pages/architecture/080-mqtt-v1-protocol.md"

Why a registry rather than free-form marker strings: a typo in ``@pytest.mark.requirement`` would
otherwise silently create a requirement nobody wrote, and the coverage report would show the real
one as "not checked". So every id is validated at load time (syntax, uniqueness, level) and every
lookup of an unknown id fails with a did-you-mean suggestion.

Usage::

    registry = default_registry()
    requirement = registry.get("ASTARTE-MQTT-TLS-01")
    registry.resolve(["ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TOPICS-01"])
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final, Literal, cast

from hil.errors import RequirementError

__all__ = [
    "LEVELS",
    "Level",
    "Requirement",
    "RequirementRegistry",
    "default_registry",
]

Level = Literal["MUST", "SHOULD", "MAY"]
#: The RFC 2119 keywords we grade requirements by, strongest first.
LEVELS: Final[tuple[Level, ...]] = ("MUST", "SHOULD", "MAY")

#: UPPER-KEBAB words ending in a two-digit counter, e.g. ``ASTARTE-MQTT-TLS-01``. The counter is
#: mandatory so that a second statement on the same topic gets ``-02`` instead of a new word.
_ID_PATTERN: Final = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d{2}$")
_FIELDS: Final = ("id", "title", "level", "source", "section", "document")
_TABLE: Final = "requirement"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative statement of an upstream document, in our own words.

    Attributes:
        id: stable identifier used by ``@pytest.mark.requirement``; never renumber a published one.
        title: one line saying what must hold.
        level: ``MUST``, ``SHOULD`` or ``MAY``.
        source: human name of the document (``Astarte MQTT v1 protocol``).
        section: the section of that document the statement comes from.
        document: where to read it, as ``owner/repo:path`` or a reference file.
    """

    id: str
    title: str
    level: Level
    source: str
    section: str
    document: str


class RequirementRegistry:
    """An immutable, validated set of requirements, iterated in id order.

    Build it with :meth:`from_directory` (or :func:`default_registry` for the shipped catalog);
    the constructor accepts already-built :class:`Requirement` objects, which is handy in tests.

    Raises:
        RequirementError: on duplicate ids.
    """

    def __init__(self, requirements: Iterable[Requirement]) -> None:
        by_id: dict[str, Requirement] = {}
        for requirement in requirements:
            if requirement.id in by_id:
                raise RequirementError(
                    requirement.id, f"duplicate requirement id {requirement.id!r}"
                )
            by_id[requirement.id] = requirement
        self._by_id: dict[str, Requirement] = dict(sorted(by_id.items()))

    @classmethod
    def from_directory(cls, directory: Path | Traversable) -> RequirementRegistry:
        """Load every ``*.toml`` catalog file of ``directory`` (in file-name order).

        Raises:
            RequirementError: naming the file and the entry of the first problem found.
        """
        catalog_files = sorted(
            (entry for entry in directory.iterdir() if entry.name.endswith(".toml")),
            key=lambda entry: entry.name,
        )
        return cls.from_files(catalog_files)

    @classmethod
    def from_files(cls, catalog_files: Iterable[Path | Traversable]) -> RequirementRegistry:
        """Load the given catalog files; an id defined in two files is an error naming both."""
        origin: dict[str, str] = {}
        loaded: list[Requirement] = []
        for catalog_file in catalog_files:
            label = _file_label(catalog_file)
            for requirement in _parse_catalog(catalog_file, label):
                if requirement.id in origin:
                    raise RequirementError(
                        requirement.id,
                        f"{label}: requirement {requirement.id!r} is already defined in "
                        f"{origin[requirement.id]}",
                    )
                origin[requirement.id] = label
                loaded.append(requirement)
        return cls(loaded)

    def get(self, requirement_id: str) -> Requirement:
        """The requirement with this id.

        Raises:
            RequirementError: the id is unknown; the message suggests the closest known ids.
        """
        try:
            return self._by_id[requirement_id]
        except KeyError:
            raise RequirementError(requirement_id, self._unknown_message(requirement_id)) from None

    def resolve(self, requirement_ids: Iterable[str]) -> tuple[Requirement, ...]:
        """Look up several ids at once (e.g. the arguments of one marker), failing on the first unknown."""
        return tuple(self.get(requirement_id) for requirement_id in requirement_ids)

    def suggestions(self, requirement_id: str, limit: int = 3) -> list[str]:
        """Known ids that look like ``requirement_id``, closest first (possibly none)."""
        return difflib.get_close_matches(requirement_id, self._by_id, n=limit, cutoff=0.6)

    def by_source(self) -> dict[str, tuple[Requirement, ...]]:
        """Requirements grouped by source document, sources and ids sorted: the report's chapters."""
        grouped: dict[str, list[Requirement]] = {}
        for requirement in self._by_id.values():
            grouped.setdefault(requirement.source, []).append(requirement)
        return {source: tuple(grouped[source]) for source in sorted(grouped)}

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"<RequirementRegistry with {len(self._by_id)} requirements>"

    def _unknown_message(self, requirement_id: str) -> str:
        close = self.suggestions(requirement_id)
        if close:
            hint = " or ".join(repr(candidate) for candidate in close)
            return f"unknown requirement id {requirement_id!r}; did you mean {hint}?"
        return (
            f"unknown requirement id {requirement_id!r}; "
            "no similar id in the catalog (see harness/catalog/*.toml)"
        )


@functools.cache
def default_registry() -> RequirementRegistry:
    """The registry of the catalog shipped with hil, loaded once per process.

    Found through :mod:`importlib.resources`, so it works from a checkout, an editable install
    and a wheel alike.
    """
    return RequirementRegistry.from_directory(files("hil").joinpath("catalog"))


def _file_label(catalog_file: Path | Traversable) -> str:
    """The file as the user can find it: its path, or its package-relative name inside a wheel."""
    if isinstance(catalog_file, Path):
        return str(catalog_file)
    return f"harness/catalog/{catalog_file.name}"


def _parse_catalog(catalog_file: Path | Traversable, label: str) -> list[Requirement]:
    try:
        document = tomllib.loads(catalog_file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RequirementError("", f"{label}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementError("", f"{label}: cannot be read: {exc}") from None

    unknown_tables = sorted(set(document) - {_TABLE})
    if unknown_tables:
        raise RequirementError(
            "", f"{label}: unknown top-level key(s) {', '.join(unknown_tables)}; "
            f"only [[{_TABLE}]] entries are allowed"
        )
    entries = document.get(_TABLE)
    if not isinstance(entries, list) or not entries:
        raise RequirementError("", f"{label}: holds no [[{_TABLE}]] entries")
    return [
        _parse_entry(entry, f"{label}: [[{_TABLE}]] #{index}")
        for index, entry in enumerate(entries, start=1)
    ]


def _parse_entry(entry: object, where: str) -> Requirement:
    if not isinstance(entry, Mapping):
        raise RequirementError("", f"{where}: must be a table")
    raw_id = entry.get("id")
    requirement_id = raw_id if isinstance(raw_id, str) else ""
    if requirement_id:
        where = f"{where} ({requirement_id})"

    def fail(problem: str) -> RequirementError:
        return RequirementError(requirement_id, f"{where}: {problem}")

    missing = [key for key in _FIELDS if key not in entry]
    if missing:
        raise fail(f"missing key(s) {', '.join(missing)}")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_FIELDS)}")
    for key in _FIELDS:
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{key} must be a non-empty string")
        if "\n" in value:
            raise fail(f"{key} must fit on one line")
    if not _ID_PATTERN.fullmatch(requirement_id):
        raise fail(
            f"id {requirement_id!r} is not UPPER-KEBAB ending in a two-digit number "
            "(e.g. ASTARTE-MQTT-TLS-01)"
        )
    level = entry["level"]
    if level not in LEVELS:
        raise fail(f"level {level!r} is not one of {', '.join(LEVELS)}")
    return Requirement(
        id=requirement_id,
        title=entry["title"].strip(),
        level=cast(Level, level),
        source=entry["source"].strip(),
        section=entry["section"].strip(),
        document=entry["document"].strip(),
    )
