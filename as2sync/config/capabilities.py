"""Options that only some gateway APIs support, checked against the selected backend's
:class:`~as2sync.backends.base.Capabilities`: a configuration asks only for what its API
offers, or ``check`` says which key asks too much."""

from __future__ import annotations

from as2sync.backends.base import Capabilities
from as2sync.config.schema import Config
from as2sync.errors import ConfigProblem


def capability_problems(config: Config, caps: Capabilities) -> list[ConfigProblem]:
    """Every key of ``config`` that ``caps`` cannot honour, with its key path."""
    api = f"gateway.api {caps.name!r}"
    problems = []
    bundle = config.outbound.bundle_max_files
    if bundle > caps.max_files_per_message:
        problems.append(
            ConfigProblem(
                "outbound.bundle_max_files",
                f"at most {caps.max_files_per_message} files per message with {api} (got {bundle})",
            )
        )
    largest = config.outbound.max_file_bytes
    if caps.max_bytes_per_message is not None and largest > caps.max_bytes_per_message:
        problems.append(
            ConfigProblem(
                "outbound.max_file_bytes",
                f"at most {caps.max_bytes_per_message} bytes per message with {api} "
                f"(got {largest})",
            )
        )
    if config.inbound.delete_after_store and not caps.deletes:
        problems.append(
            ConfigProblem("inbound.delete_after_store", f"{api} cannot delete received messages")
        )
    if not caps.partner_types:
        # Only a key that is written down is refused: the defaults mean "no choice made".
        no_types = f"{api} has no production/test partner types; remove the key"
        if "partner_type" in config.inbound.model_fields_set:
            problems.append(ConfigProblem("inbound.partner_type", no_types))
        for i, partnership in enumerate(config.outbound.partnerships):
            if "partner_type" in partnership.model_fields_set:
                problems.append(ConfigProblem(f"outbound.partnerships[{i}].partner_type", no_types))
    return problems
