"""The DESTINY simulator's own behaviour, with raw HTTP requests signed by a tiny signer of ours.

Most checks run the app in-process (Starlette's TestClient, an httpx client over ASGI) so they can
hold the store and its clock; a few run the real process to check the CLI contract: the ready
line, clean stop on SIGTERM/SIGINT, TLS, seed files, and one-line errors.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import trustme
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from hil.simulators.destiny import READY_PREFIX, create_app, new_store
from hil.simulators.destiny.blobs import SasPermission
from hil.simulators.destiny.durations import DurationError, parse_duration
from hil.simulators.destiny.store import MAX_BATCH_SIZE, Robot, Store

BATCHES = "/v1/robot-enhancement-batches/"


# -- a tiny signer of our own (independent of the simulator's verifier and of the SDK) -------------
def signed(robot: Robot, body: bytes = b"", *, timestamp: str | None = None, secret: str | None = None) -> dict[str, str]:
    stamp = timestamp if timestamp is not None else repr(time.time())
    message = body + b":" + robot.client_id.bytes + b":" + stamp.encode()
    digest = hmac.new((secret or robot.secret).encode(), message, hashlib.sha256).hexdigest()
    return {"Authorization": f"Signature {digest}", "X-Client-Id": str(robot.client_id), "X-Request-Timestamp": stamp}


@pytest.fixture
def store() -> Store:
    return new_store()


@pytest.fixture
def api(store: Store) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a crash must show up as the 500 a robot would see.
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def robot(store: Store) -> Robot:
    return store.add_robot("r1")


def poll(api: TestClient, robot: Robot, query: str = "", **headers: str) -> httpx.Response:
    return api.post(f"{BATCHES}?robot_id={robot.client_id}{query}", headers={**signed(robot), **headers})


def claim(api: TestClient, store: Store, robot: Robot, count: int = 1, lease: str = "PT1M") -> str:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4() for _ in range(count)])
    response = poll(api, robot, f"&lease={lease}")
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def post_json(api: TestClient, robot: Robot, path: str, payload: object) -> httpx.Response:
    body = json.dumps(payload).encode()
    return api.post(path, content=body, headers={**signed(robot, body), "Content-Type": "application/json"})


# -- authentication --------------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-AUTH-01", "DESTINY-ROBOT-AUTH-02", "DESTINY-ROBOT-AUTH-03",
                         "DESTINY-ROBOT-AUTH-04", "DESTINY-ROBOT-AUTH-05", "DESTINY-ROBOT-AUTH-07",
                         "DESTINY-ROBOT-AUTH-08", "DESTINY-ROBOT-AUTH-13")
@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"Authorization": None}, "Authorization header missing."),
        ({"Authorization": "Bearer"}, "Authorization type not supported."),
        ({"Authorization": "signature abc"}, "Authorization type not supported."),
        ({"Authorization": "Bearer eyJhbGciOi.bad.token"}, "Unable to parse authentication token."),
        ({"X-Client-Id": None}, "X-Client-Id header missing"),
        ({"X-Client-Id": "not-a-uuid"}, "Invalid format for client id, expected UUIDv4 or UUIDv7."),
        ({"X-Client-Id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, "Invalid format for client id, expected UUIDv4 or UUIDv7."),
        ({"X-Request-Timestamp": None}, "X-Request-Timestamp header missing"),
        ({"X-Request-Timestamp": "yesterday"}, "X-Request-Timestamp header is not a valid timestamp."),
        ({"X-Request-Timestamp": "nan"}, "X-Request-Timestamp header is not a valid timestamp."),
        ({"X-Request-Timestamp": "inf"}, "X-Request-Timestamp header is not a valid timestamp."),
        ({"X-Request-Timestamp": repr(time.time() - 301)}, "Token is expired."),
        ({"Authorization": "Signature " + "0" * 64}, "Signature is invalid."),
        ({"Authorization": "Signature  " + "0" * 64}, "Signature is invalid."),
        ({"Authorization": "Signature caf\u00e9"}, "Signature is invalid."),
    ],
)
def test_each_auth_failure_is_a_401_with_the_real_text(
    api: TestClient, robot: Robot, change: dict[str, str | None], detail: str
) -> None:
    headers: dict[str, str] = signed(robot)
    for name, value in change.items():
        headers.pop(name)
        if value is not None:
            headers[name] = value
    raw = [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]
    response = api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=raw)
    assert (response.status_code, response.json()) == (401, {"detail": detail})


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-10")
def test_unknown_client_is_named_in_the_401(api: TestClient, store: Store) -> None:
    ghost = Robot(client_id=uuid.uuid4(), secret="s", name="ghost")
    response = poll(api, ghost)
    assert response.json() == {"detail": f"robot client {ghost.client_id} does not exist."}


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-06", "DESTINY-ROBOT-AUTH-07")
def test_signature_covers_the_body(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    body = json.dumps({"request_id": batch_id, "error": {"message": "x"}}).encode()
    headers = {**signed(robot, body), "Content-Type": "application/json"}
    tampered = api.post(f"{BATCHES}{batch_id}/results/", content=body.replace(b"x", b"y"), headers=headers)
    assert tampered.json() == {"detail": "Signature is invalid."}
    assert api.post(f"{BATCHES}{batch_id}/results/", content=body, headers=headers).status_code == 200


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-11")
def test_timestamp_is_verified_as_the_servers_float_repr(api: TestClient, robot: Robot) -> None:
    stamp = str(int(time.time()))
    as_sent = signed(robot, timestamp=stamp)  # signs "1795…" but the server signs "1795….0"
    assert api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=as_sent).status_code == 401
    as_reformatted = signed(robot, timestamp=stamp)
    as_reformatted["Authorization"] = signed(robot, timestamp=stamp + ".0")["Authorization"]
    assert api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=as_reformatted).status_code == 204


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-09", "DESTINY-ROBOT-AUTH-12")
def test_future_timestamps_and_replays_are_accepted(api: TestClient, robot: Robot) -> None:
    headers = signed(robot, timestamp=repr(time.time() + 86400))
    first = api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=headers)
    replay = api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=headers)
    assert (first.status_code, replay.status_code) == (204, 204)


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-08")
def test_expiry_is_judged_by_the_simulated_clock(api: TestClient, store: Store, robot: Robot) -> None:
    headers = signed(robot)
    store.clock.advance(301)
    assert api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=headers).json() == {"detail": "Token is expired."}


# -- polling and leases ----------------------------------------------------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-POLL-03")
def test_limit_is_capped(api: TestClient, store: Store, robot: Robot) -> None:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4() for _ in range(MAX_BATCH_SIZE + 1)])
    response = poll(api, robot, f"&limit={MAX_BATCH_SIZE * 2}")
    batch_id = uuid.UUID(response.json()["id"])
    assert len(store.items_of(batch_id)) == MAX_BATCH_SIZE


@pytest.mark.requirement("DESTINY-ROBOT-POLL-08")
def test_one_item_per_reference_per_batch(api: TestClient, store: Store, robot: Robot) -> None:
    reference = uuid.uuid4()
    store.add_enhancement_request(robot.client_id, [reference])
    store.add_enhancement_request(robot.client_id, [reference])
    first = uuid.UUID(poll(api, robot).json()["id"])
    second = uuid.UUID(poll(api, robot).json()["id"])
    assert len(store.items_of(first)) == len(store.items_of(second)) == 1


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-01")
def test_renewal_answers_a_bare_timestamp(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    response = api.patch(f"{BATCHES}{batch_id}/renew-lease/?lease=PT2H", headers=signed(robot))
    assert response.status_code == 200
    assert "content-type" not in response.headers
    expiry = datetime.datetime.fromisoformat(response.text)
    assert expiry - store.clock.now() > datetime.timedelta(hours=1, minutes=59)


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-03")
def test_expired_items_are_retried_three_times(api: TestClient, store: Store, robot: Robot) -> None:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    for _ in range(4):
        assert poll(api, robot, "&lease=PT1M").status_code == 200
        store.clock.advance(61)
        store.run_expiry_job()
    assert poll(api, robot).status_code == 204
    assert sorted(p.status.value for p in store.pending.values()) == ["expired"] * 4


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-04", "DESTINY-ROBOT-BATCH-01")
def test_unknown_batches(api: TestClient, robot: Robot) -> None:
    ghost = uuid.uuid4()
    renew = api.patch(f"{BATCHES}{ghost}/renew-lease/", headers=signed(robot))
    assert (renew.status_code, renew.json()) == (
        422,
        {"detail": f"RobotEnhancementBatch with id {{UUID('{ghost}')}} does not exist."},
    )
    get = api.get(f"{BATCHES}{ghost}/", headers=signed(robot))
    assert (get.status_code, get.json()) == (404, {"detail": f"RobotEnhancementBatch with id {ghost} does not exist."})
    result = post_json(api, robot, f"{BATCHES}{ghost}/results/", {"request_id": str(ghost)})
    assert result.status_code == 404


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-03")
def test_request_id_mismatch(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    response = post_json(api, robot, f"{BATCHES}{batch_id}/results/", {"request_id": str(uuid.uuid4())})
    assert (response.status_code, response.json()) == (400, {"detail": "Request ID mismatch"})


BLOCK_BLOB = {"x-ms-blob-type": "BlockBlob"}


def azure_error(response: httpx.Response) -> tuple[int, str, str]:
    """(status, Code, first line of Message) of an Azure XML error, checking its shape."""
    assert response.headers["content-type"].startswith("application/xml"), response.headers
    root = ElementTree.fromstring(response.content.decode("utf-8-sig"))
    assert root.tag == "Error" and response.headers["x-ms-error-code"] == root.findtext("Code")
    message = root.findtext("Message") or ""
    assert re.search(r"\nRequestId:[0-9a-f-]{36}\nTime:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", message), message
    return response.status_code, root.findtext("Code") or "", message.split("\n")[0]


def batch_urls(api: TestClient, store: Store, robot: Robot) -> dict[str, str]:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    return dict(poll(api, robot).json())


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-01")
def test_storage_urls_are_service_sas_urls(api: TestClient, store: Store, robot: Robot) -> None:
    urls = batch_urls(api, store, robot)
    read = parse_qs(urlsplit(urls["reference_storage_url"]).query, strict_parsing=True)
    write = parse_qs(urlsplit(urls["result_storage_url"]).query, strict_parsing=True)
    assert set(read) == {"se", "sp", "sv", "sr", "rscd", "sig"} and set(write) == {"se", "sp", "sv", "sr", "sig"}
    assert (read["sp"], read["sr"], read["rscd"], write["sp"], write["sr"]) == (["r"], ["b"], ["attachment"], ["w"], ["b"])
    expiry = datetime.datetime.strptime(read["se"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert abs(expiry - store.clock.now() - datetime.timedelta(hours=1)) < datetime.timedelta(seconds=5)
    assert urlsplit(urls["reference_storage_url"]).path.startswith("/_sim/storage/operations/")
    got = api.get(urls["reference_storage_url"])
    assert (got.status_code, got.headers["content-disposition"], got.headers["x-ms-blob-type"]) == (200, "attachment", "BlockBlob")
    put = api.put(urls["result_storage_url"], content=b"{}\n", headers=BLOCK_BLOB)
    assert (put.status_code, put.content) == (201, b"")
    assert put.headers["content-md5"] == base64.b64encode(hashlib.md5(b"{}\n").digest()).decode()


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-02")
def test_storage_refuses_the_wrong_permission_with_azures_403(api: TestClient, store: Store, robot: Robot) -> None:
    urls = batch_urls(api, store, robot)
    mismatch = (403, "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.")
    assert azure_error(api.get(urls["result_storage_url"])) == mismatch
    assert azure_error(api.put(urls["reference_storage_url"], content=b"x", headers=BLOCK_BLOB)) == mismatch


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-03")
@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("sp=w", "sp=rw"),
        lambda url: url.replace("sig=", "sig=A"),
        lambda url: url.split("?")[0],
        lambda url: re.sub(r"se=[^&]+", "se=2999-01-01T00%3A00%3A00Z", url),
        lambda url: url.replace("_robot.jsonl", "_other.jsonl"),
    ],
    ids=["permission", "signature", "no-sas", "expiry", "other-blob"],
)
def test_storage_refuses_an_altered_sas(api: TestClient, store: Store, robot: Robot, tamper: Any) -> None:
    url = batch_urls(api, store, robot)["result_storage_url"]
    status, code, message = azure_error(api.put(tamper(url), content=b"x", headers=BLOCK_BLOB))
    assert (status, code) == (403, "AuthenticationFailed")
    assert message.startswith("Server failed to authenticate the request.")


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-03")
def test_storage_urls_expire_after_an_hour_of_simulated_time(api: TestClient, store: Store, robot: Robot) -> None:
    urls = batch_urls(api, store, robot)
    store.clock.advance(3601)
    assert azure_error(api.get(urls["reference_storage_url"]))[:2] == (403, "AuthenticationFailed")


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-04")
@pytest.mark.parametrize(("headers", "code"), [({}, "MissingRequiredHeader"),
                                                ({"x-ms-blob-type": "PageBlob"}, "InvalidHeaderValue")])
def test_storage_puts_must_name_a_block_blob(
    api: TestClient, store: Store, robot: Robot, headers: dict[str, str], code: str
) -> None:
    urls = batch_urls(api, store, robot)
    response = api.put(urls["result_storage_url"], content=b"{}\n", headers=headers)
    assert azure_error(response)[:2] == (400, code)
    assert ElementTree.fromstring(response.content.decode("utf-8-sig")).findtext("HeaderName") == "x-ms-blob-type"
    batch_id = uuid.UUID(urls["id"])
    assert store.blobs.get(store.batches[batch_id].result_blob) is None  # nothing was stored


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-01")
def test_storage_names_a_missing_blob(api: TestClient, store: Store, robot: Robot) -> None:
    url = batch_urls(api, store, robot)["result_storage_url"]
    store.blobs.clear()
    name = urlsplit(url).path.removeprefix("/_sim/storage/operations/")
    readable = f"/_sim/storage/operations/{name}?{store.blobs.sas_query(name, SasPermission.READ, store.clock.now())}"
    assert azure_error(api.get(readable)) == (404, "BlobNotFound", "The specified blob does not exist.")


# -- bad input: answered like FastAPI / the real server, never a 500 --------------------------------
@pytest.mark.requirement("DESTINY-ROBOT-HTTP-01", "DESTINY-ROBOT-HTTP-02")
def test_routing_defaults(api: TestClient, robot: Robot) -> None:
    assert api.post(f"/v1/robot-enhancement-batches?robot_id={robot.client_id}", headers=signed(robot),
                    follow_redirects=False).status_code == 307
    assert api.get("/v1/nothing/", headers=signed(robot)).json() == {"detail": "Not Found"}
    wrong = api.put(BATCHES, headers=signed(robot))
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03", "DESTINY-ROBOT-POLL-05", "DESTINY-ROBOT-HTTP-04")
@pytest.mark.parametrize(
    ("query", "error_type", "loc"),
    [
        ("robot_id=nope", "uuid_parsing", ["query", "robot_id", "uuid"]),
        ("robot_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8", "uuid_version", ["query", "robot_id", "uuid"]),
        ("", "missing", ["query", "robot_id"]),
        ("robot_id={id}&limit=ten", "int_parsing", ["query", "limit"]),
        ("robot_id={id}&limit=-1", "greater_than_equal", ["query", "limit"]),
        ("robot_id={id}&lease=10 minutes", "time_delta_parsing", ["query", "lease"]),
        ("robot_id={id}&lease=PT", "time_delta_parsing", ["query", "lease"]),
        ("robot_id={id}&lease=PT10000000000000000000S", "time_delta_parsing", ["query", "lease"]),
        ("robot_id={id}&lease=P1000000000D", "time_delta_parsing", ["query", "lease"]),
    ],
)
def test_bad_poll_parameters(api: TestClient, robot: Robot, query: str, error_type: str, loc: list[str]) -> None:
    response = api.post(f"{BATCHES}?{query.format(id=robot.client_id)}", headers=signed(robot))
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == error_type
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03", "DESTINY-ROBOT-HTTP-04")
@pytest.mark.parametrize(
    ("body", "content_type", "error_type"),
    [
        (b"{bad", "application/json", "json_invalid"),
        (b"\xff\xfe", "application/json", "json_invalid"),
        (b'{"request_id": "%s"}', "text/plain", "model_attributes_type"),
        (b"", "application/json", "missing"),
        (b"[1]", "application/json", "model_attributes_type"),
        (b'"text"', "application/json", "model_attributes_type"),
        (b'{"request_id": "nope"}', "application/json", "uuid_parsing"),
        (b'{"request_id": "%s", "error": "boom"}', "application/json", "model_attributes_type"),
        (b'{"request_id": NaN}', "application/json", "uuid_type"),
    ],
)
def test_bad_result_bodies(
    api: TestClient, store: Store, robot: Robot, body: bytes, content_type: str, error_type: str
) -> None:
    batch_id = claim(api, store, robot)
    payload = body.replace(b"%s", batch_id.encode())
    headers = {**signed(robot, payload), "Content-Type": content_type}
    response = api.post(f"{BATCHES}{batch_id}/results/", content=payload, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == error_type


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03")
def test_malformed_json_is_422_even_before_authentication(api: TestClient) -> None:
    response = api.post(f"{BATCHES}{uuid.uuid4()}/results/", content=b"{bad", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03")
def test_invalid_path_uuid(api: TestClient, robot: Robot) -> None:
    response = api.get(f"{BATCHES}nope/", headers=signed(robot))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "robot_enhancement_batch_id", "uuid"]


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-04")
@pytest.mark.parametrize("lease", ["PT0S", "-PT10M", "P999999999D"])
def test_unusable_leases_are_422_not_500(api: TestClient, store: Store, robot: Robot, lease: str) -> None:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    assert poll(api, robot, f"&lease={lease}").status_code == 422
    batch_id = claim(api, store, robot, lease="PT1M")
    renew = api.patch(f"{BATCHES}{batch_id}/renew-lease/?lease={lease}", headers=signed(robot))
    assert renew.status_code == 422


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-04", "DESTINY-ROBOT-RESULT-04")
def test_error_report_on_expired_batch_is_422(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot, lease="PT1M")
    store.clock.advance(61)
    store.run_expiry_job()
    response = post_json(api, robot, f"{BATCHES}{batch_id}/results/", {"request_id": batch_id, "error": {"message": "x"}})
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "Cannot process results: Cannot transition from status 'expired' to 'failed'"},
    )


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-05")
def test_oversized_bodies_are_413(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    big = b'{"request_id": "%s", "pad": "' % batch_id.encode() + b"x" * (1 << 20) + b'"}'
    response = api.post(f"{BATCHES}{batch_id}/results/", content=big, headers={**signed(robot, big), "Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-05")
def test_oversized_chunked_bodies_are_413(api: TestClient, robot: Robot) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    response = api.post(f"{BATCHES}{uuid.uuid4()}/results/", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def upload_and_report(
    api: TestClient, store: Store, robot: Robot, result_file: bytes
) -> tuple[httpx.Response, str]:
    """Claim one item, upload ``result_file`` (``%s`` stands for its reference id), report success."""
    reference = uuid.uuid4()
    store.add_enhancement_request(robot.client_id, [reference])
    batch = poll(api, robot, "&lease=PT1M").json()
    content = result_file.replace(b"%s", str(reference).encode())
    assert api.put(batch["result_storage_url"], content=content, headers=BLOCK_BLOB).status_code == 201
    response = post_json(api, robot, f"{BATCHES}{batch['id']}/results/", {"request_id": batch["id"]})
    store.run_imports()
    return response, batch["id"]


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-05", "DESTINY-ROBOT-HTTP-04")
@pytest.mark.parametrize(
    "line",
    [b"{bad", b"[" * 200_000, b"[" * 250 + b"]" * 250, b'{"reference_id": "%s", "message": "lost \\ud800"}'],
    ids=["invalid", "deeply-nested", "deeper-than-pydantic-parses", "lone-surrogate"],
)
def test_unparsable_result_lines_fail_like_invalid_json(
    api: TestClient, store: Store, robot: Robot, line: bytes
) -> None:
    response, batch_id = upload_and_report(api, store, robot, line + b"\n")
    assert response.status_code == 202, response.text
    view = api.get(f"/_sim/batches/{batch_id}")
    assert view.status_code == 200, view.text
    assert [item["status"] for item in view.json()["items"]] == ["failed"]
    validation = [json.loads(entry) for entry in view.json()["validation_file"].splitlines()]
    assert validation[0] == {"reference_id": None, "error": "Line 1 is not valid JSON."}


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-05", "DESTINY-ROBOT-HTTP-04")
def test_unhashable_enhancement_type_fails_the_line(api: TestClient, store: Store, robot: Robot) -> None:
    line = b'{"reference_id": "%s", "source": "s", "visibility": "public", "content": {"enhancement_type": []}}\n'
    response, batch_id = upload_and_report(api, store, robot, line)
    assert response.status_code == 202, response.text
    (item,) = store.items_of(uuid.UUID(batch_id))
    assert (item.status.value, item.outcome) == ("failed", "Line 1 has an unknown enhancement_type.")


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03", "DESTINY-ROBOT-HTTP-04")
@pytest.mark.parametrize(
    ("body", "loc", "echo"),
    [
        (b'{"request_id": "\\ud800"}', ["body", "request_id", "uuid"], "\ufffd"),
        (b'{"request_id": "\xed\xa0\x80"}', ["body", "request_id", "uuid"], "\ufffd"),  # the surrogate as raw bytes
        (b'{"request_id": "%s", "error": {"\\udc00": 1}}', ["body", "error", "message"], {"\ufffd": 1}),
    ],
)
def test_lone_surrogates_echoed_by_a_422_become_replacement_characters(
    api: TestClient, store: Store, robot: Robot, body: bytes, loc: list[str], echo: object
) -> None:
    batch_id = claim(api, store, robot)
    payload = body.replace(b"%s", batch_id.encode())
    response = api.post(f"{BATCHES}{batch_id}/results/", content=payload,
                        headers={**signed(robot, payload), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    response.content.decode("utf-8")  # strict: the body is well-formed UTF-8 JSON
    assert (response.json()["detail"][0]["loc"], response.json()["detail"][0]["input"]) == (loc, echo)


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-02", "DESTINY-ROBOT-HTTP-04")
def test_error_report_with_a_lone_surrogate_is_refused_before_any_change(
    api: TestClient, store: Store, robot: Robot
) -> None:
    batch_id = claim(api, store, robot)
    body = b'{"request_id": "%s", "error": {"message": "boom \\ud800"}}' % batch_id.encode()
    response = api.post(f"{BATCHES}{batch_id}/results/", content=body,
                        headers={**signed(robot, body), "Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (422, {"detail": [{
        "type": "string_unicode", "loc": ["body", "error", "message"],
        "msg": "Input should be a valid string, unable to parse raw data as a unicode string", "input": "boom \ufffd"}]})
    batch = store.batches[uuid.UUID(batch_id)]
    assert [p.status.value for p in store.items_of(batch.id)] == ["processing"]
    assert (batch.error, batch.results) == (None, [])
    retry = post_json(api, robot, f"{BATCHES}{batch_id}/results/", {"request_id": batch_id, "error": {"message": "boom"}})
    assert (retry.status_code, retry.json()["error"]) == (200, "boom")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_sim/robots", b'{"name": "\\ud800"}'),
        ("/_sim/robots", b'{"secret": "\\ud800"}'),
        ("/_sim/enhancement-requests", b'{"robot_id": "%s", "source": "\\ud800"}'),
    ],
)
def test_control_api_refuses_lone_surrogates_before_storing(
    api: TestClient, store: Store, robot: Robot, path: str, body: bytes
) -> None:
    payload = body.replace(b"%s", str(robot.client_id).encode())
    response = api.post(path, content=payload, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["detail"][0]["type"]) == (422, "string_unicode")
    assert (len(store.robots), store.requests) == (1, {})


_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-04")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=_header_text, client_id=_header_text, timestamp=_header_text, query=_header_text, body=st.binary(max_size=200))
def test_no_input_makes_it_500(
    api: TestClient, authorization: str, client_id: str, timestamp: str, query: str, body: bytes
) -> None:
    headers = [(b"authorization", authorization.strip().encode("latin-1")),
               (b"x-client-id", client_id.strip().encode("latin-1")),
               (b"x-request-timestamp", timestamp.strip().encode("latin-1")),
               (b"content-type", b"application/json")]
    for method, path in [("POST", f"{BATCHES}?{query}"), ("POST", f"{BATCHES}{uuid.uuid4()}/results/"),
                         ("PATCH", f"{BATCHES}x/renew-lease/?lease={query}"), ("POST", "/v1/enhancement-requests/")]:
        response = api.request(method, path, headers=headers, content=body)
        assert response.status_code < 500, (method, path, response.text)


# -- the lease parser: pydantic v2's timedelta grammar ---------------------------------------------
_DAY = datetime.timedelta(days=1)
_HOUR = datetime.timedelta(hours=1)
_SECOND = datetime.timedelta(seconds=1)

_ACCEPTED_DURATIONS = [
    ("PT10M", 600 * _SECOND), ("P1D", _DAY), ("P1W", 7 * _DAY), ("P1Y", 365 * _DAY), ("P1M", 30 * _DAY),
    ("PT1.5S", 1.5 * _SECOND), ("PT1,5S", 1.5 * _SECOND), ("PT0.5M", 30 * _SECOND), ("PT0S", 0 * _SECOND),
    ("P1DT2H3M4.5S", _DAY + 2 * _HOUR + 184.5 * _SECOND), ("P1DT", _DAY), ("P1.5DT", 1.5 * _DAY),
    ("-PT10M", -600 * _SECOND), ("+PT1H", _HOUR), ("-P1D", -_DAY),
    ("P1D1Y", 366 * _DAY), ("PT1H1H", 2 * _HOUR),  # speedate neither orders nor de-duplicates units
    ("PT0.0000025S", datetime.timedelta(microseconds=3)),  # Rust rounds halves away from zero
    ("PT4294967295S", 4294967295 * _SECOND), ("P999999999D", 999999999 * _DAY),
    ("01:00:00", _HOUR), ("10:00", 10 * _HOUR), ("100:00:00", 100 * _HOUR), ("-01:00:00", -_HOUR),
    ("01:02:03.1234567", datetime.timedelta(hours=1, minutes=2, seconds=3, microseconds=123456)),
    ("1d", _DAY), ("2 days", 2 * _DAY), ("1Day", _DAY), ("1 DAYS", _DAY), ("1 day,", _DAY),
    ("1 day, 0:10:00", _DAY + 600 * _SECOND), ("1d,01:02:03", _DAY + 3723 * _SECOND),
    ("1D01:02:03", _DAY + 3723 * _SECOND), ("1d 00:00:00.5", _DAY + 0.5 * _SECOND),
    ("-1 day, 23:00:00", -(_DAY + 23 * _HOUR)),  # the sign covers the whole duration
]

_REJECTED_DURATIONS = [
    ("", "input is too short"), ("-", "input is too short"), ("P", "input is too short"),
    ("PT", "input is too short"), ("1d 1:00", "input is too short"),
    ("600", '"day" identifier in duration not correctly formatted'),
    ("1:00", '"day" identifier in duration not correctly formatted'),
    ("1 dAys", '"day" identifier in duration not correctly formatted'),
    ("600.5", "invalid character in hour"), ("pt10m", "invalid character in hour"),
    ("10 minutes", "invalid character in hour"), ("1d,,01:00:00", "invalid character in hour"),
    ("PT10M ", "invalid digit in duration"), ("P-1D", "invalid digit in duration"), ("inf", "invalid digit in duration"),
    ("PT\uff11H", "invalid digit in duration"),  # a full-width digit is no digit
    ("PT10m", "quantity invalid in time part of duration"), ("PT1D", "quantity invalid in time part of duration"),
    ("P1H", "quantity invalid in date part of duration"), ("P1", "quantity invalid in date part of duration"),
    ("PTT", "`t` character repeated in duration"), ("P1.5DT1H", "quantity fraction invalid in duration"),
    ("PT4294967296S", "a numeric value in the duration is too large"),
    ("PT1193047H", "a numeric value in the duration is too large"),
    ("P1000000000D", "durations may not exceed 999,999,999 days"),
    ("P999999999DT24H", "durations may not exceed 999,999,999 days"),
    ("1d 24:00:00", "durations may not exceed 999,999,999 hours"),
    ("9999999999:00", "durations may not exceed 999,999,999 hours"),
    ("1:2:3", "invalid character in minute"), ("1:60:00", "minute value is outside expected range of 0-59"),
    ("1:59:60", "second value is outside expected range of 0-59"),
    ("01:02:03.", "second fraction digits missing after `.`"),
    ("10:00 ", "unexpected extra characters at the end of the input"),
]

_PYDANTIC_TIMEDELTA: TypeAdapter[datetime.timedelta] = TypeAdapter(datetime.timedelta)


def _pydantic_reads(text: str) -> datetime.timedelta | str:
    """What pydantic v2 makes of a ``timedelta`` query parameter: the value, or its error text."""
    try:
        return _PYDANTIC_TIMEDELTA.validate_python(text)
    except ValidationError as exc:
        (error,) = exc.errors()
        assert error["type"] == "time_delta_parsing"
        return str(error["msg"])


def _we_read(text: str) -> datetime.timedelta | str:
    """The same for our parser, worded as the 422 the simulator sends."""
    try:
        return parse_duration(text)
    except DurationError as exc:
        return f"Input should be a valid timedelta, {exc}"


@pytest.mark.requirement("DESTINY-ROBOT-POLL-05")
@pytest.mark.parametrize(("text", "expected"), _ACCEPTED_DURATIONS)
def test_durations_accepted(text: str, expected: datetime.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.requirement("DESTINY-ROBOT-POLL-05")
@pytest.mark.parametrize(("text", "reason"), _REJECTED_DURATIONS)
def test_durations_rejected_with_speedates_reason(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration(text)
    assert str(refused.value) == reason


@pytest.mark.requirement("DESTINY-ROBOT-POLL-05")
@pytest.mark.parametrize("text", [text for text, _ in _ACCEPTED_DURATIONS + _REJECTED_DURATIONS])
def test_durations_read_as_pydantic_reads_them(text: str) -> None:
    assert _we_read(text) == _pydantic_reads(text)


@pytest.mark.requirement("DESTINY-ROBOT-POLL-05")
@settings(max_examples=400, deadline=None)
@given(text=st.one_of(
    st.text(st.sampled_from("0123456789PTYMWDHS.,:+- dayDAYs"), max_size=16),
    st.text(st.sampled_from("0123456789TYMWDHS.,"), max_size=12).map(lambda tail: "P" + tail),
))
def test_any_duration_text_reads_as_pydantic_reads_it(text: str) -> None:
    assert _we_read(text) == _pydantic_reads(text)


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-04")
def test_negative_duration_past_timedelta_min_is_refused_where_pydantic_crashes() -> None:
    with pytest.raises(OverflowError):  # the real repository's 500
        _PYDANTIC_TIMEDELTA.validate_python("-P999999999DT1S")
    assert _we_read("-P999999999DT1S") == "Input should be a valid timedelta, durations may not exceed 999,999,999 days"


@pytest.mark.requirement("DESTINY-ROBOT-POLL-05")
@pytest.mark.parametrize(("lease", "length"), [("1 day, 0:10:00", _DAY + 600 * _SECOND), ("100:00:00", 100 * _HOUR)])
def test_polls_take_pydantics_other_lease_forms(
    api: TestClient, store: Store, robot: Robot, lease: str, length: datetime.timedelta
) -> None:
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    response = api.post(BATCHES, params={"robot_id": str(robot.client_id), "lease": lease}, headers=signed(robot))
    assert response.status_code == 200, response.text
    (item,) = store.items_of(uuid.UUID(response.json()["id"]))
    assert item.expires_at is not None
    assert abs(item.expires_at - store.clock.now() - length) < datetime.timedelta(seconds=5)


# -- jobs the clock runs: lease expiry, result import -----------------------------------------------
def stamped(store: Store, robot: Robot, body: bytes = b"") -> dict[str, str]:
    """Signed at the simulator's time, so the clock can move past the 300 s signature window."""
    return signed(robot, body, timestamp=repr(store.clock.time()))


