"""The real ``destiny_sdk.client.RobotClient`` against the simulated DESTINY repository.

Each check drives the SDK as a robot would and judges the outcome by what the repository contract
says (catalog ``harness/catalog/destiny-robot-api.toml``), reading the simulator's state through
``/_sim`` rather than trusting the SDK's own return values. Time is moved with the simulator's
clock, never by sleeping.
"""

from __future__ import annotations

import datetime
import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from destiny_sdk.client import RobotClient
from destiny_sdk.robots import RobotEnhancementBatch, RobotEnhancementBatchResult, RobotError, RobotResult

from hil.components.destiny import DestinyRobot, DestinySim

# The releases this finding was seen in (hil matrix, sets previous and current).
SDK = "destiny-sdk>=0.16.0,<=0.17.6"


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


@pytest.mark.requirement("DESTINY-ROBOT-POLL-02")
def test_poll_with_nothing_pending_returns_none(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    assert client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id) is None
    assert destiny.journal()[-1]["status"] == 204


@pytest.mark.requirement("DESTINY-ROBOT-POLL-06")
def test_concurrent_replicas_never_receive_the_same_pending_enhancement(
    destiny: DestinySim, destiny_robot: DestinyRobot
) -> None:
    destiny.enqueue(destiny_robot.client_id, count=40)
    replicas = 4
    start = threading.Barrier(replicas)

    def drain() -> list[uuid.UUID]:
        client = client_for(destiny, destiny_robot)
        start.wait(timeout=10)
        claimed = []
        while (batch := client.poll_robot_enhancement_batch(destiny_robot.client_id, limit=3)) is not None:
            claimed.append(batch.id)
        return claimed

    with ThreadPoolExecutor(replicas) as pool:
        batch_ids = [b for ids in pool.map(lambda _: drain(), range(replicas)) for b in ids]

    claimed_items = [item["id"] for b in batch_ids for item in destiny.batch(b)["items"]]
    assert len(claimed_items) == len(set(claimed_items)) == 40


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


# -- results ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-RESULT-01", "DESTINY-ROBOT-POLL-07", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_success_completes_every_item(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    request = destiny.enqueue(destiny_robot.client_id, count=3)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    upload(batch, [enhancement_line(r) for r in reference_ids(batch)])

    read = client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))

    assert read.id == batch.id and read.robot_id == destiny_robot.client_id and read.error is None
    assert destiny.journal()[-1]["status"] == 202
    assert {i["status"] for i in destiny.batch(batch.id)["items"]} == {"completed"}
    signed = client.session.get(f"/enhancement-requests/{request['id']}/")
    assert signed.status_code == 200 and signed.json()["request_status"] == "completed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-05", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_with_per_item_errors_fails_only_those(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    request = destiny.enqueue(destiny_robot.client_id, count=3)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    good, bad, missing = reference_ids(batch)
    upload(batch, [enhancement_line(good), json.dumps({"reference_id": bad, "message": "no abstract found"})])

    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))

    outcome = {i["reference_id"]: (i["status"], i["outcome"]) for i in destiny.batch(batch.id)["items"]}
    assert outcome[good][0] == "completed"
    assert outcome[bad] == ("failed", "no abstract found")
    assert outcome[missing] == ("failed", "Requested reference not in enhancement result.")
    signed = client.session.get(f"/enhancement-requests/{request['id']}/")
    assert signed.json()["request_status"] == "partial_failed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-02")
def test_batch_error_result_fails_the_batch(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=2)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None

    read = client.send_robot_enhancement_batch_result(
        RobotEnhancementBatchResult(request_id=batch.id, error=RobotError(message="model offline"))
    )

    assert read.error == "model offline"
    assert destiny.journal()[-1]["status"] == 200
    assert {i["status"] for i in destiny.batch(batch.id)["items"]} == {"failed"}


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-04", "DESTINY-ROBOT-CLIENT-01")
def test_reporting_a_batch_twice_is_refused(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    upload(batch, [enhancement_line(r) for r in reference_ids(batch)])
    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))

    response = http_error(
        lambda: client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Cannot process results: Cannot transition from status 'completed' to 'importing'"
    }


@pytest.mark.finding(
    "DESTINY-ROBOT-RESULT-06",
    reason="RobotClient.send_robot_result posts to /v1/enhancement-requests/<id>/results/, a route the "
    "repository removed; the call can only fail with 404",
    sdk=SDK,
)
def test_send_robot_result_reports_a_result(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    request = destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    try:
        read = client.send_robot_result(RobotResult(request_id=uuid.UUID(request["id"])))
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 404:
            raise  # any other answer is not this finding (a 5xx would be a simulator defect)
        pytest.fail(f"DESTINY-ROBOT-RESULT-06: {exc.request.method} {exc.request.url.path} is not a route: 404")
    assert read.id == uuid.UUID(request["id"])


# -- authentication --------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-AUTH-06", "DESTINY-ROBOT-AUTH-11")
def test_signatures_of_every_call_kind_verify_on_the_server(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    """Empty-body POST, PATCH with a query and JSON-body POST: the server recomputes each."""
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, limit=1, lease="PT2M")
    assert batch is not None
    client.renew_robot_enhancement_batch_lease(batch.id, "PT3M")
    upload(batch, [enhancement_line(r) for r in reference_ids(batch)])
    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))

    assert [c["status"] for c in destiny.journal()] == [200, 200, 202]
    assert {c["client_id"] for c in destiny.journal()} == {str(destiny_robot.client_id)}


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-07", "DESTINY-ROBOT-CLIENT-01")
def test_wrong_secret_is_refused(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    client = client_for(destiny, destiny_robot, secret=destiny_robot.secret + "0")
    response = http_error(lambda: client.poll_robot_enhancement_batch(destiny_robot.client_id))
    assert (response.status_code, response.json()) == (401, {"detail": "Signature is invalid."})


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-10", "DESTINY-ROBOT-CLIENT-01")
def test_unknown_robot_is_refused(destiny: DestinySim) -> None:
    stranger = DestinyRobot(client_id=uuid.uuid4(), secret="whatever", name="stranger")
    response = http_error(lambda: client_for(destiny, stranger).poll_robot_enhancement_batch(stranger.client_id))
    assert (response.status_code, response.json()) == (
        401,
        {"detail": f"robot client {stranger.client_id} does not exist."},
    )


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
