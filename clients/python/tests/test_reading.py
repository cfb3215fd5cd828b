"""Reading and following the feed against a live kg."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import networkx
import pytest

from kg_client import AsyncClient, Change, Client
from kg_server import KgServer


class Counting(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lists = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.lists += request.url.path == "/v1/entities" and request.method == "GET"
        return self.inner.handle_request(request)


def test_lists_follow_their_cursors_lazily(server: KgServer, editor_key: str, pipeline: Client) -> None:
    tag = f"t{secrets.token_hex(4)}"
    pipeline.ingest([{"type": tag, "name": f"N{i:03}"} for i in range(230)])
    counting = Counting()
    with Client(server.base, api_key=editor_key, transport=counting) as client:
        listing = client.entities(type=tag, page_size=100)
        assert counting.lists == 0
        first = next(listing)
        assert first.type == tag and counting.lists == 1
        rest = [next(listing) for _ in range(99)]
        assert counting.lists == 1
        names = [first.name, *(e.name for e in rest), *(e.name for e in listing)]
        assert counting.lists == 3
    assert sorted(names) == [f"N{i:03}" for i in range(230)]
    assert sorted(e.name for e in pipeline.entities(type=tag, name="N22")) == [f"N22{i}" for i in range(10)]


def test_neighbors_history_and_audit(server: KgServer, admin: Client, pipeline: Client) -> None:
    tag = f"g{secrets.token_hex(4)}"
    pipeline.ingest(
        [{"type": tag, "name": n, "external_id": f"{tag}-{n}"} for n in "abcd"],
        [
            {"type": "links", "source_external_id": f"{tag}-{s}", "target_external_id": f"{tag}-{t}", "confidence": c}
            for s, t, c in [("a", "b", 0.9), ("b", "c", 0.8), ("c", "d", 0.2)]
        ],
    )
    a = next(pipeline.entities(type=tag, name="a"))
    two = pipeline.neighbors(a.id, depth=2)
    assert sorted(n.name for n in two.nodes) == ["a", "b", "c"] and not two.truncated
    assert two.truncated_by == []
    graph = two.to_networkx()
    assert isinstance(graph, networkx.MultiDiGraph)
    assert graph.number_of_nodes() == 3 and graph.number_of_edges() == 2
    assert networkx.shortest_path_length(graph, a.id, next(n.id for n in two.nodes if n.name == "c")) == 2
    assert len(pipeline.neighbors(a.id, depth=3, min_confidence=0.5).nodes) == 3
    assert [r.type for r in pipeline.entity_relationships(a.id)] == ["links"]

    pipeline.update_entity(a.id, {"name": "a2"}, if_match=pipeline.read_entity(a.id))
    assert [h.action for h in pipeline.history(a.id)] == ["create", "update"]
    assert [h.action for h in admin.audit(target_id=a.id)] == ["create", "update"]


def test_duplicates_are_scored_best_first(pipeline: Client) -> None:
    tag = f"d{secrets.token_hex(4)}"
    pipeline.ingest([{"type": tag, "name": n} for n in ["Ada Lovelace", "ADA LOVELACE", "Ada King Lovelace", "Bob"]])
    ada = next(e for e in pipeline.entities(type=tag) if e.name == "Ada Lovelace")
    found = pipeline.duplicates(ada.id)
    assert [(d.entity.name, d.same_name) for d in found] == [("ADA LOVELACE", True), ("Ada King Lovelace", False)]
    assert found[0].score == 1.0 and 0.7 < found[1].score < 0.73
    assert [d.entity.name for d in pipeline.duplicates(ada.id, min_score=0.9, limit=5)] == ["ADA LOVELACE"]


def test_evidence_is_added_listed_retracted_and_restored(pipeline: Client) -> None:
    tag = f"e{secrets.token_hex(4)}"
    ada = pipeline.create_entity({"type": tag, "name": "Ada", "confidence": 0.6, "source": "doc:1"})
    added = pipeline.add_evidence("entity", ada.id, {"confidence": 0.5, "source": "doc:2", "locator": {"page": 3}})
    assert added.confidence == 0.8 and added.evidence.locator == {"page": 3}
    mine = [(e.stated, e.source) for e in pipeline.evidence(of=("entity", ada.id))]
    assert mine == [(True, "doc:1"), (False, "doc:2")]
    assert [e.id for e in pipeline.evidence(source="doc:2")] == [added.evidence.id]
    assert pipeline.get_evidence(ada.id).stated

    pipeline.retract_evidence(added.evidence.id)
    assert pipeline.get_entity(ada.id).confidence == 0.6
    assert pipeline.get_evidence(added.evidence.id).retracted_at is not None
    assert len(list(pipeline.evidence(of=("entity", ada.id), include_retracted=True))) == 2
    assert pipeline.restore_evidence(added.evidence.id).confidence == 0.8
    with pytest.raises(ValueError):
        pipeline.evidence(of=("edge", ada.id))  # type: ignore[arg-type]


def drain(client: Client, after: str | None, stop_after: int | None = None) -> tuple[list[Change], str | None]:
    seen: list[Change] = []
    for change in client.changes(after=after, follow=False):
        seen.append(change)
        after = change.cursor
        if stop_after is not None and len(seen) == stop_after:
            break
    return seen, after


def test_a_feed_consumer_stopped_half_way_resumes_without_missing_or_repeating(
    server: KgServer, editor_key: str, pipeline: Client
) -> None:
    # Where the feed stands now: this test reads what comes after.
    _, start = drain(pipeline, None)
    tag = f"f{secrets.token_hex(4)}"
    ids = [pipeline.create_entity({"type": tag, "name": f"E{i}"}).id for i in range(120)]
    for i in ids[:30]:
        pipeline.update_entity(i, {"name": "renamed"}, if_match=pipeline.read_entity(i))
    pipeline.delete_entity(ids[0])

    # A consumer applies 70 changes, stores its cursor, and stops.
    first, cursor = drain(pipeline, start, stop_after=70)
    assert len(first) == 70
    # While it is away, the graph moves on.
    more = [pipeline.create_entity({"type": tag, "name": f"Late{i}"}).id for i in range(25)]
    # A new consumer, from the stored cursor.
    with Client(server.base, api_key=editor_key) as restarted:
        rest, _ = drain(restarted, cursor)

    seen = [(c.change.resource_id, c.change.action, c.change.version) for c in first + rest]
    everything, _ = drain(pipeline, start)
    assert seen == [(c.change.resource_id, c.change.action, c.change.version) for c in everything]
    assert len(seen) == len(set(seen)) == 120 + 30 + 1 + 25
    seqs = [c.change.seq for c in first + rest]
    assert seqs == sorted(seqs)
    assert {r for r, a, _ in seen if a == "create"} == set(ids + more)


def test_the_async_client_reads_and_follows(server: KgServer, editor_key: str) -> None:
    tag = f"a{secrets.token_hex(4)}"

    async def run() -> None:
        async with AsyncClient(server.base, api_key=editor_key) as kg:
            start = None
            async for change in kg.changes(follow=False):
                start = change.cursor
            created = await kg.create_entity({"type": tag, "name": "Async"})
            assert (await kg.get_entity(created.id)).name == "Async"
            names = [e.name async for e in kg.entities(type=tag)]
            assert names == ["Async"]
            changes = [c async for c in kg.changes(after=start, follow=False)]
            assert [(c.change.resource_id, c.change.action) for c in changes] == [(created.id, "create")]

    asyncio.run(run())
