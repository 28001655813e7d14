from __future__ import annotations

from types import SimpleNamespace

import pytest

from jingan.lib.net import client_ip

PROXIES = ("10.0.0.0/8", "127.0.0.1")


def _request(remote: str, forwarded: str | None = None) -> SimpleNamespace:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return SimpleNamespace(META=meta)


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # No trusted proxy in front: the header is the client's own claim and ignored.
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),
        # Through our proxy: the hop it appended is the client.
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        # A forged left part cannot choose the address.
        ("10.0.0.2", "1.2.3.4, 198.51.100.7", "198.51.100.7"),
        # Two of our proxies in a row are skipped.
        ("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.5", "198.51.100.7"),
        # Garbage where our proxy would have written an address: stop at our proxy.
        ("10.0.0.2", "198.51.100.7, not-an-ip", "10.0.0.2"),
        # Only our proxies (a health check from inside): the farthest of them.
        ("127.0.0.1", "10.0.0.7", "10.0.0.7"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.2", "198.51.100.7:51234", "198.51.100.7"),
        ("::ffff:203.0.113.9", None, "203.0.113.9"),
        ("", "198.51.100.7", ""),
    ],
)
def test_client_ip_believes_only_trusted_proxies(remote, forwarded, expected):
    assert client_ip(_request(remote, forwarded), PROXIES) == expected


def test_without_configured_proxies_the_peer_is_the_client(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(_request("10.0.0.2", "198.51.100.7")) == "10.0.0.2"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_ip(_request("10.0.0.2", "198.51.100.7")) == "198.51.100.7"


def test_trusted_proxies_come_from_the_environment():
    from jingan.config.environment import ConfigurationError, load_environment

    env = load_environment({"JINGAN_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
    assert env.trusted_proxy_list() == ["10.0.0.0/8", "127.0.0.1"]
    with pytest.raises(ConfigurationError, match="JINGAN_TRUSTED_PROXIES: 'nginx' is not an IP"):
        load_environment({"JINGAN_TRUSTED_PROXIES": "nginx"})
