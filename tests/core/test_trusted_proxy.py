"""The client's address comes from a configured trusted proxy only (issue 9 item 9). Without one,
X-Forwarded-For is ignored; from a trusted proxy, the right-most address that is not itself a
trusted proxy is the client; garbage in the header never becomes an address. Everything after
the middleware (the audit log, the access log, login throttling) reads REMOTE_ADDR alone."""

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from epigrid.core.middleware import CLIENT_ADDRESS_HEADERS, TrustedProxyMiddleware, client_address, trusted_networks
from epigrid.core.models import AccessEvent, AuditEvent
from tests.factories import api

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48"]


def _read_from(world, peer: str, forwarded: str | None = None, **headers) -> str:
    """Open a person file as member1 from `peer`; the address the access log recorded."""
    client = Client(REMOTE_ADDR=peer)  # builds its handler (and our middleware) from the settings now
    client.force_login(world.users["member1"])
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client.get(f"/people/{world.persons['p1'].pk}/", **headers).status_code == 200
    return AccessEvent.objects.latest("id").remote_addr


def test_without_trusted_proxies_a_forwarded_address_is_ignored(world):
    assert _read_from(world, "198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert _read_from(world, "198.51.100.7", "203.0.113.9", HTTP_X_REAL_IP="203.0.113.10") == "198.51.100.7"


def test_a_spoofed_forwarded_address_from_a_peer_that_is_not_a_proxy_is_ignored(world, settings):
    settings.TRUSTED_PROXIES = PROXIES
    assert _read_from(world, "198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert _read_from(world, "198.51.100.7", "10.0.0.1") == "198.51.100.7"


def test_from_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client(world, settings):
    settings.TRUSTED_PROXIES = PROXIES
    # The client claimed 6.6.6.6; the outer proxy (10.0.0.7) saw 203.0.113.9; the inner one is the peer.
    assert _read_from(world, "10.0.0.5", "6.6.6.6, 203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert _read_from(world, "10.0.0.5", "203.0.113.9") == "203.0.113.9"
    assert _read_from(world, "10.0.0.5", "2001:db8::5") == "2001:db8::5"
    assert _read_from(world, "10.0.0.5", "[2001:db8::6]:443, 203.0.113.9:5555") == "203.0.113.9"
    assert _read_from(world, "2001:db8:ffff::1", "203.0.113.8") == "203.0.113.8"
    assert _read_from(world, "::ffff:10.0.0.5", "203.0.113.7") == "203.0.113.7"
    # Only proxies in the header: the farthest one is the best known.
    assert _read_from(world, "10.0.0.5", "10.1.1.1, 10.0.0.7") == "10.1.1.1"
    assert _read_from(world, "10.0.0.5") == "10.0.0.5"


def test_garbage_in_the_header_is_ignored(world, settings):
    settings.TRUSTED_PROXIES = PROXIES
    for forwarded, expected in (
        ("<script>alert(1)</script>", "10.0.0.5"),
        ("203.0.113.9, not-an-address", "10.0.0.5"),  # what the proxy added is no address: trust none of it
        ("not-an-address, 203.0.113.9", "203.0.113.9"),
        ("999.1.1.1", "10.0.0.5"),
        (", ,,", "10.0.0.5"),
        ("203.0.113.9" + ", x" * 5000, "10.0.0.5"),
        ("unknown", "10.0.0.5"),
    ):
        assert _read_from(world, "10.0.0.5", forwarded) == expected, forwarded


def test_the_audit_log_records_the_client_behind_the_proxy(world, settings):
    settings.TRUSTED_PROXIES = PROXIES
    person = world.persons["p1"]
    call = api(world, "member1")
    response = call("post", f"/api/v1/persons/{person.pk}/reveal", {"field": "phone"})
    assert response.status_code == 200
    assert AuditEvent.objects.latest("id").remote_addr == "127.0.0.1"  # the test client's own address
    client = Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    client.force_login(world.users["member1"])
    assert client.post(f"/people/{person.pk}/reveal/phone/").status_code == 200
    assert AuditEvent.objects.latest("id").remote_addr == "203.0.113.9"


def test_address_headers_never_reach_the_views():
    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
        HTTP_X_REAL_IP="6.6.6.6",
        HTTP_FORWARDED="for=6.6.6.6",
    )
    seen = TrustedProxyMiddleware(lambda r: r.META)(request)
    assert seen["REMOTE_ADDR"] == "198.51.100.7"
    assert not [header for header in CLIENT_ADDRESS_HEADERS if header in seen]


def test_a_trusted_proxy_that_is_no_address_stops_the_start_up():
    with pytest.raises(ImproperlyConfigured):
        trusted_networks(["10.0.0.0/33"])
    with pytest.raises(ImproperlyConfigured):
        trusted_networks(["proxy.internal"])
    assert trusted_networks([" 10.0.0.1 ", "2001:db8::/32"]) == (
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )


_NETWORKS = trusted_networks(PROXIES)


@given(forwarded=st.text(max_size=200))
def test_whatever_the_header_says_the_answer_is_the_peer_or_an_address_it_named(forwarded):
    answer = client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": forwarded}, _NETWORKS)
    assert answer == "10.0.0.5" or ipaddress.ip_address(answer)
    assert client_address({"REMOTE_ADDR": "198.51.100.7", "HTTP_X_FORWARDED_FOR": forwarded}, _NETWORKS) == (
        "198.51.100.7"
    )
