"""What the sync and async clients share: every request, retry and token
renewal written once, as generators that yield what to do (send this, sleep
that long) and receive what happened. Each client only drives them: one
with blocking calls, one with ``await``.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

import httpx

from .errors import AuthenticationError, KgConnectionError, error_from_response, retry_after

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
USER_AGENT = "kg-client/0.1.0 (python)"


@dataclass(frozen=True)
class Call:
    """One HTTP request, ready to send as many times as retries need: its
    body is encoded once, so a retry sends the same bytes (and so matches
    its ``Idempotency-Key``)."""

    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    # Not in repr: bodies carry passwords and refresh tokens, headers
    # credentials.
    content: bytes | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Whether the request carries the principal's credentials.
    authenticated: bool = True
    # Whether a request whose answer was lost may be sent again: reads, and
    # creates under an idempotency key (kg replays the first answer).
    resendable: bool = False

    @staticmethod
    def json_body(
        method: str,
        path: str,
        body: Any,
        *,
        params: Sequence[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        resendable: bool = False,
    ) -> Call:
        return Call(
            method,
            path,
            params,
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            {"content-type": "application/json", **(headers or {})},
            authenticated,
            resendable,
        )


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds before the next step."""

    seconds: float


Step = Union[Call, Sleep]
# What a step gets back: the response to a Call (or the transport error that
# stopped it), nothing for a Sleep.
Reply = Union[httpx.Response, httpx.TransportError, None]
Steps = Generator[Step, Reply, T]


def get(path: str, params: Sequence[tuple[str, str]] = ()) -> Call:
    return Call("GET", path, params, resendable=True)


def create(path: str, body: Any, idempotency_key: str | None, params: Sequence[tuple[str, str]] = ()) -> Call:
    """A POST create under an idempotency key (a fresh one unless given), so
    that a retry never writes twice."""
    key = idempotency_key or str(uuid.uuid4())
    return Call.json_body("POST", path, body, params=params, headers={"idempotency-key": key}, resendable=True)


@dataclass(frozen=True)
class RetryPolicy:
    """When a request is tried again.

    A 429 or 503 (kg did nothing) and a 409 ``idempotency_key_in_flight``
    (an earlier attempt of the same create is still running) are retried
    after the ``Retry-After`` kg sent, or a growing pause when it sent none;
    a lost connection is retried only for a request that is safe to resend.
    At most ``attempts`` tries, and never more than ``budget`` seconds of
    waiting in all: past that, the last error is raised.
    """

    attempts: int = 6
    budget: float = 60.0
    base_delay: float = 0.25
    max_delay: float = 10.0

    def pause(self, attempt: int, asked: float | None) -> float:
        if asked is not None:
            return asked
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)


RETRIED_CODES = frozenset({"idempotency_key_in_flight"})


def _retryable(response: httpx.Response) -> bool:
    if response.status_code in (429, 503):
        return True
    if response.status_code == 409:
        try:
            return json.loads(response.content).get("code") in RETRIED_CODES
        except (ValueError, AttributeError):
            return False
    return False


class _Tokens:
    def __init__(self, access: str, refresh: str, renew_at: float) -> None:
        self.access = access
        self.refresh = refresh
        # time.monotonic() after which the access token is renewed before use.
        self.renew_at = renew_at

    def __repr__(self) -> str:
        return "_Tokens(<hidden>)"


# How long a caller waits for another's renewal before giving up.
RENEWAL_WAIT = 120.0


