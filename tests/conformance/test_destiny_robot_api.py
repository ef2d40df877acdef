"""The real ``destiny_sdk.client.RobotClient`` against a DESTINY repository, through its public API.

These checks run on the simulator and on a real repository alike: work is seeded through the
robot-signed ``POST /v1/enhancement-requests/`` route (references named by the bench file), and
outcomes are read back through the robot API (the batch's reference file, the enhancement
request's status). What only the simulator can show (the exact query the SDK sent, lease expiry
times, moving the server's clock) is in ``test_destiny_robot_client.py``, which needs
``DestinyControl``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
import pytest
from destiny_sdk.robots import RobotEnhancementBatch, RobotEnhancementBatchResult, RobotError, RobotResult

from hil.fixtures.destiny import RobotWork

SDK = "destiny-sdk==0.17.6"


def reference_ids(work: RobotWork, batch: RobotEnhancementBatch) -> list[str]:
    text = work.download(batch.reference_storage_url)
    return [json.loads(line)["id"] for line in text.splitlines() if line.strip()]


def enhancement_line(reference_id: str) -> str:
    return json.dumps({"reference_id": reference_id, "source": "hil-conformance", "visibility": "public",
                       "robot_version": "1", "content": {"enhancement_type": "annotation", "annotations": []}})


def upload(work: RobotWork, batch: RobotEnhancementBatch, lines: list[str]) -> None:
    work.upload(batch.result_storage_url, "\n".join(lines) + "\n")


def http_error(call: Callable[[], Any]) -> httpx.Response:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response


# -- polling ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-POLL-01", "DESTINY-ROBOT-POLL-07")
def test_poll_claims_the_seeded_work(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(3)
    batch = robot_work.client().poll_robot_enhancement_batch(robot_work.robot.client_id)
    assert batch is not None
    assert sorted(reference_ids(robot_work, batch)) == sorted(str(r) for r in seeded.reference_ids)


@pytest.mark.requirement("DESTINY-ROBOT-POLL-01", "DESTINY-ROBOT-POLL-03")
def test_poll_with_a_limit_claims_at_most_that_many(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(5)
    client = robot_work.client()
    first = client.poll_robot_enhancement_batch(robot_work.robot.client_id, limit=2, lease="PT1H")
    assert first is not None and len(reference_ids(robot_work, first)) == 2
    rest = client.poll_robot_enhancement_batch(robot_work.robot.client_id, limit=10)
    assert rest is not None
    assert sorted(reference_ids(robot_work, first) + reference_ids(robot_work, rest)) == sorted(str(r) for r in seeded.reference_ids)


@pytest.mark.requirement("DESTINY-ROBOT-POLL-02")
def test_poll_with_nothing_pending_returns_none(robot_work: RobotWork) -> None:
    assert robot_work.client().poll_robot_enhancement_batch(robot_work.robot.client_id) is None


@pytest.mark.requirement("DESTINY-ROBOT-POLL-06")
def test_concurrent_replicas_never_receive_the_same_pending_enhancement(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(40)
    replicas = 4
    start = Barrier(replicas)

    def drain() -> list[str]:
        client = robot_work.client()
        start.wait(timeout=10)
        claimed: list[str] = []
        while (batch := client.poll_robot_enhancement_batch(robot_work.robot.client_id, limit=3)) is not None:
            claimed += reference_ids(robot_work, batch)
        return claimed

    with ThreadPoolExecutor(replicas) as pool:
        claimed = [ref for refs in pool.map(lambda _: drain(), range(replicas)) for ref in refs]
    assert len(claimed) == len(set(claimed)) == 40
    assert set(claimed) == {str(r) for r in seeded.reference_ids}


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-01", "DESTINY-ROBOT-AUTH-06", "DESTINY-ROBOT-AUTH-11")
def test_every_call_kind_is_signed_so_the_server_accepts_it(robot_work: RobotWork) -> None:
    """Empty-body POST (poll), PATCH with a query (renew) and JSON-body POST (result)."""
    robot_work.seed(1)
    client = robot_work.client()
    batch = client.poll_robot_enhancement_batch(robot_work.robot.client_id, limit=1, lease="PT2M")
    assert batch is not None
    client.renew_robot_enhancement_batch_lease(batch.id, "PT30M")
    upload(robot_work, batch, [enhancement_line(r) for r in reference_ids(robot_work, batch)])
    read = client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    assert read.id == batch.id and read.error is None


# -- results ---------------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-RESULT-01", "DESTINY-ROBOT-POLL-07", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_success_completes_the_request(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(3)
    client = robot_work.client()
    batch = client.poll_robot_enhancement_batch(robot_work.robot.client_id)
    assert batch is not None
    upload(robot_work, batch, [enhancement_line(r) for r in reference_ids(robot_work, batch)])
    read = client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    assert read.id == batch.id and read.robot_id == robot_work.robot.client_id and read.error is None
    assert robot_work.repository.request_status(seeded.request_id, {"completed", "failed", "partial_failed"}) == "completed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-05", "DESTINY-ROBOT-REQUEST-01")
def test_batch_result_with_per_item_errors_fails_only_those(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(3)
    client = robot_work.client()
    batch = client.poll_robot_enhancement_batch(robot_work.robot.client_id)
    assert batch is not None
    good, bad, _missing = reference_ids(robot_work, batch)
    upload(robot_work, batch, [enhancement_line(good), json.dumps({"reference_id": bad, "message": "no abstract found"})])
    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    assert robot_work.repository.request_status(seeded.request_id, {"completed", "failed", "partial_failed"}) == "partial_failed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-02")
def test_batch_error_result_fails_the_request(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(2)
    client = robot_work.client()
    batch = client.poll_robot_enhancement_batch(robot_work.robot.client_id)
    assert batch is not None
    read = client.send_robot_enhancement_batch_result(
        RobotEnhancementBatchResult(request_id=batch.id, error=RobotError(message="model offline")))
    assert read.error == "model offline"
    assert robot_work.repository.request_status(seeded.request_id, {"completed", "failed", "partial_failed"}) == "failed"


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-04", "DESTINY-ROBOT-CLIENT-01")
def test_reporting_a_batch_twice_is_refused(robot_work: RobotWork) -> None:
    robot_work.seed(1)
    client = robot_work.client()
    batch = client.poll_robot_enhancement_batch(robot_work.robot.client_id)
    assert batch is not None
    upload(robot_work, batch, [enhancement_line(r) for r in reference_ids(robot_work, batch)])
    client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id))
    response = http_error(
        lambda: client.send_robot_enhancement_batch_result(RobotEnhancementBatchResult(request_id=batch.id)))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Cannot process results: ")


@pytest.mark.finding(
    "DESTINY-ROBOT-RESULT-06",
    reason="RobotClient.send_robot_result posts to /v1/enhancement-requests/<id>/results/, a route the "
    "repository removed; the call can only fail with 404",
    sdk=SDK,
)
def test_send_robot_result_reports_a_result(robot_work: RobotWork) -> None:
    seeded = robot_work.seed(1)
    try:
        read = robot_work.client().send_robot_result(RobotResult(request_id=seeded.request_id))
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 404:
            raise  # any other answer is not this finding
        pytest.fail(f"DESTINY-ROBOT-RESULT-06: {exc.request.method} {exc.request.url.path} is not a route: 404")
    assert read.id == seeded.request_id


# -- authentication --------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-AUTH-07", "DESTINY-ROBOT-CLIENT-01")
def test_wrong_secret_is_refused(robot_work: RobotWork) -> None:
    client = robot_work.client(secret=robot_work.robot.secret + "0")
    response = http_error(lambda: client.poll_robot_enhancement_batch(robot_work.robot.client_id))
    assert (response.status_code, response.json()) == (401, {"detail": "Signature is invalid."})


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-10", "DESTINY-ROBOT-CLIENT-01")
def test_unknown_robot_is_refused(robot_work: RobotWork) -> None:
    stranger = uuid.uuid4()
    client = robot_work.client(secret="whatever", client_id=stranger)
    response = http_error(lambda: client.poll_robot_enhancement_batch(stranger))
    assert (response.status_code, response.json()) == (401, {"detail": f"robot client {stranger} does not exist."})