def item_statuses(store: Store, batch_id: str) -> list[str]:
    store.sweep()
    return [p.status.value for p in store.items_of(uuid.UUID(batch_id))]


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-05", "DESTINY-ROBOT-LEASE-02")
def test_a_lapsed_lease_stays_processing_until_the_expiry_job_runs(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot, lease="PT1S")
    store.clock.advance(3)

    assert poll(api, robot).status_code == 204  # the lapsed item is not handed out again yet
    renewed = api.patch(f"{BATCHES}{batch_id}/renew-lease/?lease=PT1S", headers=signed(robot))
    assert renewed.status_code == 200, renewed.text
    assert item_statuses(store, batch_id) == ["processing"]

    store.clock.advance(3)
    assert api.post("/_sim/jobs/expire-leases").json() == {"expired": 1, "replaced_with": 1}
    assert item_statuses(store, batch_id) == ["expired"]
    assert api.patch(f"{BATCHES}{batch_id}/renew-lease/", headers=signed(robot)).status_code == 409
    assert poll(api, robot).status_code == 200  # the replacement is claimable


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-05", "DESTINY-ROBOT-RESULT-01")
def test_results_for_a_lapsed_lease_are_accepted_before_the_job_runs(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot, lease="PT1S")
    store.clock.advance(3)
    response = post_json(api, robot, f"{BATCHES}{batch_id}/results/", {"request_id": batch_id})
    assert response.status_code == 202, response.text
    assert api.post("/_sim/jobs/expire-leases").json() == {"expired": 0, "replaced_with": 0}  # importing now


