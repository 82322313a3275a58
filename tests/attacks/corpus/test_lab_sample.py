"""Keep the corpus honest: a small sample of base payloads really works against the lab."""

from __future__ import annotations

import importlib.util

import pytest

from rampart.attacks.corpus import load_cases
from rampart.attacks.corpus.verify import verify_cases
from rampart.procs import spawn

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("rampart.labapp.cli") is None, reason="labapp not built"
)

SAMPLE = {
    "nosql_injection": ["nosql.l1.ne-null", "nosql.l1.regex-prefix", "nosql.l2.ne"],
    "sql_injection": ["sql.l3.union-basic", "sql.l3.union-typed", "sql.l4.union-basic"],
    "command_injection": ["cmd.l5.semicolon-echo", "cmd.l5.dollar-subst", "cmd.l5.cat-canary"],
    "ssrf": ["ssrf.l6.metadata-decimal", "ssrf.l6.metadata-mapped-v6", "ssrf.l6.redirect-metadata"],
    "path_traversal": ["path.l7.dotdot", "path.l7.subdir-up", "path.l7.round-trip"],
    "xss": ["xss.l8.svg-onload", "xss.l8.attr-break", "xss.l9.img-onerror"],
    "prompt_injection": ["prompt.l10.ignore-print", "prompt.l10.base64-inline", "prompt.l10.german"],
    "ssti": ["ssti.l11.concat", "ssti.l11.cycler-builtins", "ssti.l11.filter-block"],
    "code_injection": ["code.l12.concat", "code.l12.fstring", "code.l12.chr"],
    "deserialization": ["deser.l13.apply-add", "deser.l13.verbatim-tag", "deser.l13.codecs-rot13"],
}
# labelled attacks that do not work here (wrong database, wrong engine): the check is not vacuous
KNOWN_MISSES = ["sql.l3.mysql-hash", "ssti.l11.erb", "path.l7.too-deep"]
EVASIONS = [
    "sql.l3.union-basic.sql_comment.sql_case",
    "nosql.l1.ne-null.json_unicode_escape",
    "cmd.l5.semicolon-echo.cmd_ifs.url",
    "xss.l9.img-onerror.html_case",
]


async def test_sample_produces_its_expected_effect() -> None:
    by_id = {c.id: c for c in load_cases()}
    wanted = [i for ids in SAMPLE.values() for i in ids] + EVASIONS + KNOWN_MISSES
    benign = []
    for endpoint in [f"L{n}" for n in range(1, 14)]:
        benign.append(
            next(c for c in by_id.values() if c.label == "benign" and c.endpoint == endpoint and not c.hard)
        )
    async with spawn(["lab", "--port", "0"]) as lab:
        outcomes = await verify_cases(lab.url, [by_id[i] for i in wanted] + benign, concurrency=3)
    result = {o.case: o for o in outcomes}
    failed = [
        f"{i}: effects={list(result[i].effects)} marker={result[i].marker_seen} {result[i].detail[:100]}"
        for i in wanted[: -len(KNOWN_MISSES)]
        if not result[i].worked
    ]
    assert failed == []
    assert [i for i in KNOWN_MISSES if result[i].worked] == []
    noisy = [
        (c.id, result[c.id].effects, result[c.id].status)
        for c in benign
        if result[c.id].effects or (result[c.id].status or 500) >= 500
    ]
    assert noisy == []
