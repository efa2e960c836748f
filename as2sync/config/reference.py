"""Render the configuration reference (a Markdown table) from the model.

The README embeds the output between ``<!-- config-reference:start -->`` and
``<!-- config-reference:end -->``; a test fails if they differ, so the reference cannot drift
from the code. Regenerate with ``python -m as2sync.config.reference --write README.md``.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any

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


def _rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, f"{path}."))
            continue
        description = (field.description or "").replace("|", "\\|")
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
