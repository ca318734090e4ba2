"""Which addresses a webhook may reach: only the public internet."""

from __future__ import annotations

import ipaddress

import pytest

from workflow.domain.addresses import address_reason, literal_address, parse_allowed_hosts


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("127.0.0.1", "private_address"),
        ("127.8.9.10", "private_address"),
        ("0.0.0.0", "private_address"),
        ("10.0.0.1", "private_address"),
        ("172.16.5.4", "private_address"),
        ("192.168.0.1", "private_address"),
        ("100.64.0.1", "private_address"),  # carrier-grade NAT
        ("169.254.10.10", "private_address"),
        ("224.0.0.1", "private_address"),
        ("::1", "private_address"),
        ("fc00::1", "private_address"),
        ("fe80::1", "private_address"),
        ("::ffff:10.0.0.1", "private_address"),
        ("169.254.169.254", "metadata_address"),
        ("fd00:ec2::254", "metadata_address"),
        ("100.100.100.200", "metadata_address"),
    ],
)
def test_internal_addresses_are_refused_with_a_reason(address: str, code: str) -> None:
    reason = address_reason(ipaddress.ip_address(address))
    assert reason is not None and reason.code == code


@pytest.mark.parametrize("address", ["93.184.216.34", "2a00:1450:4001::200e", "194.132.5.1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_reason(ipaddress.ip_address(address)) is None


def test_every_spelling_of_an_address_is_read_as_that_address() -> None:
    assert literal_address("127.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("[::ffff:169.254.169.254]") == ipaddress.ip_address("169.254.169.254")
    assert literal_address("0x7f000001") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("diarium.stockholm.se") is None


def test_allowed_hosts_are_read_loosely() -> None:
    assert parse_allowed_hosts(" Diarium.local., [::1] ,,") == {"diarium.local", "::1"}
