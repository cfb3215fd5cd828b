"""Ingestion against a live kg: inputs of any size land in valid batches,
with one report."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest

from kg_client import AsyncClient, Client, IngestInterrupted, Resume, RetryPolicy
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
    assert report.resume == Resume(5_000, 10_000)
    # 5 entity batches and 10 relationship batches, nothing sent twice.
    assert report.batches == 15
    assert count(pipeline, type=f"person_{tag}") == 5_000
    assert sum(1 for _ in pipeline.relationships(type=f"knows_{tag}")) == 10_000

    # Sent again, everything is unchanged.
    again = pipeline.ingest(people(tag, 5_000), knows(tag, 10_000, 5_000))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 15_000)


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
        ("relationships", 2, sorted(e.field for e in report.refused[-1].errors)),
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
    assert partial.resume == Resume(600, 0)
    assert partial.created == 600

    with Client(server.base, api_key=editor_key) as client:
        rest = client.ingest(people(tag, 1_000), knows(tag, 1_000, 1_000), max_items=200, resume=partial.resume)
        assert (rest.created, rest.unchanged, rest.refused) == (400 + 1_000, 0, [])
        assert rest.resume == Resume(1_000, 1_000)
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
