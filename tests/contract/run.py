#!/usr/bin/env python3
"""The contract, checked against a live kg.

Starts the kg binary named by KG_BIN on a fresh SQLite database, signs in an
admin created for the run, and then:

1. runs schemathesis over /openapi.json with its response-schema,
   response-header, content-type, status-code and server-error checks. The routes that end
   the session (logout) or change how every other route answers (the
   maintenance switch) run after the rest, each on their own;
2. opens /docs in headless Chromium and checks that Swagger UI rendered an
   operation for each one in the document, that the page broke none of its
   Content-Security-Policy, and that every request the page made went to kg.

Prints `contract: N passed, M failed` and exits 1 if anything failed.

Usage: KG_BIN=path/to/kg python3 tests/contract/run.py
Needs: `pip install -r tests/contract/requirements.txt` and Chromium
(`/usr/bin/chromium`, or CHROMIUM=path).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
        "response_headers_conformance",
    ]
)
# Examples per operation and phase: enough to reach every documented status
# of every route, small enough for a CI run of a few minutes.
MAX_EXAMPLES = os.environ.get("KG_CONTRACT_MAX_EXAMPLES", "25")
ADMIN_EMAIL = "contract-admin@example.org"
# The routes run on their own have no links to follow.
ALONE = ["--phases", "examples,coverage,fuzzing"]


class Results:
    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []

    def record(self, name: str, ok: bool, detail: str = "") -> None:
        (self.passed if ok else self.failed).append(name)
        print(f"contract: {name}: {'ok' if ok else 'FAILED'}{' - ' + detail if detail else ''}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    url: str, body: dict | None = None, token: str | None = None, method: str | None = None
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    if data:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_ready(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"kg exited with {server.returncode} before it was ready")
        try:
            if request(f"{base}/health/ready")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"kg was not ready within {seconds} s")


def schemathesis(base: str, token: str, work: Path, name: str, selection: list[str]) -> tuple[bool, str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--max-examples",
        MAX_EXAMPLES,
        # One worker: the coverage phase is not safe to run on several
        # threads under this Python (its lambda introspection races).
        "--workers",
        "1",
        "--seed",
        os.environ.get("KG_CONTRACT_SEED", str(secrets.randbelow(2**63))),
        *selection,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=work)
    output = done.stdout + done.stderr
    print(output[-30000:], flush=True)
    return done.returncode == 0, f"exit {done.returncode}"


def chromium(browser: str, url: str, work: Path, name: str) -> tuple[str, str, Path]:
    """Renders `url` headless; answers the DOM, the log and the network log's path."""
    netlog = work / f"netlog-{name}.json"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        f"--user-data-dir={work / f'chromium-{name}'}",
        f"--log-net-log={netlog}",
        # Console messages, policy violations among them, go to stderr.
        "--enable-logging=stderr",
        "--v=0",
        # Run the page's scripts until it is idle (or 20 s of page time).
        "--virtual-time-budget=20000",
        "--dump-dom",
        url,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"Chromium did not finish rendering {url} within 120 s") from e
    if done.returncode != 0:
        raise RuntimeError(f"Chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout, done.stderr, netlog


def policy_violations(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Content Security Policy" in line]


def chromium_renders_docs(base: str, operations: int, work: Path) -> tuple[bool, str]:
    browser = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        return False, "Chromium is not installed (apt-get install chromium, or set CHROMIUM)"
    problems = []
    try:
        # The checks below look for what is absent; first make sure they
        # would see it: a page that breaks its own policy, logged as such.
        control = (
            "data:text/html,<meta http-equiv='Content-Security-Policy' content=\"style-src 'none'\">"
            "<style>p{color:red}</style><p>control</p>"
        )
        _, log, _ = chromium(browser, control, work, "control")
        if not policy_violations(log):
            problems.append("Chromium logged no violation for a page that breaks its policy")

        dom, log, netlog = chromium(browser, f"{base}/docs", work, "docs")
        # Swagger UI draws one summary per operation, each with its path.
        rendered = dom.count('class="opblock-summary-path"')
        if rendered != operations:
            problems.append(f"the page shows {rendered} operations, the document has {operations}")
        if 'data-path="/v1/entities/{id}"' not in dom:
            problems.append("the page does not show GET /v1/entities/{id}")
        problems += [f"policy violation: {v}" for v in policy_violations(log)]
        requested, leaving = page_requests(netlog, base)
        if f"{base}/openapi.json" not in requested:
            problems.append(f"the network log does not show the page fetching the document: {requested}")
        problems += [f"request left the host: {u}" for u in leaving]
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        problems.append(str(e))
        rendered = 0
    for p in problems:
        print(f"  {p}", flush=True)
    return not problems, f"{rendered} operations rendered"


def page_requests(netlog: Path, base: str) -> tuple[list[str], list[str]]:
    """The URLs the page requested, and those of them that are not kg.

    A request belongs to the page when any hop of it was to kg or was
    started by a page (it has an http(s) initiator); the browser's own
    background traffic (update checks and the like, started by no origin)
    is not the page's.
    Every hop of a page's request, redirects included, must stay on kg.
    """
    log = json.loads(netlog.read_text(encoding="utf-8", errors="replace"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = f"{urlsplit(base).scheme}://{urlsplit(base).netloc}"
    hops: dict[int, list[tuple[str, str]]] = {}
    for event in log.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start_job and params.get("url"):
            hops.setdefault(event["source"]["id"], []).append((params["url"], params.get("initiator", "")))

    def on_kg(url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == origin

    requested, leaving = [], []
    for chain in hops.values():
        from_page = any(on_kg(url) for url, _ in chain) or any(
            initiator.startswith(("http://", "https://")) for _, initiator in chain
        )
        if from_page:
            requested += [url for url, _ in chain]
            leaving += [url for url, _ in chain if not on_kg(url) and not url.startswith(("data:", "blob:"))]
    return requested, leaving


def main() -> int:
    kg = os.environ.get("KG_BIN", "").strip()
    if not kg or not os.access(kg, os.X_OK):
        print("KG_BIN must name the kg binary (cargo build -p kg-server)", file=sys.stderr)
        return 2
    results = Results()
    with tempfile.TemporaryDirectory(prefix="kg-contract-") as tmp:
        work = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KG_")}
        env.update(
            {
                "KG_ENV": "development",
                "KG_DATA_DIR": str(work / "data"),
                "KG_BIND": f"127.0.0.1:{port}",
                "KG_LOG": "warn",
                "KG_LOG_FORMAT": "json",
                # The fuzzer is one client sending as fast as it can.
                "KG_RATE_LIMIT_PER_MINUTE": "1000000",
                "KG_RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
                "KG_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE": "1000000",
                "KG_ACCESS_TOKEN_TTL_SECS": "7200",
            }
        )
        password = secrets.token_urlsafe(24)
        subprocess.run(
            [kg, "user", "create", "--email", ADMIN_EMAIL, "--role", "admin", "--password-stdin"],
            input=password + "\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        log = open(work / "kg.log", "w", encoding="utf-8")
        server = subprocess.Popen([kg, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(base, server)
            status, session = request(f"{base}/v1/auth/token", {"email": ADMIN_EMAIL, "password": password})
            if status != 200:
                raise RuntimeError(f"the admin could not sign in: {status} {session}")
            token = session["access_token"]
            status, document = request(f"{base}/openapi.json")
            operations = sum(
                1
                for item in document["paths"].values()
                for method in item
                if method in ("get", "post", "put", "patch", "delete")
            )

            later = ["--exclude-path", "/v1/auth/logout", "--exclude-path", "/v1/admin/maintenance"]
            for name, selection in [
                ("api", later),
                ("maintenance", ["--include-path", "/v1/admin/maintenance", *ALONE]),
            ]:
                ok, detail = schemathesis(base, token, work, name, selection)
                results.record(f"schemathesis {name}", ok, detail)
            status, mode = request(f"{base}/v1/admin/maintenance", {"mode": "off"}, token, method="PUT")
            if status != 200:
                raise RuntimeError(f"the maintenance switch did not turn off: {status} {mode}")

            ok, detail = chromium_renders_docs(base, operations, work)
            results.record("docs page in headless Chromium", ok, detail)

            # Last: it ends the session the token belongs to.
            ok, detail = schemathesis(base, token, work, "logout", ["--include-path", "/v1/auth/logout", *ALONE])
            results.record("schemathesis logout", ok, detail)

            ok = server.poll() is None
            results.record("kg still serving", ok, "" if ok else f"exited {server.returncode}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
            panics = [l for l in (work / "kg.log").read_text().splitlines() if "panicked" in l]
            results.record("kg logged no panic", not panics, "; ".join(panics[:3]))
    print(f"contract: {len(results.passed)} passed, {len(results.failed)} failed")
    return 1 if results.failed else 0


if __name__ == "__main__":
    sys.exit(main())
