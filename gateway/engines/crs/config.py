"""Which OWASP CRS files the ``crs`` engine loads, in which order, and the SecLanguage it adds.

Pure functions of :class:`~rampart.gateway.model.EngineSettings`: nothing here touches libmodsecurity,
so the load plan is testable on its own and printable (``python -m rampart.gateway.engines.crs.config``).

Load order (the order ``owasp-crs.load`` uses, minus what a request-only inspector can skip):

1. :func:`engine_directives` - engine switches (``SecRuleEngine DetectionOnly``: CRS scores,
   rampart decides), body access and limits, and the JSON/XML body-processor rules that
   ModSecurity's recommended configuration carries (CRS itself does not ship them), and one
   lab exclusion: rule 920350 ("Host header is a numeric IP address") is removed when the Host
   is the loopback address, as every lab request addresses ``127.0.0.1:PORT``;
2. ``crs-setup.conf`` (or ``crs-setup.conf.example`` of a CRS checkout);
3. :func:`tuning_directives` - paranoia level and inbound threshold as ``setvar`` actions,
   loaded after the setup file so they win over whatever it sets;
4. ``REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`` beside the setup file, when present, then
   the user's SecLang exclusion files (``engine.exclusions`` entries ending ``.conf``);
5. ``rules/REQUEST-*.conf`` in name order, without ``REQUEST-910-IP-REPUTATION.conf`` (needs
   GeoIP data); ``RESPONSE-*.conf`` are left out entirely, since only requests are inspected;
6. :func:`report_directives` - one pass-through rule at the end of phase 2 that logs the total
   inbound anomaly score CRS computed, so the engine reads CRS's own figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rampart.gateway.model import EngineSettings

__all__ = [
    "ARGUMENTS_CAP",
    "ARGUMENTS_LIMIT",
    "BODY_ERROR_RULE_ID",
    "BODY_ERROR_SCORE",
    "DEFAULT_CRS_DIR",
    "DEFAULT_CRS_SETUP",
    "LOCAL_RULE_IDS",
    "REPORT_RULE_ID",
    "SKIPPED_RULE_FILES",
    "CrsLayout",
    "CrsLayoutError",
    "engine_directives",
    "report_directives",
    "resolve_layout",
    "seclang_exclusion_files",
    "tuning_directives",
]

DEFAULT_CRS_DIR = "/usr/share/modsecurity-crs"
# CRS's max_num_args default: more arguments than this is a critical anomaly (rule 920380).
ARGUMENTS_LIMIT = 255
# libmodsecurity stops collecting arguments past this (SecArgumentsLimit), which bounds the
# cost of a request with thousands of fields. It must stay above ARGUMENTS_LIMIT: arguments
# past the cap are never inspected, so a request must already be flagged when it reaches it.
ARGUMENTS_CAP = 1000
DEFAULT_CRS_SETUP = "/etc/modsecurity/crs/crs-setup.conf"
SKIPPED_RULE_FILES: frozenset[str] = frozenset({"REQUEST-910-IP-REPUTATION.conf"})

BODY_PROCESSOR_RULE_ID = 77001
LOOPBACK_HOST_RULE_ID = 77003
BODY_ERROR_RULE_ID = 77010
BODY_ERROR_SCORE = 5
MULTIPART_ERROR_RULE_ID = 77011
TUNING_RULE_ID = 77020
REPORT_RULE_ID = 77099
LOCAL_RULE_IDS: frozenset[int] = frozenset(
    {
        BODY_PROCESSOR_RULE_ID,
        77002,
        LOOPBACK_HOST_RULE_ID,
        BODY_ERROR_RULE_ID,
        MULTIPART_ERROR_RULE_ID,
        TUNING_RULE_ID,
        REPORT_RULE_ID,
    }
)
REPORT_MESSAGE = "rampart: inbound anomaly total"


class CrsLayoutError(ValueError):
    """The CRS folder or setup file is missing or incomplete; the message says which and how to fix."""


@dataclass(frozen=True, slots=True)
class CrsLayout:
    """The files one engine loads, resolved and checked."""

    crs_dir: Path
    setup: Path
    before_exclusions: Path | None
    rule_files: tuple[Path, ...]
    exclusion_files: tuple[Path, ...] = ()  # the user's SecLang exclusions, loaded after before_exclusions

    def before_rules(self) -> tuple[Path, ...]:
        """Files loaded between the tuning directives and the rule files, in order."""
        before = (self.before_exclusions,) if self.before_exclusions is not None else ()
        return before + self.exclusion_files


def _find_setup(crs_dir: Path, explicit: str | None) -> Path:
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise CrsLayoutError(f"crs_setup {path} does not exist; point crs_setup at a crs-setup.conf")
        return path
    candidates = [
        crs_dir / "crs-setup.conf",
        crs_dir / "crs-setup.conf.example",
        Path(DEFAULT_CRS_SETUP),
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise CrsLayoutError(f"no crs-setup.conf found (tried {tried}); set crs_setup or install modsecurity-crs")


def resolve_layout(settings: EngineSettings) -> CrsLayout:
    """Find the setup file and the request rule files for ``settings``."""
    crs_dir = Path(settings.crs_dir or DEFAULT_CRS_DIR)
    rules = crs_dir / "rules"
    if not rules.is_dir():
        raise CrsLayoutError(
            f"{rules} is not a folder; set crs_dir to a CRS checkout (apt-get install modsecurity-crs)"
        )
    rule_files = tuple(p for p in sorted(rules.glob("REQUEST-*.conf")) if p.name not in SKIPPED_RULE_FILES)
    if not rule_files:
        raise CrsLayoutError(f"{rules} holds no REQUEST-*.conf rule files; is crs_dir a CRS checkout?")
    setup = _find_setup(crs_dir, settings.crs_setup)
    before = setup.parent / "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
    before_exclusions = before if before.is_file() else None
    return CrsLayout(crs_dir, setup, before_exclusions, rule_files, seclang_exclusion_files(settings))


def seclang_exclusion_files(settings: EngineSettings) -> tuple[Path, ...]:
    """The SecLang (``*.conf``) files among the settings' exclusion files; each must exist.
    They load where CRS's ``REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf`` does: runtime
    exclusions (``ctl:ruleRemoveById``...) then run before the rules they tune, and
    ``SecRuleRemoveById``/``SecRuleUpdateTargetById`` apply to rules loaded later too."""
    named = ((settings.exclusions_file,) if settings.exclusions_file else ()) + tuple(settings.exclusions)
    files = tuple(Path(p) for p in dict.fromkeys(named) if Path(p).suffix.lower() == ".conf")
    for path in files:
        if not path.is_file():
            raise CrsLayoutError(
                f"{path}: SecLang exclusions file not found; fix the path in engine.exclusions"
            )
    return files


def engine_directives(settings: EngineSettings) -> str:
    """Engine switches and body processors (what ``modsecurity.conf-recommended`` provides)."""
    limit = max(int(settings.body_limit), 1)
    return f"""
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecResponseBodyAccess Off
SecRequestBodyLimit {limit}
SecRequestBodyNoFilesLimit {limit}
SecRequestBodyLimitAction ProcessPartial
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecArgumentSeparator &
SecArgumentsLimit {ARGUMENTS_CAP}
SecAuditEngine Off
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/(?:[a-z0-9.-]+\\+)?json" \\
    "id:{BODY_PROCESSOR_RULE_ID},phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\\+|/)|text/)xml" \\
    "id:77002,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Host "@rx ^(?:127\\.0\\.0\\.1|\\[::1\\])(?::[0-9]+)?$" \\
    "id:{LOOPBACK_HOST_RULE_ID},phase:1,t:none,pass,nolog,ctl:ruleRemoveById=920350"
