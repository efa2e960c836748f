"""Render the configuration reference (a Markdown table) from the model.

The README embeds the output between ``<!-- config-reference:start -->`` and
``<!-- config-reference:end -->``; a test fails if they differ, so the reference cannot drift
from the code. Regenerate with ``python -m as2sync.config.reference --write README.md``.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from as2sync.config.schema import Config

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`" if value else "`[]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _sections(annotation: Any) -> list[type[BaseModel]]:
    """The section models a field holds: one, or each member of a union of sections (the
    ``gateway`` section, one model per API); none for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    members = [get_args(m)[0] if get_origin(m) is Annotated else m for m in get_args(annotation)]
    if members and all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
        return members
    return []


def _rows(model: type[BaseModel], prefix: str = "", *, only: str = "") -> list[str]:
    """Rows for ``model``'s keys; ``only`` names the API its keys belong to, when the section
    is one of several (its ``api`` key, shared by all, is listed once)."""
    rows: list[str] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        sections = _sections(field.annotation)
        if len(sections) > 1:
            # The first section's ``api`` row stands for all (its description names them).
            for i, section in enumerate(sections):
                api = section.model_fields["api"].default
                own = _rows(section, f"{path}.", only=api)
                rows.extend(r for r in own if i == 0 or not r.startswith(f"| `{path}.api` |"))
            continue
        if sections:
            rows.extend(_rows(sections[0], f"{path}.", only=only))
            continue
        description = (field.description or "").replace("|", "\\|")
        if only and name != "api":
            description = f"(api: {only}) {description}"
        rows.append(f"| `{path}` | {_default(field)} | {description} |")
    return rows


def reference_markdown() -> str:
    lines = [START, "| key | default | meaning |", "| --- | --- | --- |", *_rows(Config), END]
    return "\n".join(lines)


def embed(text: str) -> str:
    """``text`` with the block between the markers replaced by the current reference."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return head + reference_markdown() + tail


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        target = Path(sys.argv[2])
        target.write_text(embed(target.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(reference_markdown())
