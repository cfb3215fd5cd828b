"""Ingestion against a live kg: inputs of any size land in valid batches,
with one report."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from kg_client import AsyncClient, Client, IngestInterrupted, RetryPolicy
from kg_server import KgServer


def people(tag: str, n: int) -> Iterator[dict[str, object]]:
    for i in range(n):
        yield {"type": f"person_{tag}", "name": f"Person {i}", "external_id": f"{tag}-p{i}", "confidence": 0.9}


def knows(tag: str, n: int, among: int) -> Iterator[dict[str, object]]:
    # Each relationship names entities by external id, often of another
    # batch than its own.
    for i in range(n):
        a, b = i % among, (i * 7 + 1 + i // among) % among
        if a == b:
            b = (b + 1) % among
        yield {
            "type": f"knows_{tag}",
            "source_external_id": f"{tag}-p{a}",
            "target_external_id": f"{tag}-p{b}",
            "confidence": 0.5,
        }


def count(client: Client, **filters: object) -> int:
    return sum(1 for _ in client.entities(**filters))  # type: ignore[arg-type]


def test_five_thousand_entities_and_ten_thousand_relationships_land_in_one_call(
    server: KgServer, pipeline: Client
) -> None:
    tag = secrets.token_hex(4)
    relationships = list(knows(tag, 10_000, 5_000))
    assert len({(r["source_external_id"], r["target_external_id"]) for r in relationships}) == 10_000

    report = pipeline.ingest(people(tag, 5_000), iter(relationships))

    assert (report.created, report.updated, report.unchanged) == (15_000, 0, 0)
    assert report.refused == []
    assert (report.resume.entities, report.resume.relationships) == (5_000, 10_000)
    # 5 entity batches and 10 relationship batches, nothing sent twice.
    assert report.batches == 15
    assert count(pipeline, type=f"person_{tag}") == 5_000
    assert sum(1 for _ in pipeline.relationships(type=f"knows_{tag}")) == 10_000

    # Sent again, everything is unchanged.
    again = pipeline.ingest(people(tag, 5_000), knows(tag, 10_000, 5_000))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 15_000)


def test_a_second_pipeline_corroborates_what_the_first_stated(pipeline: Client) -> None:
    tag = secrets.token_hex(4)

    def sourced(source: str, confidence: float) -> Iterator[dict[str, object]]:
        for person in people(tag, 50):
            yield {**person, "source": source, "confidence": confidence}

    first = pipeline.ingest(sourced("pipeline:a", 0.6), ())
    assert (first.created, first.corroborated) == (50, 0)
    second = pipeline.ingest(sourced("pipeline:b", 0.5), ())
    assert (second.created, second.updated, second.corroborated, second.unchanged) == (0, 0, 50, 0)
    assert second.landed == 50
    confidences = {e.confidence for e in pipeline.entities(type=f"person_{tag}")}
    assert confidences == {0.8}
    again = pipeline.ingest(sourced("pipeline:b", 0.5), ())
    assert (again.corroborated, again.unchanged) == (0, 50)


def test_refused_items_are_reported_at_their_position_and_the_rest_lands(pipeline: Client) -> None:
    tag = secrets.token_hex(4)
    entities: list[dict[str, object]] = list(people(tag, 2_500))
    entities[3]["confidence"] = 7  # out of range
    entities[1_204]["name"] = ""  # empty
    entities[2_222]["colour"] = "blue"  # unknown field
    relationships = [
        {"type": "knows", "source_external_id": f"{tag}-p0", "target_external_id": f"{tag}-p1"},
        # Names an entity that was refused, so it is refused in turn.
        {"type": "knows", "source_external_id": f"{tag}-p0", "target_external_id": f"{tag}-p3"},
        {"type": "knows", "source_external_id": f"{tag}-p5", "target_external_id": f"{tag}-p5"},
    ]

    report = pipeline.ingest(entities, relationships, max_items=1_000)

    refused = [(r.kind, r.position, sorted(e.field for e in r.errors)) for r in report.refused]
    assert sorted(refused) == [
        ("entities", 3, ["confidence"]),
        ("entities", 1_204, ["name"]),
        ("entities", 2_222, ["colour"]),
        ("relationships", 1, ["target_external_id"]),
        ("relationships", 2, ["target_id"]),  # a self-loop
    ]
    assert all(r.errors and all(e.message for e in r.errors) for r in report.refused)
    assert report.refused[0].item == entities[3]
    assert report.created == 2_497 + 1
    assert count(pipeline, type=f"person_{tag}") == 2_497


class FailAfter(httpx.BaseTransport):
    """Passes the first `n` batches through, then kg is unreachable."""

    def __init__(self, n: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.left = n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batch":
            if self.left == 0:
                raise httpx.ConnectError("unreachable", request=request)
            self.left -= 1
        return self.inner.handle_request(request)


def test_an_interrupted_ingestion_resumes_where_it_stopped(server: KgServer, editor_key: str) -> None:
    tag = secrets.token_hex(4)
    quick = RetryPolicy(attempts=2, budget=1, base_delay=0.01)
    with Client(server.base, api_key=editor_key, transport=FailAfter(3), retry=quick, concurrency=1) as broken:
        with pytest.raises(IngestInterrupted) as stopped:
            broken.ingest(people(tag, 1_000), knows(tag, 1_000, 1_000), max_items=200)
    partial = stopped.value.report
    assert isinstance(stopped.value.__cause__, Exception)
    assert (partial.resume.entities, partial.resume.relationships) == (600, 0)
    assert partial.created == 600

    with Client(server.base, api_key=editor_key) as client:
        rest = client.ingest(people(tag, 1_000), knows(tag, 1_000, 1_000), max_items=200, resume=partial.resume)
        assert (rest.created, rest.unchanged, rest.refused) == (400 + 1_000, 0, [])
        assert (rest.resume.entities, rest.resume.relationships) == (1_000, 1_000)
        assert count(client, type=f"person_{tag}") == 1_000


def test_the_async_client_ingests_with_tasks_in_flight(server: KgServer, editor_key: str) -> None:
    tag = secrets.token_hex(4)

    async def run() -> tuple[int, int, int]:
        async with AsyncClient(server.base, api_key=editor_key, concurrency=3) as kg:
            report = await kg.ingest(people(tag, 1_500), knows(tag, 1_500, 1_500), max_items=250)
            assert report.refused == [] and report.batches == 12
            n = 0
            async for _ in kg.entities(type=f"person_{tag}"):
                n += 1
            return report.created, report.updated, n

    assert asyncio.run(run()) == (3_000, 0, 1_500)


class FirstBatchUnreachable(httpx.BaseTransport):
    """The first batch sent never reaches kg; the others land, slowly, so
    that they are still under way when the first fails."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.batches = 0
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batch":
            with self.lock:
                self.batches += 1
                first = self.batches == 1
            if first:
                raise httpx.ConnectError("unreachable", request=request)
            time.sleep(0.3)
        return self.inner.handle_request(request)


