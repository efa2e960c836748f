"""The README's configuration reference is generated from the model and cannot drift."""

from __future__ import annotations

from pathlib import Path

from as2sync.config.reference import embed

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_config_reference_matches_the_model() -> None:
    text = README.read_text(encoding="utf-8")
    assert embed(text) == text, "run: python -m as2sync.config.reference --write README.md"


def test_readme_quick_start_is_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [
        line.split("#")[0].strip() for line in quick.splitlines() if line.startswith("make ")
    ]
    assert commands == ["make demo", "make test"]
