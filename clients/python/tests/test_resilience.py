"""Retries that never write twice, ETags, tokens renewed unnoticed, and
errors as exceptions, against a live kg."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from kg_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    ForbiddenError,
    KgConnectionError,
    NotFoundError,
    PreconditionError,
    RetryPolicy,
    ThrottledError,
    ValidationError,
)
from kg_server import KgServer


class Recorder(httpx.BaseTransport):
    """Forwards to kg and records each (method, path, status), or the
    error raised instead of an answer."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, int | str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


class LoseFirstAnswer(Recorder):
    """Sends the first request matching `method` to kg, lets kg act on it,
    then drops the connection before the answer arrives."""

    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method
        self.dropped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == self.method and not self.dropped:
            self.dropped = True
            response.read()
            response.close()
            self.seen[-1] = (request.method, request.url.path, "answer lost")
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def named(client: Client, name: str) -> list[str]:
    return [e.id for e in client.entities(name=name)]


def test_a_create_refused_with_503_is_retried_and_written_once(
    server: KgServer, admin: Client, editor_key: str
) -> None:
    name = f"Read-only {secrets.token_hex(4)}"
    recorder = Recorder()
    admin.set_maintenance("read_only")
    reopen = threading.Timer(1.5, admin.set_maintenance, args=("off",))
    reopen.start()
    try:
        with Client(server.base, api_key=editor_key, transport=recorder) as client:
            created = client.create_entity({"type": "thing", "name": name})
            statuses = [status for method, path, status in recorder.seen if path == "/v1/entities"]
            assert statuses[0] == 503 and statuses[-1] == 201, statuses
            assert named(client, name) == [created.id]
    finally:
        reopen.join()
        admin.set_maintenance("off")


def test_a_create_whose_answer_was_lost_is_resent_and_written_once(server: KgServer, editor_key: str) -> None:
    name = f"Lost answer {secrets.token_hex(4)}"
    lossy = LoseFirstAnswer("POST")
    with Client(server.base, api_key=editor_key, transport=lossy) as client:
        created = client.create_entity({"type": "thing", "name": name})
        assert [s for _, p, s in lossy.seen if p == "/v1/entities"] == ["answer lost", 201]
        assert named(client, name) == [created.id]


def test_without_its_idempotency_key_the_lost_create_would_have_written_twice(
    server: KgServer, editor_key: str
) -> None:
    # The control for the test above: the same loss, with a client that
    # sends a fresh key on each attempt, leaves two entities.
    name = f"Control {secrets.token_hex(4)}"
    lossy = LoseFirstAnswer("POST")
    with httpx.Client(base_url=server.base, transport=lossy, headers={"authorization": f"Bearer {editor_key}"}) as raw:
        for _ in range(2):
            try:
                raw.post(
                    "/v1/entities",
                    json={"type": "thing", "name": name},
                    headers={"idempotency-key": secrets.token_hex(8)},
                )
            except httpx.ReadError:
                pass
    with Client(server.base, api_key=editor_key) as client:
        assert len(named(client, name)) == 2


def test_a_patch_whose_answer_was_lost_is_not_resent(server: KgServer, editor_key: str) -> None:
    lossy = LoseFirstAnswer("PATCH")
    with Client(server.base, api_key=editor_key, transport=lossy) as client:
        entity = client.read_entity(client.create_entity({"type": "thing", "name": "Patched once"}).id)
        with pytest.raises(KgConnectionError):
            client.update_entity(entity.value.id, {"name": "Patched"}, if_match=entity)
        assert [s for m, _, s in lossy.seen if m == "PATCH"] == ["answer lost"]
        assert client.get_entity(entity.value.id).name == "Patched"


def test_a_stale_etag_raises_the_precondition_error(pipeline: Client) -> None:
    entity = pipeline.read_entity(pipeline.create_entity({"type": "thing", "name": "Before"}).id)
    first = pipeline.update_entity(entity.value.id, {"name": "First"}, if_match=entity)
    assert first.value.name == "First" and first.etag != entity.etag

    with pytest.raises(PreconditionError) as stale:
        pipeline.update_entity(entity.value.id, {"name": "Second"}, if_match=entity)
    assert stale.value.status == 412 and stale.value.code == "precondition_failed"
    assert stale.value.request_id
    assert pipeline.get_entity(entity.value.id).name == "First"

    # The read-modify-write helper reads the ETag itself.
    edited = pipeline.edit_entity(entity.value.id, lambda e: {"name": e.name + " and edited"})
    assert edited.value.name == "First and edited"


def mint(secret: str, token: str, **changes: int) -> str:
    """The access token `token` with its claims changed, signed with kg's
    secret (HS256), as kg would have issued it."""
    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def expire_access_token(server: KgServer, client: Client, *, believed_valid: bool) -> None:
    tokens = client.credentials._tokens
    assert tokens is not None
    now = int(time.time())
    tokens.access = mint(server.jwt_secret, tokens.access, iat=now - 3_600, nbf=now - 3_600, exp=now - 600)
    tokens.renew_at = time.monotonic() + (3_600 if believed_valid else -1)


