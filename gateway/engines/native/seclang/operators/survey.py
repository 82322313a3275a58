"""Which operators a SecLang rule set uses, and how its ``@rx`` patterns land in the tiers.

``python -m rampart.gateway.engines.native.seclang.operators.survey DIR [DIR ...]`` prints, for the
``*.conf`` files in each folder, the operator counts, the transformation counts and the ``@rx`` tier counts
(``exact`` / ``prefilter`` / ``fallback`` / ``error``) and prefilter kinds (required
literals / the whole pattern / none), then the patterns outside ``exact``.

The reader here only finds each ``SecRule``'s operator and ``t:`` actions (continuation lines
joined, quotes and ``\\"`` undone); the rule engine's own parser lives elsewhere in
:mod:`rampart.gateway.engines.native.seclang`.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RuleOperator", "main", "read_operators"]

_TRANSFORMATION = re.compile(r"(?:^|[,\s\"'])t:([A-Za-z0-9]+)")
_OPERATOR = re.compile(r"^(!?)@([A-Za-z0-9]+)(?:\s(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RuleOperator:
    """One ``SecRule``'s operator as written: ``@name argument`` (``rx`` when the name is absent)."""

    path: Path
    line: int
    name: str
    argument: str
    negated: bool
    transformations: tuple[str, ...]


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines (continuations joined) with the number of their first physical line."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
            if raw.lstrip().startswith("#"):
                continue
        if raw.endswith("\\") and not raw.endswith("\\\\\\"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The double-quoted token starting at ``text[start]`` (``\\"`` undone) and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == '"':
            out.append('"')
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i


def _tokens(statement: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(statement):
        if statement[i].isspace():
            i += 1
        elif statement[i] == '"':
            token, i = _quoted(statement, i)
            tokens.append(token)
        else:
            j = i
            while j < len(statement) and not statement[j].isspace():
                j += 1
            tokens.append(statement[i:j])
            i = j
    return tokens


def read_operators(path: Path) -> list[RuleOperator]:
    """Every ``SecRule`` operator in the file at ``path``."""
    found: list[RuleOperator] = []
    for line, statement in _statements(path.read_bytes().decode("latin-1")):
        tokens = _tokens(statement)
        if len(tokens) < 3 or tokens[0] != "SecRule":
            continue
        operator = tokens[2]
        match = _OPERATOR.match(operator)
        if match is None:
            negated = operator.startswith("!")
            name, argument = "rx", operator[1:] if negated else operator
        else:
            negated, name, argument = bool(match.group(1)), match.group(2), match.group(3) or ""
        actions = tokens[3] if len(tokens) > 3 else ""
        found.append(
            RuleOperator(path, line, name, argument, negated, tuple(_TRANSFORMATION.findall(actions)))
        )
    return found


def _survey(folder: Path) -> None:
    from rampart.gateway.engines.native.seclang.operators.regex import compile_rx, pattern_tier

    operators = [op for path in sorted(folder.glob("*.conf")) for op in read_operators(path)]
    names = Counter(op.name for op in operators)
    transformations = Counter(t for op in operators for t in op.transformations)
    print(f"== {folder}: {len(operators)} SecRule operators")
    print("operators:", ", ".join(f"{n} {c}" for n, c in names.most_common()))
    print("transformations:", ", ".join(f"{n} {c}" for n, c in transformations.most_common()))
    tiers: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    tier: str
    notable: list[str] = []
    for op in operators:
        if op.name.lower() != "rx" or "%{" in op.argument:
            continue
        try:
            regex = compile_rx(op.argument)
            tier = pattern_tier(op.argument)
        except ValueError as exc:
            tier = "error"
            notable.append(f"  error     {op.path.name}:{op.line}: {exc}")
        else:
            literal = regex.prefilter is not None and regex.prefilter[0] != regex.hyperscan_pattern
            kinds["none" if regex.prefilter is None else "literals" if literal else "pattern"] += 1
            if tier != "exact":
                notable.append(f"  {tier:9} {op.path.name}:{op.line}: {op.argument[:100]}")
        tiers[tier] += 1
    print("rx tiers:", ", ".join(f"{t} {tiers[t]}" for t in ("exact", "prefilter", "fallback", "error")))
    print("rx prefilters:", ", ".join(f"{k} {kinds[k]}" for k in ("literals", "pattern", "none")))
    print("\n".join(notable))


def main(argv: list[str] | None = None) -> int:
    """Survey each folder named in ``argv``."""
    folders = [Path(a) for a in (sys.argv[1:] if argv is None else argv)]
    if not folders:
        module = "rampart.gateway.engines.native.seclang.operators.survey"
        usage = f"usage: python -m {module} RULES_DIR [RULES_DIR ...]"
        print(usage, file=sys.stderr)
        return 2
    for folder in folders:
        _survey(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
