#!/usr/bin/env python3
"""Static checks of the deployment artefacts under deploy/.

Docker and Kubernetes do not run in CI, so this script checks what can be
checked without them:

- every YAML file under deploy/ parses (all documents of it);
- every `kg` command line the artefacts run (Dockerfile CMD, ENTRYPOINT and
  HEALTHCHECK, compose `command`/`entrypoint`/`healthcheck`, Kubernetes
  container `command`/`args` and exec probes) is accepted by the kg binary
  named by KG_BIN: `$KG_BIN <arguments...> --help` must exit 0;
- every HTTP path a health check or probe requests is a route of
  crates/http/src/routes/mod.rs;
- every KG_* variable the artefacts name is listed in .env.example;
- the Dockerfile builds the package and binary crates/server/Cargo.toml
  declares, and kustomization.yaml lists files that exist.

Usage: KG_BIN=path/to/kg python3 deploy/check.py
Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

try:
    import yaml
except ImportError:
    print("FAIL PyYAML is missing: pip install -r deploy/requirements-check.txt")
    sys.exit(1)

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
ROUTES_FILE = ROOT / "crates/http/src/routes/mod.rs"
ENV_EXAMPLE = ROOT / ".env.example"
SERVER_MANIFEST = ROOT / "crates/server/Cargo.toml"

SHELLS = {"sh", "bash", "dash", "ash"}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}


@dataclass
class Command:
    """An argv some artefact runs, with where it comes from."""

    where: str
    argv: list[str]


@dataclass
class Probe:
    """A health check or probe that must request a kg route."""

    where: str
    paths: list[str]


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, message: str) -> None:
        print(f"ok   {message}")

    def fail(self, message: str) -> None:
        self.failures += 1
        print(f"FAIL {message}")

    def check(self, condition: bool, message: str, detail: str = "") -> None:
        if condition:
            self.ok(message)
        else:
            self.fail(f"{message}: {detail}" if detail else message)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- parsing -----------------------------------------------------------------


def load_yaml_files(report: Report) -> dict[Path, list[object]]:
    documents: dict[Path, list[object]] = {}
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())
    if not files:
        report.fail("no YAML files found under deploy/")
    for path in files:
        try:
            with path.open(encoding="utf-8") as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as err:
            report.fail(f"parse {rel(path)}: {' '.join(str(err).split())}")
            continue
        documents[path] = docs
        report.ok(f"parse {rel(path)} ({len(docs)} document{'s' if len(docs) != 1 else ''})")
    return documents


def dockerfile_instructions(path: Path) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuation lines joined."""
    instructions = []
    buffer, start = "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, rest = buffer.partition(" ")
        instructions.append((start, keyword.upper(), rest.strip()))
        buffer = ""
    return instructions


def exec_or_shell(text: str) -> list[str]:
    """A Dockerfile CMD/ENTRYPOINT argument: JSON exec form or shell form."""
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except json.JSONDecodeError:
            argv = None
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            return argv
    return ["/bin/sh", "-c", text]


def dockerfile_artefacts(path: Path) -> tuple[list[Command], list[Probe], list[str]]:
    commands, probes, problems = [], [], []
    for line, keyword, args in dockerfile_instructions(path):
        where = f"{rel(path)}:{line} {keyword}"
        if keyword in {"CMD", "ENTRYPOINT"}:
            commands.append(Command(where, exec_or_shell(args)))
        elif keyword == "HEALTHCHECK":
            if args.upper() == "NONE":
                continue
            match = re.search(r"(?:^|\s)CMD\s+(.*)$", args)
            if not match:
                problems.append(f"{where}: no CMD")
                continue
            argv = exec_or_shell(match.group(1).strip())
            commands.append(Command(where, argv))
            probes.append(Probe(where, http_paths(" ".join(argv))))
    return commands, probes, problems


def as_argv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def compose_healthcheck_argv(test: object) -> list[str]:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    argv = as_argv(test)
    if argv and argv[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(argv[1:])]
    if argv and argv[0] == "CMD":
        return argv[1:]
    return argv


