"""The simulated repository's state and the rules that change it.

What is modelled, following the repository's documented behaviour:

* robots (client id + secret) — the HMAC credentials;
* references (any JSON object with an ``id``) — what robots download;
* enhancement requests, each creating one *pending enhancement* per reference for its robot;
* robot enhancement batches: a poll claims up to ``limit`` PENDING items of that robot (oldest
  first, at most one per reference), marks them PROCESSING with a lease, writes the reference
  JSONL and names the result blob;
* the pending-enhancement state machine (pending → processing → importing → indexing →
  completed; processing → expired | failed; importing → discarded | failed; indexing →
  indexing_failed); an invalid move raises :class:`StateTransitionError` with the repository's
  wording ``Cannot transition from status 'a' to 'b'``;
* the lease-expiry job: PROCESSING items whose lease ended become EXPIRED and a fresh PENDING
  copy is queued (``retry_of`` the expired one) unless the chain already holds three retries;
* result import, and per reference the enhancements it added (exact duplicates are discarded).
  They are remembered only to recognise duplicates: unlike the real reference file, the one a
  robot downloads does not carry the reference's earlier enhancements.

Two things happen later on the real repository than the request that causes them, and both are
driven here by the simulated clock (:meth:`Store.sweep` runs whatever has come due before any
state is read or changed):

* **Lease expiry is lazy.** Nothing expires at the lease end: a scheduled job (every 10 minutes
  in the deployed configuration, ``*/10`` cron) expires what has lapsed by the time it runs. Until
  then a lapsed batch is still PROCESSING: its renewal succeeds, its results are accepted, and a
  poll does not hand its items out again. The job runs every ``expiry_interval`` simulated
  seconds counted from the store's creation or reset (the cron's phase is invisible to a
  robot), never when the interval is None (the repository's local configuration, where it is not
  scheduled), and at once through :meth:`Store.run_expiry_job` (``POST /_sim/jobs/expire-leases``).
* **Result import is asynchronous.** The 202 only moves the items to IMPORTING; a queued task
  reads the result file later. Here the import completes ``import_seconds`` simulated seconds
  after the 202 (or at once through :meth:`Store.run_imports`, ``POST /_sim/jobs/import-results``),
  so a second report in between meets ``Cannot transition from status 'importing' to
  'importing'``.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from pydantic_core import from_json

from hil.simulators.destiny.blobs import BlobStore
from hil.simulators.destiny.clock import SimClock
from hil.simulators.destiny.models import EnhancementRequestStatus

__all__ = [
    "DEFAULT_EXPIRY_INTERVAL",
    "DEFAULT_IMPORT_SECONDS",
    "DUPLICATE_DISCARDED",
    "MAX_BATCH_SIZE",
    "MAX_RETRY_COUNT",
    "Batch",
    "EnhancementRequest",
    "LeaseError",
    "NotFound",
    "PendingEnhancement",
    "PendingStatus",
    "Reference",
    "Robot",
    "StateTransitionError",
    "Store",
]

MAX_BATCH_SIZE = 10_000
"""The repository's ``max_pending_enhancements_batch_size``: larger limits are capped to it."""

MAX_RETRY_COUNT = 3
"""How many times an expired item is re-queued before it is left expired for good."""

DEFAULT_EXPIRY_INTERVAL = 600.0
"""Seconds between runs of the lease-expiry job: the deployed schedule (cron ``*/10 * * * *``)."""

DEFAULT_IMPORT_SECONDS = 30.0
"""Simulated seconds between a 202 for results and the end of their import.

The repository imports in a queued task (download, validation, database, search index), which
takes seconds to minutes; 30 s leaves a robot's immediate second report well inside the window
however loaded the machine, and tests end imports at once with :meth:`Store.run_imports`.
"""

DUPLICATE_DISCARDED = "Exact duplicate enhancement already exists on reference."
ENHANCEMENT_ADDED = "Enhancement added."

ENHANCEMENT_TYPES = frozenset(
    {
        "bibliographic",
        "abstract",
        "annotation",
        "location",
        "reference_association",
        "linked_data",
        "raw",
        "full_text",
        "tombstone",
    }
)


class PendingStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    IMPORTING = "importing"
    INDEXING = "indexing"
    INDEXING_FAILED = "indexing_failed"
    DISCARDED = "discarded"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


