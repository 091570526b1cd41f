"""`client_ip`: REMOTE_ADDR, or behind our own proxy the address it saw (X-Forwarded-For)."""

import pytest

from audit.services import client_ip


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_PROXY = True
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def test_direct_uses_remote_addr_and_ignores_the_header(rf, settings):
    settings.BEHIND_PROXY = False
    request = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(request) == "203.0.113.9"
    assert client_ip(None) is None


@pytest.mark.parametrize(
    ("forwarded", "count", "expected"),
    [
        ("198.51.100.7", 1, "198.51.100.7"),
        # A client may send its own header: our proxy appends the address it saw on the right.
        ("6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),
        ("6.6.6.6,198.51.100.7 ", 1, "198.51.100.7"),
        # Two proxies of ours (a CDN, then nginx): the client is two hops from the right.
        ("6.6.6.6, 198.51.100.7, 192.0.2.50", 2, "198.51.100.7"),
        ("2001:DB8::1", 1, "2001:db8::1"),
        # Not an address, missing, or fewer hops than proxies: the proxy's address, never junk.
        ("6.6.6.6, not-an-ip", 1, "127.0.0.1"),
        ("198.51.100.7:4711", 1, "127.0.0.1"),
        ("fe80::1%eth0", 1, "127.0.0.1"),
        ("", 1, "127.0.0.1"),
        ("198.51.100.7", 2, "127.0.0.1"),
    ],
)
def test_behind_proxy_takes_the_address_our_proxy_saw(rf, behind_proxy, forwarded, count, expected):
    behind_proxy.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_proxy_without_the_header_uses_remote_addr(rf, behind_proxy):
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
