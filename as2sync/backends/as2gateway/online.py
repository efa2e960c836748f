"""Is a station/partner pair usable on the AS2 Gateway? ``as2sync check --online`` and ``send``.

Every station folder must be a station of the account and every partner folder a partner
whose outgoing traffic is not paused; otherwise files dropped there could never be sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from as2sync.backends.as2gateway.model import Gateway, Partner
from as2sync.folders.layout import PartnerDirs


def pair_problems(
    stations: Set[str], partners: Mapping[str, Partner], station: str, partner: str
) -> list[tuple[str, str]]:
    """Why files cannot be sent from ``station`` to ``partner``, as (``"station"`` or
    ``"partner"``, reason) pairs; empty when they can."""
    problems = []
    if station not in stations:
        problems.append(("station", f"station {station!r} does not exist on the gateway"))
    found = partners.get(partner)
    if found is None:
        problems.append(("partner", f"partner {partner!r} does not exist on the gateway"))
    elif found.pause_outgoing:
        problems.append(("partner", f"outgoing traffic to partner {partner!r} is paused"))
    return problems


def sendable_problems(gateway: Gateway, station: str, partner: str) -> list[tuple[str, str]]:
    """:func:`pair_problems` for one pair, asking ``gateway``; raises AuthError/GatewayError
    if the gateway cannot be asked at all."""
    stations = {s.as2_id for s in gateway.stations()}
    partners = {p.as2_id: p for p in gateway.partners()}
    return pair_problems(stations, partners, station, partner)


def online_problems(gateway: Gateway, pairs: Sequence[PartnerDirs]) -> list[str]:
    """Problems of every pair, paused incoming traffic included; raises AuthError/GatewayError
    if the gateway cannot be asked at all."""
    stations = {s.as2_id for s in gateway.stations()}
    partners = {p.as2_id: p for p in gateway.partners()}
    problems = []
    for pair in pairs:
        where = f"{pair.base}"
        for _which, reason in pair_problems(stations, partners, pair.station, pair.partner):
            problems.append(f"{where}: {reason}")
        partner = partners.get(pair.partner)
        if partner is not None and not partner.pause_outgoing and partner.pause_incoming:
            problems.append(f"{where}: incoming traffic from partner {pair.partner!r} is paused")
    return problems