def anonymous(tag: str, n: int) -> list[dict[str, object]]:
    # No external ids: sent twice, they would be created twice.
    return [{"type": f"anon_{tag}", "name": f"A{i}"} for i in range(n)]


def test_batches_under_way_when_one_fails_are_counted_and_a_resume_writes_nothing_twice(
    server: KgServer, editor_key: str
) -> None:
    tag = secrets.token_hex(4)
    once = RetryPolicy(attempts=1)
    with Client(
        server.base, api_key=editor_key, transport=FirstBatchUnreachable(), retry=once, concurrency=3
    ) as broken:
        with pytest.raises(IngestInterrupted) as stopped:
            broken.ingest(anonymous(tag, 300), max_items=30)
    partial = stopped.value.report
    # One batch failed; those under way when it did landed, and are counted
    # (those not started yet were dropped). The resume point cannot pass the
    # failed batch.
    assert partial.created >= 30 and partial.batches == partial.created // 30
    assert (partial.resume.entities, partial.resume.relationships) == (0, 0)

    with Client(server.base, api_key=editor_key) as client:
        assert count(client, type=f"anon_{tag}") == partial.created
        rest = client.ingest(anonymous(tag, 300), max_items=30, resume=partial.resume)
        # The batches that had landed are replayed, with their first answers.
        assert rest.created == 300 and rest.refused == []
        assert count(client, type=f"anon_{tag}") == 300

        # The control: a new ingestion (no resume) is a new load.
        client.ingest(anonymous(tag, 30), max_items=30)
        assert count(client, type=f"anon_{tag}") == 330


class SlowBatches(httpx.AsyncBaseTransport):
    """Holds each batch a moment before sending it, and counts those sent."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batch":
            await asyncio.sleep(0.2)
            self.sent += 1
        return await self.inner.handle_async_request(request)


def test_a_cancelled_async_ingestion_sends_nothing_more(server: KgServer, editor_key: str) -> None:
    tag = secrets.token_hex(4)
    slow = SlowBatches()

    async def run() -> tuple[int, int, int]:
        async with AsyncClient(server.base, api_key=editor_key, transport=slow, concurrency=3) as kg:
            task = asyncio.ensure_future(kg.ingest(anonymous(tag, 600), max_items=20))
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            sent = slow.sent
            await asyncio.sleep(1.0)
            landed = [e async for e in kg.entities(type=f"anon_{tag}")]
            return sent, slow.sent, len(landed)

    sent, later, landed = asyncio.run(run())
    assert 0 < sent < 30
    # No batch left after the cancel; those already sent may have landed.
    assert later == sent
    assert 0 < landed <= 20 * sent


def test_ingestion_refuses_batches_kg_would_refuse_before_sending(pipeline: Client) -> None:
    with pytest.raises(ValueError):
        pipeline.ingest(anonymous("x", 3), max_items=1_001)
