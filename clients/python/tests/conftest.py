"""Fixtures: a real kg per database backend, and clients signed in to it.

KG_BIN names the kg binary. The tests run against SQLite always, and
against PostgreSQL too when `psql` reaches KG_TEST_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres); KG_CLIENT_BACKENDS=sqlite
(or postgres) picks one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kg_client import Client
from kg_server import KgServer, postgres_available


def _backends() -> list[str]:
    chosen = os.environ.get("KG_CLIENT_BACKENDS")
    if chosen:
        return [b.strip() for b in chosen.split(",") if b.strip()]
    return ["sqlite", "postgres"] if postgres_available() else ["sqlite"]


def kg_binary() -> str:
    binary = os.environ.get("KG_BIN", "").strip()
    if not binary or not os.access(binary, os.X_OK):
        raise pytest.UsageError("KG_BIN must name the kg binary (cargo build -p kg-server)")
    return binary


@pytest.fixture(scope="session", params=_backends())
def server(request: pytest.FixtureRequest) -> Iterator[KgServer]:
    with KgServer(kg_binary(), backend=request.param) as kg:
        yield kg


@pytest.fixture
def admin(server: KgServer) -> Iterator[Client]:
    with Client(server.base, email=server.admin_email, password=server.admin_password) as client:
        yield client


@pytest.fixture
def editor_key(server: KgServer, admin: Client) -> str:
    created = admin.create_api_key({"name": "pipeline under test", "role": "editor"})
    return created.secret


@pytest.fixture
def pipeline(server: KgServer, editor_key: str) -> Iterator[Client]:
    with Client(server.base, api_key=editor_key) as client:
        yield client
