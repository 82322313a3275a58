"""The ``native`` engine: OWASP CRS on the SecLang executor, with rampart's YAML rules beside it.

Two rule sets inspect every request and give one :class:`~rampart.gateway.model.Verdict`:

* ``crs``: OWASP CRS, unchanged, on :class:`~rampart.gateway.engines.native.seclang.engine.SecLangEngine`
  (Debian's ``/usr/share/modsecurity-crs`` by default, ``EngineSettings.crs_dir`` otherwise);
* ``rampart``: the YAML rules of :class:`~rampart.gateway.engines.native.engine.NativeEngine`, which cover
  what CRS lacks (MongoDB operators, template syntax, prompt injection, code and
  deserialisation payloads, SSRF by address class).

Both are built from the same settings, so paranoia level, threshold and body limit apply to
both. **Scoring: each rule set against the threshold on its own**; the verdict's score is the
larger of the two, so the request is flagged exactly when either rule set flags it. The two
scores are not added: CRS counts a rule once per matching variable and weighs its protocol
warnings to add up *within CRS* (docs/CRS.md "The native engine"), the YAML rules count each rule
once; a sum would block requests that neither rule set, tuned on its own, would block.
Every match carries its rule set in ``RuleMatch.ruleset`` (``crs`` or ``rampart``). The YAML
rules run first; when they already reach the threshold the request is decided and CRS is not
run (its matches are then not listed; ``exhaustive=True`` runs it anyway).

**Tokenizer confirmation** (``EngineSettings.confirm``, any of ``sqli``, ``xss``, ``rce``,
``path``, ``php``, ``attr``): a match of a confirmed CRS family only counts when rampart's own
reading of the input it matched agrees that it is an attack rather than data: the SQL lexer for
SQL (942: ``detect_sqli``, the input leaves a literal and builds SQL), the HTML tag scanner for
XSS (941: ``detect_xss``, markup that runs script), the ``sh`` lexer of the sink guard for
remote command execution (932: the input, read bare, in single or in double quotes, holds a
shell operator or expansion; for CRS's Windows and PowerShell rules a backquote is not one,
since neither ``cmd``, outside ``FOR /F "usebackq"``, nor PowerShell substitutes it), the path
reader of :mod:`~rampart.gateway.engines.native.traversal` for path traversal (930100 and
930110: some decoding of the input climbs above its start or lands in a system location) and an
arithmetic check for PHP injection (933: a match on a value that is only numbers and arithmetic,
such as ``(1 + 2) * (3 + 4)``, calls no function) and, for libinjection's XSS (941100), the
attribute reader of :mod:`~rampart.gateway.engines.native.attributes` (the input holds markup,
or adds an attribute that runs script to the tag it is written into). An unconfirmed match stays
in the verdict with score 0 and the tag ``unconfirmed``; its points are taken off CRS's total,
once for every place of the request where the rule may have matched
(:meth:`CombinedEngine.confirmed`).

``inspect`` never raises. When one rule set fails, the other's verdict still decides and the
failure is listed as a match ``<ruleset>.error`` with score 0 (counted in ``failures``); when
both fail, the verdict fails open with ``error`` set.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import rampart.gateway.engines.native as native_package
from rampart.gateway.engines.native.attributes import runs_script
from rampart.gateway.engines.native.engine import NativeEngine
from rampart.gateway.engines.native.operators.detect_sqli import SqliDetector, find_sqli
from rampart.gateway.engines.native.operators.detect_xss import XssDetector, find_xss
from rampart.gateway.engines.native.operators.rx import Regex
from rampart.gateway.engines.native.parsing import ParseLimits, Target, parse_request
from rampart.gateway.engines.native.seclang.engine import SecLangEngine
from rampart.gateway.engines.native.transforms import transform_for_scan
from rampart.gateway.engines.native.traversal import escapes
from rampart.gateway.model import EngineSettings, RawRequest, RuleMatch, Verdict
from rampart.inprocess.detectors.code import is_arithmetic
from rampart.inprocess.detectors.shell import Role, roles

__all__ = [
    "CONFIRMABLE",
    "NATIVE_SETUP",
    "UNCONFIRMED_TAG",
    "CombinedEngine",
    "RulesEngine",
    "UnknownConfirmError",
    "confirms",
    "crs_settings",
    "looks_like_code",
    "places_of",
    "values_at",
]

log = logging.getLogger(__name__)

CRS = "crs"
RAMPART = "rampart"
UNCONFIRMED_TAG = "unconfirmed"

# confirm name -> the CRS rules it applies to: a family (the first three digits of the id) or
# single rules (a whole id)
CONFIRMABLE: dict[str, tuple[str, ...]] = {
    "sqli": ("942",),
    "xss": ("941",),
    "rce": ("932",),
    "path": ("930100", "930110"),  # the traversal rules; 930120/930130 (file names) stay as CRS says
    "php": ("933",),
    "attr": ("941100",),  # libinjection's XSS; before "xss" (941) when both are on
}
# CRS's Windows command (cmd) and PowerShell rules, 3.3.4 and 4.x: a backquote is no expansion there
_WINDOWS_RULES = frozenset({"932110", "932115", "932120", "932125", "932140", "932370", "932371", "932380"})

_TEXT_CHAIN = ("url_decode", "html_entity_decode", "unicode_normalise", "lowercase", "remove_nulls")
_SHELL_CHAIN = ("url_decode", "unicode_normalise")
_SHELL_CONTEXTS = ("x ", "x '", 'x "')  # the input as a bare word, in single and in double quotes
_SHELL_CODE = frozenset({Role.OPERATOR, Role.EXPANSION})
_MAX_CONFIRM_VALUES = 64  # more candidate values than this: the match counts unexamined
_CONFIRM_VALUE_LIMIT = 64 * 1024  # characters of one value the tokenizers read


# beside this package's __init__ (this module's own __file__ is elsewhere when it is compiled)
NATIVE_SETUP = Path(native_package.__file__ or ".").with_name("crs-setup-native.conf")
_DEBIAN_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")
_DEBIAN_BEFORE = _DEBIAN_SETUP.with_name("REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf")


def crs_settings(settings: EngineSettings) -> EngineSettings:
    """The settings CRS runs with inside the native engine: as given, except that with no CRS
    folder and no setup file named (Debian's layout) the setup is :data:`NATIVE_SETUP`, which
    includes Debian's setup and exclusions and adds the YAML media types to CRS's allowed
    request content types (rule 77030)."""
    if (
        settings.crs_dir is None
        and settings.crs_setup is None
        and _DEBIAN_SETUP.is_file()
        and _DEBIAN_BEFORE.is_file()
    ):
        return replace(settings, crs_setup=str(NATIVE_SETUP))
    return settings


class UnknownConfirmError(ValueError):
    """``EngineSettings.confirm`` names a family the engine cannot confirm."""


def _gate(patterns: tuple[str, ...] | None) -> tuple[Regex, ...]:
    """A detector's pre-filter patterns as RE2 matchers: the YAML rules run a tokenizer only
    where one of them matches, and confirmation judges exactly as those rules do."""
    return tuple(Regex(p) for p in patterns or ())


_SQLI_GATE = _gate(SqliDetector().prefilter)
_XSS_GATE = _gate(XssDetector().prefilter)


def _sqli(value: str) -> bool:
    text = transform_for_scan(_TEXT_CHAIN, value)[0]
    return any(g.match(text) is not None for g in _SQLI_GATE) and find_sqli(text) is not None


def _xss(value: str) -> bool:
    text = transform_for_scan(_TEXT_CHAIN, value)[0]
    return any(g.match(text) is not None for g in _XSS_GATE) and find_xss(text) is not None


def _rce(value: str) -> bool:
    text = transform_for_scan(_SHELL_CHAIN, value)[0]
    for prefix in _SHELL_CONTEXTS:
        span = roles(prefix + text)[len(prefix) :]
        if any(role in _SHELL_CODE for role in span):
            return True
    return False


def _rce_windows(value: str) -> bool:
    # PowerShell reads a backquote as its escape character and cmd literally, except inside
    # FOR /F "usebackq" (...), where a backquoted string is a command run
    if "usebackq" in value.lower():
        return _rce(value)
    return _rce(value.replace("`", " "))


_ARITHMETIC_CHARS = re.compile(r"[0-9A-Fa-fxXoObBjJ_.\s+\-*/%()~^&|<>]*")


def _php(value: str) -> bool:
    text = value.strip()
    return not (_ARITHMETIC_CHARS.fullmatch(text) is not None and is_arithmetic(text))


_CHECKS: dict[str, Callable[[str], bool]] = {
    "sqli": _sqli,
    "xss": _xss,
    "rce": _rce,
    "rce-windows": _rce_windows,
    "path": escapes,
    "php": _php,
    "attr": runs_script,
}


def looks_like_code(family: str, value: str) -> bool:
    """Whether rampart's reading for ``family`` (``sqli``, ``xss``, ``rce``, ``path``, ``php``,
    ``attr``, or ``rce-windows``: ``rce`` as CRS's Windows rules are confirmed) takes ``value``
    for an attack rather than data."""
    return _CHECKS[family](value[:_CONFIRM_VALUE_LIMIT])


def confirms(names: Iterable[str]) -> dict[str, str]:
    """``["sqli", "rce"]`` -> ``{"942": "sqli", "932": "rce"}`` (a family, or a whole rule id:
    ``path`` gives ``930100`` and ``930110``); an unknown name is an error listing the known
    ones."""
    wanted = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in wanted if n not in CONFIRMABLE]
    if unknown:
        raise UnknownConfirmError(
            f"cannot confirm {', '.join(repr(n) for n in unknown)}; "
            f"engine.confirm takes any of: {', '.join(CONFIRMABLE)}"
        )
    return {prefix: n for n in wanted for prefix in CONFIRMABLE[n]}


def _canonical(key: str) -> str:
    """A parameter name in one spelling for both parsers: CRS names a JSON value
    ``json.a.b`` (``json.list.0``), rampart's parser ``$.a.b`` (``$.list[0]``)."""
    for prefix in ("json.", "$."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.replace("[", ".").replace("]", "").strip(".").lower()


_PATH_COLLECTIONS = frozenset(
    {"REQUEST_FILENAME", "REQUEST_BASENAME", "REQUEST_URI", "REQUEST_URI_RAW", "REQUEST_LINE", "QUERY_STRING"}
)
_NATIVE_FOR: dict[str, tuple[str, ...]] = {
    "ARGS": ("ARGS_GET", "ARGS_POST"),
    "ARGS_GET": ("ARGS_GET",),
    "ARGS_POST": ("ARGS_POST",),
    "REQUEST_HEADERS": ("REQUEST_HEADERS",),
    "REQUEST_COOKIES": ("REQUEST_COOKIES",),
    "FILES": ("FILES",),
    "XML": ("ARGS_POST", "REQUEST_BODY"),
    "REQUEST_BODY": ("REQUEST_BODY", "ARGS_POST"),
}


def values_at(targets: Sequence[Target], crs_target: str) -> list[str]:
    """The request's values at the place a CRS match names (``ARGS:id``, ``ARGS:json.a.b``,
    ``REQUEST_HEADERS:User-Agent``, ``ARGS_NAMES:x``, ``REQUEST_FILENAME``...). A name is
    itself the value of a ``*_NAMES`` target. Where the place cannot be found, every value
    of the request: confirmation then errs towards counting the match."""
    collection, _, key = crs_target.partition(":")
    if collection.endswith("_NAMES") and key:
        return [key]
    if collection in _PATH_COLLECTIONS:
        found = [t.value for t in targets if t.collection in ("REQUEST_URI", "REQUEST_URI_RAW")]
    elif collection in _NATIVE_FOR:
        natives = _NATIVE_FOR[collection]
        wanted = _canonical(key)
        found = [
            t.value
            for t in targets
            if t.collection in natives and (not key or collection == "XML" or _canonical(t.key) == wanted)
        ]
    else:
        found = []
    if not found:
        found = [t.value for t in targets if t.collection != "PROTOCOL_FLAGS"]
    return list(dict.fromkeys(found))


# where CRS's request variables come from, once each (REQUEST_URI_RAW stands for the URI)
_PLACE_COLLECTIONS = frozenset(
    {
        "REQUEST_URI_RAW",
        "ARGS_GET",
        "ARGS_POST",
        "ARGS_GET_NAMES",
        "ARGS_POST_NAMES",
        "REQUEST_HEADERS",
        "REQUEST_COOKIES",
        "REQUEST_COOKIES_NAMES",
        "FILES",
    }
)


def places_of(targets: Sequence[Target], matched: str) -> list[str]:
    """The request's values (URI, arguments and their names, headers, cookies, files) that
    hold ``matched``, a CRS match's data, as sent or percent-decoded, ignoring case: the places
    where the rule may have matched and added its points. Empty for matched data shorter than
    two characters."""
    needle = matched.lower()
    if len(needle) < 2:
        return []
    found: list[str] = []
    for target in targets:
        if target.collection not in _PLACE_COLLECTIONS:
            continue
        value = target.value
        lowered = value.lower()
        if needle in lowered or ("%" in value and needle in unquote(value).lower()):
            found.append(value)
    return found


def _tagged(match: RuleMatch, ruleset: str) -> RuleMatch:
    return match if match.ruleset == ruleset else replace(match, ruleset=ruleset)


class RulesEngine(NativeEngine):
    """rampart's YAML rules alone, registered as ``rules`` (the ``native`` engine before CRS
    joined it): what the comparison's YAML-only column measures."""

    name = "rules"

    def inspect(self, request: RawRequest) -> Verdict:
        verdict = super().inspect(request)
        return replace(verdict, engine=self.name, matches=tuple(_tagged(m, RAMPART) for m in verdict.matches))


class CombinedEngine:
    """CRS on the SecLang engine plus rampart's YAML rules (see the module docstring)."""

    name = "native"
    slow = False
    thread_safe = True

    def __init__(
        self,
        settings: EngineSettings,
        *,
        crs: SecLangEngine | None = None,
        rules: NativeEngine | None = None,
        exhaustive: bool = False,
    ) -> None:
        """Build both rule sets for ``settings`` (or take them ready-made). A bad
        ``settings.confirm`` raises :class:`UnknownConfirmError`; a missing CRS folder the
        layout error that names it. ``exhaustive=True`` runs CRS also on requests the YAML rules
        already flag (every match of both rule sets listed, at CRS's full cost)."""
        self.settings = settings
        self.exhaustive = exhaustive
        self.confirm = confirms(settings.confirm)
        self.rules = rules if rules is not None else NativeEngine(settings)
        self.crs = crs if crs is not None else SecLangEngine(crs_settings(settings))
        self.limits = ParseLimits(body_limit=settings.body_limit)
        self._lock = threading.Lock()
        self.failures: dict[str, int] = {CRS: 0, RAMPART: 0}
        self.unconfirmed: dict[str, int] = dict.fromkeys(self.confirm.values(), 0)
        self._closed = False

    def close(self) -> None:
        """Release both rule sets; later calls to ``inspect`` fail open."""
        self._closed = True
        self.rules.close()
        self.crs.close()

    def inspect(self, request: RawRequest) -> Verdict:
        """Inspect ``request`` with both rule sets; never raises."""
        started = time.perf_counter()
        if self._closed:
            return self._failed(started, "RuntimeError: engine is closed")
        cpu_started = time.thread_time()
        yaml_verdict = self.rules.inspect(request)
        if yaml_verdict.flagged and not self.exhaustive:
            # decided: CRS could raise the score but not change the outcome; skipping it saves
            # its cost (the larger share by far) on every attack the YAML rules catch
            return replace(
                yaml_verdict,
                engine=self.name,
                matches=tuple(_tagged(m, RAMPART) for m in yaml_verdict.matches),
                elapsed_us=(time.perf_counter() - started) * 1e6,
            )
        # one budget for the request: CRS gets what the YAML rules left of it (at least 1 ms)
        budget = self.settings.budget_ms
        if budget > 0:
            budget = max(1.0, budget - (time.thread_time() - cpu_started) * 1000)
        crs_verdict = self.crs.inspect(request, budget_ms=budget)
        try:
            if crs_verdict.error is None and self.confirm:
                crs_verdict = self.confirmed(request, crs_verdict)
        except Exception as exc:  # confirmation is an option: on failure CRS counts as it is
            log.exception("tokenizer confirmation failed on request %s", request.request_id or "-")
            crs_verdict = replace(
                crs_verdict,
                matches=(*crs_verdict.matches, self._error_match("confirm", f"{type(exc).__name__}: {exc}")),
            )
        parts = {RAMPART: yaml_verdict, CRS: crs_verdict}
        working = {name: v for name, v in parts.items() if v.error is None}
        if not working:
            errors = "; ".join(f"{name}: {v.error}" for name, v in parts.items())
            self._count(parts)
            return self._failed(started, errors)
        matches: list[RuleMatch] = []
        for name, verdict in parts.items():
            if verdict.error is not None:
                matches.append(self._error_match(name, verdict.error))
            else:
                matches.extend(_tagged(m, name) for m in verdict.matches)
        self._count(parts)
        return Verdict(
            engine=self.name,
            score=max(v.score for v in working.values()),
            threshold=self.settings.threshold,
            matches=tuple(matches),
            elapsed_us=(time.perf_counter() - started) * 1e6,
            budget_exceeded=yaml_verdict.budget_exceeded or crs_verdict.budget_exceeded,
        )

    def scores(self, request: RawRequest) -> dict[str, int]:
        """Each rule set's own score for ``request`` (confirmation applied): what the
        composition compares against the threshold."""
        crs_verdict = self.crs.inspect(request)
        if self.confirm and crs_verdict.error is None:
            crs_verdict = self.confirmed(request, crs_verdict)
        return {RAMPART: self.rules.inspect(request).score, CRS: crs_verdict.score}

    def confirmed(self, request: RawRequest, verdict: Verdict) -> Verdict:
        """``verdict`` with the matches of the confirmed families that rampart's tokenizer
        does not read as code set to score 0 and their points taken off the total.

        CRS adds a rule's points once per variable it matched but logs the rule once, naming
        one variable. So an unconfirmed rule is judged at every place of the request that holds
        the text it matched (:func:`places_of`): code at any of them and the rule counts;
        otherwise its points come off once per such place. The total never drops below the
        points of the matches that still count."""
        if not any(self._family(m.rule_id) for m in verdict.matches):
            return verdict
        targets = parse_request(request, self.limits).targets
        kept: list[RuleMatch] = []
        removed = 0
        cache: dict[tuple[str, str], bool] = {}
        for match in verdict.matches:
            family = self._family(match.rule_id)
            if family is None or self._code_at(family, targets, match, cache):
                kept.append(match)
                continue
            places = places_of(targets, match.matched)
            if self._code_in(family, match.rule_id, places, cache):
                kept.append(match)
                continue
            removed += match.score * max(1, len(places))
            with self._lock:
                self.unconfirmed[family] += 1
            kept.append(replace(match, score=0, tags=(*match.tags, UNCONFIRMED_TAG)))
        counted = min(sum(m.score for m in kept if m.score > 0), max(verdict.score, 0))
        return replace(verdict, score=max(verdict.score - removed, counted), matches=tuple(kept))

    def _family(self, rule_id: str) -> str | None:
        """The confirm name that applies to CRS rule ``rule_id`` (a six-digit id), if any."""
        if len(rule_id) != 6:
            return None
        return self.confirm.get(rule_id) or self.confirm.get(rule_id[:3])

    @staticmethod
    def _code_at(
        family: str, targets: Sequence[Target], match: RuleMatch, cache: dict[tuple[str, str], bool]
    ) -> bool:
        candidates = values_at(targets, match.target)
        if len(candidates) > _MAX_CONFIRM_VALUES:
            return True  # too many places to look: the match counts, as CRS scored it
        return CombinedEngine._code_in(family, match.rule_id, candidates, cache)

    @staticmethod
    def _code_in(
        family: str, rule_id: str, values: Sequence[str], cache: dict[tuple[str, str], bool]
    ) -> bool:
        if len(values) > _MAX_CONFIRM_VALUES:
            return True
        if family == "rce" and rule_id in _WINDOWS_RULES:
            family = "rce-windows"
        for value in values:
            key = (family, value)
            if key not in cache:
                cache[key] = looks_like_code(family, value)
            if cache[key]:
                return True
        return False

    def _count(self, parts: dict[str, Verdict]) -> None:
        failed = [name for name, v in parts.items() if v.error is not None]
        if failed:
            with self._lock:
                for name in failed:
                    self.failures[name] += 1

    def _error_match(self, ruleset: str, error: str) -> RuleMatch:
        return RuleMatch(
            rule_id=f"{ruleset}.error",
            attack_class="anomaly",
            message=f"the {ruleset} rule set failed open: {error}"[:300],
            severity="notice",
            score=0,
            target="REQUEST",
            matched="",
            tags=("fail-open",),
            ruleset=ruleset,
        )

    def _failed(self, started: float, error: str) -> Verdict:
        return Verdict(
            engine=self.name,
            score=0,
            threshold=self.settings.threshold,
            elapsed_us=(time.perf_counter() - started) * 1e6,
            error=error,
        )