def test_an_expired_access_token_is_renewed_without_the_caller_noticing(server: KgServer) -> None:
    recorder = Recorder()
    with Client(server.base, email=server.admin_email, password=server.admin_password, transport=recorder) as client:
        assert client.me().email == server.admin_email
        tokens = client.credentials._tokens
        assert tokens is not None
        # The control: the minted token is accepted while it is current.
        tokens.access = mint(server.jwt_secret, tokens.access)
        assert client.me().email == server.admin_email

        # The client believes its token current (a clock that drifted, a
        # laptop that slept): kg answers 401, the client renews and resends.
        expire_access_token(server, client, believed_valid=True)
        recorder.seen.clear()
        assert client.me().email == server.admin_email
        assert [(p, s) for _, p, s in recorder.seen] == [
            ("/v1/auth/me", 401),
            ("/v1/auth/refresh", 200),
            ("/v1/auth/me", 200),
        ]

        # The client knows its token is due: it renews before sending.
        expire_access_token(server, client, believed_valid=False)
        recorder.seen.clear()
        assert client.me().email == server.admin_email
        assert [(p, s) for _, p, s in recorder.seen] == [("/v1/auth/refresh", 200), ("/v1/auth/me", 200)]


def test_threads_sharing_a_client_renew_its_token_once(server: KgServer) -> None:
    # kg takes a refresh token used twice for a stolen one and ends the
    # session; eight threads finding the token expired must renew once.
    recorder = Recorder()
    with Client(server.base, email=server.admin_email, password=server.admin_password, transport=recorder) as client:
        client.me()
        expire_access_token(server, client, believed_valid=True)
        recorder.seen.clear()
        barrier = threading.Barrier(8)
        failures: list[BaseException] = []

        def call() -> None:
            barrier.wait()
            try:
                client.me()
            except BaseException as e:  # noqa: BLE001 - collected for the assertion
                failures.append(e)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert [s for _, p, s in recorder.seen if p == "/v1/auth/refresh"] == [200]
        assert [p for _, p, _ in recorder.seen if p.startswith("/v1/auth/token")] == []


