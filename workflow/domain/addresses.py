"""Which network addresses a webhook may be sent to; pure.

Only addresses on the public internet: a webhook that an administrator (or someone holding an
administrator's token) points at loopback, a private network, link-local space or a cloud
metadata service would let this server reach what only it can reach (SSRF).
"""

from __future__ import annotations

import ipaddress
import socket

from workflow.domain.errors import Reason

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services, named so the refusal says what was at stake.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
LOCAL_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def literal_address(host: str) -> Address | None:
    """The address a host written as an address means, in every spelling a resolver accepts
    (IPv4-mapped IPv6, and short IPv4 forms like 127.1); None for a name."""
    try:
        address: Address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_reason(address: Address) -> Reason | None:
    """Why a webhook may not be sent to `address`; None for a public internet address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return Reason(
            "metadata_address", f"{address} är en molntjänsts metadataadress och tillåts inte."
        )
    if address.is_loopback or address.is_unspecified:
        return Reason("private_address", f"{address} är den här datorn och tillåts inte.")
    if address.is_link_local:
        return Reason("private_address", f"{address} är en länklokal adress och tillåts inte.")
    if address.is_multicast or not address.is_global:
        return Reason(
            "private_address", f"{address} är en adress i ett internt nät och tillåts inte."
        )
    return None


def host_allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    """Whether a setting names this host (or address) as allowed despite the rules above."""
    return host.strip("[]").lower().rstrip(".") in allowed_hosts


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    """`WEBHOOK_ALLOWED_HOSTS`: comma-separated names or addresses."""
    return frozenset(
        part.strip().strip("[]").lower().rstrip(".") for part in setting.split(",") if part.strip()
    )
