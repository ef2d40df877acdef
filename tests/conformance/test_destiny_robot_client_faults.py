"""``RobotClient`` when the repository, or a proxy in front of it, answers what it should not:
an HTML 502, an empty 503, a gateway time-out, a success without the fields the client needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from destiny_sdk.client import RobotClient

from hil.fixtures.faults import CheckFaults
from hil.components.destiny import DestinyRobot, DestinySim

POLL = "/v1/robot-enhancement-batches/"
HTML_502 = {"status": 502, "body": "<html><h1>502 Bad Gateway</h1></html>", "content_type": "text/html"}


def _client(sim: DestinySim, robot: DestinyRobot) -> RobotClient:
    return RobotClient(base_url=sim.base_url, secret_key=robot.secret, client_id=robot.client_id)


def _poll(sim: DestinySim, robot: DestinyRobot) -> Callable[[], Any]:
    return lambda: _client(sim, robot).poll_robot_enhancement_batch(robot.client_id)


@pytest.mark.requirement("DESTINY-ROBOT-CLIENT-01")
@pytest.mark.parametrize("answer", [
    pytest.param(HTML_502, id="502-html"),
    pytest.param({"status": 503, "body": ""}, id="503-empty"),
    pytest.param({"status": 504, "body": "upstream request timeout", "content_type": "text/plain"}, id="504-text"),
])
def test_proxy_errors_on_poll_surface_with_their_response(destiny: DestinySim, destiny_robot: DestinyRobot,
                                                          faults: CheckFaults, answer: dict[str, Any]) -> None:
    faults.respond("destiny", "POST", POLL, **answer)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        _poll(destiny, destiny_robot)()
    assert caught.value.response.status_code == answer["status"]


@pytest.mark.requirement("DESTINY-ROBOT-CLIENT-02")
@pytest.mark.parametrize("answer", [
    pytest.param({"remove": ["reference_storage_url"]}, id="no-reference_storage_url"),
    pytest.param({"set": {"id": 12}}, id="id-number"),
    pytest.param({"status": 200, "body": "<html>OK</html>", "content_type": "text/html"}, id="200-html"),
])
def test_unusable_poll_answers_surface_as_errors(destiny: DestinySim, destiny_robot: DestinyRobot,
                                                 faults: CheckFaults, answer: dict[str, Any]) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    faults.respond("destiny", "POST", POLL, **answer)
    try:
        batch = _poll(destiny, destiny_robot)()
    except Exception:  # noqa: BLE001 - any error reaching the caller is what is asked; the value is what is not
        return
    pytest.fail(f"DESTINY-ROBOT-CLIENT-02: the client returned {batch!r} from an unusable answer")
