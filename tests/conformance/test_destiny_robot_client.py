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
import ssl
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from destiny_sdk.client import RobotClient
from destiny_sdk.robots import (
    EnhancementRequestIn,
    EnhancementRequestRead,
    RobotEnhancementBatch,
    RobotEnhancementBatchResult,
    RobotError,
    RobotResult,
)

from hil.components.destiny import DestinyRobot, DestinySim
from hil.fixtures.plugin import hil_requires
from hil.targets.protocols import DestinyControl

SDK = "destiny-sdk==0.17.6"
pytestmark = hil_requires(DestinyControl)


def client_for(sim: DestinySim, robot: DestinyRobot, *, secret: str | None = None) -> RobotClient:
    return RobotClient(base_url=sim.base_url, secret_key=secret or robot.secret, client_id=robot.client_id)


def sim_now(sim: DestinySim) -> datetime.datetime:
    return datetime.datetime.fromisoformat(sim.http.get("/_sim/clock").json()["now"])


def blob_client(sim: DestinySim) -> httpx.Client:
    """A robot's own HTTP client for the batch files (the SDK has none): it trusts the storage CA."""
    verify = ssl.create_default_context(cafile=str(sim.storage_ca)) if sim.storage_ca else True
    return httpx.Client(verify=verify, timeout=10.0)


def reference_ids(sim: DestinySim, batch: RobotEnhancementBatch) -> list[str]:
    with blob_client(sim) as blobs:
        text = blobs.get(str(batch.reference_storage_url)).raise_for_status().text
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


