"""Imported payloads are graded by the lab's oracle where they land, not by a 403."""

from __future__ import annotations

from pathlib import Path

from rampart.attacks.corpus.verify import verify_cases
from rampart.attacks.importers.gotestwaf import import_gotestwaf
from rampart.attacks.importers.payloads import import_payload_list
from rampart.procs import spawn

DATA = Path(__file__).parent / "data"


async def test_the_oracle_grades_imported_payloads_at_the_sinks() -> None:
    gtw = {c.id: c for c in import_gotestwaf(DATA / "gotestwaf").cases}
    probes = import_payload_list(DATA / "lists" / "probes.txt", attack_class="path_traversal").cases
    works = [
        gtw["gtw-owasp-sql-injection-000-plain-urlparam"],  # UNION at L4: the canary leaks
        gtw["gtw-owasp-sql-injection-000-url-urlparam"],  # URL-encoded once, decoded by the app
        gtw["gtw-owasp-xss-scripting-000-plain-urlparam"],  # comes back as active HTML at L8
        probes[0],  # ../secret.txt at L7
    ]
    fails = [
        gtw["gtw-owasp-sql-injection-000-base64flat-urlparam"],  # Base64 reaches SQL as Base64
        gtw["gtw-owasp-sql-injection-001-base64flat-urlparam"],
    ]
    benign = [c for c in gtw.values() if c.label == "benign"]
    assert all(c.graded for c in works + fails)
    async with spawn(["lab", "--port", "0"]) as lab:
        outcomes = {o.case: o for o in await verify_cases(lab.url, works + fails + benign, concurrency=3)}
    assert [c.id for c in works if not outcomes[c.id].worked] == []
    assert [c.id for c in fails if outcomes[c.id].worked] == []
    assert [(c.id, outcomes[c.id].effects) for c in benign if outcomes[c.id].effects] == []
