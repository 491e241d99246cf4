"""Where a ZKTeco PUSH terminal may speak from: the networks of its site file ``address``.

A PUSH terminal names itself by its serial number alone (``SN=``), which is printed on its
label and shown in its menu: anyone on the LAN who knows it could upload punches in its name.
A terminal given an ``address`` (one address or a CIDR network, or a list of them) is answered
only when the request's TCP peer is in one of them; a terminal given none is answered from
anywhere, as before.

The peer is the TCP connection's, as the server saw it: no ``X-Forwarded-For`` or ``Forwarded``
header is believed (the API server does not rewrite the client from them, ``gateway.api.server``),
since any client can write one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["Network", "parse_network", "parse_networks", "speaks_from"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network:
    """``192.168.10.21`` (one address) or ``192.168.10.0/28`` (a network) as a network, or
    ``ValueError``. A network with host bits set (``192.168.10.5/28``) is refused: it is a typo
    for an address or for a network, and either reading would admit the wrong terminals."""
    value = str(text).strip()
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is neither an IP address nor a network in CIDR form "
            "(192.168.10.21, 192.168.10.0/28): " + str(exc)
        ) from None


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """Each of ``texts`` as :func:`parse_network` reads it, in order."""
    return tuple(parse_network(text) for text in texts)


def speaks_from(peer: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether a request from TCP peer ``peer`` may speak for a terminal allowed ``networks``:
    always when ``networks`` is empty (no ``address`` given); otherwise only when ``peer`` is an
    IP address in one of them. An IPv4 peer seen on a dual-stack socket (``::ffff:10.0.0.9``)
    is its IPv4 address; an unknown peer (``None``, a Unix socket) is in none."""
    if not networks:
        return True
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])  # an IPv6 zone is not the address
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
