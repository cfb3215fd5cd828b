"""kg-client: a typed Python client for kg, the knowledge-graph service.

>>> from kg_client import Client
>>> with Client("http://127.0.0.1:8080", api_key="kg_...") as kg:
...     report = kg.ingest(entities, relationships)

`Client` blocks; `AsyncClient` has the same operations as coroutines.
Errors are the classes of `kg_client.errors`; request and response models,
generated from kg's OpenAPI document, are in `kg_client.models`.
"""

from . import errors, models
from ._core import RetryPolicy
from .client import AsyncClient, Change, Client, Tagged
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FieldError,
    ForbiddenError,
    KgConnectionError,
    KgError,
    NotFoundError,
    PreconditionError,
    ProblemError,
    ServerError,
    ThrottledError,
    UnavailableError,
    ValidationError,
)
from .graph import Neighborhood
from .ingest import IngestInterrupted, IngestReport, Refused, Resume

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Change",
    "Client",
    "ConflictError",
    "FieldError",
    "ForbiddenError",
    "IngestInterrupted",
    "IngestReport",
    "KgConnectionError",
    "KgError",
    "Neighborhood",
    "NotFoundError",
    "PreconditionError",
    "ProblemError",
    "Refused",
    "Resume",
    "RetryPolicy",
    "ServerError",
    "Tagged",
    "ThrottledError",
    "UnavailableError",
    "ValidationError",
    "errors",
    "models",
]
