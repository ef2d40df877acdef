"""The real ``destiny_sdk.client.RobotClient`` against the simulated DESTINY repository.

Each check drives the SDK as a robot would and judges the outcome by what the repository contract
says (catalog ``harness/catalog/destiny-robot-api.toml``), reading the simulator's state through
``/_sim`` rather than trusting the SDK's own return values. Time is moved with the simulator's
clock, never by sleeping. These are the checks only a simulator can make (the query the SDK sent,
lease expiry times, the server's clock); the same robot behaviours seen through the public API,
which run on a real repository too, are in ``test_destiny_robot_api.py``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from destiny_sdk.client import RobotClient
from destiny_sdk.robots import RobotEnhancementBatch, RobotEnhancementBatchResult

from hil.fixtures.plugin import hil_requires
from hil.components.destiny import DestinyRobot, DestinySim
from hil.targets.protocols import DestinyControl

SDK = "destiny-sdk==0.17.6"
pytestmark = hil_requires(DestinyControl)


def client_for(sim: DestinySim, robot: DestinyRobot, *, secret: str | None = None) -> RobotClient:
    return RobotClient(base_url=sim.base_url, secret_key=secret or robot.secret, client_id=robot.client_id)


def sim_now(sim: DestinySim) -> datetime.datetime:
    return datetime.datetime.fromisoformat(sim.http.get("/_sim/clock").json()["now"])


def reference_ids(batch: RobotEnhancementBatch) -> list[str]:
    text = httpx.get(str(batch.reference_storage_url)).raise_for_status().text
    return [json.loads(line)["id"] for line in text.splitlines() if line.strip()]


def enhancement_line(reference_id: str) -> str:
    return json.dumps(
        {
            "reference_id": reference_id,
            "source": "hil-conformance",
            "visibility": "public",
            "robot_version": "1",
            "content": {"enhancement_type": "annotation", "annotations": []},
        }
    )


def upload(batch: RobotEnhancementBatch, lines: list[str]) -> None:
    httpx.put(str(batch.result_storage_url), content="\n".join(lines) + "\n").raise_for_status()


def http_error(call: Callable[[], Any]) -> httpx.Response:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response


# -- polling ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-POLL-01", "DESTINY-ROBOT-POLL-04", "DESTINY-ROBOT-POLL-07")
def test_poll_with_defaults_claims_work_for_the_default_lease(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=3)
    before = sim_now(destiny)
    batch = client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id)
    after = sim_now(destiny)

    assert batch is not None
    call = destiny.journal()[-1]
    assert (call["method"], call["path"]) == ("POST", "/v1/robot-enhancement-batches/")
    assert "lease=" not in call["query"] and "limit=10" in call["query"]
    state = destiny.batch(batch.id)
    assert sorted(reference_ids(batch)) == sorted(item["reference_id"] for item in state["items"])
    assert len(state["items"]) == 3
    for item in state["items"]:
        assert item["status"] == "processing"
        expires = datetime.datetime.fromisoformat(item["expires_at"])
        assert before + datetime.timedelta(minutes=10) <= expires <= after + datetime.timedelta(minutes=10)


@pytest.mark.requirement("DESTINY-ROBOT-POLL-01", "DESTINY-ROBOT-POLL-03")
def test_poll_with_limit_and_lease(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=5)
    before = sim_now(destiny)
    batch = client_for(destiny, destiny_robot).poll_robot_enhancement_batch(
        destiny_robot.client_id, limit=2, lease="PT1H"
    )
    after = sim_now(destiny)

    assert batch is not None
    items = destiny.batch(batch.id)["items"]
    assert len(items) == 2
    expires = datetime.datetime.fromisoformat(items[0]["expires_at"])
    assert before + datetime.timedelta(hours=1) <= expires <= after + datetime.timedelta(hours=1)
    assert [p["status"] for p in destiny.pending(destiny_robot.client_id)].count("pending") == 3


# -- leases ----------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-LEASE-01")
def test_renew_lease_extends_the_lease(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, lease="PT1M")
    assert batch is not None
    destiny.advance_clock(45)

    client.renew_robot_enhancement_batch_lease(batch.id, "PT30M")
    destiny.advance_clock(60)  # past the first lease: only the renewal keeps the item

    item = destiny.batch(batch.id)["items"][0]
    assert item["status"] == "processing"
    assert destiny.journal()[-1]["query"] == "lease=PT30M"


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-02", "DESTINY-ROBOT-LEASE-03", "DESTINY-ROBOT-CLIENT-01")
def test_renewing_an_expired_lease_is_a_conflict(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, lease="PT1M")
    assert batch is not None
    destiny.advance_clock(61)

    response = http_error(lambda: client.renew_robot_enhancement_batch_lease(batch.id))
    assert response.status_code == 409
    assert "may have already expired" in response.json()["detail"]
    again = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert again is not None and again.id != batch.id  # the item went back to the pool


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-04", "DESTINY-ROBOT-CLIENT-01")
def test_lease_expiry_between_poll_and_result_is_surfaced(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=2)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, lease="PT1M")
    assert batch is not None
    upload(batch, [enhancement_line(r) for r in reference_ids(batch)])
    # Leases shorter than the 300 s signature window, so moving the server clock past the lease
    # does not also make the robot's signatures look stale.
    destiny.advance_clock(61)

    response = http_error(
        lambda: client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Cannot process results: ")


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-08", "DESTINY-ROBOT-CLIENT-01")
def test_server_clock_past_the_window_rejects_as_expired(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.advance_clock(301)
    client = client_for(destiny, destiny_robot)
    response = http_error(lambda: client.poll_robot_enhancement_batch(destiny_robot.client_id))
    assert (response.status_code, response.json()) == (401, {"detail": "Token is expired."})


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-08")
def test_server_clock_inside_the_window_accepts(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.advance_clock(290)  # 10 s of margin: the request is signed just before it is sent
    assert client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id) is None


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-09")
def test_client_clock_ahead_of_the_server_is_accepted(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.advance_clock(-3600)
    assert client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id) is None