_ALLOWED_MOVES: Mapping[PendingStatus, frozenset[PendingStatus]] = {
    PendingStatus.PENDING: frozenset({PendingStatus.PROCESSING}),
    PendingStatus.PROCESSING: frozenset({PendingStatus.IMPORTING, PendingStatus.EXPIRED, PendingStatus.FAILED}),
    PendingStatus.IMPORTING: frozenset({PendingStatus.INDEXING, PendingStatus.DISCARDED, PendingStatus.FAILED}),
    PendingStatus.INDEXING: frozenset({PendingStatus.COMPLETED, PendingStatus.INDEXING_FAILED}),
}
_NON_TERMINAL = frozenset(
    {PendingStatus.PENDING, PendingStatus.PROCESSING, PendingStatus.IMPORTING, PendingStatus.INDEXING}
)


class NotFound(Exception):
    """A looked-up object does not exist.

    ``detail`` is the repository's wording; ``value_text`` is how the id appears in it (the
    repository prints a *set* of UUIDs for existence checks, see :meth:`Store.renew_lease`).
    """

    def __init__(self, model: str, value_text: str) -> None:
        self.value_text = value_text
        self.detail = f"{model} with id {value_text} does not exist."
        super().__init__(self.detail)


class StateTransitionError(Exception):
    def __init__(self, current: PendingStatus, wanted: PendingStatus) -> None:
        self.detail = f"Cannot transition from status '{current}' to '{wanted}'"
        super().__init__(self.detail)