@pytest.mark.requirement("DESTINY-ROBOT-LEASE-05")
def test_the_expiry_job_runs_on_its_interval_by_the_simulated_clock(api: TestClient, store: Store, robot: Robot) -> None:
    assert store.expiry_interval == 600  # the deployed schedule
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    batch_id = api.post(f"{BATCHES}?robot_id={robot.client_id}&lease=PT1M", headers=stamped(store, robot)).json()["id"]
    store.clock.advance(300)  # the lease lapsed long ago, the job (600 s after the store began) has not run
    assert api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=stamped(store, robot)).status_code == 204
    assert item_statuses(store, batch_id) == ["processing"]
    store.clock.advance(301)
    assert item_statuses(store, batch_id) == ["expired"]
    assert api.post(f"{BATCHES}?robot_id={robot.client_id}", headers=stamped(store, robot)).status_code == 200


def test_an_unscheduled_expiry_job_runs_only_when_asked() -> None:
    store = new_store(expiry_interval=None)
    robot = store.add_robot("r")
    store.add_enhancement_request(robot.client_id, [uuid.uuid4()])
    batch = store.claim_batch(robot.client_id, 1, datetime.timedelta(minutes=1))
    assert batch is not None
    store.clock.advance(86_400 * 30)
    assert item_statuses(store, str(batch.id)) == ["processing"]
    assert store.run_expiry_job() == {"expired": 1, "replaced_with": 1}


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-04", "DESTINY-ROBOT-RESULT-07")
def test_a_second_report_during_the_import_meets_importing(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    path = f"{BATCHES}{batch_id}/results/"
    assert post_json(api, robot, path, {"request_id": batch_id}).status_code == 202
    assert item_statuses(store, batch_id) == ["importing"]
    again = post_json(api, robot, path, {"request_id": batch_id})
    assert (again.status_code, again.json()) == (
        422,
        {"detail": "Cannot process results: Cannot transition from status 'importing' to 'importing'"},
    )
    store.clock.advance(store.import_seconds)  # the import ends by the clock alone
    assert item_statuses(store, batch_id) == ["failed"]  # nothing was uploaded
    third = post_json(api, robot, path, {"request_id": batch_id})
    assert third.json()["detail"].endswith("from status 'failed' to 'importing'")


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-07")
def test_the_import_job_can_be_run_now(api: TestClient, store: Store, robot: Robot) -> None:
    batch_id = claim(api, store, robot)
    assert post_json(api, robot, f"{BATCHES}{batch_id}/results/", {"request_id": batch_id}).status_code == 202
    assert api.post("/_sim/jobs/import-results").json() == {"imported": [batch_id]}
    assert item_statuses(store, batch_id) == ["failed"]
    assert api.post("/_sim/jobs/import-results").json() == {"imported": []}


def _enhancement(reference: uuid.UUID, text: str) -> bytes:
    return json.dumps({"reference_id": str(reference), "source": "s", "visibility": "public", "robot_version": "1",
                       "content": {"enhancement_type": "abstract", "process": "other", "abstract": text}}).encode()


def _fulfil(api: TestClient, store: Store, robot: Robot, line: bytes) -> str:
    batch = poll(api, robot).json()
    assert api.put(batch["result_storage_url"], content=line + b"\n",
                   headers={"x-ms-blob-type": "BlockBlob"}).status_code == 201
    assert post_json(api, robot, f"{BATCHES}{batch['id']}/results/", {"request_id": batch["id"]}).status_code == 202
    store.run_imports()
    return str(batch["id"])


@pytest.mark.requirement("DESTINY-ROBOT-RESULT-08", "DESTINY-ROBOT-REQUEST-01")
def test_an_exact_duplicate_enhancement_is_discarded(api: TestClient, store: Store, robot: Robot) -> None:
    reference = store.add_reference().id
    first = store.add_enhancement_request(robot.client_id, [reference])
    first_batch = _fulfil(api, store, robot, _enhancement(reference, "same"))
    second = store.add_enhancement_request(robot.client_id, [reference])
    second_batch = _fulfil(api, store, robot, _enhancement(reference, "same"))
    third = store.add_enhancement_request(robot.client_id, [reference])
    _fulfil(api, store, robot, _enhancement(reference, "different"))

    (item,) = store.items_of(uuid.UUID(second_batch))
    assert (item.status.value, item.outcome) == ("discarded", "Exact duplicate enhancement already exists on reference.")
    validation = api.get(f"/_sim/batches/{second_batch}").json()["validation_file"]
    assert json.loads(validation) == {"reference_id": str(reference),
                                      "error": "Exact duplicate enhancement already exists on reference."}
    assert item_statuses(store, first_batch) == ["completed"]
    statuses = [api.get(f"/v1/enhancement-requests/{r.id}/", headers=signed(robot)).json()["request_status"]
                for r in (first, second, third)]
    assert statuses == ["completed", "partial_failed", "completed"]  # a discard is no completion


@pytest.mark.requirement("DESTINY-ROBOT-POLL-09", "DESTINY-ROBOT-POLL-08")
def test_reference_files_list_references_newest_request_first(api: TestClient, store: Store, robot: Robot) -> None:
    a, b, c = (store.add_reference().id for _ in range(3))
    store.add_enhancement_request(robot.client_id, [a, b])
    store.add_enhancement_request(robot.client_id, [c, a])
    batch = poll(api, robot).json()
    lines = api.get(batch["reference_storage_url"]).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [str(a), str(c), str(b)]
    # each reference once, by its oldest item; the newer item of ``a`` waits for the next batch
    claimed = {p.reference_id: p.enhancement_request_id for p in store.items_of(uuid.UUID(batch["id"]))}
    first_request = next(iter(store.requests))
    assert claimed[a] == first_request
    assert [p.reference_id for p in store.pending.values() if p.status.value == "pending"] == [a]


# -- enhancement requests (POST /v1/enhancement-requests/) -----------------------------------------
REQUESTS = "/v1/enhancement-requests/"


@pytest.mark.requirement("DESTINY-ROBOT-REQUEST-02")
def test_a_robot_requests_enhancements_and_gets_a_received_request(
    api: TestClient, store: Store, robot: Robot
) -> None:
    refs = [store.add_reference().id, store.add_reference().id]
    payload = {"robot_id": str(robot.client_id), "reference_ids": [str(r) for r in refs], "source": "hil"}
    response = post_json(api, robot, REQUESTS, payload)

    assert response.status_code == 202, response.text
    body = response.json()
    request_id = uuid.UUID(body.pop("id"))
    assert body == {
        "robot_id": str(robot.client_id),
        "reference_ids": [str(r) for r in refs],
        "source": "hil",
        "request_status": "received",
        "reference_data_url": None,
        "result_storage_url": None,
        "validation_result_url": None,
        "error": None,
    }
    queued = [p for p in store.pending.values() if p.enhancement_request_id == request_id]
    assert sorted(p.reference_id for p in queued) == sorted(refs)
    assert {p.status.value for p in queued} == {"pending"}
    again = api.get(f"{REQUESTS}{request_id}/", headers=signed(robot))
    assert again.json()["request_status"] == "received"
    assert poll(api, robot).status_code == 200  # the robot can now claim that work


@pytest.mark.requirement("DESTINY-ROBOT-REQUEST-02")
def test_an_enhancement_request_for_no_references_is_accepted_for_any_robot(api: TestClient, robot: Robot) -> None:
    stranger = uuid.uuid4()
    response = post_json(api, robot, REQUESTS, {"robot_id": str(stranger), "reference_ids": []})
    assert (response.status_code, response.json()["request_status"]) == (202, "received")


@pytest.mark.requirement("DESTINY-ROBOT-REQUEST-02")
def test_an_enhancement_request_naming_an_unknown_reference_is_422(
    api: TestClient, store: Store, robot: Robot
) -> None:
    known, ghost = store.add_reference().id, uuid.uuid4()
    payload = {"robot_id": str(robot.client_id), "reference_ids": [str(known), str(ghost)]}
    response = post_json(api, robot, REQUESTS, payload)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": f"Reference with id {{UUID('{ghost}')}} does not exist."},
    )
    assert not store.requests and not store.pending  # nothing was created


