"""SSRF detector: metadata always, internal destinations when the user chose the host."""

from __future__ import annotations

import ipaddress

import pytest

from rampart.inprocess.detectors import get
from rampart.inprocess.detectors.ssrf import classify, detect, parse_ip
from tests.inprocess.detectors.helpers import inputs_of, noise

PUBLIC = "203.0.113.10"

ATTACKS: list[tuple[str, str | None]] = [
    ("http://127.0.0.1:8080/admin", None),
    ("http://localhost/admin", "127.0.0.1"),
    ("http://[::1]/", None),
    ("http://0.0.0.0:6379/", None),
    ("http://10.0.0.5/", None),
    ("http://172.16.3.4/", None),
    ("http://192.168.1.1/", None),
    ("http://100.64.0.1/", None),
    ("http://[fe80::1%25eth0]/", None),
    ("http://[fd12:3456::1]/", None),
    ("http://[::ffff:127.0.0.1]/", None),
    ("http://[::ffff:7f00:1]/", None),
    ("http://[::127.0.0.1]/", None),
    ("http://[2002:7f00:1::]/", None),
    ("http://[64:ff9b::a00:1]/", None),
    ("http://2130706433/", None),  # decimal
    ("http://0x7f000001/", None),  # hex
    ("http://0177.0.0.1/", None),  # octal
    ("http://127.1/", None),  # short form
    ("http://0x7f.1/", None),
    ("http://017700000001/", None),
    ("http://internal-api.lab.test/secrets", "10.20.0.7"),  # name resolving to a private address
    ("http://rebind.example.test/", "127.0.0.1"),  # DNS rebinding: public-looking name, loopback address
    ("file:///etc/passwd", None),
    ("gopher://127.0.0.1:6379/_INFO", None),
    ("dict://localhost:11211/stats", None),
    ("ftp://files.example.test/x", None),
    ("http://admin.localhost/", None),
    ("http://partner.lab.test\\@127.0.0.1/", None),  # urllib/yarl: host 127.0.0.1
]


@pytest.mark.parametrize(("url", "resolved"), ATTACKS)
def test_user_chosen_internal_destinations(url: str, resolved: str | None) -> None:
    found = detect(url, [*noise(), *inputs_of(query_url=url)], resolved_ip=resolved)
    assert found is not None
    assert found.attack_class == "ssrf"
    assert found.source == "query.url"


METADATA = [
    ("http://169.254.169.254/latest/meta-data/", None),
    ("http://metadata.lab.test/latest/meta-data/", "169.254.169.254"),
    ("http://[fd00:ec2::254]/latest/", None),
    ("http://100.100.100.200/latest/meta-data/", None),
    ("http://metadata.google.internal/computeMetadata/v1/", None),
    ("http://[::ffff:169.254.169.254]/", None),
    ("http://0xa9fea9fe/", None),
    ("http:/\\/169.254.169.254/latest/", None),
    ("http:\\\\169.254.169.254\\latest", None),
    ("HTTP://169.254.169.254/", None),
    ("http://2852039166/", None),
]


@pytest.mark.parametrize(("url", "resolved"), METADATA)
def test_metadata_is_flagged_even_without_inputs(url: str, resolved: str | None) -> None:
    found = detect(url, [], resolved_ip=resolved)
    assert found is not None
    assert "metadata" in found.reason
    assert found.source is None


def test_metadata_attribution_when_user_sent_it() -> None:
    url = "http://169.254.169.254/latest/"
    found = detect(url, inputs_of(query_url=url))
    assert found is not None
    assert found.source == "query.url"


def test_redirect_hop_to_internal_host_named_in_input() -> None:
    first = "http://partner.lab.test/redirect?to=http://127.0.0.1:9000/admin"
    inputs = inputs_of(query_url=first)
    assert detect(first, inputs, resolved_ip=PUBLIC) is None
    assert detect("http://127.0.0.1:9000/admin", inputs, resolved_ip="127.0.0.1") is not None


def test_redirect_hop_with_percent_encoded_target() -> None:
    first = "http://partner.lab.test/redirect?to=http%3A%2F%2Finternal-api.lab.test%2Fsecrets"
    inputs = inputs_of(query_url=first)
    assert detect("http://internal-api.lab.test/secrets", inputs, resolved_ip="10.20.0.7") is not None


BENIGN: list[tuple[str, str | None]] = [
    ("http://partner.lab.test/page", PUBLIC),
    ("https://partner.lab.test/redirect?to=/page", PUBLIC),
    ("http://203.0.113.10/", None),
    ("http://8.8.8.8/", None),
    ("http://[2001:db8::1]/", None),
    ("https://example.test:8443/x?y=127.0.0.1", "198.51.100.4"),
    ("http://1.2.3.4.nip.example.test/", "203.0.113.99"),
    ("https://docs.partner.lab.test/a/b", PUBLIC),
    ("http://partner.lab.test/api?host=localhost", PUBLIC),
    ("http://[::ffff:203.0.113.10]/", None),
    ("https://cdn.example.test/x.png", "192.0.2.1"),
]


@pytest.mark.parametrize(("url", "resolved"), BENIGN)
def test_user_supplied_public_urls_pass(url: str, resolved: str | None) -> None:
    assert detect(url, inputs_of(query_url=url), resolved_ip=resolved) is None


