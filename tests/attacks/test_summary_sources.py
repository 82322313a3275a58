"""Figures per corpus source, and imported attacks no sink can judge counted apart."""

from __future__ import annotations

from rampart.attacks.replay.configs import CONFIGS
from rampart.attacks.replay.records import Record
from rampart.attacks.report.figures import headline, source_blocks
from rampart.attacks.report.markdown import render_markdown
from rampart.attacks.summary import summarize
from tests.attacks.replay.factory import record, synthetic


def _sourced() -> list[Record]:
    own = synthetic()
    suite = [
        record("gtw-1", crs="detect", worked=True).model_copy(update={"source": "gotestwaf:owasp"}),
        record("gtw-2", native="detect").model_copy(update={"source": "gotestwaf:owasp"}),
        record("gtw-3", cls=None, crs="detect").model_copy(
            update={"source": "gotestwaf:owasp", "graded": False}
        ),
        record("gtw-4", cls=None).model_copy(update={"source": "gotestwaf:owasp", "graded": False}),
        record("gtw-b1", label="benign", crs="detect").model_copy(update={"source": "gotestwaf:false-pos"}),
    ]
    return own + suite


def test_sources_partition_every_figure() -> None:
    records = _sourced()
    results = summarize(records, layers=["native", "crs", "rasp"])
    sources = results["sources"]
    assert list(sources) == ["rampart", "gotestwaf:false-pos", "gotestwaf:owasp"]
    for name in CONFIGS:
        whole = results["configs"][name]
        parts = [s["configs"][name] for s in sources.values()]
        for key in ("attacks", "working_exploits", "benign"):
            for field in whole[key]:
                assert whole[key][field] == sum(p[key][field] for p in parts), (name, key, field)
    owasp = sources["gotestwaf:owasp"]
    assert owasp["corpus"]["attack"] == 4
    assert owasp["corpus"]["flag_only"] == 2
    crs = owasp["configs"]["crs"]
    assert crs["attacks"] == {"caught": 1, "total": 2}
    assert crs["working_exploits"]["caught"] == 1
    assert crs["flag_only"] == {
        "flagged": 1,
        "total": 2,
        "per_class": {"unclassified": {"flagged": 1, "total": 2}},
    }
    assert sources["gotestwaf:false-pos"]["configs"]["crs"]["benign"] == {"flagged": 1, "total": 1}
    # flag-only attacks never enter the graded figures of the whole run either
    assert results["configs"]["crs"]["flag_only"]["total"] == 2
    graded = [r for r in records if r.pass_name == "detect" and r.label == "attack" and r.graded]
    assert results["configs"]["crs"]["attacks"]["total"] == len(graded)


def test_report_shows_sources_and_cost() -> None:
    records = _sourced()
    load = {
        "none": {"rps": 1000.0, "p50_ms": 2.0, "p95_ms": 4.0, "p99_ms": 6.0, "failure_ratio": 0.0},
        "crs": {"rps": 250.0, "p50_ms": 6.0, "p95_ms": 10.0, "p99_ms": 20.0, "failure_ratio": 0.0},
    }
    results = summarize(records, layers=["native", "crs", "rasp"], load=load)
    crs = next(h for h in headline(results) if h.config == "crs")
    assert crs.rps_ratio == 0.25
    assert crs.p95_ratio == 2.5
    blocks = source_blocks(results)
    assert [b.source for b in blocks] == ["rampart", "gotestwaf:false-pos", "gotestwaf:owasp"]
    assert [b.independent for b in blocks] == [False, True, True]
    md = render_markdown(results, records)
    assert "## Per corpus source" in md
    assert "| gotestwaf:owasp | crs | 50.0% (1/2) |" in md
    assert "0.25x" in md
    assert "2.50x" in md
    assert md.index("## Latency and throughput") < md.index("## Detection per class")
