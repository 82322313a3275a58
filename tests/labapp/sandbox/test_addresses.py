import ipaddress

import pytest

from rampart.labapp.sandbox.addresses import Place, classify, literal_address


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("169.254.169.254", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xA9FEA9FE", "169.254.169.254"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("::1", "::1"),
        ("[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe"),
        ("::ffff:a9fe:a9fe", "::ffff:a9fe:a9fe"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_literals_read_like_inet_aton(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["partner.lab.test", "1.2.3.4.5", "256.1.1.1", "", "0x", "12ab", "a:b:c"])
def test_names_are_not_literals(host):
    assert literal_address(host) is None


@pytest.mark.parametrize(
    ("address", "place"),
    [
        ("203.0.113.10", Place.PUBLIC),
        ("198.51.100.20", Place.PUBLIC),
        ("8.8.8.8", Place.PUBLIC),
        ("10.20.0.5", Place.PRIVATE),
        ("192.168.1.1", Place.PRIVATE),
        ("172.16.0.1", Place.PRIVATE),
        ("127.0.0.1", Place.LOOPBACK),
        ("::1", Place.LOOPBACK),
        ("0.0.0.0", Place.UNSPECIFIED),
        ("169.254.169.254", Place.METADATA),
        ("::ffff:169.254.169.254", Place.METADATA),
        ("100.100.100.200", Place.METADATA),
        ("169.254.1.1", Place.LINK_LOCAL),
        ("fe80::1", Place.LINK_LOCAL),
        ("fd00::1", Place.PRIVATE),
    ],
)
def test_classify(address, place):
    got = classify(ipaddress.ip_address(address))
    assert got is place
    assert got.internal is (place is not Place.PUBLIC)
