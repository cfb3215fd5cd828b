"""The request machinery on its own: retries, budgets, error families,
batching, without a server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kg_client import errors
from kg_client._core import Call, Credentials, Reply, RetryPolicy, Sleep, Steps, create, exchange, get
from kg_client.ingest import Settled, chunks


def drive(
    steps: Steps[httpx.Response], replies: Iterator[Reply]
) -> tuple[list[Call | Sleep], httpx.Response | BaseException]:
    """Runs `steps`, answering each Call with the next reply."""
    done: list[Call | Sleep] = []
    reply: Reply = None
    try:
        while True:
            step = steps.send(reply)
            done.append(step)
            reply = next(replies) if isinstance(step, Call) else None
    except StopIteration as stop:
        return done, stop.value
    except errors.KgError as e:
        return done, e


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "code": code, "request_id": "rid"}, headers=headers)


KEY = Credentials(api_key="kg_test")


def test_503_is_retried_after_the_wait_kg_asked_for() -> None:
    steps, result = drive(
        exchange(get("/v1/entities"), KEY, RetryPolicy()),
        iter([problem(503, "read_only", **{"retry-after": "2"}), httpx.Response(200)]),
    )
    assert [type(s).__name__ for s in steps] == ["Call", "Sleep", "Call"]
    assert isinstance(steps[1], Sleep) and steps[1].seconds == 2
    assert isinstance(result, httpx.Response) and result.status_code == 200


def test_retries_stop_at_the_attempts_and_at_the_budget() -> None:
    many = iter([problem(429, "rate_limited", **{"retry-after": "1"})] * 10)
    steps, result = drive(exchange(get("/x"), KEY, RetryPolicy(attempts=4, budget=60)), many)
    assert sum(isinstance(s, Call) for s in steps) == 4
    assert isinstance(result, errors.ThrottledError) and result.retry_after == 1

    long_waits = iter([problem(503, "maintenance", **{"retry-after": "30"})] * 10)
    steps, result = drive(exchange(get("/x"), KEY, RetryPolicy(attempts=10, budget=45)), long_waits)
    assert sum(isinstance(s, Call) for s in steps) == 2  # 30 s waited; another 30 would pass 45
    assert isinstance(result, errors.UnavailableError)


def test_a_lost_answer_is_resent_only_when_that_is_safe() -> None:
    lost = httpx.ReadError("reset")
    creates = create("/v1/entities", {"name": "x"}, None)
    steps, result = drive(exchange(creates, KEY, RetryPolicy(base_delay=0)), iter([lost, httpx.Response(201)]))
    calls = [s for s in steps if isinstance(s, Call)]
    assert len(calls) == 2 and calls[0].content == calls[1].content
    assert calls[0].headers["idempotency-key"] == calls[1].headers["idempotency-key"]
    assert isinstance(result, httpx.Response)

    patch = Call.json_body("PATCH", "/v1/entities/1", {"name": "y"})
    steps, result = drive(exchange(patch, KEY, RetryPolicy(base_delay=0)), iter([lost, httpx.Response(200)]))
    assert sum(isinstance(s, Call) for s in steps) == 1
    assert isinstance(result, errors.KgConnectionError)

    # A request that never left (connection refused) is safe to send again.
    refused = httpx.ConnectError("refused")
    steps, result = drive(exchange(patch, KEY, RetryPolicy(base_delay=0)), iter([refused, httpx.Response(200)]))
    assert isinstance(result, httpx.Response)


def test_an_in_flight_duplicate_is_waited_for_other_conflicts_are_not() -> None:
    first = iter([problem(409, "idempotency_key_in_flight", **{"retry-after": "1"}), httpx.Response(201)])
    _, result = drive(exchange(create("/v1/entities", {}, "k"), KEY, RetryPolicy()), first)
    assert isinstance(result, httpx.Response)
    _, result = drive(
        exchange(create("/v1/entities", {}, "k"), KEY, RetryPolicy()), iter([problem(409, "external_id_taken")])
    )
    assert isinstance(result, errors.ConflictError) and result.code == "external_id_taken"


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.ForbiddenError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (412, errors.PreconditionError),
        (413, errors.BadRequestError),
        (415, errors.BadRequestError),
        (422, errors.ValidationError),
        (428, errors.PreconditionError),
        (429, errors.ThrottledError),
        (500, errors.ServerError),
        (503, errors.UnavailableError),
    ],
)
def test_each_status_maps_to_its_family(status: int, family: type[errors.ProblemError]) -> None:
    error = errors.error_from_response(problem(status, "some_code"))
    assert type(error) is family and error.status == status and error.code == "some_code" and error.request_id == "rid"


def test_a_body_that_is_not_a_problem_still_maps() -> None:
    error = errors.error_from_response(
        httpx.Response(502, text="<html>bad gateway</html>", headers={"x-request-id": "abc"})
    )
    assert isinstance(error, errors.ServerError) and error.code == "http_502" and error.request_id == "abc"
    assert "bad gateway" in error.detail


def test_validation_errors_carry_their_fields() -> None:
    body = {
        "status": 422,
        "code": "validation_failed",
        "errors": [{"field": "entities[2].name", "message": "must not be empty"}],
    }
    error = errors.error_from_response(httpx.Response(422, json=body))
    assert isinstance(error, errors.ValidationError)
    assert error.errors == [errors.FieldError("entities[2].name", "must not be empty")]


def test_batches_respect_count_and_size() -> None:
    items = [{"name": "x" * 100} for _ in range(25)]
    by_count = list(chunks("entities", items, 0, 10, 1 << 20))
    assert [len(c) for c in by_count] == [10, 10, 5]
    assert [p for c in by_count for p, _ in c] == list(range(25))
    by_size = list(chunks("entities", items, 0, 1000, 1_000))
    assert all(sum(len(str(i)) for _, i in c) < 1_100 for c in by_size) and len(by_size) > 2
    assert [p for c in list(chunks("entities", items, 20, 10, 1 << 20)) for p, _ in c] == list(range(20, 25))


def test_the_settled_prefix_waits_for_the_earliest_batch() -> None:
    settled = Settled(0)
    batch = lambda a, b: [(p, {}) for p in range(a, b)]  # noqa: E731
    settled.add(batch(10, 20))
    assert settled.done == 0
    settled.add(batch(0, 10))
    assert settled.done == 20
    settled.add(batch(30, 40))
    settled.add(batch(20, 30))
    assert settled.done == 40


def test_credentials_need_one_kind_and_never_show_a_secret() -> None:
    with pytest.raises(ValueError):
        Credentials()
    with pytest.raises(ValueError):
        Credentials(api_key="kg_x", email="a@b.c", password="p")
    shown = repr(Credentials(email="a@b.c", password="hunter2hunter2")) + repr(Credentials(api_key="kg_secret"))
    assert "hunter2" not in shown and "kg_secret" not in shown


def test_queries_kg_would_refuse_are_refused_before_sending() -> None:
    from datetime import datetime, timezone

    from kg_client._ops import query

    for bad in (0, 101, "50"):
        with pytest.raises(ValueError):
            query(limit=bad)
    with pytest.raises(ValueError):
        query(created_after=datetime(2026, 1, 1))
    from types import MappingProxyType

    assert query(
        limit=100,
        created_after=datetime(2026, 1, 1, tzinfo=timezone.utc),
        metadata=MappingProxyType({"k": "v"}),
        dry_run=True,
        name=None,
    ) == [("limit", "100"), ("created_after", "2026-01-01T00:00:00+00:00"), ("metadata.k", "v"), ("dry_run", "true")]


def test_requests_time_out_by_default() -> None:
    import asyncio

    from kg_client import AsyncClient, Client

    with Client("http://127.0.0.1:9", api_key="kg_x") as client:
        assert client._http.timeout == httpx.Timeout(30.0, connect=5.0)
    aclient = AsyncClient("http://127.0.0.1:9", api_key="kg_x", timeout=2)
    assert aclient._http.timeout == httpx.Timeout(2)
    asyncio.run(aclient.aclose())
