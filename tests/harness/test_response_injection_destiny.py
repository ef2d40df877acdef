"""The same response injection on the DESTINY simulator (one middleware for every simulator)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hil.simulators.destiny import create_app, new_store


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app(new_store()), raise_server_exceptions=False) as client:
        yield client


def test_robot_route_answers_what_was_injected_then_the_real_answer(api: TestClient) -> None:
    robots = api.get("/_sim/robots")
    assert robots.status_code == 200
    created = api.post("/_sim/responses", json={"method": "GET", "path": "/_sim/robots", "count": 1,
                                                 "status": 504, "body": "<html>Gateway Time-out</html>",
                                                 "content_type": "text/html"})
    assert created.status_code == 201, created.text
    injected = api.get("/_sim/robots")
    assert (injected.status_code, injected.text) == (504, "<html>Gateway Time-out</html>")
    assert api.get("/_sim/robots").json() == robots.json()


def test_changes_apply_to_the_real_json(api: TestClient) -> None:
    robot = api.post("/_sim/robots", json={"name": "r"}).json()
    api.post("/_sim/responses", json={"method": "POST", "path": "/_sim/robots", "set": {"name": 5},
                                      "remove": ["client_secret"]})
    changed = api.post("/_sim/robots", json={"name": "s"}).json()
    assert changed["name"] == 5 and "client_secret" not in changed and "client_secret" in robot


def test_a_bad_rule_is_one_line(api: TestClient) -> None:
    answer = api.post("/_sim/responses", json={"path": "/v1/*", "status": "502"})
    assert answer.status_code == 400 and answer.json() == {
        "error": "status must be an HTTP status (100-599), got '502'", "status": 400}
