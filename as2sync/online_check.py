"""``as2sync check --online``: log in and compare the folders with the gateway's account.

Every station folder must be a station of the account and every partner folder a partner
whose outgoing traffic is not paused; otherwise files dropped there could never be sent.
"""

from __future__ import annotations

from as2sync.config import Config
from as2sync.gateway.factory import make_gateway
from as2sync.layout import PartnerDirs


def check_online(config: Config, pairs: list[PartnerDirs]) -> list[str]:
    """Problems found; raises AuthError/GatewayError if the gateway cannot be asked at all."""
    gateway = make_gateway(config)
    try:
        stations = {s.as2_id for s in gateway.stations()}
        partners = {p.as2_id: p for p in gateway.partners()}
    finally:
        gateway.close()
    problems = []
    for pair in pairs:
        where = f"{pair.base}"
        if pair.station not in stations:
            problems.append(f"{where}: station {pair.station!r} does not exist on the gateway")
        partner = partners.get(pair.partner)
        if partner is None:
            problems.append(f"{where}: partner {pair.partner!r} does not exist on the gateway")
        elif partner.pause_outgoing:
            problems.append(f"{where}: outgoing traffic to partner {pair.partner!r} is paused")
        elif partner.pause_incoming:
            problems.append(f"{where}: incoming traffic from partner {pair.partner!r} is paused")
    return problems