class LeaseError(Exception):
    """A lease the repository could not apply (it would answer 500; we answer 422)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


@dataclass
class Robot:
    client_id: UUID
    secret: str
    name: str


@dataclass
class Reference:
    id: UUID
    record: dict[str, object]
    enhancement_hashes: set[str] = field(default_factory=set)
    """Content-wise keys of the enhancements imported onto this reference (see ``_content_key``)."""


@dataclass
class EnhancementRequest:
    id: UUID
    robot_id: UUID
    reference_ids: list[UUID]
    source: str | None
    created_at: datetime.datetime
    error: str | None = None


@dataclass
class PendingEnhancement:
    id: UUID
    reference_id: UUID
    robot_id: UUID
    enhancement_request_id: UUID | None
    created_seq: int
    status: PendingStatus = PendingStatus.PENDING
    batch_id: UUID | None = None
    expires_at: datetime.datetime | None = None
    retry_of: UUID | None = None
    outcome: str | None = None
    """Why the item ended as it did (the validation message), once it is terminal."""

    def move_to(self, wanted: PendingStatus) -> None:
        if wanted not in _ALLOWED_MOVES.get(self.status, frozenset()):
            raise StateTransitionError(self.status, wanted)
        self.status = wanted


@dataclass
class ResultPost:
    """One result report a robot sent for a batch (kept for inspection)."""

    at: datetime.datetime
    error: str | None
    status_code: int


@dataclass
class Batch:
    id: UUID
    robot_id: UUID
    created_at: datetime.datetime
    reference_blob: str
    result_blob: str
    validation_blob: str | None = None
    error: str | None = None
    results: list[ResultPost] = field(default_factory=list)
    import_due: float | None = None
    """Simulated time at which the import under way ends; None when none is."""


def _new_id() -> UUID:
    return uuid.uuid4()


class Store:
    """All simulator state behind one lock (requests are handled on one loop, tests poke in)."""

    def __init__(
        self,
        clock: SimClock,
        blobs: BlobStore,
        *,
        expiry_interval: float | None = DEFAULT_EXPIRY_INTERVAL,
        import_seconds: float = DEFAULT_IMPORT_SECONDS,
    ) -> None:
        if expiry_interval is not None and not expiry_interval > 0:
            raise ValueError("expiry_interval must be a positive number of seconds, or None")
        if not import_seconds >= 0:
            raise ValueError("import_seconds must not be negative")
        self.clock = clock
        self.blobs = blobs
        self.expiry_interval = expiry_interval
        self.import_seconds = import_seconds
        self._next_expiry_run = self._first_expiry_run()
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self.robots: dict[UUID, Robot] = {}
        self.references: dict[UUID, Reference] = {}
        self.requests: dict[UUID, EnhancementRequest] = {}
        self.pending: dict[UUID, PendingEnhancement] = {}
        self.batches: dict[UUID, Batch] = {}

    # -- seeding -----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.robots.clear()
            self.references.clear()
            self.requests.clear()
            self.pending.clear()
            self.batches.clear()
            self.blobs.clear()
            self.clock.reset()
            self._next_expiry_run = self._first_expiry_run()

    def add_robot(self, name: str, client_id: UUID | None = None, secret: str | None = None) -> Robot:
        """Register a robot; the secret is a hex token like the repository issues, used as text."""
        robot = Robot(client_id=client_id or _new_id(), secret=secret or secrets.token_hex(32), name=name)
        with self._lock:
            self.robots[robot.client_id] = robot
        return robot

    def secret_for(self, client_id: UUID) -> str | None:
        with self._lock:
            robot = self.robots.get(client_id)
            return robot.secret if robot else None

    def add_reference(self, record: Mapping[str, object] | None = None) -> Reference:
        """Store a reference; a missing ``id`` gets a fresh one. The record is served verbatim."""
        data = dict(record or {})
        ref_id = UUID(str(data["id"])) if "id" in data else _new_id()
        data["id"] = str(ref_id)
        data.setdefault("visibility", "public")
        reference = Reference(id=ref_id, record=data)
        with self._lock:
            self.references[ref_id] = reference
        return reference

    def add_enhancement_request(
        self, robot_id: UUID, reference_ids: Iterable[UUID], source: str | None = None
    ) -> EnhancementRequest:
        """Queue one pending enhancement per reference for ``robot_id``.

        Unknown references are created on the fly: seeding should not need two calls.
        """
        with self._lock:
            ids = list(reference_ids)
            for ref_id in ids:
                if ref_id not in self.references:
                    self.add_reference({"id": str(ref_id)})
            request = EnhancementRequest(
                id=_new_id(), robot_id=robot_id, reference_ids=ids, source=source, created_at=self.clock.now()
            )
            self.requests[request.id] = request
            for ref_id in ids:
                self._queue(ref_id, robot_id, request.id, retry_of=None)
            return request

    def request_enhancements(
        self, robot_id: UUID, reference_ids: list[UUID], source: str | None = None
    ) -> EnhancementRequest:
        """``POST /v1/enhancement-requests/``: the repository's rules, unlike seeding.

        The references must exist: the repository checks them first and names the missing ones
        as a *set* (422 ``Reference with id {UUID('…')} does not exist.``). The robot is not
        checked there; its pending enhancements then break a foreign key, a 500 on the real
        server, which we answer as 422 ``Robot with id {UUID('…')} does not exist.`` instead
        (with no references nothing is queued, so any robot id is accepted, as there).
        """
        with self._lock:
            missing = {ref_id for ref_id in reference_ids if ref_id not in self.references}
            if missing:
                raise NotFound("Reference", repr(missing))
            if reference_ids and robot_id not in self.robots:
                raise NotFound("Robot", repr({robot_id}))
            return self.add_enhancement_request(robot_id, reference_ids, source)

    def _queue(self, reference_id: UUID, robot_id: UUID, request_id: UUID | None, retry_of: UUID | None) -> None:
        item = PendingEnhancement(
            id=_new_id(),
            reference_id=reference_id,
            robot_id=robot_id,
            enhancement_request_id=request_id,
            created_seq=next(self._seq),
            retry_of=retry_of,
        )
        self.pending[item.id] = item

    # -- jobs the clock runs ------------------------------------------------------------------
    def _first_expiry_run(self) -> float | None:
        return None if self.expiry_interval is None else self.clock.time() + self.expiry_interval

    def sweep(self) -> None:
        """Run what the simulated clock says has come due: ended imports, the expiry job.

        When several scheduled runs of the expiry job passed unseen, only the latest matters:
        between them no request could renew or claim anything, so it expires exactly what they
        would have (the items they re-queued are PENDING and not expired again).
        """
        with self._lock:
            now = self.clock.time()
            for batch in sorted(self.batches.values(), key=lambda b: b.import_due or 0.0):
                if batch.import_due is not None and batch.import_due <= now:
                    self.import_results(batch.id)
            if self._next_expiry_run is not None and self.expiry_interval is not None and self._next_expiry_run <= now:
                missed = (now - self._next_expiry_run) // self.expiry_interval
                ran_at = self._next_expiry_run + missed * self.expiry_interval
                self._next_expiry_run = ran_at + self.expiry_interval
                self._expire(datetime.datetime.fromtimestamp(ran_at, tz=datetime.UTC))

    def run_expiry_job(self) -> dict[str, int]:
        """Run the lease-expiry job now (the schedule keeps its phase); counts like the real job."""
        with self._lock:
            self.sweep()
            return self._expire(self.clock.now())

    def run_imports(self) -> list[UUID]:
        """End every import under way now; the ids of the batches imported."""
        with self._lock:
            self.sweep()
            due = sorted((b for b in self.batches.values() if b.import_due is not None), key=lambda b: b.import_due or 0.0)
            for batch in due:
                self.import_results(batch.id)
            return [b.id for b in due]

    def _expire(self, now: datetime.datetime) -> dict[str, int]:
        """Expire PROCESSING items whose lease ended before ``now`` and re-queue them."""
        expired = replaced = 0
        for item in list(self.pending.values()):
            if item.status is PendingStatus.PROCESSING and item.expires_at is not None and item.expires_at < now:
                item.move_to(PendingStatus.EXPIRED)
                item.outcome = "Lease expired."
                expired += 1
                if self._retry_depth(item) < MAX_RETRY_COUNT:
                    self._queue(item.reference_id, item.robot_id, item.enhancement_request_id, retry_of=item.id)
                    replaced += 1
        return {"expired": expired, "replaced_with": replaced}

    def _retry_depth(self, item: PendingEnhancement) -> int:
        depth = 0
        while item.retry_of is not None and item.retry_of in self.pending:
            depth += 1
            item = self.pending[item.retry_of]
        return depth

    def _expiry(self, lease: datetime.timedelta) -> datetime.datetime:
        if lease <= datetime.timedelta(0):
            raise LeaseError("lease must be a positive duration")
        try:
            return self.clock.now() + lease
        except OverflowError:
            raise LeaseError("lease is too long") from None

    # -- robot operations ----------------------------------------------------------------------
    def claim_batch(self, robot_id: UUID, limit: int, lease: datetime.timedelta) -> Batch | None:
        """Claim up to ``limit`` pending items of ``robot_id``; None when nothing is pending.

        Like the repository, the lease is checked only once something is to be claimed (an
        empty poll answers 204 whatever the lease).
        """
        with self._lock:
            self.sweep()
            limit = min(limit, MAX_BATCH_SIZE)
            available = sorted(
                (p for p in self.pending.values() if p.robot_id == robot_id and p.status is PendingStatus.PENDING),
                key=lambda p: p.created_seq,
            )[: max(limit, 0)]
            if not available:
                return None
            expires_at = self._expiry(lease)
            # One item per reference, the others wait for a later batch. The repository builds
            # this as {reference: item for item in reversed(available)}: the oldest item of a
            # reference is kept, and the batch (so its reference file) runs newest first.
            chosen: dict[UUID, PendingEnhancement] = {}
            for item in reversed(available):
                chosen[item.reference_id] = item
            batch_id = _new_id()
            batch = Batch(
                id=batch_id,
                robot_id=robot_id,
                created_at=self.clock.now(),
                reference_blob=f"robot_enhancement_batch_reference_data/{batch_id}.jsonl",
                result_blob=f"robot_enhancement_batch_result_data/{batch_id}_robot.jsonl",
            )
            for item in chosen.values():
                item.move_to(PendingStatus.PROCESSING)
                item.batch_id = batch_id
                item.expires_at = expires_at
            lines = [json.dumps(self.references[ref_id].record, separators=(",", ":")) for ref_id in chosen]
            self.blobs.put(batch.reference_blob, ("\n".join(lines) + "\n").encode())
            self.batches[batch_id] = batch
            return batch

    def get_batch(self, batch_id: UUID) -> Batch:
        with self._lock:
            self.sweep()
            batch = self.batches.get(batch_id)
            if batch is None:
                raise NotFound("RobotEnhancementBatch", str(batch_id))
            return batch

    def items_of(self, batch_id: UUID) -> list[PendingEnhancement]:
        with self._lock:
            return sorted(
                (p for p in self.pending.values() if p.batch_id == batch_id), key=lambda p: p.created_seq
            )

    def renew_lease(self, batch_id: UUID, lease: datetime.timedelta) -> datetime.datetime | None:
        """Extend the lease of the batch's PROCESSING items; None when there are none (409).

        An unknown batch raises NotFound worded like the repository's existence check, which
        prints the *set* of missing ids (``{UUID('…')}``) and answers 422, not 404.
        """
        with self._lock:
            self.sweep()
            if batch_id not in self.batches:
                raise NotFound("RobotEnhancementBatch", repr({batch_id}))
            expires_at = self._expiry(lease)
            live = [p for p in self.items_of(batch_id) if p.status is PendingStatus.PROCESSING]
            if not live:
                return None
            for item in live:
                item.expires_at = expires_at
            return expires_at

    def fail_batch(self, batch_id: UUID, message: str) -> Batch:
        """The robot reported that the whole batch failed: every item becomes FAILED."""
        with self._lock:
            batch = self.get_batch(batch_id)
            items = self.items_of(batch_id)
            for item in items:  # check every move first: all or nothing, like one transaction
                if PendingStatus.FAILED not in _ALLOWED_MOVES.get(item.status, frozenset()):
                    raise StateTransitionError(item.status, PendingStatus.FAILED)
            for item in items:
                item.move_to(PendingStatus.FAILED)
                item.outcome = message
            batch.error = message
            return batch

    def start_import(self, batch_id: UUID) -> Batch:
        """Move every item of the batch to IMPORTING (the moment the 202 is decided)."""
        with self._lock:
            batch = self.get_batch(batch_id)
            items = self.items_of(batch_id)
            for item in items:
                if PendingStatus.IMPORTING not in _ALLOWED_MOVES.get(item.status, frozenset()):
                    raise StateTransitionError(item.status, PendingStatus.IMPORTING)
            for item in items:
                item.move_to(PendingStatus.IMPORTING)
            batch.import_due = self.clock.time() + self.import_seconds
            return batch

    def import_results(self, batch_id: UUID) -> None:
        """Read the robot's result JSONL, settle every IMPORTING item, write the validation file.

        A line is an enhancement (has ``content`` with a known ``enhancement_type``) or a linked
        robot error (``reference_id`` + ``message``). Items with an accepted enhancement end
        COMPLETED; everything else FAILED with a reason. The validation texts are ours except
        "Requested reference not in enhancement result.", which is the repository's.

        Every line is judged before any item moves, so whatever a robot uploaded, the items
        leave IMPORTING together and the validation file is written.
        """
        with self._lock:
            batch = self.batches[batch_id]
            batch.import_due = None
            items = {p.reference_id: p for p in self.items_of(batch_id) if p.status is PendingStatus.IMPORTING}
            entries: list[dict[str, object]] = []
            reasons: dict[UUID, str | None] = {}
            blob = self.blobs.get(batch.result_blob)
            lines = blob.data.decode("utf-8", "replace").splitlines() if blob else []
            if blob is None:
                entries.append({"reference_id": None, "error": "Result file was not uploaded."})
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                ref_id, reason = _judge_result_line(line, number, set(items))
                if ref_id is None:
                    entries.append({"reference_id": None, "error": reason})
                    continue
                if reason is None and ref_id not in reasons:
                    reason = self._add_enhancement(ref_id, line)
                reasons.setdefault(ref_id, reason)
                entries.append({"reference_id": str(ref_id), "error": reason})
            for ref_id in items:
                if ref_id not in reasons:
                    reasons[ref_id] = "Requested reference not in enhancement result."
                    entries.append({"reference_id": str(ref_id), "error": reasons[ref_id]})
            for ref_id, item in items.items():
                reason = reasons[ref_id]
                if reason is None:
                    item.move_to(PendingStatus.INDEXING)
                    item.move_to(PendingStatus.COMPLETED)
                    item.outcome = ENHANCEMENT_ADDED
                elif reason == DUPLICATE_DISCARDED:
                    item.move_to(PendingStatus.DISCARDED)
                    item.outcome = reason
                else:
                    item.move_to(PendingStatus.FAILED)
                    item.outcome = reason
            batch.validation_blob = f"enhancement_result/{batch_id}_repo.jsonl"
            text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
            self.blobs.put(batch.validation_blob, text.encode())

    def _add_enhancement(self, reference_id: UUID, line: str) -> str | None:
        """Import one accepted enhancement line; its discard reason when it is a duplicate."""
        key = _content_key(from_json(line))
        reference = self.references[reference_id]
        if key in reference.enhancement_hashes:
            return DUPLICATE_DISCARDED
        reference.enhancement_hashes.add(key)
        return None

    def record_result(self, batch_id: UUID, error: str | None, status_code: int) -> None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                batch.results.append(ResultPost(at=self.clock.now(), error=error, status_code=status_code))

    # -- enhancement requests ------------------------------------------------------------------
    def get_request(self, request_id: UUID) -> EnhancementRequest:
        with self._lock:
            self.sweep()
            request = self.requests.get(request_id)
            if request is None:
                raise NotFound("EnhancementRequest", str(request_id))
            return request

    def request_status(self, request: EnhancementRequest) -> EnhancementRequestStatus:
        """Derived from the request's items, expired ones carrying no weight."""
        with self._lock:
            statuses = {
                p.status
                for p in self.pending.values()
                if p.enhancement_request_id == request.id and p.status is not PendingStatus.EXPIRED
            }
        if not statuses:
            return EnhancementRequestStatus.RECEIVED
        if statuses == {PendingStatus.PENDING}:
            return EnhancementRequestStatus.RECEIVED
        if statuses & _NON_TERMINAL:
            return EnhancementRequestStatus.PROCESSING
        if statuses == {PendingStatus.COMPLETED}:
            return EnhancementRequestStatus.COMPLETED
        if statuses == {PendingStatus.FAILED}:
            return EnhancementRequestStatus.FAILED
        return EnhancementRequestStatus.PARTIAL_FAILED


