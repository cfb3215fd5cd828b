"""The clients: `Client` (blocking) and `AsyncClient` (asyncio).

Both have the same operations, written once in `_Base`; each request goes
through `_core.exchange`, which signs in, renews tokens, and retries what
is safe to retry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from urllib.parse import quote
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel

from . import _core, models
from ._core import Call, Credentials, RetryPolicy, Sleep, Steps
from ._ops import Listing, listing, operation, query
from .errors import KgConnectionError, PreconditionError, ProblemError, ServerError, UnavailableError
from .graph import Neighborhood
from .ingest import (
    MAX_BATCH_BYTES,
    MAX_ITEMS,
    Chunk,
    IngestInterrupted,
    IngestReport,
    Kind,
    Resume,
    Settled,
    chunks,
    send_batch,
)

__all__ = ["AsyncClient", "Change", "Client", "Tagged"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Body = BaseModel | Mapping[str, Any]
Direction = Literal["out", "in", "both"]
Fact = Literal["entity", "relationship"]


def _fact_path(fact: Fact, id: str) -> str:
    """The path of an entity or a relationship."""
    if fact not in ("entity", "relationship"):
        raise ValueError(f"a fact is an entity or a relationship, not {fact!r}")
    return f"/v1/entities/{_id(id)}" if fact == "entity" else f"/v1/relationships/{_id(id)}"
# What a feed consumer that follows for ever waits out rather than raises.
_FEED_OUTAGES = (KgConnectionError, UnavailableError, ServerError)


@dataclass(frozen=True)
class Tagged(Generic[T]):
    """A resource and the ETag it was read with: pass it (or its ``etag``) as
    ``if_match`` to change the resource only if no one else has since."""

    value: T
    etag: str


@dataclass(frozen=True)
class Change:
    """One change of the feed. ``cursor`` is where a consumer that has
    applied it resumes: store it with what the change did, and pass it as
    ``after`` when starting again."""

    change: models.ChangeResponse
    cursor: str


def _body(value: Body) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return dict(value)


def _model(kind: type[M], response: httpx.Response) -> M:
    return kind.model_validate_json(response.content)


def _tagged(kind: type[M], response: httpx.Response) -> Tagged[M]:
    return Tagged(_model(kind, response), response.headers.get("etag", ""))


def _id(id: str) -> str:
    """An id as one path segment: escaped, so that an id read from input
    data can never name another route (``../relationships/...``)."""
    return quote(str(id), safe="")


def _etag(if_match: str | Tagged[Any]) -> str:
    return if_match.etag if isinstance(if_match, Tagged) else if_match


class _Base:
    """The operations of both clients."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = Credentials(api_key=api_key, email=email, password=password)
        self.retry = retry or RetryPolicy()
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency

    def _run(self, steps: Steps[T]) -> Any:
        raise NotImplementedError

    def _pages(self, listing: Listing[M]) -> Any:
        raise NotImplementedError

    def _send(self, call: Call) -> Steps[httpx.Response]:
        return _core.exchange(call, self.credentials, self.retry)

    def _answer(self, kind: type[M], call: Call) -> Steps[M]:
        return _model(kind, (yield from self._send(call)))

    def _fetch(self, kind: type[M], path: str, params: Sequence[tuple[str, str]] = ()) -> Steps[M]:
        return (yield from self._answer(kind, _core.get(path, params)))

    def _read(self, kind: type[M], path: str) -> Steps[Tagged[M]]:
        return _tagged(kind, (yield from self._send(_core.get(path))))

    def _patch(self, kind: type[M], path: str, patch: Any, if_match: str | Tagged[Any]) -> Steps[Tagged[M]]:
        call = Call.json_body("PATCH", path, patch, headers={"if-match": _etag(if_match)})
        return _tagged(kind, (yield from self._send(call)))

    def _delete(self, path: str) -> Steps[None]:
        yield from self._send(Call("DELETE", path))

    # Account

    @operation
    def me(self) -> Steps[models.UserResponse]:
        """The signed-in user."""
        return (yield from self._fetch(models.UserResponse, "/v1/auth/me"))

    @operation
    def sign_out(self) -> Steps[None]:
        """Ends the session at once, on every instance of kg."""
        yield from self._send(Call("POST", "/v1/auth/logout"))
        self.credentials.forget()

    @operation
    def change_password(self, current_password: str, new_password: str) -> Steps[None]:
        """Changes the signed-in user's password; every other session ends."""
        body = {"current_password": current_password, "new_password": new_password}
        yield from self._send(Call.json_body("POST", "/v1/auth/password", body))

    # Entities

    @operation
    def create_entity(
        self, entity: models.CreateEntityRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Steps[models.EntityResponse]:
        """Creates an entity. The request carries an ``Idempotency-Key`` (a
        fresh one unless given), so a retry after a lost answer gets the
        first answer back and never creates a second entity."""
        return (
            yield from self._answer(models.EntityResponse, _core.create("/v1/entities", _body(entity), idempotency_key))
        )

    @operation
    def get_entity(self, id: str) -> Steps[models.EntityResponse]:
        """A live entity."""
        return (yield from self._fetch(models.EntityResponse, f"/v1/entities/{_id(id)}"))

    @operation
    def read_entity(self, id: str) -> Steps[Tagged[models.EntityResponse]]:
        """A live entity and its ETag, for `update_entity`."""
        return (yield from self._read(models.EntityResponse, f"/v1/entities/{_id(id)}"))

    @operation
    def update_entity(
        self, id: str, patch: models.EntityPatch | Mapping[str, Any], *, if_match: str | Tagged[Any]
    ) -> Steps[Tagged[models.EntityResponse]]:
        """Applies a JSON merge patch (``None`` removes a key) if the entity
        is still at ``if_match``; raises `PreconditionError` if it changed."""
        return (yield from self._patch(models.EntityResponse, f"/v1/entities/{_id(id)}", _body(patch), if_match))

    @operation
    def edit_entity(
        self, id: str, change: Callable[[models.EntityResponse], Mapping[str, Any]], *, attempts: int = 1
    ) -> Steps[Tagged[models.EntityResponse]]:
        """Reads the entity, asks ``change`` for a merge patch from what it
        read, and sends it with the ETag read. With ``attempts`` above 1, a
        concurrent change makes it read and ask again (that many times in
        all) instead of raising `PreconditionError`."""
        for attempt in range(1, attempts + 1):
            current = yield from self._read(models.EntityResponse, f"/v1/entities/{_id(id)}")
            try:
                return (
                    yield from self._patch(
                        models.EntityResponse, f"/v1/entities/{_id(id)}", dict(change(current.value)), current
                    )
                )
            except PreconditionError:
                if attempt == attempts:
                    raise
        raise ValueError("attempts must be at least 1")

    @operation
    def delete_entity(self, id: str) -> Steps[None]:
        """Deletes an entity and, with it, its relationships; `restore_entity`
        brings them back."""
        yield from self._delete(f"/v1/entities/{_id(id)}")

    @operation
    def restore_entity(self, id: str) -> Steps[models.Restored]:
        """Restores a deleted entity and the relationships deleted with it
        (admins)."""
        return (yield from self._answer(models.Restored, Call("POST", f"/v1/entities/{_id(id)}/restore")))

    @listing
    def entities(
        self,
        *,
        type: str | None = None,
        name: str | None = None,
        q: str | None = None,
        min_confidence: float | None = None,
        source_type: str | None = None,
        created_after: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
        page_size: int = 100,
    ) -> Listing[models.EntityResponse]:
        """Every live entity that matches, by id; pages are fetched as the
        iteration reaches them."""
        params = query(
            type=type,
            name=name,
            q=q,
            min_confidence=min_confidence,
            source_type=source_type,
            created_after=created_after,
            metadata=metadata,
            limit=page_size,
        )
        return Listing("/v1/entities", params, models.EntityResponse)

    @listing
    def entity_relationships(
        self, id: str, *, type: str | None = None, direction: Direction | None = None, page_size: int = 100
    ) -> Listing[models.RelationshipResponse]:
        """The live relationships touching an entity."""
        return Listing(
            f"/v1/entities/{_id(id)}/relationships",
            query(type=type, direction=direction, limit=page_size),
            models.RelationshipResponse,
        )

    @listing
    def history(self, id: str, *, page_size: int = 100) -> Listing[models.AuditResponse]:
        """Who changed an entity, when and how, oldest first."""
        return Listing(f"/v1/entities/{_id(id)}/history", query(limit=page_size), models.AuditResponse)

    @operation
    def neighbors(
        self,
        id: str,
        *,
        depth: int = 1,
        direction: Direction | None = None,
        type: str | None = None,
        relationship_type: str | None = None,
        min_confidence: float | None = None,
        max_nodes: int | None = None,
    ) -> Steps[Neighborhood]:
        """The neighbourhood of an entity, breadth-first to ``depth`` (1-3):
        its nodes and edges, and whether kg's node budget cut it short."""
        params = query(
            depth=depth,
            direction=direction,
            type=type,
            relationship_type=relationship_type,
            min_confidence=min_confidence,
            max_nodes=max_nodes,
        )
        return Neighborhood(
            (yield from self._fetch(models.NeighborhoodResponse, f"/v1/entities/{_id(id)}/neighbors", params))
        )

    @operation
    def duplicates(
        self, id: str, *, min_score: float | None = None, limit: int | None = None
    ) -> Steps[list[models.DuplicateResponse]]:
        """Live entities of the entity's type likely to be the same thing,
        best first: each with its ``score`` (0.3-1, how alike the names are)
        and whether the names are the same once case-folded."""
        params = query(min_score=min_score, limit=limit)
        found = yield from self._fetch(models.DuplicatesResponse, f"/v1/entities/{_id(id)}/duplicates", params)
        return found.items

    # Evidence

    @operation
    def add_evidence(
        self,
        fact: Fact,
        id: str,
        evidence: models.AddEvidenceRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> Steps[models.AddedEvidence]:
        """Records what a source says of a live entity or relationship (a
        confidence, a source or both, and where in the source); the answer
        carries the fact's combined confidence now. Under an
        ``Idempotency-Key`` as `create_entity`."""
        path = f"{_fact_path(fact, id)}/evidence"
        return (yield from self._answer(models.AddedEvidence, _core.create(path, _body(evidence), idempotency_key)))

    @operation
    def get_evidence(self, id: str) -> Steps[models.EvidenceResponse]:
        """An evidence record, live or retracted (a fact's stated record has
        the fact's id)."""
        return (yield from self._fetch(models.EvidenceResponse, f"/v1/evidence/{_id(id)}"))

    @operation
    def retract_evidence(self, id: str) -> Steps[None]:
        """Retracts an added record: it stops counting, and `restore_evidence`
        brings it back."""
        yield from self._delete(f"/v1/evidence/{_id(id)}")

    @operation
    def restore_evidence(self, id: str) -> Steps[models.AddedEvidence]:
        """Brings back a retracted record; the answer carries the fact's
        combined confidence now."""
        return (yield from self._answer(models.AddedEvidence, Call("POST", f"/v1/evidence/{_id(id)}/restore")))

    @listing
    def evidence(
        self,
        *,
        of: tuple[Fact, str] | None = None,
        source: str | None = None,
        source_type: str | None = None,
        include_retracted: bool = False,
        page_size: int = 100,
    ) -> Listing[models.EvidenceResponse]:
        """Evidence by id: of one fact (``of=("entity", id)``) or of all,
        from one source or source type, live only unless
        ``include_retracted``."""
        path = "/v1/evidence" if of is None else f"{_fact_path(*of)}/evidence"
        params = query(
            source=source,
            source_type=source_type,
            include_retracted=include_retracted or None,
            limit=page_size,
        )
        return Listing(path, params, models.EvidenceResponse)

    # Relationships

    @operation
    def create_relationship(
        self, relationship: models.CreateRelationshipRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Steps[models.RelationshipResponse]:
        """Creates a relationship between two live entities, under an
        ``Idempotency-Key`` as `create_entity`."""
        return (
            yield from self._answer(
                models.RelationshipResponse, _core.create("/v1/relationships", _body(relationship), idempotency_key)
            )
        )

    @operation
    def get_relationship(self, id: str) -> Steps[models.RelationshipResponse]:
        """A live relationship."""
        return (yield from self._fetch(models.RelationshipResponse, f"/v1/relationships/{_id(id)}"))

    @operation
    def read_relationship(self, id: str) -> Steps[Tagged[models.RelationshipResponse]]:
        """A live relationship and its ETag, for `update_relationship`."""
        return (yield from self._read(models.RelationshipResponse, f"/v1/relationships/{_id(id)}"))

    @operation
    def update_relationship(
        self, id: str, patch: models.RelationshipPatch | Mapping[str, Any], *, if_match: str | Tagged[Any]
    ) -> Steps[Tagged[models.RelationshipResponse]]:
        """Applies a JSON merge patch if the relationship is still at
        ``if_match``; raises `PreconditionError` if it changed."""
        return (
            yield from self._patch(models.RelationshipResponse, f"/v1/relationships/{_id(id)}", _body(patch), if_match)
        )

    @operation
    def delete_relationship(self, id: str) -> Steps[None]:
        """Deletes a relationship."""
        yield from self._delete(f"/v1/relationships/{_id(id)}")

    @listing
    def relationships(
        self,
        *,
        source_id: str | None = None,
        target_id: str | None = None,
        type: str | None = None,
        min_confidence: float | None = None,
        source_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page_size: int = 100,
    ) -> Listing[models.RelationshipResponse]:
        """Every live relationship that matches, by id."""
        params = query(
            source_id=source_id,
            target_id=target_id,
            type=type,
            min_confidence=min_confidence,
            source_type=source_type,
            metadata=metadata,
            limit=page_size,
        )
        return Listing("/v1/relationships", params, models.RelationshipResponse)

    # Ingestion

    @operation
    def batch(
        self,
        entities: Iterable[Body] = (),
        relationships: Iterable[Body] = (),
        *,
        dry_run: bool = False,
        idempotency_key: str | None = None,
    ) -> Steps[models.BatchReportResponse]:
        """One `POST /v1/batch` as it is: at most 1,000 of each, all or
        nothing (a `ValidationError` names every refused item). For inputs of
        any size, and to land the valid items of a mixed input, use
        `ingest`."""
        body = {"entities": [_body(e) for e in entities], "relationships": [_body(r) for r in relationships]}
        return (
            yield from self._answer(
                models.BatchReportResponse,
                _core.create("/v1/batch", body, idempotency_key, query(dry_run=dry_run or None)),
            )
        )

    # The feed

    @operation
    def changes_page(self, *, after: str | None = None, limit: int = 100) -> Steps[models.ChangePageResponse]:
        """One page of the change feed after the cursor ``after``."""
        return (yield from self._fetch(models.ChangePageResponse, "/v1/changes", query(after=after, limit=limit)))

    # Administration

    @listing
    def audit(
        self,
        *,
        actor_id: str | None = None,
        target_id: str | None = None,
        target_type: str | None = None,
        action: str | None = None,
        page_size: int = 100,
    ) -> Listing[models.AuditResponse]:
        """The audit log, oldest first (admins)."""
        params = query(actor_id=actor_id, target_id=target_id, target_type=target_type, action=action, limit=page_size)
        return Listing("/v1/audit", params, models.AuditResponse)

    @operation
    def create_user(self, user: models.CreateUserRequest | Mapping[str, Any]) -> Steps[models.UserResponse]:
        """Creates a user (admins)."""
        return (yield from self._answer(models.UserResponse, Call.json_body("POST", "/v1/users", _body(user))))

    @operation
    def get_user(self, id: str) -> Steps[models.UserResponse]:
        """A user (admins)."""
        return (yield from self._fetch(models.UserResponse, f"/v1/users/{_id(id)}"))

    @operation
    def read_user(self, id: str) -> Steps[Tagged[models.UserResponse]]:
        """A user and its ETag, for `update_user` (admins)."""
        return (yield from self._read(models.UserResponse, f"/v1/users/{_id(id)}"))

    @operation
    def update_user(
        self, id: str, patch: models.UserPatch | Mapping[str, Any], *, if_match: str | Tagged[Any]
    ) -> Steps[Tagged[models.UserResponse]]:
        """Changes a user's role or whether the account is active, if it is
        still at ``if_match`` (admins); raises `PreconditionError` if it
        changed."""
        return (yield from self._patch(models.UserResponse, f"/v1/users/{_id(id)}", _body(patch), if_match))

    @operation
    def delete_user(self, id: str) -> Steps[None]:
        """Deactivates a user and ends their sessions (admins); their keys
        stop working at once."""
        yield from self._delete(f"/v1/users/{_id(id)}")

    @listing
    def users(self, *, page_size: int = 100) -> Listing[models.UserResponse]:
        """Every user (admins)."""
        return Listing("/v1/users", query(limit=page_size), models.UserResponse)

    @operation
    def create_api_key(self, key: models.CreateApiKeyRequest | Mapping[str, Any]) -> Steps[models.CreatedResponse]:
        """Creates an API key (admins). Its secret is in this answer only."""
        return (yield from self._answer(models.CreatedResponse, Call.json_body("POST", "/v1/api-keys", _body(key))))

    @listing
    def api_keys(self, *, page_size: int = 100) -> Listing[models.ApiKeyResponse]:
        """Every API key, without secrets (admins)."""
        return Listing("/v1/api-keys", query(limit=page_size), models.ApiKeyResponse)

    @operation
    def revoke_api_key(self, id: str) -> Steps[None]:
        """Revokes an API key at once (admins)."""
        yield from self._delete(f"/v1/api-keys/{_id(id)}")

    @operation
    def maintenance(self) -> Steps[models.ModeResponse]:
        """The maintenance switch (admins)."""
        return (yield from self._fetch(models.ModeResponse, "/v1/admin/maintenance"))

    @operation
    def set_maintenance(self, mode: Literal["off", "read_only", "maintenance"]) -> Steps[models.ModeResponse]:
        """Sets the maintenance switch for every instance (admins)."""
        return (
            yield from self._answer(models.ModeResponse, Call.json_body("PUT", "/v1/admin/maintenance", {"mode": mode}))
        )

    @operation
    def ready(self) -> Steps[bool]:
        """Whether kg is ready: its database reachable and its schema
        current."""
        try:
            yield from _core.exchange(
                Call("GET", "/health/ready", authenticated=False), self.credentials, RetryPolicy(attempts=1)
            )
        except (KgConnectionError, ProblemError):
            return False
        return True

    def _page_call(self, listing: Listing[Any], cursor: str | None) -> Call:
        params = [*listing.params, *([("cursor", cursor)] if cursor else [])]
        return _core.get(listing.path, params)

    def _feed_pause(self, idle_polls: int, poll: float, max_poll: float) -> float:
        return min(max_poll, poll * float(1 << min(30, max(0, idle_polls - 1))))


def _page_items(listing: Listing[M], response: httpx.Response) -> tuple[list[M], str | None]:
    page = response.json()
    return [listing.item.model_validate(item) for item in page["items"]], page.get("next_cursor")


class Client(_Base):
    """A blocking client of kg.

    >>> with Client("http://127.0.0.1:8080", api_key=os.environ["KG_API_KEY"]) as kg:
    ...     kg.create_entity({"type": "person", "name": "Ada Lovelace"})

    One client may be shared by threads. ``timeout`` is per request
    (default 30 s, 5 s to connect); ``retry`` says what is tried again;
    ``concurrency`` is how many batches `ingest` keeps in flight.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, email=email, password=password, retry=retry, concurrency=concurrency
        )
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, headers={"user-agent": _core.USER_AGENT}
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, steps: Steps[T]) -> T:
        reply: _core.Reply = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    reply = None
                    continue
                try:
                    reply = self._http.request(
                        step.method,
                        step.path,
                        params=list(step.params),
                        content=step.content,
                        headers=dict(step.headers),
                    )
                except httpx.TransportError as e:
                    reply = e
        except StopIteration as done:
            value: T = done.value
            return value
        finally:
            # A caller that gave up (cancelled, interrupted) closes the steps,
            # so that what they hold (a renewal under way) is let go.
            steps.close()

    def _pages(self, listing: Listing[M]) -> Iterator[M]:
        cursor: str | None = None
        while True:
            items, cursor = _page_items(listing, self._run(self._send(self._page_call(listing, cursor))))
            yield from items
            if not cursor:
                return

    def changes(
        self, *, after: str | None = None, poll: float = 1.0, max_poll: float = 30.0, follow: bool = True
    ) -> Iterator[Change]:
        """The change feed after the cursor ``after`` (from the start when
        ``None``), in commit order. With ``follow`` it polls for ever: at
        once while there is more, then with a pause that doubles from
        ``poll`` to ``max_poll`` while nothing is new, and waits out an
        outage the same way (kg unreachable, read-only, in maintenance).
        Without it, it stops at the first empty page: a change committed
        just before may be given its place in the feed a moment later (on
        PostgreSQL kg numbers changes after they commit), and the next call
        from the last cursor yields it."""
        idle = 0
        while True:
            try:
                page = self.changes_page(after=after)
            except _FEED_OUTAGES:
                if not follow:
                    raise
                idle += 1
                time.sleep(self._feed_pause(idle, poll, max_poll))
                continue
            for change in page.items:
                after = str(change.seq)
                yield Change(change, after)
            if page.items:
                idle = 0
                continue
            if not follow:
                return
            idle += 1
            time.sleep(self._feed_pause(idle, poll, max_poll))

    def ingest(
        self,
        entities: Iterable[Body] = (),
        relationships: Iterable[Body] = (),
        *,
        resume: Resume | None = None,
        progress: bool = False,
        max_items: int = MAX_ITEMS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> IngestReport:
        """Lands every valid item of any number of entities, then
        relationships, in batches of at most ``max_items``, ``concurrency``
        at a time, and answers one report: counts by outcome, and each
        refused item with its position in its input and its field errors.

        Relationships are sent only once every entity is, so they may name
        entities of any batch by ``source_external_id`` /
        ``target_external_id``. If kg cannot be reached past the retry budget,
        `IngestInterrupted` carries the report so far; ``resume=`` its
        ``report.resume`` continues from there. ``progress`` shows a tqdm bar
        when tqdm is installed."""
        tally = _Tally(resume, progress, max_items)
        pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="kg-ingest")
        try:
            for kind, items in _inputs(entities, relationships):
                in_flight: dict[concurrent.futures.Future[Any], Chunk] = {}
                try:
                    for chunk in chunks(kind, items, tally.start(kind), max_items, max_bytes):
                        while len(in_flight) >= self.concurrency:
                            self._collect(in_flight, concurrent.futures.FIRST_COMPLETED, tally)
                        steps = send_batch(kind, chunk, tally.run, self.credentials, self.retry)
                        in_flight[pool.submit(self._run, steps)] = chunk
                    while in_flight:
                        self._collect(in_flight, concurrent.futures.ALL_COMPLETED, tally)
                except BaseException as e:
                    # Batches not started are dropped; those under way are
                    # waited for and counted, so the report is true.
                    for future in in_flight:
                        future.cancel()
                    concurrent.futures.wait(in_flight)
                    tally.settle([(c, f.exception() or f.result()) for f, c in in_flight.items() if not f.cancelled()])
                    tally.close()
                    if isinstance(e, Exception):
                        raise IngestInterrupted(tally.report) from e
                    raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        tally.close()
        return tally.report

    @staticmethod
    def _collect(in_flight: dict[concurrent.futures.Future[Any], Chunk], when: str, tally: _Tally) -> None:
        done, _ = concurrent.futures.wait(in_flight, return_when=when)
        tally.record([(in_flight.pop(f), f.exception() or f.result()) for f in done])


class AsyncClient(_Base):
    """An asyncio client of kg, with the operations of `Client` as
    coroutines (and its lists as async iterators).

    >>> async with AsyncClient("http://127.0.0.1:8080", api_key=key) as kg:
    ...     async for entity in kg.entities(type="person"):
    ...         print(entity.name)
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, email=email, password=password, retry=retry, concurrency=concurrency
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers={"user-agent": _core.USER_AGENT}
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, steps: Steps[T]) -> T:
        reply: _core.Reply = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    reply = None
                    continue
                try:
                    reply = await self._http.request(
                        step.method,
                        step.path,
                        params=list(step.params),
                        content=step.content,
                        headers=dict(step.headers),
                    )
                except httpx.TransportError as e:
                    reply = e
        except StopIteration as done:
            value: T = done.value
            return value
        finally:
            # A caller that gave up (cancelled, interrupted) closes the steps,
            # so that what they hold (a renewal under way) is let go.
            steps.close()

    async def _pages(self, listing: Listing[M]) -> AsyncIterator[M]:
        cursor: str | None = None
        while True:
            items, cursor = _page_items(listing, await self._run(self._send(self._page_call(listing, cursor))))
            for item in items:
                yield item
            if not cursor:
                return

    async def changes(
        self, *, after: str | None = None, poll: float = 1.0, max_poll: float = 30.0, follow: bool = True
    ) -> AsyncIterator[Change]:
        """As `Client.changes`."""
        idle = 0
        while True:
            try:
                page = await self.changes_page(after=after)
            except _FEED_OUTAGES:
                if not follow:
                    raise
                idle += 1
                await asyncio.sleep(self._feed_pause(idle, poll, max_poll))
                continue
            for change in page.items:
                after = str(change.seq)
                yield Change(change, after)
            if page.items:
                idle = 0
                continue
            if not follow:
                return
            idle += 1
            await asyncio.sleep(self._feed_pause(idle, poll, max_poll))

    async def ingest(
        self,
        entities: Iterable[Body] = (),
        relationships: Iterable[Body] = (),
        *,
        resume: Resume | None = None,
        progress: bool = False,
        max_items: int = MAX_ITEMS,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> IngestReport:
        """As `Client.ingest`, with ``concurrency`` batches in flight as
        tasks."""
        tally = _Tally(resume, progress, max_items)
        for kind, items in _inputs(entities, relationships):
            in_flight: dict[asyncio.Task[Any], Chunk] = {}
            try:
                for chunk in chunks(kind, items, tally.start(kind), max_items, max_bytes):
                    while len(in_flight) >= self.concurrency:
                        await self._collect(in_flight, asyncio.FIRST_COMPLETED, tally)
                    steps = send_batch(kind, chunk, tally.run, self.credentials, self.retry)
                    in_flight[asyncio.ensure_future(self._run(steps))] = chunk
                while in_flight:
                    await self._collect(in_flight, asyncio.ALL_COMPLETED, tally)
            except BaseException as e:
                # On an error the batches under way are waited for and
                # counted; when the caller cancels, they are cancelled too
                # (one may have landed: resuming replays its answer).
                if not isinstance(e, Exception):
                    for task in in_flight:
                        task.cancel()
                if in_flight:
                    await asyncio.wait(in_flight)
                tally.settle([(c, t.exception() or t.result()) for t, c in in_flight.items() if not t.cancelled()])
                tally.close()
                if isinstance(e, Exception):
                    raise IngestInterrupted(tally.report) from e
                raise
        tally.close()
        return tally.report

    @staticmethod
    async def _collect(in_flight: dict[asyncio.Task[Any], Chunk], when: str, tally: _Tally) -> None:
        done, _ = await asyncio.wait(in_flight, return_when=when)
        tally.record([(in_flight.pop(t), t.exception() or t.result()) for t in done])


class _Tally:
    """The report of an ingestion as its batches come back."""

    def __init__(self, resume: Resume | None, progress: bool, max_items: int) -> None:
        if not 1 <= max_items <= MAX_ITEMS:
            raise ValueError(f"max_items must be from 1 to {MAX_ITEMS}")
        resume = resume or Resume()
        self.run = resume.run or str(uuid.uuid4())
        self.report = IngestReport(resume=Resume(resume.entities, resume.relationships, self.run))
        self.bar = _progress(progress)
        self.kind: Kind = "entities"
        self.settled = Settled(resume.entities)

    def start(self, kind: Kind) -> int:
        """Starts on the input of ``kind``; answers where in it to begin."""
        self.kind = kind
        start = self.report.resume.entities if kind == "entities" else self.report.resume.relationships
        self.settled = Settled(start)
        return start

    def record(self, finished: list[tuple[Chunk, Any]]) -> None:
        """Counts the batches that landed; raises the first error of those
        that did not."""
        failures = [outcome for _, outcome in finished if isinstance(outcome, BaseException)]
        self.settle(finished)
        if failures:
            raise failures[0]

    def settle(self, finished: list[tuple[Chunk, Any]]) -> None:
        """Counts the batches that landed, and moves the resume point."""
        for chunk, outcome in finished:
            if isinstance(outcome, BaseException):
                continue
            self.report.add(outcome)
            self.settled.add(chunk)
            if self.bar is not None:
                self.bar.update(len(chunk))
        r = self.report.resume
        done = self.settled.done
        self.report.resume = (
            Resume(done, r.relationships, self.run) if self.kind == "entities" else Resume(r.entities, done, self.run)
        )

    def close(self) -> None:
        """Puts the refused items in input order (batches come back in any
        order) and closes the progress bar."""
        self.report.refused.sort(key=lambda r: (r.kind != "entities", r.position))
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _inputs(entities: Iterable[Body], relationships: Iterable[Body]) -> list[tuple[Kind, Iterable[Body]]]:
    return [("entities", entities), ("relationships", relationships)]


def _progress(wanted: bool) -> Any:
    if not wanted:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit="item", desc="kg ingest")