SecRule REQBODY_ERROR "!@eq 0" \\
    "id:{BODY_ERROR_RULE_ID},phase:2,t:none,pass,log,severity:'CRITICAL',\\
    msg:'Failed to parse request body',logdata:'%{{reqbody_error_msg}}',\\
    tag:'attack-protocol',tag:'paranoia-level/1',\\
    setvar:'tx.anomaly_score_pl1=+{BODY_ERROR_SCORE}',setvar:'tx.inbound_anomaly_score_pl1=+{BODY_ERROR_SCORE}'"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \\
    "id:{MULTIPART_ERROR_RULE_ID},phase:2,t:none,pass,log,severity:'CRITICAL',\\
    msg:'Multipart request body failed strict validation',\\
    tag:'attack-protocol',tag:'paranoia-level/1',\\
    setvar:'tx.anomaly_score_pl1=+5',setvar:'tx.inbound_anomaly_score_pl1=+5'"
"""


def tuning_directives(settings: EngineSettings) -> str:
    """Paranoia level and inbound threshold (CRS 3 and CRS 4 variable names), and CRS's
    argument-count check (920380) at :data:`ARGUMENTS_LIMIT`."""
    if not 1 <= settings.paranoia <= 4:
        raise CrsLayoutError(f"paranoia {settings.paranoia} is out of range; use 1, 2, 3 or 4")
    if settings.threshold < 1:
        raise CrsLayoutError(f"threshold {settings.threshold} must be at least 1")
    pl = int(settings.paranoia)
    return (
        f'SecAction "id:{TUNING_RULE_ID},phase:1,pass,nolog,t:none,'
        f"setvar:tx.paranoia_level={pl},setvar:tx.executing_paranoia_level={pl},"
        f"setvar:tx.blocking_paranoia_level={pl},setvar:tx.detection_paranoia_level={pl},"
        f"setvar:tx.inbound_anomaly_score_threshold={int(settings.threshold)},"
        f'setvar:tx.max_num_args={ARGUMENTS_LIMIT}"\n'
    )


def report_directives() -> str:
    """The last phase-2 rule: log CRS's inbound total (CRS 3: ``tx.anomaly_score``; CRS 4:
    ``tx.blocking_inbound_anomaly_score``) as ``v3|v4``."""
    return (
        f"SecAction \"id:{REPORT_RULE_ID},phase:2,pass,log,t:none,msg:'{REPORT_MESSAGE}',"
        "logdata:'%{tx.anomaly_score}|%{tx.blocking_inbound_anomaly_score}'\"\n"
    )


if __name__ == "__main__":
    layout = resolve_layout(EngineSettings())
    print(engine_directives(EngineSettings()))
    print(f"Include {layout.setup}")
    print(tuning_directives(EngineSettings()))
    for path in layout.before_rules():
        print(f"Include {path}")
    for path in layout.rule_files:
        print(f"Include {path}")
    print(report_directives())
