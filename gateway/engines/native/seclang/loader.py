"""Turn SecLang files and text into a :class:`Ruleset`: rules per phase, in load order.

Directives the loader acts on: ``SecRule``, ``SecAction``, ``SecMarker``, ``SecDefaultAction``,
``Include``, ``SecRuleRemoveById`` / ``ByTag`` / ``ByMsg``, ``SecRuleUpdateTargetById`` /
``ByTag``, ``SecRuleUpdateActionById``, ``SecRuleEngine`` and ``SecComponentSignature``
(both recorded). Removals and updates apply to every rule loaded before or after them, as in
libmodsecurity. The directives in :data:`IGNORED_DIRECTIVES` configure a web server, logs or
limits that do not apply to in-process inspection; they are accepted and ignored. Anything
else is an error naming file, line and directive.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from rampart.gateway.engines.native.seclang.lexer import Directive, SecLangSyntaxError, tokenize
from rampart.gateway.engines.native.seclang.parse import (
    PHASES,
    parse_actions,
    parse_ctl,
    parse_operator,
    parse_setvar,
    parse_targets,
)
from rampart.gateway.engines.native.seclang.rules import Marker, Rule, Target

__all__ = [
    "IGNORED_DIRECTIVES",
    "Loader",
    "Ruleset",
    "SecLangLoadError",
    "build_rule",
    "parse_id_ranges",
]

IGNORED_DIRECTIVES: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "SecRequestBodyAccess",
        "SecResponseBodyAccess",
        "SecRequestBodyLimit",
        "SecRequestBodyNoFilesLimit",
        "SecRequestBodyInMemoryLimit",
        "SecRequestBodyLimitAction",
        "SecRequestBodyJsonDepthLimit",
        "SecResponseBodyLimit",
        "SecResponseBodyLimitAction",
        "SecResponseBodyMimeType",
        "SecResponseBodyMimeTypesClear",
        "SecPcreMatchLimit",
        "SecPcreMatchLimitRecursion",
        "SecArgumentSeparator",
        "SecCookieFormat",
        "SecCollectionTimeout",
        "SecAuditEngine",
        "SecAuditLog",
        "SecAuditLog2",
        "SecAuditLogParts",
        "SecAuditLogType",
        "SecAuditLogFormat",
        "SecAuditLogStorageDir",
        "SecAuditLogDirMode",
        "SecAuditLogFileMode",
        "SecAuditLogRelevantStatus",
        "SecDebugLog",
        "SecDebugLogLevel",
        "SecTmpDir",
        "SecDataDir",
        "SecUploadDir",
        "SecUploadKeepFiles",
        "SecUploadFileMode",
        "SecUploadFileLimit",
        "SecUnicodeMapFile",
        "SecStatusEngine",
        "SecServerSignature",
        "SecWebAppId",
        "SecHttpBlKey",
        "SecGeoLookupDb",
        "SecXmlExternalEntity",
        "SecTmpSaveUploadedFiles",
        "SecConnEngine",
        "SecRemoteRules",
        "SecRemoteRulesFailAction",
    )
)

SEVERITIES: dict[str, int] = {
    "emergency": 0,
    "alert": 1,
    "critical": 2,
    "error": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}

DISRUPTIVE: frozenset[str] = frozenset(
    {"pass", "block", "deny", "drop", "allow", "redirect", "proxy", "pause"}
)

# Accepted and kept only as metadata (RULE.*), or meaningless for request-only inspection.
_QUIET_ACTIONS: frozenset[str] = frozenset(
    {
        "rev",
        "maturity",
        "accuracy",
        "auditlog",
        "noauditlog",
        "expirevar",
        "initcol",
        "setuid",
        "setsid",
        "setrsc",
        "sanitisearg",
        "sanitisematched",
        "sanitisematchedbytes",
        "sanitiserequestheader",
        "sanitiseresponseheader",
        "append",
        "prepend",
        "exec",
        "deprecatevar",
        "xmlns",
    }
)

_ID_PART = re.compile(r"^(\d+)(?:-(\d+))?$")


class SecLangLoadError(SecLangSyntaxError):
    """A rule is invalid; the message names file, line and fix."""


@lru_cache(maxsize=256)
def parse_id_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``"1 2 10-20"`` (or comma-separated) as inclusive ranges (remembered: a ``ctl`` that
    removes rules by id runs on every request)."""
    out: list[tuple[int, int]] = []
    for part in re.split(r"[\s,]+", text.strip()):
        if not part:
            continue
        found = _ID_PART.match(part)
        if found is None:
            raise ValueError(f"{part!r} is not a rule id or range; write 942100 or 942100-942199")
        low = int(found.group(1))
        out.append((low, int(found.group(2)) if found.group(2) else low))
    return tuple(out)