def compose_artefacts(path: Path, doc: dict) -> tuple[list[Command], list[Probe]]:
    commands, probes = [], []
    for name, service in (doc.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        where = f"{rel(path)} service {name}"
        entrypoint = as_argv(service.get("entrypoint"))
        command = as_argv(service.get("command"))
        runs_kg = False
        if entrypoint or command:
            argv = entrypoint + command
            commands.append(Command(f"{where} command", argv))
            runs_kg = bool(kg_invocations(argv))
        health = service.get("healthcheck") or {}
        if isinstance(health, dict) and health.get("test") and not health.get("disable"):
            argv = compose_healthcheck_argv(health["test"])
            commands.append(Command(f"{where} healthcheck", argv))
            paths = http_paths(" ".join(argv))
            if runs_kg or paths:
                probes.append(Probe(f"{where} healthcheck", paths))
    return commands, probes


def pod_specs(doc: dict) -> list[dict]:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = (spec.get("template") or {}).get("spec")
    return [template] if isinstance(template, dict) else []


def k8s_artefacts(path: Path, doc: dict) -> tuple[list[Command], list[Probe]]:
    commands, probes = [], []
    name = (doc.get("metadata") or {}).get("name", "?")
    for pod in pod_specs(doc):
        containers = (pod.get("initContainers") or []) + (pod.get("containers") or [])
        for container in containers:
            where = f"{rel(path)} {doc['kind']}/{name} container {container.get('name', '?')}"
            argv = as_argv(container.get("command")) + as_argv(container.get("args"))
            if argv:
                commands.append(Command(where, argv))
            for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(probe_name)
                if not isinstance(probe, dict):
                    continue
                if "httpGet" in probe:
                    path_ = str((probe["httpGet"] or {}).get("path", "/"))
                    probes.append(Probe(f"{where} {probe_name}", [path_]))
                if "exec" in probe:
                    exec_argv = as_argv((probe["exec"] or {}).get("command"))
                    commands.append(Command(f"{where} {probe_name}", exec_argv))
                    paths = http_paths(" ".join(exec_argv))
                    if paths:
                        probes.append(Probe(f"{where} {probe_name}", paths))
            for hook in ("postStart", "preStop"):
                handler = ((container.get("lifecycle") or {}).get(hook)) or {}
                if "exec" in handler:
                    exec_argv = as_argv((handler["exec"] or {}).get("command"))
                    commands.append(Command(f"{where} {hook}", exec_argv))
    return commands, probes


# --- commands ----------------------------------------------------------------


def shell_words(script: str) -> list[list[str]]:
    """The simple commands of a shell script, split at operators."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    try:
        tokens = list(lexer)
    except ValueError:
        return [script.split()]
    for token in tokens:
        if token in SHELL_OPERATORS or set(token) <= set("&|;()"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def kg_invocations(argv: list[str]) -> list[list[str]]:
    """Each kg argument list argv runs, directly or through a shell -c."""
    if not argv:
        return []
    program = os.path.basename(argv[0])
    if program == "kg":
        return [argv[1:]]
    if program == "exec":
        return kg_invocations(argv[1:])
    if program in SHELLS and "-c" in argv:
        index = argv.index("-c")
        if index + 1 < len(argv):
            found = []
            for words in shell_words(argv[index + 1]):
                # Skip leading VAR=value assignments and `exec`.
                while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] == "exec"):
                    words = words[1:]
                if words and os.path.basename(words[0]) == "kg":
                    found.append(words[1:])
            return found
    return []


def check_kg_commands(report: Report, commands: list[Command]) -> None:
    seen: dict[tuple[str, ...], list[str]] = {}
    for command in commands:
        for args in kg_invocations(command.argv):
            seen.setdefault(tuple(args), []).append(command.where)
    if not seen:
        report.fail("no kg command found in the artefacts")
        return
    kg_bin = os.environ.get("KG_BIN", "").strip()
    if not kg_bin:
        lines = ", ".join(f"`kg {' '.join(args)}`" for args in sorted(seen))
        report.fail(
            f"KG_BIN is not set, so {lines} cannot be checked: build kg "
            "(cargo build -p kg-server) and run `KG_BIN=target/debug/kg python3 deploy/check.py`"
        )
        return
    binary = Path(kg_bin)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        report.fail(f"KG_BIN={kg_bin} is not an executable file")
        return
    # An empty directory, so a .env in the working directory is not read.
    with tempfile.TemporaryDirectory() as cwd:
        for args, wheres in sorted(seen.items()):
            line = " ".join(["kg", *args])
            try:
                result = subprocess.run(
                    [str(binary.resolve()), *args, "--help"],
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                report.fail(f"`{line}` ({', '.join(wheres)}): {err}")
                continue
            detail = (result.stderr or result.stdout).strip().splitlines()
            report.check(
                result.returncode == 0,
                f"`{line}` is a kg command ({', '.join(wheres)})",
                f"`{line} --help` exited {result.returncode}: {detail[0] if detail else ''}",
            )


# --- HTTP paths --------------------------------------------------------------


def http_paths(text: str) -> list[str]:
    """Paths requested by a health-check command line."""
    paths = re.findall(r"\b(?:GET|HEAD)\s+(/[^\s'\"\\]*)\s+HTTP/", text)
    paths += re.findall(r"https?://[^/\s'\"]+(/[^\s'\"]*)", text)
    return [p.split("?", 1)[0] for p in paths]


def load_routes() -> list[str]:
    text = ROUTES_FILE.read_text(encoding="utf-8")
    return re.findall(r'^\s*"(/[^"]*)"\s*=>\s*\{', text, re.MULTILINE)


def route_matches(route: str, path: str) -> bool:
    pattern = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]*\})", route)
        if part
    )
    return re.fullmatch(pattern, path) is not None


def check_probes(report: Report, probes: list[Probe]) -> None:
    routes = load_routes()
    report.check(bool(routes), f"read {len(routes)} routes from {rel(ROUTES_FILE)}")
    if not probes:
        report.fail("no health check or probe found in the artefacts")
    for probe in probes:
        if not probe.paths:
            report.fail(f"{probe.where}: no HTTP path found in the health check")
        for path in probe.paths:
            report.check(
                any(route_matches(route, path) for route in routes),
                f"{probe.where} requests {path}, a kg route",
                f"{path} is not in the routes! table",
            )


# --- settings ----------------------------------------------------------------


def check_settings(report: Report) -> None:
    documented = set(
        re.findall(r"^#?\s*(KG_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    )
    report.check(bool(documented), f"read {len(documented)} settings from {rel(ENV_EXAMPLE)}")
    named: dict[str, set[str]] = {}
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or path == Path(__file__).resolve() or path.suffix == ".txt":
            continue
        for name in re.findall(r"\bKG_[A-Z0-9_]+\b", path.read_text(encoding="utf-8", errors="replace")):
            named.setdefault(name, set()).add(rel(path))
    for name, files in sorted(named.items()):
        report.check(
            name in documented,
            f"{name} is a documented setting",
            f"named in {', '.join(sorted(files))} but not in .env.example",
        )


# --- build -------------------------------------------------------------------


def check_build(report: Report, dockerfile: Path, documents: dict[Path, list[object]]) -> None:
    manifest = tomllib.loads(SERVER_MANIFEST.read_text(encoding="utf-8"))
    package = manifest["package"]["name"]
    bins = [b["name"] for b in manifest.get("bin", [])]
    text = dockerfile.read_text(encoding="utf-8")
    report.check(
        re.search(rf"cargo build\b[^\n]*-p\s+{re.escape(package)}\b", text) is not None,
        f"{rel(dockerfile)} builds package {package}",
    )
    report.check(
        "kg" in bins and "target/release/kg" in text,
        f"{rel(dockerfile)} copies the binary kg that {rel(SERVER_MANIFEST)} declares",
        f"declared binaries: {bins}",
    )
    for path, docs in documents.items():
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Kustomization":
                for resource in doc.get("resources") or []:
                    report.check(
                        (path.parent / resource).is_file(),
                        f"{rel(path)} lists {resource}, which exists",
                    )


# --- main --------------------------------------------------------------------


def main() -> int:
    report = Report()
    documents = load_yaml_files(report)

    commands: list[Command] = []
    probes: list[Probe] = []

    dockerfile = DEPLOY / "Dockerfile"
    if dockerfile.is_file():
        found, found_probes, problems = dockerfile_artefacts(dockerfile)
        commands += found
        probes += found_probes
        for problem in problems:
            report.fail(problem)
        check_build(report, dockerfile, documents)
    else:
        report.fail(f"{rel(dockerfile)} is missing")

    for path, docs in documents.items():
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            if isinstance(doc.get("services"), dict):
                found, found_probes = compose_artefacts(path, doc)
            elif doc.get("kind") in WORKLOAD_KINDS:
                found, found_probes = k8s_artefacts(path, doc)
            else:
                continue
            commands += found
            probes += found_probes

    check_kg_commands(report, commands)
    check_probes(report, probes)
    check_settings(report)

    if report.failures:
        print(f"{report.failures} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
