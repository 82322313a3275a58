"""Parse the three parts of a ``SecRule``: its variable list, its operator and its actions.

Pure functions of text; each raises :class:`ValueError` with a message the loader prefixes
with file and line.
"""

from __future__ import annotations

from rampart.gateway.engines.native.seclang.rules import Ctl, SetVar, Target

__all__ = [
    "PHASES",
    "parse_actions",
    "parse_ctl",
    "parse_operator",
    "parse_setvar",
    "parse_targets",
]

PHASES: dict[str, int] = {"request": 2, "response": 4, "logging": 5}


def parse_targets(text: str) -> tuple[Target, ...]:
    """``REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|&ARGS|XML:/*`` as targets.

    A ``/regex/`` key may hold ``|``; a quoted key (``ARGS:'a|b'``) too."""
    targets: list[Target] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t|":
            i += 1
        if i >= n:
            break
        exclude = count = False
        while i < n and text[i] in "!&":
            exclude |= text[i] == "!"
            count |= text[i] == "&"
            i += 1
        start = i
        while i < n and text[i] not in ":|":
            i += 1
        collection = text[start:i].strip().upper()
        if not collection:
            raise ValueError(f"empty variable name in {text!r}; write VARIABLE or VARIABLE:key")
        key: str | None = None
        key_regex: str | None = None
        if i < n and text[i] == ":":
            i += 1
            if collection == "XML":  # XPath: up to the next "|"
                start = i
                while i < n and text[i] != "|":
                    i += 1
                key = text[start:i]
            elif i < n and text[i] == "/":
                i += 1
                out: list[str] = []
                while i < n and text[i] != "/":
                    if text[i] == "\\" and i + 1 < n:
                        out.append(text[i : i + 2])
                        i += 2
                        continue
                    out.append(text[i])
                    i += 1
                if i >= n:
                    raise ValueError(f"regex key of {collection} is not closed in {text!r}; end it with /")
                i += 1
                key_regex = "".join(out)
            elif i < n and text[i] == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise ValueError(f"quoted key of {collection} is not closed in {text!r}")
                key = text[i + 1 : end]
                i = end + 1
            else:
                start = i
                while i < n and text[i] != "|":
                    i += 1
                key = text[start:i]
        targets.append(Target(collection, key, key_regex, exclude, count))
    if not targets:
        raise ValueError("no variables; give at least one (ARGS, REQUEST_HEADERS, ...)")
    return tuple(targets)


def parse_operator(text: str) -> tuple[str, str, bool]:
    """``"!@rx foo"`` -> ``("rx", "foo", True)``; no ``@`` means ``@rx``."""
    negated = False
    body = text
    if body.startswith("!"):
        negated = True
        body = body[1:]
    if not body.startswith("@"):
        return "rx", body, negated
    name, _, arg = body[1:].partition(" ")
    if not name:
        raise ValueError(f"operator {text!r} has no name; write @name argument")
    return name.lower(), arg.lstrip(" "), negated


def parse_actions(text: str) -> list[tuple[str, str]]:
    """``"id:1,phase:2,msg:'a, b',t:none"`` as ``(name, value)`` pairs in order (names
    lower-case, values unquoted)."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in ":,":
            i += 1
        name = text[start:i].strip().lower()
        value = ""
        if i < n and text[i] == ":":
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] == "'":
                i += 1
                chars: list[str] = []
                while i < n:
                    if text[i] == "\\" and i + 1 < n and text[i + 1] == "'":
                        chars.append("'")
                        i += 2
                        continue
                    if text[i] == "'":
                        break
                    chars.append(text[i])
                    i += 1
                else:
                    raise ValueError(f"quoted value of action {name!r} is not closed; end it with '")
                i += 1
                value = "".join(chars)
                while i < n and text[i] != ",":
                    i += 1
            else:
                start = i
                while i < n and text[i] != ",":
                    i += 1
                value = text[start:i].strip()
        if name:
            out.append((name, value))
    return out


def parse_setvar(value: str) -> SetVar:
    """``tx.score=+%{tx.critical_anomaly_score}``, ``!tx.x``, ``tx.flag``."""
    text = value.strip()
    delete = text.startswith("!")
    if delete:
        text = text[1:]
    name_part, eq, rhs = text.partition("=")
    collection, dot, name = name_part.strip().partition(".")
    if not dot or not name:
        raise ValueError(f"setvar {value!r} needs COLLECTION.name; write setvar:tx.name=value")
    if delete:
        return SetVar(collection.upper(), name, "!", "")
    if not eq:
        return SetVar(collection.upper(), name, "=", "1")
    if rhs.startswith("+"):
        return SetVar(collection.upper(), name, "+", rhs[1:])
    if rhs.startswith("-"):
        return SetVar(collection.upper(), name, "-", rhs[1:])
    return SetVar(collection.upper(), name, "=", rhs)


def parse_ctl(value: str) -> Ctl:
    """``ruleRemoveTargetById=942100;ARGS:foo`` -> ``Ctl("ruleremovetargetbyid", "942100;ARGS:foo")``."""
    name, eq, rest = value.partition("=")
    if not eq:
        raise ValueError(f"ctl {value!r} has no value; write ctl:name=value")
    return Ctl(name.strip().lower(), rest.strip())
