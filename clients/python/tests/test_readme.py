"""The README's examples, run as written against a live kg."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kg_server import KgServer

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_examples_of_each_part() -> None:
    text = "\n".join(examples())
    for used in (
        "Client(",
        "ingest(",
        "IngestInterrupted",
        "entities(",
        "neighbors(",
        "changes(",
        "ValidationError",
        "AsyncClient(",
    ):
        assert used in text, used


def test_the_readme_examples_run_as_written(
    server: KgServer,
    editor_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = [{"type": "person", "name": f"Reader {i}", "external_id": f"readme-{i}"} for i in range(50)]
    links = [
        {"type": "knows", "source_external_id": f"readme-{i}", "target_external_id": f"readme-{(i + 1) % 50}"}
        for i in range(50)
    ]
    links.append({"type": "knows", "source_external_id": "readme-1", "target_external_id": "nobody"})
    (tmp_path / "entities.jsonl").write_text("".join(json.dumps(p) + "\n" for p in people), encoding="utf-8")
    (tmp_path / "relationships.jsonl").write_text("".join(json.dumps(r) + "\n" for r in links), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "KG_URL": server.base,
        "KG_API_KEY": editor_key,
        "KG_EMAIL": server.admin_email,
        "KG_PASSWORD": server.admin_password,
    }.items():
        monkeypatch.setenv(name, value)

    namespace: dict[str, object] = {"__name__": "readme"}
    for number, code in enumerate(examples()):
        try:
            exec(compile(code, f"README.md example {number}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"README example {number} failed:\n{code}") from e

    printed = capsys.readouterr().out
    assert "created 100, updated 0, unchanged 0" in printed
    assert "relationships 50 [('target_external_id'" in printed
    assert "validation_failed" in printed and "404 entity_not_found" in printed
    assert os.environ["KG_URL"] == server.base
