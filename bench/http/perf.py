#!/usr/bin/env python3
"""kg's HTTP benchmark: a release build on SQLite and on PostgreSQL, a
generated graph with hubs, and wrk. Standard library only.

For each backend: a fresh database, `kg migrate up`, an editor account,
`kg serve`; a bulk load through `POST /v1/batch` from two clients (its
items per second are reported); then each workload with wrk for a fixed
time after a warm-up, reporting req/s, p50/p95/p99, kg's CPU per request,
PostgreSQL's CPU per request and kg's peak RSS. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TICK = os.sysconf("SC_CLK_TCK")
TYPES = ["Person", "Organization", "Place", "Event", "Document",
         "Product", "Concept", "Project", "Dataset", "Topic"]
REL_TYPES = ["RELATED_TO", "WORKS_FOR", "PART_OF", "MENTIONS", "LOCATED_IN"]
EMAIL = "perf@example.org"
# name: (wrk connections, or None for --connections)
WORKLOADS = {
    "get_entity": None,
    "get_not_modified": None,
    "list_by_type": None,
    "neighbors_1": None,
    "neighbors_2": None,
    "neighbors_3_hub": 4,
    "post_entity": None,
    "post_relationship": None,
    "batch": 2,
    "login": 4,
    "changes": 4,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body=None, token: str | None = None,
         timeout: float = 120.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def cpu_seconds(pids) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total / TICK


def postgres_pids():
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Backend:
    """A fresh database for one run, removed at the end."""

    def __init__(self, kind: str, pg_url: str):
        self.kind = kind
        self.pg_url = pg_url
        self.dir = Path(tempfile.mkdtemp(prefix="kgperf-"))
        if kind == "sqlite":
            self.url = f"sqlite://{self.dir / 'kg.db'}?mode=rwc"
        else:
            self.name = f"kgperf_{secrets.token_hex(4)}"
            self.psql(f"CREATE DATABASE {self.name}")
            self.url = pg_url.rsplit("/", 1)[0] + "/" + self.name

    def psql(self, sql: str, url: str | None = None) -> None:
        subprocess.run(["psql", url or self.pg_url, "-qAtc", sql], check=True,
                       stdout=subprocess.DEVNULL)

    def analyze(self) -> None:
        if self.kind == "postgres":
            self.psql("VACUUM ANALYZE", self.url)

    def remove(self) -> None:
        if self.kind == "postgres":
            self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    def __init__(self, binary: str, backend: Backend, workers: int):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(24)
        self.env = dict(os.environ,
                        KG_ENV="production", KG_DATABASE_URL=backend.url,
                        KG_JWT_SECRET=secrets.token_hex(32),
                        KG_BIND=f"127.0.0.1:{self.port}",
                        KG_RATE_LIMIT_PER_MINUTE="1000000",
                        KG_RATE_LIMIT_AUTH_PER_MINUTE="1000000",
                        KG_DB_MAX_CONNECTIONS="32", KG_WORKERS=str(workers),
                        KG_LOG="warn")
        subprocess.run([binary, "migrate", "up"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([binary, "user", "create", "--email", EMAIL, "--role", "editor",
                        "--password-stdin"], input=self.password.encode(), env=self.env,
                       check=True, stdout=subprocess.DEVNULL)
        self.log = open(backend.dir / "server.log", "wb")
        self.proc = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(300):
            try:
                if call(self.base, "GET", "/health/live")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("kg did not start; see " + str(backend.dir / "server.log"))

    def token(self) -> str:
        status, body = call(self.base, "POST", "/v1/auth/token",
                            {"email": EMAIL, "password": self.password})
        if status != 200:
            raise RuntimeError(f"login: {status} {body}")
        return body["access_token"]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def bulk_load(server: Server, token: str, args) -> dict:
    """Entities, then relationships (hubs first), 1,000 per request, from
    two clients. Returns the ids and the rate of each phase."""
    rng = random.Random(args.seed)
    n = args.entities
    ids: list[str | None] = [None] * n
    failures: list[str] = []

    def run(count: int, make_body, on_report=None) -> float:
        lock = threading.Lock()
        queue = list(range(count))
        queue.reverse()

        def client():
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop()
                body = make_body(index)
                status, report = call(server.base, "POST", "/v1/batch", body, token, 600)
                if status != 200:
                    failures.append(f"{status}: {str(report)[:300]}")
                    return
                if on_report:
                    on_report(index, report)

        started = time.monotonic()
        clients = [threading.Thread(target=client) for _ in range(2)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        if failures:
            raise RuntimeError("bulk load failed: " + failures[0])
        return time.monotonic() - started

    def entity_batch(index: int):
        start = index * 1000
        return {"entities": [
            {"type": TYPES[i % 10], "name": f"entity {i}", "external_id": f"e:{i}",
             "confidence": round((i % 997) / 997, 3), "source": "perf",
             "metadata": {"i": i}} for i in range(start, min(start + 1000, n))]}

    def keep_ids(index, report):
        for offset, item in enumerate(report["entities"]):
            ids[index * 1000 + offset] = item["id"]

    seconds_e = run((n + 999) // 1000, entity_batch, keep_ids)
    pairs = set()
    for hub in range(args.hubs):
        while len(pairs) < (hub + 1) * args.hub_degree:
            other = rng.randrange(args.hubs, n)
            pairs.add((hub, other, REL_TYPES[0]) if rng.random() < 0.5 else (other, hub, REL_TYPES[0]))
    while len(pairs) < args.relationships:
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            pairs.add((a, b, REL_TYPES[rng.randrange(5)]))
    pairs = list(pairs)
    rng.shuffle(pairs)
    def relationship_batch(index: int):
        return {"relationships": [
            {"source_external_id": f"e:{a}", "target_external_id": f"e:{b}", "type": t,
             "confidence": 0.8} for a, b, t in pairs[index * 1000:(index + 1) * 1000]]}

    seconds_r = run((len(pairs) + 999) // 1000, relationship_batch)
    return {"ids": ids, "entities": n, "entity_seconds": seconds_e,
            "relationships": len(pairs), "relationship_seconds": seconds_r}


def wrk(server: Server, token: str, workload: str, connections: int, args, out: Path) -> dict:
    env = dict(os.environ, KGPERF_WORKLOAD=workload, KGPERF_TOKEN=token, KGPERF_DIR=str(out),
               KGPERF_NONCE=secrets.token_hex(3), KGPERF_EMAIL=EMAIL,
               KGPERF_PASSWORD=server.password)
    threads = min(args.threads, connections)
    script = str(HERE / "workload.lua")

    def once(seconds: int) -> dict:
        run = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                              f"{seconds}s", "--timeout", "30s", "-s", script, server.base],
                             env=env, capture_output=True, text=True, check=True)
        line = next(l for l in run.stdout.splitlines() if l.startswith("KGPERF "))
        return json.loads(line[len("KGPERF "):])

    if args.warmup:
        once(args.warmup)
    Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")
    pg = postgres_pids() if args.current == "postgres" else []
    kg0, pg0 = cpu_seconds([server.proc.pid]), cpu_seconds(pg)
    result = once(args.duration)
    kg1, pg1 = cpu_seconds([server.proc.pid]), cpu_seconds(pg)
    requests = max(result["requests"], 1)
    result.update(workload=workload, connections=connections,
                  rps=result["requests"] / result["seconds"],
                  kg_cpu_ms=1000 * (kg1 - kg0) / requests,
                  pg_cpu_ms=(1000 * (pg1 - pg0) / requests) if pg else None,
                  peak_rss_mib=status_kib(server.proc.pid, "VmHWM") / 1024)
    return result


def run_backend(kind: str, args) -> dict:
    args.current = kind
    backend = Backend(kind, args.pg_url)
    server = None
    try:
        server = Server(args.bin, backend, args.workers)
        token = server.token()
        log(f"{kind}: loading {args.entities:,} entities and {args.relationships:,} relationships")
        load = bulk_load(server, token, args)
        items = load["entities"] + load["relationships"]
        seconds = load["entity_seconds"] + load["relationship_seconds"]
        log(f"{kind}: loaded {items:,} items in {seconds:.1f} s ({items / seconds:,.0f}/s)")
        status, report = call(server.base, "POST", "/v1/batch", {"entities": [
            {"type": "Writable", "name": f"w{i}"} for i in range(1000)]}, token)
        assert status == 200, report
        rng = random.Random(args.seed + 1)
        ids = load["ids"]
        (backend.dir / "ids.txt").write_text(
            "\n".join(rng.sample(ids[args.hubs:], min(5000, len(ids) - args.hubs))) + "\n")
        (backend.dir / "hubs.txt").write_text("\n".join(ids[:args.hubs]) + "\n")
        (backend.dir / "writable.txt").write_text(
            "\n".join(item["id"] for item in report["entities"]) + "\n")
        backend.analyze()
        time.sleep(2)
        rest_mib = status_kib(server.proc.pid, "VmRSS") / 1024
        results = []
        for workload in args.workloads:
            connections = WORKLOADS[workload] or args.connections
            result = wrk(server, server.token(), workload, connections, args, backend.dir)
            log(f"{kind}: {workload}: {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms")
            results.append(result)
            if workload in ("post_entity", "post_relationship", "batch"):
                backend.analyze()
        return {"backend": kind, "load": {k: v for k, v in load.items() if k != "ids"},
                "rest_rss_mib": rest_mib, "results": results}
    finally:
        if server:
            server.stop()
        if not args.keep:
            backend.remove()


def markdown(runs: list[dict]) -> str:
    out = []
    for run in runs:
        load = run["load"]
        items = load["entities"] + load["relationships"]
        seconds = load["entity_seconds"] + load["relationship_seconds"]
        out.append(f"### {run['backend']}\n")
        out.append(
            f"Bulk load through `/v1/batch`, two clients: {load['entities']:,} entities in "
            f"{load['entity_seconds']:.1f} s ({load['entities'] / load['entity_seconds']:,.0f}/s), "
            f"{load['relationships']:,} relationships in {load['relationship_seconds']:.1f} s "
            f"({load['relationships'] / load['relationship_seconds']:,.0f}/s); "
            f"{items / seconds:,.0f} items/s overall. RSS at rest after it: "
            f"{run['rest_rss_mib']:.0f} MiB.\n")
        out.append("| workload | conns | req/s | p50 ms | p95 ms | p99 ms | kg CPU ms/req "
                   "| PG CPU ms/req | peak RSS MiB | errors |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in run["results"]:
            pg = "" if r["pg_cpu_ms"] is None else f"{r['pg_cpu_ms']:.2f}"
            out.append(
                f"| {r['workload']} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} "
                f"| {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['kg_cpu_ms']:.2f} | {pg} "
                f"| {r['peak_rss_mib']:.0f} | {r['bad_status'] + r['socket_errors']} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/kg"))
    ap.add_argument("--backend", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get(
        "KG_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--relationships", type=int, default=1_000_000)
    ap.add_argument("--hubs", type=int, default=10)
    ap.add_argument("--hub-degree", type=int, default=10_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the databases and logs")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 10,000 entities, 50,000 relationships, 3 s runs")
    ap.add_argument("--json", help="also write every number here")
    args = ap.parse_args()
    if args.quick:
        args.entities, args.relationships, args.hub_degree = 10_000, 50_000, 2_000
        args.duration, args.warmup = 3, 1
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads: {unknown}; known: {list(WORKLOADS)}")
    if args.hubs * args.hub_degree > args.relationships:
        ap.error("hubs x hub-degree exceeds the relationships")
    if not shutil.which("wrk"):
        ap.error("wrk is not installed (Debian: apt-get install wrk)")
    runs = []
    for kind in (k for k in args.backend.split(",") if k):
        runs.append(run_backend(kind, args))
        # Each database's table as soon as it is done: a later one may be stopped.
        print(markdown(runs[-1:]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