@pytest.mark.requirement("DESTINY-ROBOT-REQUEST-02", "DESTINY-ROBOT-HTTP-03")
def test_an_enhancement_request_repeating_a_reference_is_refused_by_validation(
    api: TestClient, store: Store, robot: Robot
) -> None:
    ref = str(store.add_reference().id)
    response = post_json(api, robot, REQUESTS, {"robot_id": str(robot.client_id), "reference_ids": [ref, ref]})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "reference_ids"], "Value error, reference_ids must not contain duplicate ids.")


@pytest.mark.requirement("DESTINY-ROBOT-AUTH-01")
def test_an_enhancement_request_must_be_signed(api: TestClient, store: Store, robot: Robot) -> None:
    payload = {"robot_id": str(robot.client_id), "reference_ids": [str(store.add_reference().id)]}
    response = api.post(REQUESTS, json=payload)
    assert (response.status_code, response.json()) == (401, {"detail": "Authorization header missing."})
    assert not store.requests


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-04")
def test_an_enhancement_request_for_an_unknown_robot_is_422_not_500(
    api: TestClient, store: Store, robot: Robot
) -> None:
    ghost = uuid.uuid4()
    payload = {"robot_id": str(ghost), "reference_ids": [str(store.add_reference().id)]}
    response = post_json(api, robot, REQUESTS, payload)
    assert (response.status_code, response.json()) == (422, {"detail": f"Robot with id {{UUID('{ghost}')}} does not exist."})
    assert not store.requests


