"""Path resolution: the specification's answer and Astarte v1.2.0's answer."""

from __future__ import annotations

from typing import Any

import pytest

from hil.oracle import Interface, PathStatus, parse_interface, resolve, server_resolve


def make(mappings: list[str], *, aggregation: str = "individual") -> Interface:
    doc: dict[str, Any] = {
        "interface_name": "org.hil.test.Paths",
        "version_major": 0,
        "version_minor": 1,
        "type": "datastream",
        "ownership": "device",
        "aggregation": aggregation,
        "mappings": [{"endpoint": e, "type": "integer"} for e in mappings],
    }
    return parse_interface(doc)


INDIVIDUAL = make(["/%{sensor}/value", "/%{sensor}/limits/max", "/config/name"])
OBJECT = make(["/%{group}/x", "/%{group}/y"], aggregation="object")
FLAT_OBJECT = make(["/x", "/y"], aggregation="object")


@pytest.mark.parametrize(
    ("path", "endpoint", "parameters"),
    [
        ("/s1/value", "/%{sensor}/value", {"sensor": "s1"}),
        ("/héllo wörld/value", "/%{sensor}/value", {"sensor": "héllo wörld"}),
        ("/config/limits/max", "/%{sensor}/limits/max", {"sensor": "config"}),
        ("/config/name", "/config/name", {}),
    ],
)
def test_individual_paths_resolve_with_their_parameters(path: str, endpoint: str, parameters: dict[str, str]) -> None:
    resolution = resolve(INDIVIDUAL, path)
    assert resolution.ok and resolution.mapping is not None
    assert resolution.mapping.endpoint == endpoint and resolution.parameters == parameters


@pytest.mark.parametrize(
    ("path", "status", "rule_id"),
    [
        ("/s1", PathStatus.PARTIAL, "ASTARTE-PAYLOAD-PATH-01"),
        ("/s1/limits", PathStatus.PARTIAL, "ASTARTE-PAYLOAD-PATH-01"),
        ("/", PathStatus.PARTIAL, "ASTARTE-PAYLOAD-PATH-01"),
        ("/s1/other", PathStatus.NOT_FOUND, "ASTARTE-PAYLOAD-PATH-01"),
        ("/s1/value/extra", PathStatus.NOT_FOUND, "ASTARTE-PAYLOAD-PATH-01"),
        ("/config/Name", PathStatus.NOT_FOUND, "ASTARTE-PAYLOAD-PATH-01"),  # literals are case-sensitive
        ("s1/value", PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03"),
        ("", PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03"),
        ("//value", PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03"),  # empty parameter value
        ("/s1/value/", PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03"),
        ("/s\udcff/value", PathStatus.INVALID_PATH, "ASTARTE-PAYLOAD-PATH-03"),  # bytes that were not UTF-8
        ("/a+b/value", PathStatus.BAD_PARAMETER, "ASTARTE-PAYLOAD-PARAM-01"),
        ("/a#/value", PathStatus.BAD_PARAMETER, "ASTARTE-PAYLOAD-PARAM-01"),
    ],
)
def test_individual_paths_that_do_not_resolve(path: str, status: PathStatus, rule_id: str) -> None:
    resolution = resolve(INDIVIDUAL, path)
    assert (resolution.status, resolution.rule_id) == (status, rule_id)
    assert resolution.reason and not resolution.ok


def test_object_resolves_on_the_parent_path() -> None:
    resolution = resolve(OBJECT, "/g1")
    assert resolution.ok and resolution.mapping is None
    assert [m.endpoint for m in resolution.mappings] == ["/%{group}/x", "/%{group}/y"]
    assert resolution.parameters == {"group": "g1"}


def test_depth_one_object_resolves_on_slash() -> None:
    assert resolve(FLAT_OBJECT, "/").ok


@pytest.mark.parametrize(
    ("interface", "path", "status"),
    [
        (OBJECT, "/g1/x", PathStatus.NOT_OBJECT_PARENT),
        (OBJECT, "/", PathStatus.NOT_FOUND),
        (OBJECT, "/g1/x/z", PathStatus.NOT_FOUND),
        (OBJECT, "/g+1", PathStatus.BAD_PARAMETER),
        (FLAT_OBJECT, "/x", PathStatus.NOT_OBJECT_PARENT),
        (FLAT_OBJECT, "", PathStatus.INVALID_PATH),
    ],
)
def test_object_paths_that_do_not_resolve(interface: Interface, path: str, status: PathStatus) -> None:
    assert resolve(interface, path).status is status


# --------------------------------------------------------------------------- server


@pytest.mark.parametrize(
    ("interface", "path", "error_name"),
    [
        (INDIVIDUAL, "/s1/value", None),
        (INDIVIDUAL, "/s1/value/", None),  # trailing empty level dropped by the server
        (INDIVIDUAL, "/a+b/value", None),  # the server does not police parameter values
        (INDIVIDUAL, "/s1", "ambiguous_path"),
        (INDIVIDUAL, "/", "ambiguous_path"),
        (INDIVIDUAL, "", "ambiguous_path"),
        (INDIVIDUAL, "/s1/nope", "mapping_not_found"),
        (INDIVIDUAL, "//value", "invalid_path"),
        (INDIVIDUAL, "/s\udcff/value", "invalid_path"),
        (INDIVIDUAL, "/%{x}/name", None),  # a level shaped like a placeholder is a wildcard
        (OBJECT, "/g1", None),
        (OBJECT, "/g1/x", "mapping_not_found"),
        (OBJECT, "/", "mapping_not_found"),
        (OBJECT, "/g1/x/z", "mapping_not_found"),
        (FLAT_OBJECT, "/", None),
        (FLAT_OBJECT, "", None),
        (FLAT_OBJECT, "/x", "mapping_not_found"),
    ],
)
def test_server_resolution_matches_astarte(interface: Interface, path: str, error_name: str | None) -> None:
    assert server_resolve(interface, path).error_name == error_name


def test_server_resolution_returns_the_addressed_mappings() -> None:
    assert [m.endpoint for m in server_resolve(INDIVIDUAL, "/config/name").mappings] == ["/config/name"]
    assert len(server_resolve(OBJECT, "/g").mappings) == 2
