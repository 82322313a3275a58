"""What every importer shares: the result (cases, skipped, flagged), ids, the import error."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from attacks.model import Case, HttpRequest

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
