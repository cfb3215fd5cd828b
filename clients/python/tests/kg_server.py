"""A real kg for the client's tests: the binary named by KG_BIN, on a fresh
database of its own (SQLite in a scratch folder, or a new PostgreSQL
database when ``backend="postgres"``), with an admin made for the run."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ADMIN_EMAIL = "client-admin@example.org"
POSTGRES_URL = os.environ.get("KG_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def postgres_available() -> bool:
    if shutil.which("psql") is None:
        return False
    done = subprocess.run(["psql", POSTGRES_URL, "-Atc", "SELECT 1"], capture_output=True, text=True)
    return done.returncode == 0


class KgServer:
    """Starts on ``__enter__`` (or `start`), stops and removes its database
    on ``__exit__``."""

    def __init__(self, binary: str, backend: str = "sqlite", **settings: str) -> None:
        self.binary = binary
        self.backend = backend
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin_email = ADMIN_EMAIL
        self.admin_password = secrets.token_urlsafe(24)
        self.jwt_secret = secrets.token_urlsafe(48)
        self._work = Path(tempfile.mkdtemp(prefix="kg-client-test-"))
        self._database: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self._work / "kg.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KG_")}
        self.env.update(
            {
                "KG_ENV": "development",
                "KG_DATA_DIR": str(self._work / "data"),
                "KG_BIND": f"127.0.0.1:{self.port}",
                "KG_JWT_SECRET": self.jwt_secret,
                "KG_LOG": "warn",
                "KG_LOG_FORMAT": "json",
                "KG_RATE_LIMIT_PER_MINUTE": "1000000",
                "KG_RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
                "KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE": "1000000",
                **settings,
            }
        )

    def __enter__(self) -> KgServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        if self.backend == "postgres":
            self._database = f"kg_test_client_{secrets.token_hex(6)}"
            self._psql(f'CREATE DATABASE "{self._database}"')
            base, _, _ = POSTGRES_URL.rpartition("/")
            self.env["KG_DATABASE_URL"] = f"{base}/{self._database}"
        subprocess.run(
            [self.binary, "user", "create", "--email", self.admin_email, "--role", "admin", "--password-stdin"],
            input=(self.admin_password + "\n").encode(),
            env=self.env,
            check=True,
            capture_output=True,
        )
        self._serve()

    def _serve(self) -> None:
        log = open(self._log, "ab")
        self._process = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"kg exited with {self._process.returncode}: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/health/ready", timeout=2) as res:
                    if res.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError("kg was not ready within 60 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stops and starts kg on the same database and port."""
        self.stop()
        self._serve()

    def close(self) -> None:
        self.stop()
        if self._database is not None:
            self._psql(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        shutil.rmtree(self._work, ignore_errors=True)

    def log(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace") if self._log.exists() else ""

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Runs a ``kg`` command against this server's database."""
        done = subprocess.run(
            [self.binary, *args], input=stdin, env=self.env, check=True, capture_output=True, text=True
        )
        return done.stdout

    def get_text(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.base}{path}", timeout=10) as res:
            text: str = res.read().decode()
            return text

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """A plain request, beside the client under test."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", POSTGRES_URL, "-qc", sql], check=True, capture_output=True)
