"""The shipped corpus: counts, determinism, ids, filters, stats, speed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from rampart.attacks.corpus import case_class, corpus_stats, load_base_payloads, load_benign, load_cases
from rampart.attacks.corpus.expand import fingerprint
from rampart.attacks.mutators import ENDPOINT_SPECS
from rampart.classes import ATTACK_CLASSES


@pytest.fixture(scope="module")
def cases():
    return load_cases()


def test_at_least_25_distinct_base_payloads_per_class() -> None:
    bases = load_base_payloads()
    per_class: dict[str, set[str]] = {}
    for b in bases:
        per_class.setdefault(b.attack_class, set()).add(repr(b.payload) + repr(b.fields) + b.param)
    assert set(per_class) == set(ATTACK_CLASSES)
    for cls, payloads in per_class.items():
        assert len(payloads) >= 25, cls


def test_counts(cases) -> None:
    stats = corpus_stats(cases)
    assert stats["attack"] >= 2000
    assert stats["benign"] >= 1000
    assert stats["hard_benign"] >= 250
    assert stats["base_payloads"] == len(load_base_payloads())
    assert stats["classes"] == list(ATTACK_CLASSES)


def test_every_endpoint_has_benign_traffic(cases) -> None:
    benign = Counter(c.endpoint for c in cases if c.label == "benign")
    assert set(benign) == set(ENDPOINT_SPECS)
    assert min(benign.values()) >= 40


def test_every_base_payload_keeps_its_unmutated_case(cases) -> None:
    ids = {c.id for c in cases}
    for base in load_base_payloads():
        assert base.id in ids


def test_ids_unique_and_requests_deduplicated(cases) -> None:
    assert len({c.id for c in cases}) == len(cases)
    attacks = [c for c in cases if c.label == "attack"]
    assert len({fingerprint(c.request) for c in attacks}) == len(attacks)


def test_expanded_ids_name_base_and_mutators(cases) -> None:
    for c in cases:
        if c.label == "attack":
            assert c.base_payload is not None
            assert c.id.startswith(c.base_payload)
            assert c.id.endswith("".join(f".{e}" for e in c.encodings))


def test_two_loads_are_equal_and_seed_changes_only_benign() -> None:
    a = [c.dump() for c in load_cases()]
    b = [c.dump() for c in load_cases()]
    assert a == b
    other = load_benign(seed=1)
    assert [c.dump() for c in other] != [c.dump() for c in load_benign(seed=0)]
    assert len(other) == len(load_benign(seed=0))


def test_load_is_deterministic_across_processes() -> None:
    """Another interpreter (another hash seed) builds byte-identical cases."""
    code = (
        "import hashlib, json; from rampart.attacks.corpus import load_cases; "
        "print(hashlib.sha256(json.dumps([c.dump() for c in load_cases()], sort_keys=True,"
        " default=str).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    here = json.dumps([c.dump() for c in load_cases()], sort_keys=True, default=str).encode()
    assert there.stdout.strip() == hashlib.sha256(here).hexdigest()


def test_filters(cases) -> None:
    only = load_cases(classes=["ssrf"])
    assert only
    assert {case_class(c) for c in only} == {"ssrf"}
    assert {c.label for c in only} == {"attack", "benign"}
    assert all(c.label == "benign" for c in load_cases(include_attacks=False))
    assert all(c.label == "attack" for c in load_cases(include_benign=False))
    with pytest.raises(ValueError, match="unknown class"):
        load_cases(classes=["csrf"])


def test_limit_per_class_is_a_stable_sample() -> None:
    a = load_cases(limit_per_class=5, seed=3)
    groups = Counter((c.label, case_class(c)) for c in a)
    assert max(groups.values()) == 5
    assert len(groups) == 2 * len(ATTACK_CLASSES)
    assert [c.id for c in a] == [c.id for c in load_cases(limit_per_class=5, seed=3)]
    assert [c.id for c in a] != [c.id for c in load_cases(limit_per_class=5, seed=4)]


def test_stats_match_the_results_json_block(cases) -> None:
    stats = corpus_stats(cases)
    for key in ("attack", "benign", "base_payloads", "classes"):
        assert key in stats
    assert sum(row["attack"] for row in stats["per_class"].values()) == stats["attack"]


def test_stored_xss_cases_carry_the_follow_up(cases) -> None:
    l9 = [c for c in cases if c.endpoint == "L9" and c.label == "attack"]
    assert l9
    assert all(c.follow_up is not None and c.follow_up.path == "/comments" for c in l9)


def test_breaking_evasions_are_labelled(cases) -> None:
    tagged = [c for c in cases if "evasion-may-break" in c.tags]
    assert tagged
    assert all(c.label == "attack" for c in tagged)
    assert any("double_url" in c.encodings for c in tagged)


def test_full_load_is_fast() -> None:
    """CPU time, so a busy machine does not fail it: ~0.4 s on the 2-core dev box."""
    code = (
        "import time; import rampart.attacks.corpus as ac; t = time.process_time(); ac.load_cases(); "
        "print(time.process_time() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) < 1.0


def test_reflected_markers_are_tagged(cases) -> None:
    """XSS markers are the input itself; the tag tells the harness reflection is the point."""
    tagged = [c for c in cases if "reflected-marker" in c.tags]
    assert {c.attack_class for c in tagged} == {"xss"}
    xss_markers = [c for c in cases if c.attack_class == "xss" and c.expect and c.expect.marker]
    untagged = {c.base_payload for c in xss_markers if c not in tagged}
    assert untagged == {"xss.l8.escaped-text"}  # pre-escaped text: the marker is not in the input


def test_every_declared_chain_is_used(cases) -> None:
    from rampart.attacks.corpus.expand import CHAINS

    used = {tuple(c.encodings) for c in cases if len(c.encodings) > 1}
    for chain in CHAINS:
        assert any(set(u) == set(chain) for u in used), chain
