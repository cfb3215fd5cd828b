"""Ingestion: iterables of any length into valid batches, and one report.

kg's ``POST /v1/batch`` takes at most 1,000 entities and 1,000
relationships, and is all or nothing: one invalid item refuses the batch,
with every problem of every item named ``entities[i].field``. The client
therefore sends the entities first, then the relationships (so every
relationship's ends are stored before it is sent, whichever batch they came
in), and when kg refuses a batch it sets the refused items aside and sends
the rest again, so that every valid item lands and every invalid one is
reported once, at its position in the caller's input.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from . import _core
from ._core import Credentials, RetryPolicy, Steps
from .errors import ConflictError, FieldError, ValidationError

__all__ = ["IngestInterrupted", "IngestReport", "Refused", "Resume"]

Kind = Literal["entities", "relationships"]

MAX_ITEMS = 1000
# Below kg's default batch body limit (16 MiB) with room for the envelope.
MAX_BATCH_BYTES = 8 * 1024 * 1024
# Two batches creating the same external id (or relationship) at once: the
# loser gets a 409 and, sent again, finds the winner's row and upserts.
CONFLICT_RETRIES = 3
_ITEM_FIELD = re.compile(r"^(entities|relationships)\[(\d+)\](?:\.(.+))?$")


@dataclass(frozen=True)
class Resume:
    """Where to start an ingestion again: how many entities and how many
    relationships, from the start of each input, are settled (landed or
    refused), and the ingestion they belong to. Pass it as
    ``ingest(..., resume=report.resume)`` with the same inputs and
    ``max_items``.

    The point is the longest prefix whose batches have all come back, so
    batches after it may have landed too. They are sent again under the
    idempotency keys they first went with (each batch's key comes from
    ``run`` and its content), and kg answers them from what it stored,
    writing nothing twice, for 24 hours; the report then counts them as
    their first answer did."""

    entities: int = 0
    relationships: int = 0
    # The ingestion's id; empty for a new one.
    run: str = ""


@dataclass(frozen=True)
class Refused:
    """An item kg refused: which input, its position there (from 0), the item
    as sent, and what is wrong with it (fields relative to the item)."""

    kind: Kind
    position: int
    item: dict[str, Any]
    errors: list[FieldError]


@dataclass
class IngestReport:
    """What one ``ingest`` call did, over all its batches."""

    created: int = 0
    updated: int = 0
    corroborated: int = 0
    unchanged: int = 0
    refused: list[Refused] = field(default_factory=list)
    batches: int = 0
    resume: Resume = field(default_factory=Resume)

    @property
    def landed(self) -> int:
        return self.created + self.updated + self.corroborated + self.unchanged

    def add(self, outcome: BatchOutcome) -> None:
        self.created += outcome.counts.get("created", 0)
        self.updated += outcome.counts.get("updated", 0)
        self.corroborated += outcome.counts.get("corroborated", 0)
        self.unchanged += outcome.counts.get("unchanged", 0)
        self.refused.extend(outcome.refused)
        self.batches += outcome.requests


class IngestInterrupted(Exception):
    """Ingestion stopped part-way (kg unreachable past the retry budget, or a
    batch refused as a whole). ``report`` says what landed and
    ``report.resume`` where to start again; ``__cause__`` is why."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(f"ingestion stopped; resume at {report.resume}")
        self.report = report


def as_item(item: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        dumped: dict[str, Any] = item.model_dump(mode="json", exclude_none=True, by_alias=True)
        return dumped
    return dict(item)


# A batch to send: (position in the input, item) pairs.
Chunk = list[tuple[int, dict[str, Any]]]


def chunks(
    kind: Kind, items: Iterable[BaseModel | Mapping[str, Any]], start: int, max_items: int, max_bytes: int
) -> Iterator[Chunk]:
    """The items from position ``start`` on, in batches of at most
    ``max_items`` and about ``max_bytes`` of JSON each (a single item larger
    than that goes alone, and kg judges it)."""
    chunk: Chunk = []
    size = 0
    for position, raw in enumerate(itertools.islice(items, start, None), start):
        item = as_item(raw)
        item_size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()) + 1
        if chunk and (len(chunk) >= max_items or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((position, item))
        size += item_size
    if chunk:
        yield chunk


@dataclass
class BatchOutcome:
    counts: dict[str, int]
    refused: list[Refused]
    requests: int
    # The highest input position this batch covered.
    last: int


def batch_key(run: str, body: dict[str, Any]) -> str:
    """The idempotency key of a batch: the same for the same ingestion and
    the same items, so that a resumed ingestion's resend is replayed."""
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return "ingest-" + hashlib.sha256(run.encode() + b"\0" + encoded).hexdigest()


def send_batch(
    kind: Kind, chunk: Chunk, run: str, credentials: Credentials, policy: RetryPolicy
) -> Steps[BatchOutcome]:
    """Sends one batch; while kg refuses items, sets them aside and sends the
    rest. Each distinct body goes under its own idempotency key (`batch_key`),
    so a retry of a lost answer, or a resumed ingestion, replays and never
    writes twice."""
    pending = list(chunk)
    refused: list[Refused] = []
    requests = 0
    conflicts = 0
    while pending:
        body: dict[str, Any] = {kind: [item for _, item in pending]}
        requests += 1
        try:
            call = _core.create("/v1/batch", body, batch_key(run, body))
            response = yield from _core.exchange(call, credentials, policy)
        except ValidationError as e:
            bad = _refused_items(kind, pending, e)
            if not bad:
                raise
            refused.extend(bad)
            gone = {r.position for r in bad}
            pending = [(p, item) for p, item in pending if p not in gone]
            continue
        except ConflictError as e:
            if e.code not in ("external_id_taken", "duplicate_relationship") or conflicts >= CONFLICT_RETRIES:
                raise
            conflicts += 1
            yield _core.Sleep(policy.pause(conflicts, None))
            continue
        report = response.json()
        counts: dict[str, int] = {}
        for item in report.get(kind, []):
            counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
        return BatchOutcome(counts, refused, requests, chunk[-1][0])
    return BatchOutcome({}, refused, requests, chunk[-1][0])


def _refused_items(kind: Kind, pending: Chunk, error: ValidationError) -> list[Refused]:
    """The items a 422 names, with their errors; empty when it names none of
    this batch's items (then the batch as a whole was refused)."""
    by_index: dict[int, list[FieldError]] = {}
    for e in error.errors:
        m = _ITEM_FIELD.match(e.field)
        if m is None or m.group(1) != kind or int(m.group(2)) >= len(pending):
            return []
        by_index.setdefault(int(m.group(2)), []).append(FieldError(m.group(3) or "", e.message))
    return [Refused(kind, pending[i][0], pending[i][1], errors) for i, errors in sorted(by_index.items())]


class Settled:
    """The longest prefix of an input whose batches have all come back,
    whatever order they came back in."""

    def __init__(self, start: int) -> None:
        self.done = start
        self._ends: dict[int, int] = {}

    def add(self, chunk: Chunk) -> None:
        self._ends[chunk[0][0]] = chunk[-1][0] + 1
        while self.done in self._ends:
            self.done = self._ends.pop(self.done)
