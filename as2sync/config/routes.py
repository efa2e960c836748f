"""Routes must not overlap: one folder per station/partner pair, one pair per folder.

Folders are found by name under ``folders.root`` and by ``routes:``; when two sources claim
the same pair, the route wins and the other folder is silently ignored (files dropped there
stay forever and ``status`` does not count them); when two pairs share a folder tree, one
partner's files go to the other and both partners' messages land in one inbox. So every way
the two can meet is refused with the key path to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from as2sync.config.schema import Route
from as2sync.errors import ConfigProblem


def _relation(path: Path, other: Path) -> str | None:
    """How ``path`` meets ``other`` (both resolved): the same folder, inside it, holding it."""
    if path == other:
        return "same folder as"
    if other in path.parents:
        return "inside"
    if path in other.parents:
        return "contains"
    return None


def route_problems(
    root: Path, routes: Sequence[Route], *, check_folders: bool
) -> list[ConfigProblem]:
    """Problems with ``routes`` (absolute paths) against each other and ``root``.

    ``check_folders`` also refuses a route whose pair has a folder under ``root`` (a fact of
    the disk, not of the file, so it is checked only where the folders are checked).
    """
    problems: list[ConfigProblem] = []
    real_root = root.resolve()
    real_paths = [r.path.resolve() for r in routes]
    for i, route in enumerate(routes):
        key = f"routes[{i}]"
        for j in range(i):
            if (routes[j].station, routes[j].partner) == (route.station, route.partner):
                problems.append(
                    ConfigProblem(
                        key,
                        f"same station/partner ({route.station}/{route.partner}) as "
                        f"routes[{j}]: give each pair one folder",
                    )
                )
        for j in range(i):
            relation = _relation(real_paths[i], real_paths[j])
            if relation:
                problems.append(
                    ConfigProblem(
                        f"{key}.path",
                        f"{real_paths[i]} is {relation} routes[{j}].path ({real_paths[j]}): "
                        "every route needs a folder tree of its own",
                    )
                )
        relation = _relation(real_paths[i], real_root)
        if relation:
            problems.append(
                ConfigProblem(
                    f"{key}.path",
                    f"{real_paths[i]} is {relation} folders.root ({real_root}), whose folders "
                    "are station/partner pairs by name: put the route's folder elsewhere",
                )
            )
        by_name = root / route.station / route.partner
        if check_folders and not relation and by_name.is_dir():
            problems.append(
                ConfigProblem(
                    key,
                    f"{route.station}/{route.partner} also has the folder {by_name}: files "
                    "dropped there would never be sent; remove that folder or this route",
                )
            )
    return problems