def test_app_chosen_internal_destination_passes() -> None:
    url = "http://internal-api.lab.test/health"
    assert detect(url, inputs_of(query_url="http://partner.lab.test/page"), resolved_ip="10.20.0.7") is None
    assert detect("http://127.0.0.1:6379/", [*noise()]) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.test", None),
        ("1.2.3.4.5", None),
        ("0x", None),
    ],
)
def test_parse_ip(host: str, expected: str | None) -> None:
    got = parse_ip(host)
    # compare addresses, not text: Python 3.13 prints IPv4-mapped IPv6 as ::ffff:127.0.0.1
    assert got == (ipaddress.ip_address(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("169.254.169.254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("127.0.0.1", "internal"),
        ("::", "internal"),
        ("2002:a00:1::", "internal"),
        ("203.0.113.10", None),
        ("2001:db8::1", None),
    ],
)
def test_classify(ip: str, kind: str | None) -> None:
    assert classify(ipaddress.ip_address(ip)) == kind


def test_registered() -> None:
    assert get("ssrf") is detect


@pytest.mark.parametrize(
    ("user_url", "connected", "flags"),
    [
        ("http://110.0.0.15/", "http://10.0.0.1/", False),
        ("http://my-localhost.example.test/", "http://localhost/", False),
        ("http://localhost.attacker.test/", "http://localhost/", False),
        ("see http://10.0.0.1/x", "http://10.0.0.1/", True),
        ("HTTP://LOCALHOST:8080/", "http://localhost:8080/", True),
    ],
)
def test_host_must_be_named_whole(user_url: str, connected: str, flags: bool) -> None:
    assert (detect(connected, inputs_of(query_url=user_url)) is not None) is flags


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("LocalHost", "localhost"),
        ("localhost.", "localhost"),
        ("%6c%6f%63%61%6c%68%6f%73%74", "localhost"),
        ("ⓛocalhost", "localhost"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1"),
        ("xn--bcher-kva.example", "bücher.example"),
        ("Partner.Lab.Test", "partner.lab.test"),
    ],
)
def test_canonical_host(host: str, expected: str) -> None:
    from rampart.inprocess.detectors.ssrf import canonical_host

    assert canonical_host(host) == expected


@pytest.mark.parametrize(
    ("given", "requested"),
    [
        ("http://ⓛocalhost:8080/admin", "http://localhost:8080/"),  # NFKC: the client folds it
        ("http://%6c%6f%63%61%6c%68%6f%73%74:8080/", "http://localhost:8080/"),
        ("http://0x7f000001:8080/", "http://127.0.0.1:8080/"),  # a client that normalises numbers
        ("http://[::ffff:7f00:1]:8080/", "http://127.0.0.1:8080/"),
        ("http://LOCALHOST./", "http://localhost/"),
    ],
)
def test_any_spelling_in_the_input_names_the_requested_host(given: str, requested: str) -> None:
    found = detect(requested, inputs_of(query_url=given), resolved_ip="127.0.0.1")
    assert found is not None
    assert found.source == "query.url"


def test_bare_numbers_are_not_hosts_unless_literal() -> None:
    # a price or page number that happens to denote 127.0.0.1 in inet_aton notation
    assert detect("http://127.0.0.1:5432/", inputs_of(query_price="127.1"), resolved_ip="127.0.0.1") is None


def test_redirect_hop_from_a_user_chosen_origin_is_refused() -> None:
    origin = "http://partner.lab.test/bounce"
    inputs = inputs_of(query_url=origin)
    hop = "http://localhost:9000/"
    found = detect(hop, inputs, resolved_ip="127.0.0.1", origin=origin)
    assert found is not None
    assert "redirect" in found.reason
    assert detect(hop, inputs, resolved_ip="203.0.113.7", origin=origin) is None  # public hop
    assert detect(hop, inputs_of(query_q="shoes"), resolved_ip="127.0.0.1", origin=origin) is None
    # the first hop itself (same host as the origin) is judged by the ordinary rules
    assert detect(origin, inputs, resolved_ip=PUBLIC, origin=origin) is None


def test_allow_hosts() -> None:
    url = "http://partner.lab.test:8080/ok"
    inputs = inputs_of(query_url=url)
    assert detect(url, inputs, resolved_ip="127.0.0.1") is not None
    assert detect(url, inputs, resolved_ip="127.0.0.1", allow_hosts=["partner.lab.test"]) is None
    assert detect(url, inputs, resolved_ip="127.0.0.1", allow_hosts=["*.lab.test"]) is None
    assert detect(url, inputs, resolved_ip="127.0.0.1", allow_hosts=["127.0.0.0/8"]) is None
    assert detect(url, inputs, resolved_ip="127.0.0.1", allow_hosts=["other.lab.test"]) is not None


def test_bad_allow_list_entry_is_named() -> None:
    from rampart.inprocess.detectors.ssrf import allowed

    with pytest.raises(ValueError, match="'http://x/'"):
        allowed(("http://x/",))


def test_bad_allow_list_in_settings_is_a_config_error() -> None:
    from rampart.inprocess.config import load_settings
    from rampart.inprocess.errors import GuardConfigError

    with pytest.raises(GuardConfigError, match="allow_hosts"):
        load_settings(detectors={"ssrf": {"options": {"allow_hosts": ["http://x/"]}}})
    with pytest.raises(GuardConfigError, match="list of host names"):
        load_settings(detectors={"ssrf": {"options": {"allow_hosts": "partner.lab.test"}}})
