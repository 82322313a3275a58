"""What every importer shares: the result (cases, skipped, flagged), ids, the import error."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from rampart.attacks.cases import Case, HttpRequest

__all__ = ["ImportResult", "SuiteImportError", "digest", "slug"]

_SLUG = re.compile(r"[^a-z0-9_.-]+")


class SuiteImportError(ValueError):
    """A suite or capture cannot be read; the message names the file, the place and the fix."""


@dataclass
class ImportResult:
    """The cases an import produced, and every entry it did not turn into a case, with why."""

    cases: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<file>#<n>: reason"
    flagged: list[str] = field(default_factory=list)  # captured requests a layer refused: label by hand

    def drop_duplicates(self) -> None:
        """Keep the first case of each (source, label, request, expect); list the others as skipped.

        A suite's carriers that all deliver the same text to a sink become one request there;
        sending it twice would count one result twice."""
        seen: dict[str, str] = {}
        kept: list[Case] = []
        for case in self.cases:
            key = "|".join(
                (
                    case.source,
                    case.label,
                    digest(case.request),
                    case.expect.model_dump_json() if case.expect else "",
                )
            )
            first = seen.setdefault(key, case.id)
            if first != case.id:
                self.skipped.append(f"{case.id}: the same request as {first} once placed at the sink")
                continue
            kept.append(case)
        self.cases = kept

    def extend(self, other: ImportResult) -> None:
        self.cases.extend(other.cases)
        self.skipped.extend(other.skipped)
        self.flagged.extend(other.flagged)


def slug(text: str, fallback: str = "suite") -> str:
    """``text`` as a lower-case id fragment (letters, digits, ``_ . -``)."""
    return _SLUG.sub("-", text.lower()).strip("-._") or fallback


def digest(request: HttpRequest) -> str:
    """Ten hex digits of the request's content: stable across runs, different per request."""
    return hashlib.sha1(request.model_dump_json().encode(), usedforsecurity=False).hexdigest()[:10]