@pytest.mark.requirement("DESTINY-ROBOT-HTTP-03")
def test_a_malformed_uuid_is_worded_as_the_repository_words_it(api: TestClient, robot: Robot) -> None:
    response = api.get("/v1/robot-enhancement-batches/xyz/", headers=signed(robot))
    text = "invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `x` at 1"
    assert response.status_code == 422
    assert [(e["type"], e["msg"], e["ctx"]) for e in response.json()["detail"]] == [
        ("uuid_parsing", f"Input should be a valid UUID, {text}", {"error": text})] * 2  # one per UUID version


# -- the control API --------------------------------------------------------------------------------
def test_clock_control(api: TestClient, store: Store) -> None:
    before = store.clock.offset
    assert api.post("/_sim/clock/advance", json={"seconds": 90}).status_code == 200
    assert store.clock.offset == before + 90
    bad = api.post("/_sim/clock/advance", content=b'{"seconds": NaN}', headers={"Content-Type": "application/json"})
    assert bad.status_code == 422
    assert api.post("/_sim/reset").status_code == 204 and store.clock.offset == 0


def test_control_api_seeds_and_inspects(api: TestClient, store: Store) -> None:
    created = api.post("/_sim/robots", json={"name": "bot"}).json()
    assert set(created) == {"client_id", "client_secret", "name"}
    robot = store.robots[uuid.UUID(created["client_id"])]
    request = api.post("/_sim/enhancement-requests", json={"robot_id": created["client_id"], "count": 2}).json()
    assert len(request["pending_enhancement_ids"]) == 2
    batch_id = poll(api, robot).json()["id"]
    view = api.get(f"/_sim/batches/{batch_id}").json()
    assert [i["status"] for i in view["items"]] == ["processing", "processing"]
    assert api.post("/_sim/enhancement-requests", json={"robot_id": created["client_id"], "count": 1,
                                                         "reference_ids": []}).status_code == 422


