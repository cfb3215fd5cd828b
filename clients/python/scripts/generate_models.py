#!/usr/bin/env python3
"""Writes src/kg_client/models.py from kg's own OpenAPI document.

Starts the kg binary named by KG_BIN on a scratch SQLite database, reads
/openapi.json, and runs datamodel-code-generator (pinned in
requirements-dev.txt) over it. With --check it writes nothing and exits 1
when the committed models differ from what the document gives, showing the
difference: CI runs it so the client never drifts from the server.

Usage: KG_BIN=path/to/kg python3 scripts/generate_models.py [--check]
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests"))

from kg_server import KgServer  # noqa: E402

MODELS = HERE / "src" / "kg_client" / "models.py"
HEADER = '''"""Request and response models of kg's HTTP API.

Generated from kg's /openapi.json by scripts/generate_models.py with
datamodel-code-generator: do not edit by hand; CI fails when this file and
the document differ.
"""
'''
OPTIONS = [
    "--input-file-type",
    "openapi",
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--target-python-version",
    "3.10",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-schema-description",
    "--use-field-description",
    "--field-constraints",
    "--collapse-root-models",
    "--disable-timestamp",
    "--enum-field-as-literal",
    "all",
    # Plain strings for emails and passwords: kg validates them, and a
    # SecretStr would be sent as asterisks.
    "--type-mappings",
    "string+email=string",
    "string+password=string",
    "--formatters",
    "black",
    "isort",
    "--use-double-quotes",
    "--wrap-string-literal",
    "--custom-file-header",
    HEADER,
]


def generate(document: str) -> str:
    with tempfile.TemporaryDirectory(prefix="kg-models-") as tmp:
        source = Path(tmp) / "openapi.json"
        source.write_text(document, encoding="utf-8")
        output = Path(tmp) / "models.py"
        subprocess.run(
            [
                sys.executable,
                "-W",
                "ignore::FutureWarning",
                "-m",
                "datamodel_code_generator",
                "--input",
                str(source),
                "--output",
                str(output),
                *OPTIONS,
            ],
            check=True,
        )
        return output.read_text(encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    kg = os.environ.get("KG_BIN", "").strip()
    if not kg:
        print("KG_BIN must name the kg binary (cargo build -p kg-server)", file=sys.stderr)
        return 2
    with KgServer(kg) as server:
        document = server.get_text("/openapi.json")
    fresh = generate(document)
    if not args.check:
        MODELS.write_text(fresh, encoding="utf-8")
        print(f"wrote {MODELS.relative_to(HERE)}")
        return 0
    current = MODELS.read_text(encoding="utf-8") if MODELS.exists() else ""
    if current == fresh:
        print("models: current with the server's OpenAPI document")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(True), fresh.splitlines(True), "committed models.py", "from /openapi.json"
        )
    )
    print("models: out of date; run scripts/generate_models.py and commit the result", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
