"""Errors raised by the client.

Every error kg answers is an RFC 9457 problem (``application/problem+json``)
with a stable machine ``code``; the client raises one exception class per
family of them, each carrying ``code``, ``status`` and ``request_id`` (quote
the last when reporting a problem to kg's operators).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FieldError",
    "ForbiddenError",
    "KgError",
    "KgConnectionError",
    "NotFoundError",
    "PreconditionError",
    "ProblemError",
    "ServerError",
    "ThrottledError",
    "UnavailableError",
    "ValidationError",
    "error_from_response",
]


class KgError(Exception):
    """The base of every error this package raises."""


class KgConnectionError(KgError):
    """kg could not be reached, or the connection broke before an answer.

    Raised once the retry budget is spent, or at once for a request that is
    not safe to send twice (a PATCH or DELETE whose answer was lost may have
    taken effect).
    """


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a request, as kg names it
    (``name``, ``metadata.key``, ``entities[3].confidence``...)."""

    field: str
    message: str


class ProblemError(KgError):
    """kg answered with a problem. ``problem`` is the whole document."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.problem = problem
        self.headers = headers
        self.code: str = str(problem.get("code") or f"http_{status}")
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or "")
        self.request_id: str | None = problem.get("request_id") or headers.get("x-request-id")
        super().__init__(f"{status} {self.code}: {self.detail or self.title} (request {self.request_id})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles rebuild the error from what kg answered.
        return (type(self), (self.status, self.problem, self.headers))


class BadRequestError(ProblemError):
    """400, 413, 415: the request could not be read (malformed JSON, too
    large, wrong content type)."""


class AuthenticationError(ProblemError):
    """401: the credentials are wrong, expired or revoked, and renewing them
    did not help."""


class ForbiddenError(ProblemError):
    """403: the principal may not do this."""


class NotFoundError(ProblemError):
    """404: no such resource (or route)."""


class ConflictError(ProblemError):
    """409: the request conflicts with what is stored (an external id taken,
    a relationship that exists, a restore that would collide...)."""


class PreconditionError(ProblemError):
    """412 or 428: the resource changed since its ETag was read, or the
    request lacked ``If-Match``."""


class ValidationError(ProblemError):
    """422: the request was read but is not valid. ``errors`` lists each
    field and what is wrong with it."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(status, problem, headers)
        self.errors: list[FieldError] = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in problem.get("errors") or []
            if isinstance(e, dict)
        ]


class ThrottledError(ProblemError):
    """429: too many requests; ``retry_after`` is the wait kg asked for, in
    seconds, when it said."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(status, problem, headers)
        self.retry_after: float | None = retry_after(headers)


class UnavailableError(ProblemError):
    """503: kg is read-only, in maintenance, or its database is unreachable;
    ``retry_after`` is the wait kg asked for, when it said."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(status, problem, headers)
        self.retry_after: float | None = retry_after(headers)


class ServerError(ProblemError):
    """Any other 5xx: kg failed; its log has the cause under ``request_id``."""


_FAMILIES: dict[int, type[ProblemError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    405: BadRequestError,
    409: ConflictError,
    412: PreconditionError,
    413: BadRequestError,
    415: BadRequestError,
    422: ValidationError,
    428: PreconditionError,
    429: ThrottledError,
    503: UnavailableError,
}


def retry_after(headers: httpx.Headers) -> float | None:
    """The ``Retry-After`` header in seconds (kg sends whole seconds), or
    ``None`` when absent or not a number."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(response: httpx.Response) -> ProblemError:
    """The exception for an error response. A body that is not a problem
    document (a proxy's HTML page, say) still gives the right family, with
    the start of the body as its detail."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": response.text[:200]}
    family = _FAMILIES.get(response.status_code)
    if family is None:
        family = ServerError if response.status_code >= 500 else BadRequestError
    return family(response.status_code, body, response.headers)