BLOCK_BLOB = {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/jsonl"}
"""What a robot sends with its result file: Azure's Put Blob refuses a PUT without the blob type."""


def upload(sim: DestinySim, batch: RobotEnhancementBatch, lines: list[str]) -> None:
    with blob_client(sim) as blobs:
        blobs.put(str(batch.result_storage_url), content="\n".join(lines) + "\n", headers=BLOCK_BLOB).raise_for_status()


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
    assert sorted(reference_ids(destiny, batch)) == sorted(item["reference_id"] for item in state["items"])
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
    assert destiny.run_expiry_job() == {"expired": 1, "replaced_with": 1}

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
    upload(destiny, batch, [enhancement_line(r) for r in reference_ids(destiny, batch)])
    # Leases shorter than the 300 s signature window, so moving the server clock past the lease
    # does not also make the robot's signatures look stale; the expiry job is run by hand.
    destiny.advance_clock(61)
    destiny.run_expiry_job()

    response = http_error(
        lambda: client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Cannot process results: ")


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-05", "DESTINY-ROBOT-LEASE-01")
def test_a_late_renewal_succeeds_until_the_expiry_job_runs(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, lease="PT1M")
    assert batch is not None
    destiny.advance_clock(90)  # the lease lapsed 30 s ago; the job (every 10 min) has not run

    assert client.poll_robot_enhancement_batch(destiny_robot.client_id) is None  # not handed out again
    client.renew_robot_enhancement_batch_lease(batch.id, "PT5M")
    assert destiny.run_expiry_job() == {"expired": 0, "replaced_with": 0}  # the renewal saved it
    assert destiny.batch(batch.id)["items"][0]["status"] == "processing"


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-05", "DESTINY-ROBOT-RESULT-01")
def test_a_late_result_is_accepted_until_the_expiry_job_runs(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, lease="PT1M")
    assert batch is not None
    upload(destiny, batch, [enhancement_line(r) for r in reference_ids(destiny, batch)])
    destiny.advance_clock(90)

    read = client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    assert read.id == batch.id and destiny.journal()[-1]["status"] == 202
    destiny.run_imports()
    assert destiny.batch(batch.id)["items"][0]["status"] == "completed"


# -- results ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-RESULT-01", "DESTINY-ROBOT-POLL-07", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_success_completes_every_item(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    request = destiny.enqueue(destiny_robot.client_id, count=3)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    upload(destiny, batch, [enhancement_line(r) for r in reference_ids(destiny, batch)])

    read = client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))

    assert read.id == batch.id and read.robot_id == destiny_robot.client_id and read.error is None
    assert destiny.journal()[-1]["status"] == 202
    assert {i["status"] for i in destiny.batch(batch.id)["items"]} == {"importing"}
    destiny.run_imports()
    assert {i["status"] for i in destiny.batch(batch.id)["items"]} == {"completed"}
    signed = client.session.get(f"/enhancement-requests/{request['id']}/")
    assert signed.status_code == 200 and signed.json()["request_status"] == "completed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-05", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_with_per_item_errors_fails_only_those(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    request = destiny.enqueue(destiny_robot.client_id, count=3)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    good, bad, missing = reference_ids(destiny, batch)
    upload(destiny, batch, [enhancement_line(good), json.dumps({"reference_id": bad, "message": "no abstract found"})])

    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    destiny.run_imports()

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


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-04", "DESTINY-ROBOT-RESULT-07", "DESTINY-ROBOT-CLIENT-01")
def test_reporting_a_batch_twice_is_refused(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    upload(destiny, batch, [enhancement_line(r) for r in reference_ids(destiny, batch)])
    report = RobotEnhancementBatchResult(request_id=batch.id)
    client.send_robot_enhancement_batch_result(report)

    during = http_error(lambda: client.send_robot_enhancement_batch_result(report))  # the import is under way
    assert (during.status_code, during.json()) == (
        422,
        {"detail": "Cannot process results: Cannot transition from status 'importing' to 'importing'"},
    )
    destiny.run_imports()
    after = http_error(lambda: client.send_robot_enhancement_batch_result(report))
    assert (after.status_code, after.json()) == (
        422,
        {"detail": "Cannot process results: Cannot transition from status 'completed' to 'importing'"},
    )


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


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-08", "DESTINY-ROBOT-REQUEST-01")
def test_repeating_an_enhancement_is_discarded(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    reference = destiny.enqueue(destiny_robot.client_id, count=1)["reference_ids"][0]
    client = client_for(destiny, destiny_robot)
    outcomes = []
    for _ in range(2):
        batch = client.poll_robot_enhancement_batch(destiny_robot.client_id)
        assert batch is not None
        upload(destiny, batch, [enhancement_line(reference)])
        client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
        destiny.run_imports()
        (item,) = destiny.batch(batch.id)["items"]
        outcomes.append((item["status"], item["outcome"]))
        destiny.enqueue(destiny_robot.client_id, reference_ids=[uuid.UUID(reference)])  # ask again

    assert outcomes == [("completed", "Enhancement added."),
                        ("discarded", "Exact duplicate enhancement already exists on reference.")]


# -- storage ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-01", "DESTINY-ROBOT-STORAGE-04", "DESTINY-ROBOT-POLL-07")
def test_a_robot_uploads_through_the_urls_the_sdk_hands_it(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    """The SDK parses the URLs into pydantic ``HttpUrl``s; their SAS must survive that unchanged."""
    destiny.enqueue(destiny_robot.client_id, count=1)
    batch = client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    assert batch.result_storage_url.scheme == "https"
    with blob_client(destiny) as blobs:
        bare = blobs.put(str(batch.result_storage_url), content=b"{}\n")  # no x-ms-blob-type
        assert bare.status_code == 400 and bare.headers["x-ms-error-code"] == "MissingRequiredHeader"
        stored = blobs.put(str(batch.result_storage_url), content=b"{}\n", headers=BLOCK_BLOB)
        assert stored.status_code == 201
    assert destiny.batch(batch.id)["result_file"] == "{}\n"


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-02")
def test_batch_urls_grant_one_direction_each(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    destiny.enqueue(destiny_robot.client_id, count=1)
    batch = client_for(destiny, destiny_robot).poll_robot_enhancement_batch(destiny_robot.client_id)
    assert batch is not None
    with blob_client(destiny) as blobs:
        read_result = blobs.get(str(batch.result_storage_url))
        write_reference = blobs.put(str(batch.reference_storage_url), content=b"x", headers=BLOCK_BLOB)
    for response in (read_result, write_reference):
        assert response.status_code == 403
        assert response.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
        assert b"<Code>AuthorizationPermissionMismatch</Code>" in response.content


# -- enhancement requests --------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-REQUEST-02", "DESTINY-ROBOT-AUTH-06")
def test_a_robot_requests_enhancements_with_its_signed_session(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    """RobotClient has no method for it; its session signs the request like every other call."""
    references = destiny.enqueue(destiny_robot.client_id, count=2)["reference_ids"]
    client = client_for(destiny, destiny_robot)
    response = client.session.post(
        "/enhancement-requests/",
        json=EnhancementRequestIn(robot_id=destiny_robot.client_id, reference_ids=references).model_dump(mode="json"),
    )
    assert response.status_code == 202, response.text
    read = EnhancementRequestRead.model_validate(response.json())
    assert (read.request_status, [str(r) for r in read.reference_ids]) == ("received", references)
    queued = [p for p in destiny.pending(destiny_robot.client_id) if p["enhancement_request_id"] == str(read.id)]
    assert sorted(p["reference_id"] for p in queued) == sorted(references)


# -- authentication --------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-AUTH-06", "DESTINY-ROBOT-AUTH-11")
def test_signatures_of_every_call_kind_verify_on_the_server(destiny: DestinySim, destiny_robot: DestinyRobot) -> None:
    """Empty-body POST, PATCH with a query and JSON-body POST: the server recomputes each."""
    destiny.enqueue(destiny_robot.client_id, count=1)
    client = client_for(destiny, destiny_robot)
    batch = client.poll_robot_enhancement_batch(destiny_robot.client_id, limit=1, lease="PT2M")
    assert batch is not None
    client.renew_robot_enhancement_batch_lease(batch.id, "PT3M")
    upload(destiny, batch, [enhancement_line(r) for r in reference_ids(destiny, batch)])
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