def _in_ranges(rule_id: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(low <= rule_id <= high for low, high in ranges)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """What the executor runs: for each phase (1 and 2), its rules and markers in load order."""

    phases: dict[int, tuple[Rule | Marker, ...]]
    rule_engine: str = "On"
    signatures: tuple[str, ...] = ()
    arguments_limit: int | None = None  # SecArgumentsLimit: arguments past it are not collected

    def rules(self) -> tuple[Rule, ...]:
        return tuple(item for items in self.phases.values() for item in items if isinstance(item, Rule))


def build_rule(
    targets: tuple[Target, ...],
    operator: str,
    actions: list[tuple[str, str]],
    file: Path,
    line: int,
    *,
    defaults: dict[int, list[tuple[str, str]]] | None = None,
    parent: Rule | None = None,
) -> tuple[Rule, bool]:
    """A rule from its parts, with the phase's default actions merged in; returns the rule and
    whether it asks to chain the next one. ``parent`` is the chain starter for a chain link."""
    name, arg, negated = parse_operator(operator)
    phase = parent.phase if parent is not None else 2
    for action, value in actions:
        if action == "phase" and parent is None:
            phase = PHASES.get(value.lower(), 0) or (int(value) if value.isdigit() else 0)
            if not 1 <= phase <= 5:
                raise ValueError(f"phase {value!r} is invalid; use 1-5, request, response or logging")
    merged = list((defaults or {}).get(phase, [])) if parent is None else []
    merged.extend(actions)
    fields: dict[str, object] = {}
    transforms: list[str] = []
    tags: list[str] = []
    setvars = []
    setenvs: list[tuple[str, str]] = []
    ctls = []
    extra: list[tuple[str, str]] = []
    chain = False
    rule_id = parent.id if parent is not None else 0
    for action, value in merged:
        if action == "id":
            if parent is not None:
                raise ValueError("a chained rule cannot carry an id; put id on the first rule of the chain")
            if not value.isdigit() or int(value) <= 0:
                raise ValueError(f"id {value!r} must be a positive number")
            rule_id = int(value)
        elif action == "phase":
            continue
        elif action == "t":
            if value.lower() == "none":
                transforms.clear()
            else:
                transforms.append(value)
        elif action == "chain":
            chain = True
        elif action in ("msg", "logdata", "ver"):
            fields[action] = value
        elif action == "tag":
            tags.append(value)
        elif action == "severity":
            sev = SEVERITIES.get(value.lower(), int(value) if value.isdigit() else -1)
            if not 0 <= sev <= 7:
                raise ValueError(
                    f"severity {value!r} is unknown; use CRITICAL, ERROR, WARNING, NOTICE or 0-7"
                )
            fields["severity"] = sev
        elif action in ("log", "nolog"):
            fields["log"] = action == "log"
        elif action == "capture":
            fields["capture"] = True
        elif action == "multimatch":
            fields["multi_match"] = True
        elif action == "setvar":
            setvars.append(parse_setvar(value))
        elif action == "setenv":
            key, _, val = value.partition("=")
            setenvs.append((key.strip(), val))
        elif action == "ctl":
            ctls.append(parse_ctl(value))
        elif action == "skip":
            if not value.isdigit():
                raise ValueError(f"skip:{value} needs a number of rules")
            fields["skip"] = int(value)
        elif action == "skipafter":
            fields["skip_after"] = value
        elif action == "status":
            fields["status"] = int(value) if value.isdigit() else None
        elif action in DISRUPTIVE:
            fields["disruptive"] = action
        elif action in _QUIET_ACTIONS:
            extra.append((action, value))
        else:
            raise ValueError(f"unknown action {action!r}; check the spelling (ModSecurity v3 actions)")
    if parent is None and rule_id == 0:
        raise ValueError("the rule has no id; add id:NNNNNN")
    rule = Rule(
        id=rule_id,
        phase=phase,
        targets=targets,
        operator=name,
        operator_arg=arg,
        negated=negated,
        transforms=tuple(transforms),
        file=file,
        line=line,
        tags=tuple(tags),
        setvars=tuple(setvars),
        setenvs=tuple(setenvs),
        ctls=tuple(ctls),
        extra=tuple(extra),
        **fields,  # type: ignore[arg-type]
    )
    return rule, chain


@dataclass(slots=True)
class _Pending:
    """A chain being read: its links so far."""

    links: list[Rule]
    chained: bool


@dataclass(slots=True)
class Loader:
    """Reads directives in order and builds a :class:`Ruleset` (``finish``)."""

    items: list[Rule | Marker] = field(default_factory=list)
    defaults: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    removed_ids: list[tuple[int, int]] = field(default_factory=list)
    removed_tags: list[re.Pattern[str]] = field(default_factory=list)
    removed_msgs: list[re.Pattern[str]] = field(default_factory=list)
    target_updates: list[
        tuple[tuple[tuple[int, int], ...] | re.Pattern[str], tuple[Target, ...], str | None]
    ] = field(default_factory=list)
    action_updates: list[tuple[int, list[tuple[str, str]], Directive]] = field(default_factory=list)
    rule_engine: str = "On"
    signatures: list[str] = field(default_factory=list)
    arguments_limit: int | None = None
    _pending: _Pending | None = None
    _ids: set[int] = field(default_factory=set)

    def load_file(self, path: str | Path) -> None:
        """Load one file (``Include`` inside it resolves relative to its folder)."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise SecLangLoadError(f"{file}: cannot read ({exc.strerror}); check the path") from None
        self._run(tokenize(text, file))

    def load_text(self, text: str, origin: str) -> None:
        """Load rules given as text; ``origin`` names them in errors."""
        self._run(tokenize(text, Path(origin)))

    def _run(self, directives: list[Directive]) -> None:
        for d in directives:
            try:
                self._directive(d)
            except SecLangSyntaxError:
                raise
            except (ValueError, KeyError) as exc:
                raise SecLangLoadError(f"{d.where}: {d.name}: {exc}") from None

    def _close_chain(self) -> None:
        if self._pending is None:
            return
        links = self._pending.links
        rule = links[-1]
        for link in reversed(links[:-1]):
            rule = replace(link, chain=rule)
        self.items.append(rule)
        self._pending = None

    def _rule(self, d: Directive, targets: tuple[Target, ...], operator: str, actions_text: str) -> None:
        actions = parse_actions(actions_text)
        parent = self._pending.links[0] if self._pending is not None and self._pending.chained else None
        if parent is None:
            self._close_chain()
        rule, chain = build_rule(
            targets, operator, actions, d.file, d.line, defaults=self.defaults, parent=parent
        )
        if parent is None:
            if rule.id in self._ids:
                raise ValueError(f"rule id {rule.id} is already used; give the rule its own id")
            self._ids.add(rule.id)
            self._pending = _Pending([rule], chain)
        else:
            assert self._pending is not None
            self._pending.links.append(rule)
            self._pending.chained = chain
        if not chain:
            self._close_chain()

    def _directive(self, d: Directive) -> None:
        name = d.name.lower()
        args = d.args
        if name == "secrule":
            if len(args) < 2:
                raise ValueError('needs VARIABLES "OPERATOR" ["ACTIONS"]')
            self._rule(d, parse_targets(args[0]), args[1], args[2] if len(args) > 2 else "")
            return
        if name == "secaction":
            self._rule(d, (Target("REQUEST_URI"),), "@unconditionalMatch", args[0] if args else "")
            return
        if self._pending is not None and self._pending.chained:
            first = self._pending.links[0].id
            raise ValueError(f"rule {first} asks to chain but {d.name} follows; add the chained SecRule")
        self._close_chain()
        if name == "include":
            if not args:
                raise ValueError("needs a path")
            pattern = args[0] if Path(args[0]).is_absolute() else str(d.file.parent / args[0])
            paths = sorted(glob.glob(pattern))
            if not paths:
                raise ValueError(f"{args[0]} matches no file; fix the path")
            for p in paths:
                self.load_file(p)
        elif name == "secmarker":
            self.items.append(Marker(args[0] if args else ""))
        elif name == "secdefaultaction":
            actions = parse_actions(args[0] if args else "")
            phase = next((v for a, v in actions if a == "phase"), None)
            if phase is None:
                raise ValueError('needs a phase; write SecDefaultAction "phase:2,log,auditlog,pass"')
            number = PHASES.get(phase.lower(), 0) or int(phase)
            self.defaults[number] = [(a, v) for a, v in actions if a != "phase"]
        elif name == "secruleremovebyid":
            for arg in args:
                self.removed_ids.extend(parse_id_ranges(arg))
        elif name == "secruleremovebytag":
            self.removed_tags.extend(re.compile(a) for a in args)
        elif name == "secruleremovebymsg":
            self.removed_msgs.extend(re.compile(a) for a in args)
        elif name in ("secruleupdatetargetbyid", "secruleupdatetargetbytag"):
            if len(args) < 2:
                raise ValueError("needs a rule id (or tag) and the variables")
            selector: tuple[tuple[int, int], ...] | re.Pattern[str] = (
                parse_id_ranges(args[0]) if name.endswith("byid") else re.compile(args[0])
            )
            self.target_updates.append((selector, parse_targets(args[1]), args[2] if len(args) > 2 else None))
        elif name == "secruleupdateactionbyid":
            if len(args) < 2:
                raise ValueError("needs a rule id and the actions")
            self.action_updates.append((int(args[0].split(":")[0]), parse_actions(args[1]), d))
        elif name == "secruleengine":
            self.rule_engine = args[0] if args else "On"
        elif name == "seccomponentsignature":
            self.signatures.extend(args)
        elif name == "secargumentslimit":
            if len(args) != 1 or not args[0].isdigit():
                raise ValueError(
                    "needs one number (the most arguments collected), e.g. SecArgumentsLimit 1000"
                )
            self.arguments_limit = int(args[0])
        elif name in IGNORED_DIRECTIVES:
            return
        else:
            raise ValueError("unknown directive; check the spelling or remove it")

    def _removed(self, rule: Rule) -> bool:
        if _in_ranges(rule.id, self.removed_ids):
            return True
        if any(p.search(t) for p in self.removed_tags for t in rule.tags):
            return True
        return any(p.search(rule.msg) for p in self.removed_msgs)

    def _update(self, rule: Rule) -> Rule:
        for selector, targets, replaced in self.target_updates:
            hit = (
                _in_ranges(rule.id, selector)
                if isinstance(selector, tuple)
                else any(selector.search(t) for t in rule.tags)
            )
            if not hit:
                continue
            if replaced is not None:
                old = parse_targets(replaced)
                kept = tuple(t for t in rule.targets if t not in old)
                rule = replace(rule, targets=kept + targets)
            else:
                rule = replace(
                    rule, targets=rule.targets + tuple(t for t in targets if t not in rule.targets)
                )
        for rule_id, actions, d in self.action_updates:
            if rule_id != rule.id:
                continue
            try:
                updated, _ = build_rule(
                    (Target("REQUEST_URI"),),
                    "@unconditionalMatch",
                    [("id", str(rule_id)), *actions],
                    d.file,
                    d.line,
                )
            except ValueError as exc:
                raise SecLangLoadError(f"{d.where}: {d.name}: {exc}") from None
            given = {a for a, _ in actions}
            changes: dict[str, object] = {}
            if given & DISRUPTIVE:
                changes["disruptive"] = updated.disruptive
            for attr, names in (
                ("msg", {"msg"}),
                ("logdata", {"logdata"}),
                ("severity", {"severity"}),
                ("log", {"log", "nolog"}),
                ("status", {"status"}),
            ):
                if given & names:
                    changes[attr] = getattr(updated, attr)
            if "tag" in given:
                changes["tags"] = rule.tags + updated.tags
            if "setvar" in given:
                changes["setvars"] = rule.setvars + updated.setvars
            if "t" in given:
                changes["transforms"] = (
                    updated.transforms
                    if any(a == "t" and v.lower() == "none" for a, v in actions)
                    else rule.transforms + updated.transforms
                )
            rule = replace(rule, **changes)  # type: ignore[arg-type]
        return rule

    def finish(self) -> Ruleset:
        """The rules per phase (1 and 2), removals and updates applied."""
        if self._pending is not None and self._pending.chained:
            first = self._pending.links[0]
            raise SecLangLoadError(f"{first.where}: rule {first.id} asks to chain but no rule follows")
        self._close_chain()
        phases: dict[int, list[Rule | Marker]] = {1: [], 2: []}
        for item in self.items:
            if isinstance(item, Marker):
                for items in phases.values():
                    items.append(item)
            elif item.phase in phases and not self._removed(item):
                phases[item.phase].append(self._update(item))
        return Ruleset(
            {k: tuple(v) for k, v in phases.items()},
            self.rule_engine,
            tuple(self.signatures),
            self.arguments_limit,
        )
