"""Describe a YAML syntax error without echoing the text of the file.

PyYAML's messages quote the offending line (``password: Hunter2: Secret``) with a caret under
it, and the line is often the one holding a secret. What the user needs is where: the line,
the column and the key path. The key path is found by replaying the parser's events up to the
error; it names only keys the configuration model knows, so a secret that landed in key
position (a mis-indented line) is never shown either.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass

import yaml
from pydantic import BaseModel

from as2sync.config.schema import Config
from as2sync.errors import ConfigProblem

# Quoted text in PyYAML's messages is the file's content (a character, an alias, a tag),
# except the names of token kinds (``'<block end>'``) and single indicator characters.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_KEEP = re.compile(r"""^['"](<[a-z ]+>|[,\[\]{}:?\-#&*!|>%@`'"])['"]$""")


def _key_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        names |= _nested_key_names(field.annotation)
    return names


def _nested_key_names(annotation: object) -> set[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _key_names(annotation)
    names: set[str] = set()
    for arg in typing.get_args(annotation):  # tuple[Route, ...], X | None
        if arg is not Ellipsis and not isinstance(arg, types.NoneType):
            names |= _nested_key_names(arg)
    return names


KEY_NAMES = frozenset(_key_names(Config))


def describe_yaml_error(exc: yaml.YAMLError, text: str, source: str) -> ConfigProblem:
    """The problem for ``exc`` raised while loading ``text`` (read from ``source``)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return ConfigProblem("", f"{source} is not valid YAML")
    mark = exc.problem_mark
    message = f"{source} is not valid YAML at {_where(mark)}"
    if exc.problem:
        message += f": {_without_content(exc.problem)}"
    context_mark = exc.context_mark
    if exc.context and context_mark is not None and context_mark.line != mark.line:
        message += f" ({_without_content(exc.context)} at {_where(context_mark)})"
    # The construct that failed starts at the context mark when there is one (an unclosed
    # quote or bracket is only noticed lines later).
    return ConfigProblem(_key_path_at(text, (context_mark or mark).index), message)


def _where(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _without_content(message: str) -> str:
    def keep_or_drop(match: re.Match[str]) -> str:
        return match.group(0) if _KEEP.match(match.group(0)) else ""

    words = " ".join(_QUOTED.sub(keep_or_drop, message).split())
    return re.sub(r" ([;,.)])", r"\1", words)


@dataclass
class _Frame:
    """A mapping or sequence being parsed: where in it the parser is."""

    is_mapping: bool
    key: str | None = None  # mapping: the key whose value is being parsed
    expecting_key: bool = True  # mapping: the next node is a key
    index: int = 0  # sequence: the item being parsed

    def node_done(self, key: str | None) -> None:
        if not self.is_mapping:
            self.index += 1
        elif self.expecting_key:
            self.key, self.expecting_key = key, False
        else:
            self.expecting_key = True


def _path(stack: list[_Frame], key: str | None) -> str:
    """The key path of the node about to be parsed (``key``: its text, if it is a key)."""
    parts: list[str] = []
    for depth, frame in enumerate(stack):
        if not frame.is_mapping:
            parts.append(f"[{frame.index}]")
            continue
        # Where a key is expected, the node is that key (innermost frame) or lies inside a
        # complex key, which has no name to show.
        innermost = depth == len(stack) - 1
        name = frame.key if not frame.expecting_key else key if innermost else None
        if name not in KEY_NAMES:
            break
        parts.append(f".{name}" if parts else name)
    return "".join(parts)


def _key_path_at(text: str, index: int) -> str:
    """The key path of the last node that starts at or before ``index`` in ``text``."""
    found = ""
    stack: list[_Frame] = []
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                if stack:
                    stack[-1].node_done(None)
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue  # stream and document boundaries
            if event.start_mark is None or event.start_mark.index > index:
                break
            value = event.value if isinstance(event, yaml.ScalarEvent) else None
            found = _path(stack, value)
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                stack.append(_Frame(is_mapping=isinstance(event, yaml.MappingStartEvent)))
            elif stack:
                stack[-1].node_done(value)
    except yaml.YAMLError:
        pass  # the error being described: the events before it are what we need
    return found