# -- the process: ready line, signals, TLS, seed files ---------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "hil.simulators.destiny", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().rstrip("\n")  # blocks until the ready line (or EOF on failure)
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_announces_readiness_and_stops_cleanly(sig: signal.Signals) -> None:
    port = _free_port()
    proc, line = _start("--host", "127.0.0.1", "--port", str(port))
    try:
        assert line == f"{READY_PREFIX}http://127.0.0.1:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/_sim/clock").status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and proc.stdout.read() == ""  # logs never go to stdout
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


def _tls_and_seed(tmp_path: Path, count: int) -> tuple[Path, Path, Path, uuid.UUID, Path]:
    """A server certificate (for 127.0.0.1 and localhost), its key, their CA, and a seed file with
    one robot that has ``count`` pending enhancements: what a process started with TLS needs."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(cert)
    leaf.private_key_pem.write_to_path(key)
    ca.cert_pem.write_to_path(ca_file)
    robot_id = uuid.uuid4()
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"robots": [{"name": "s", "client_id": str(robot_id), "secret": "k"}],
                                "enhancement_requests": [{"robot_id": str(robot_id), "count": count}]}))
    return cert, key, ca_file, robot_id, seed


def test_process_serves_tls_and_seed_file(tmp_path: Path) -> None:
    cert, key, ca_file, robot_id, seed = _tls_and_seed(tmp_path, 2)
    proc, line = _start("--port", "0", "--tls-cert", str(cert), "--tls-key", str(key), "--seed-file", str(seed))
    try:
        match = re.fullmatch(re.escape(READY_PREFIX) + r"https://127\.0\.0\.1:(\d+)", line)
        assert match, line
        with httpx.Client(base_url=f"https://127.0.0.1:{match[1]}", verify=ssl.create_default_context(cafile=ca_file)) as client:
            robot = Robot(client_id=robot_id, secret="k", name="s")
            response = client.post(f"{BATCHES}?robot_id={robot_id}", headers=signed(robot))
            assert response.status_code == 200
            assert response.json()["reference_storage_url"].startswith(f"https://127.0.0.1:{match[1]}/_sim/storage/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


@pytest.mark.requirement("DESTINY-ROBOT-STORAGE-01")
def test_process_serves_blobs_on_its_own_tls_listener(tmp_path: Path) -> None:
    cert, key, ca_file, robot_id, seed = _tls_and_seed(tmp_path, 1)
    proc = subprocess.Popen([sys.executable, "-m", "hil.simulators.destiny", "--port", "0", "--seed-file", str(seed),
                             "--storage-port", "0", "--storage-tls-cert", str(cert), "--storage-tls-key", str(key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        storage_line, api_line = proc.stdout.readline().rstrip("\n"), proc.stdout.readline().rstrip("\n")
        storage = re.fullmatch(r"destiny storage listening on (https://127\.0\.0\.1:\d+)", storage_line)
        api = re.fullmatch(re.escape(READY_PREFIX) + r"(http://127\.0\.0\.1:\d+)", api_line)
        assert storage and api, (storage_line, api_line)
        robot = Robot(client_id=robot_id, secret="k", name="s")
        batch = httpx.post(f"{api[1]}{BATCHES}?robot_id={robot_id}", headers=signed(robot)).json()
        assert batch["reference_storage_url"].startswith(f"{storage[1]}/operations/robot_enhancement_batch_reference_data/")
        with httpx.Client(verify=ssl.create_default_context(cafile=ca_file)) as blobs:
            assert blobs.get(batch["reference_storage_url"]).status_code == 200
            assert blobs.put(batch["result_storage_url"], content=b"{}\n", headers=BLOCK_BLOB).status_code == 201
        on_api = batch["reference_storage_url"].replace(f"{storage[1]}/", f"{api[1]}/_sim/storage/")
        assert httpx.get(on_api).status_code == 404  # plain HTTP blob access is gone
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


@pytest.mark.parametrize(("option", "value"), [("--import-seconds", "-1"), ("--lease-expiry-interval", "nan")])
def test_job_timings_must_be_finite_and_not_negative(option: str, value: str) -> None:
    done = subprocess.run([sys.executable, "-m", "hil.simulators.destiny", "--port", "0", option, value],
                          check=False, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, len(done.stderr.strip().splitlines())) == (2, "", 1)
    assert option in done.stderr


def test_storage_options_go_together() -> None:
    done = subprocess.run([sys.executable, "-m", "hil.simulators.destiny", "--port", "0", "--storage-port", "0"],
                          check=False, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip().endswith("--storage-port, --storage-tls-cert and --storage-tls-key go together")


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ('{"robots": [{"client_id": "x"}]}', "robots.0.client_id")],
)
def test_bad_seed_file_is_one_line(tmp_path: Path, content: str, expected: str) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(content)
    done = subprocess.run([sys.executable, "-m", "hil.simulators.destiny", "--port", "0", "--seed-file", str(seed)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(seed) in lines[0]
