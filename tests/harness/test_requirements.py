"""The requirements registry: the shipped catalog loads, bad catalogs are refused with the file named."""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from hil.errors import RequirementError
from hil.requirements import Requirement, RequirementRegistry, default_registry

CATALOG = Path(str(files("hil").joinpath("catalog")))
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-\d{2}$")

GOOD_ENTRY = """
[[requirement]]
id = "{id}"
title = "A device does the thing"
level = "MUST"
source = "Test spec"
section = "Things"
document = "example/repo:doc/spec.md"
"""


def write_catalog(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped catalog


def test_shipped_catalog_loads_every_entry_once() -> None:
    """Counting entries file by file proves no id was silently collapsed by the registry."""
    raw_ids = [
        entry["id"]
        for path in sorted(CATALOG.glob("*.toml"))
        for entry in tomllib.loads(path.read_text(encoding="utf-8"))["requirement"]
    ]
    registry = default_registry()
    assert len(raw_ids) == len(set(raw_ids)) == len(registry)
    assert all(ID_PATTERN.fullmatch(requirement.id) for requirement in registry)


@pytest.mark.parametrize(
    "requirement_id",
    ["ASTARTE-MQTT-INTROSPECTION-01", "ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TOPICS-01"],
)
def test_ids_used_by_existing_checks_exist(requirement_id: str) -> None:
    requirement = default_registry().get(requirement_id)
    assert requirement.level == "MUST"
    assert requirement.source == "Astarte MQTT v1 protocol"


@pytest.mark.parametrize(
    ("catalog_file", "source", "prefix"),
    [
        ("astarte-mqtt-v1.toml", "Astarte MQTT v1 protocol", "ASTARTE-MQTT-"),
        ("astarte-pairing.toml", "Astarte Pairing API", "ASTARTE-PAIRING-"),
        ("astarte-appengine.toml", "Astarte AppEngine API", "ASTARTE-APPENGINE-"),
    ],
)
def test_each_owned_catalog_is_one_document(catalog_file: str, source: str, prefix: str) -> None:
    entries = tomllib.loads((CATALOG / catalog_file).read_text(encoding="utf-8"))["requirement"]
    assert entries
    assert {entry["source"] for entry in entries} == {source}
    assert all(entry["id"].startswith(prefix) for entry in entries)


def test_default_registry_is_loaded_once() -> None:
    assert default_registry() is default_registry()


def test_iteration_is_sorted_and_grouping_is_complete() -> None:
    registry = default_registry()
    ids = [requirement.id for requirement in registry]
    assert ids == sorted(ids)
    grouped = registry.by_source()
    assert list(grouped) == sorted(grouped)
    assert sum(len(group) for group in grouped.values()) == len(registry)
    assert all(r.source == source for source, group in grouped.items() for r in group)


def test_contains_and_resolve() -> None:
    registry = default_registry()
    assert "ASTARTE-MQTT-TLS-01" in registry
    assert "ASTARTE-MQTT-TLS-99" not in registry
    resolved = registry.resolve(["ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TOPICS-01"])
    assert [r.id for r in resolved] == ["ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TOPICS-01"]


# --------------------------------------------------------------------------- lookups


def test_unknown_id_suggests_the_closest() -> None:
    with pytest.raises(RequirementError) as caught:
        default_registry().get("ASTARTE-MQTT-TLS-1")
    message = str(caught.value)
    assert "unknown requirement id 'ASTARTE-MQTT-TLS-1'" in message
    assert "did you mean 'ASTARTE-MQTT-TLS-01'" in message
    assert "\n" not in message
    assert caught.value.requirement_id == "ASTARTE-MQTT-TLS-1"


def test_unknown_id_without_a_close_match_says_so() -> None:
    with pytest.raises(RequirementError, match="no similar id"):
        default_registry().get("ZZZ-99")


def test_resolve_fails_on_the_first_unknown() -> None:
    with pytest.raises(RequirementError, match="ASTARTE-MQTT-TOPICS-1"):
        default_registry().resolve(["ASTARTE-MQTT-TLS-01", "ASTARTE-MQTT-TOPICS-1"])


def test_registry_rejects_duplicate_objects() -> None:
    requirement = Requirement("A-01", "t", "MUST", "s", "x", "d")
    with pytest.raises(RequirementError, match="duplicate requirement id 'A-01'"):
        RequirementRegistry([requirement, requirement])


# --------------------------------------------------------------------------- bad catalogs


def test_good_temporary_catalog_loads(tmp_path: Path) -> None:
    write_catalog(tmp_path, "a.toml", GOOD_ENTRY.format(id="TEST-A-01"))
    write_catalog(tmp_path, "b.toml", GOOD_ENTRY.format(id="TEST-B-01"))
    write_catalog(tmp_path, "notes.txt", "not a catalog")
    registry = RequirementRegistry.from_directory(tmp_path)
    assert [r.id for r in registry] == ["TEST-A-01", "TEST-B-01"]
    assert registry.get("TEST-A-01") == Requirement(
        "TEST-A-01", "A device does the thing", "MUST", "Test spec", "Things",
        "example/repo:doc/spec.md",
    )


BAD_ENTRIES = {
    "lowercase id": (GOOD_ENTRY.format(id="test-a-01"), "is not UPPER-KEBAB"),
    "id without counter": (GOOD_ENTRY.format(id="TEST-A"), "is not UPPER-KEBAB"),
    "one-digit counter": (GOOD_ENTRY.format(id="TEST-A-1"), "is not UPPER-KEBAB"),
    "bad level": (
        GOOD_ENTRY.format(id="TEST-A-01").replace('"MUST"', '"MUSTN\'T"'),
        "level \"MUSTN'T\" is not one of MUST, SHOULD, MAY",
    ),
    "missing key": (
        GOOD_ENTRY.format(id="TEST-A-01").replace('section = "Things"\n', ""),
        "missing key(s) section",
    ),
    "unknown key": (
        GOOD_ENTRY.format(id="TEST-A-01") + 'priority = "high"\n',
        "unknown key(s) priority",
    ),
    "non-string value": (
        GOOD_ENTRY.format(id="TEST-A-01").replace('"Things"', "3"),
        "section must be a non-empty string",
    ),
    "empty title": (
        GOOD_ENTRY.format(id="TEST-A-01").replace('"A device does the thing"', '"  "'),
        "title must be a non-empty string",
    ),
    "multi-line title": (
        GOOD_ENTRY.format(id="TEST-A-01").replace('"A device does the thing"', '"""two\nlines"""'),
        "title must fit on one line",
    ),
    "duplicate in one file": (
        GOOD_ENTRY.format(id="TEST-A-01") + GOOD_ENTRY.format(id="TEST-A-01"),
        "'TEST-A-01' is already defined in",
    ),
    "unknown top-level key": (
        'version = 1\n' + GOOD_ENTRY.format(id="TEST-A-01"),
        "unknown top-level key(s) version",
    ),
    "no entries": ("# nothing yet\n", "holds no [[requirement]] entries"),
    "not toml": ("[[requirement]\nid = ", "not valid TOML"),
    "entry not a table": ('requirement = ["TEST-A-01"]\n', "must be a table"),
}


@pytest.mark.parametrize(("text", "problem"), BAD_ENTRIES.values(), ids=BAD_ENTRIES.keys())
def test_bad_catalog_is_rejected_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = write_catalog(tmp_path, "broken.toml", text)
    with pytest.raises(RequirementError) as caught:
        RequirementRegistry.from_directory(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


def test_bad_entry_is_named_by_position_and_id(tmp_path: Path) -> None:
    text = GOOD_ENTRY.format(id="TEST-A-01") + GOOD_ENTRY.format(id="TEST-A-02").replace(
        '"MUST"', '"OPTIONAL"'
    )
    write_catalog(tmp_path, "broken.toml", text)
    with pytest.raises(RequirementError, match=r"\[\[requirement\]\] #2 \(TEST-A-02\): level"):
        RequirementRegistry.from_directory(tmp_path)


def test_duplicate_across_files_names_both(tmp_path: Path) -> None:
    first = write_catalog(tmp_path, "a.toml", GOOD_ENTRY.format(id="TEST-A-01"))
    second = write_catalog(tmp_path, "b.toml", GOOD_ENTRY.format(id="TEST-A-01"))
    with pytest.raises(RequirementError) as caught:
        RequirementRegistry.from_directory(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{second}: ")
    assert f"already defined in {first}" in message