def _drop_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _content_key(entry: dict[str, object]) -> str:
    """What makes two enhancements "exact duplicates" on the repository.

    It compares a hash of ``source``, ``visibility``, ``robot_version`` and ``derived_from``
    (those not null) and the content without its null fields, keys sorted. The repository reads
    the content into its models first (defaults filled in, and some types hash a narrower
    fingerprint); we compare the JSON as sent, which agrees for a robot that serialises the same
    enhancement the same way twice.
    """
    key = {k: entry[k] for k in ("source", "visibility", "robot_version", "derived_from") if entry.get(k) is not None}
    key["content"] = _drop_none(entry.get("content"))
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _parse_result_line(line: str) -> object:
    """One JSONL line, read by pydantic's JSON parser as the repository reads it.

    The repository reads result lines with the SDK's JSONL models (``from_jsonl``, that is
    pydantic's ``model_validate_json`` on jiter), not with Python's ``json``: nesting deeper than
    jiter's limit (about 200) and lone surrogate escapes (``"\\ud800"``) are invalid JSON there.
    Python's ``json`` would accept surrogates (text no JSON answer can carry later) and raise
    ``RecursionError``, not ``ValueError``, on ``"[" * 200000``: a 500 with the items left in
    IMPORTING.

    Raises:
        ValueError: the line is not valid JSON.
    """
    return from_json(line)


def _judge_result_line(line: str, number: int, expected: set[UUID]) -> tuple[UUID | None, str | None]:
    """(reference id or None when unusable, None when accepted else the reason)."""
    try:
        entry = _parse_result_line(line)
    except ValueError:
        return None, f"Line {number} is not valid JSON."
    if not isinstance(entry, dict):
        return None, f"Line {number} is not a JSON object."
    try:
        ref_id = UUID(str(entry.get("reference_id")))
    except ValueError:
        return None, f"Line {number} has no valid reference_id."
    if ref_id not in expected:
        return None, f"Line {number}: reference {ref_id} is not part of this batch."
    content = entry.get("content")
    if content is None:
        message = entry.get("message")
        if isinstance(message, str):
            return ref_id, message
        return ref_id, f"Line {number} is neither an enhancement nor a robot error."
    enhancement_type = content.get("enhancement_type") if isinstance(content, dict) else None
    if not isinstance(enhancement_type, str) or enhancement_type not in ENHANCEMENT_TYPES:  # [] is unhashable
        return ref_id, f"Line {number} has an unknown enhancement_type."
    if not isinstance(entry.get("source"), str) or "visibility" not in entry:
        return ref_id, f"Line {number} lacks source or visibility."
    return ref_id, None