def test_no_token_or_password_reaches_a_log_or_a_repr(server: KgServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Client(server.base, email=server.admin_email, password=server.admin_password) as client:
        client.me()
        expire_access_token(server, client, believed_valid=False)
        client.me()
        tokens = client.credentials._tokens
        assert tokens is not None
        text = caplog.text + repr(client.credentials) + repr(client)
        assert "/v1/auth/refresh" in caplog.text  # httpx logged the requests...
        for secret in (tokens.refresh, tokens.access, server.admin_password):
            assert secret not in text  # ...and nothing secret


def test_throttling_is_waited_out_within_a_bounded_budget(server: KgServer, editor_key: str) -> None:
    class Throttled(Recorder):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.seen.append((request.method, request.url.path, 429))
            problem = {
                "type": "about:blank",
                "title": "Too many requests",
                "status": 429,
                "code": "rate_limited",
                "request_id": "r1",
            }
            return httpx.Response(429, json=problem, headers={"retry-after": "1"})

    throttled = Throttled()
    with Client(
        server.base, api_key=editor_key, transport=throttled, retry=RetryPolicy(attempts=3, budget=5)
    ) as client:
        started = time.monotonic()
        with pytest.raises(ThrottledError) as refused:
            client.get_entity("00000000-0000-0000-0000-000000000000")
        assert refused.value.retry_after == 1 and refused.value.code == "rate_limited"
        assert len(throttled.seen) == 3
        assert 2 <= time.monotonic() - started < 4


def test_problems_raise_one_exception_class_per_family(server: KgServer, pipeline: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        pipeline.get_entity("00000000-0000-4000-8000-000000000000")
    assert (missing.value.status, missing.value.code) == (404, "entity_not_found")
    assert missing.value.request_id

    with pytest.raises(ValidationError) as invalid:
        pipeline.create_entity({"type": "thing", "name": "", "confidence": 2})
    assert invalid.value.code == "validation_failed"
    assert {e.field for e in invalid.value.errors} == {"name", "confidence"}

    pipeline.create_entity({"type": "thing", "name": "Unique", "external_id": f"x-{secrets.token_hex(4)}-1"})
    taken = f"x-{secrets.token_hex(4)}"
    pipeline.create_entity({"type": "thing", "name": "Unique", "external_id": taken})
    with pytest.raises(ConflictError) as conflict:
        pipeline.create_entity({"type": "thing", "name": "Again", "external_id": taken})
    assert conflict.value.code == "external_id_taken"

    with pytest.raises(ForbiddenError):
        pipeline.set_maintenance("off")


def test_ids_cannot_name_another_route(pipeline: Client) -> None:
    a = pipeline.create_entity({"type": "thing", "name": "End A"})
    b = pipeline.create_entity({"type": "thing", "name": "End B"})
    link = pipeline.create_relationship({"type": "links", "source_id": a.id, "target_id": b.id})
    # The id reaches kg as one segment, which is no entity id.
    with pytest.raises((NotFoundError, ValidationError)):
        pipeline.delete_entity(f"../relationships/{link.id}")
    assert pipeline.get_relationship(link.id).id == link.id


def test_a_user_is_changed_by_its_etag(admin: Client) -> None:
    user = admin.create_user(
        {"email": f"u{secrets.token_hex(4)}@example.org", "password": secrets.token_urlsafe(16), "role": "viewer"}
    )
    read = admin.read_user(user.id)
    changed = admin.update_user(user.id, {"role": "editor"}, if_match=read)
    assert changed.value.role == "editor"
    with pytest.raises(PreconditionError):
        admin.update_user(user.id, {"role": "viewer"}, if_match=read)


def test_reprs_leave_out_bodies_headers_and_tokens(server: KgServer) -> None:
    from kg_client._core import Call, _Tokens

    call = Call.json_body(
        "POST",
        "/v1/auth/token",
        {"email": "a@b.c", "password": "hunter2hunter2"},
        headers={"authorization": "Bearer kg_secret"},
    )
    tokens = _Tokens("access-secret", "kgr_refresh-secret", 0)
    shown = repr(call) + repr(tokens) + str(call)
    for secret in ("hunter2hunter2", "kg_secret", "access-secret", "kgr_refresh-secret"):
        assert secret not in shown
    assert "/v1/auth/token" in repr(call)


def test_a_wrong_password_is_tried_once_by_threads_sharing_a_client(server: KgServer) -> None:
    recorder = Recorder()
    with Client(server.base, email=server.admin_email, password="not-the-password", transport=recorder) as client:
        barrier = threading.Barrier(6)
        failures: list[BaseException] = []

        def call() -> None:
            barrier.wait()
            try:
                client.me()
            except BaseException as e:  # noqa: BLE001 - collected for the assertion
                failures.append(e)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(failures) == 6 and all(isinstance(e, AuthenticationError) for e in failures)
    assert [s for _, p, s in recorder.seen if p == "/v1/auth/token"] == [401]


def test_a_refresh_whose_answer_was_lost_signs_in_again(server: KgServer) -> None:
    class LoseRefresh(LoseFirstAnswer):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path != "/v1/auth/refresh":
                return Recorder.handle_request(self, request)
            return super().handle_request(request)

    lossy = LoseRefresh("POST")
    with Client(server.base, email=server.admin_email, password=server.admin_password, transport=lossy) as client:
        client.me()
        expire_access_token(server, client, believed_valid=False)
        lossy.seen.clear()
        assert client.me().email == server.admin_email
        # kg rotated the refresh token before the answer was lost; sending
        # the old one again would end the session as stolen.
        assert [(p, s) for _, p, s in lossy.seen] == [
            ("/v1/auth/refresh", "answer lost"),
            ("/v1/auth/token", 200),
            ("/v1/auth/me", 200),
        ]


def test_async_tasks_sharing_a_client_renew_once_and_an_abandoned_sign_in_lets_go(server: KgServer) -> None:
    class Recording(httpx.AsyncBaseTransport):
        def __init__(self, delay: float = 0) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.seen: list[tuple[str, int]] = []
            self.delay = delay

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/v1/auth/token" and self.delay:
                await asyncio.sleep(self.delay)
            response = await self.inner.handle_async_request(request)
            self.seen.append((request.url.path, response.status_code))
            return response

    async def run() -> None:
        recording = Recording()
        async with AsyncClient(
            server.base, email=server.admin_email, password=server.admin_password, transport=recording
        ) as kg:
            await kg.me()
            tokens = kg.credentials._tokens
            assert tokens is not None
            now = int(time.time())
            tokens.access = mint(server.jwt_secret, tokens.access, iat=now - 3_600, nbf=now - 3_600, exp=now - 600)
            recording.seen.clear()
            users = await asyncio.gather(*(kg.me() for _ in range(8)))
            assert {u.email for u in users} == {server.admin_email}
            assert [s for p, s in recording.seen if p == "/v1/auth/refresh"] == [200]

        slow = Recording(delay=0.5)
        async with AsyncClient(
            server.base, email=server.admin_email, password=server.admin_password, transport=slow
        ) as kg:
            kept: list[BaseException] = []
            try:
                await asyncio.wait_for(kg.me(), timeout=0.05)
            except asyncio.TimeoutError as e:
                kept.append(e)  # held, as a logging library might
            slow.delay = 0
            assert (await asyncio.wait_for(kg.me(), timeout=10)).email == server.admin_email

    asyncio.run(run())