class Credentials:
    """The principal a client acts as, and its tokens.

    With an API key every request carries the key. With an email and
    password the client signs in on first use, renews the access token when
    a fifth of its life is left (and after a 401, in case the token expired
    early in kg's eyes: a clock that drifted, a laptop that slept), and
    signs in again if the session itself has ended. One renewal at a time,
    across all threads and tasks that share the client: kg treats a refresh
    token used twice as stolen and ends the session. Callers that waited for
    a renewal that failed get its error rather than trying again each.

    Neither the password, the key nor any token appears in ``repr``.
    """

    # Renew when less than this share of the token's life is left.
    RENEW_SHARE = 0.2

    def __init__(self, *, api_key: str | None = None, email: str | None = None, password: str | None = None) -> None:
        if api_key is not None and (email is not None or password is not None):
            raise ValueError("give an api_key, or an email and password, not both")
        if api_key is None and (email is None or password is None):
            raise ValueError("give an api_key, or an email and password")
        self._api_key = api_key
        self._email = email
        self._password = password
        self._tokens: _Tokens | None = None
        self._generation = 0
        self._failure: BaseException | None = None
        self._renewing = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        who = "api key" if self._api_key is not None else f"user {self._email}"
        return f"Credentials({who})"

    @property
    def uses_key(self) -> bool:
        return self._api_key is not None

    def _issue(self, body: dict[str, Any]) -> None:
        life = float(body["expires_in"])
        self._tokens = _Tokens(
            body["access_token"], body["refresh_token"], time.monotonic() + life * (1 - self.RENEW_SHARE)
        )

    def headers(self, policy: RetryPolicy) -> Steps[dict[str, str]]:
        """The authorization header, signing in or renewing first when due."""
        if self._api_key is not None:
            return {"authorization": f"Bearer {self._api_key}"}
        tokens = self._tokens
        if tokens is None or time.monotonic() >= tokens.renew_at:
            yield from self.renew(self._generation, policy)
            tokens = self._tokens
        if tokens is None:
            raise KgConnectionError("signing in did not give tokens")
        return {"authorization": f"Bearer {tokens.access}"}

    def generation(self) -> int:
        return self._generation

    def renew(self, seen: int, policy: RetryPolicy) -> Steps[None]:
        """New tokens, unless another caller renewed them since generation
        ``seen`` (then theirs are used, or their failure raised). Can the
        session not be refreshed, the client signs in again."""
        if self._api_key is not None:
            return
        deadline = time.monotonic() + RENEWAL_WAIT
        while True:
            with self._lock:
                if self._generation != seen:
                    if self._failure is not None:
                        raise copy.copy(self._failure)
                    if self._tokens is not None:
                        return
                if not self._renewing:
                    self._renewing = True
                    break
            if time.monotonic() > deadline:
                raise KgConnectionError(f"another call has been renewing the tokens for {RENEWAL_WAIT:.0f} s")
            yield Sleep(0.02)
        failure: BaseException | None = None
        try:
            yield from self._renew(policy)
        except BaseException as e:
            failure = e
            raise
        finally:
            # Also when the caller gave up mid-way (a cancelled task, an
            # interrupt): the generator is closed and the next caller renews.
            with self._lock:
                self._generation += 1
                self._failure = failure if isinstance(failure, Exception) else None
                self._renewing = False

    def _renew(self, policy: RetryPolicy) -> Steps[None]:
        tokens = self._tokens
        if tokens is not None:
            # Never resent once it may have reached kg: kg would have rotated
            # the token, and a second use of the old one ends the session.
            refresh = Call.json_body("POST", "/v1/auth/refresh", {"refresh_token": tokens.refresh}, authenticated=False)
            try:
                response = yield from exchange(refresh, self, policy)
                self._issue(response.json())
                return
            except AuthenticationError:
                pass  # the session has ended: sign in again
            except KgConnectionError:
                pass  # the answer may be lost after kg rotated: sign in again
            finally:
                self._tokens = None if self._tokens is tokens else self._tokens
        sign_in = Call.json_body(
            "POST",
            "/v1/auth/token",
            {"email": self._email, "password": self._password},
            authenticated=False,
            resendable=True,
        )
        response = yield from exchange(sign_in, self, policy)
        self._issue(response.json())

    def forget(self) -> None:
        """Drop the tokens (after a sign-out)."""
        self._tokens = None


def _response(reply: Reply) -> httpx.Response:
    if isinstance(reply, httpx.Response):
        return reply
    if isinstance(reply, httpx.TransportError):
        raise KgConnectionError(f"kg could not be reached: {reply}") from reply
    raise TypeError("a Call was answered with nothing")


def exchange(call: Call, credentials: Credentials, policy: RetryPolicy) -> Steps[httpx.Response]:
    """Sends ``call`` until it succeeds or is refused for good: renews
    tokens, waits out 429 and 503, resends after a lost connection when that
    is safe. Answers a 2xx or 3xx response; raises the error of any other."""
    waited = 0.0
    renewed = False
    attempt = 0
    while True:
        attempt += 1
        seen = credentials.generation()
        auth = (yield from credentials.headers(policy)) if call.authenticated else {}
        reply = yield Call(
            call.method,
            call.path,
            call.params,
            call.content,
            {**call.headers, **auth},
            call.authenticated,
            call.resendable,
        )
        if isinstance(reply, httpx.TransportError):
            # A connect error means the request never left: always safe.
            safe = call.resendable or isinstance(reply, (httpx.ConnectError, httpx.ConnectTimeout))
            pause = policy.pause(attempt, None)
            if not safe or attempt >= policy.attempts or waited + pause > policy.budget:
                raise KgConnectionError(f"{call.method} {call.path}: {reply!r}") from reply
            waited += pause
            yield Sleep(pause)
            continue
        response = _response(reply)
        if response.status_code < 400:
            return response
        if response.status_code == 401 and call.authenticated and not renewed and not credentials.uses_key:
            renewed = True
            yield from credentials.renew(seen, policy)
            continue
        if _retryable(response):
            pause = policy.pause(attempt, retry_after(response.headers))
            if attempt < policy.attempts and waited + pause <= policy.budget:
                waited += pause
                yield Sleep(pause)
                continue
        raise error_from_response(response)
