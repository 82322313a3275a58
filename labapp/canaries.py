"""Per-start lab secrets (canaries) and the scan that spots them in a response body."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields

__all__ = ["PREFIX", "LabSecrets", "find_leaks"]

PREFIX = "rmpsecret-"


def _token() -> str:
    return PREFIX + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class LabSecrets:
    """One random token per place an exploit can reach (docs/CONTRACTS.md, "Secrets").

    ``admin_password`` is the admin's real password, not a canary: knowing it is a
    legitimate login, guessing around it is the bypass.
    """

    admin_profile: str
    internal_product: str
    sql_table: str
    secret_file: str
    chat_prompt: str
    internal_api: str
    metadata: str
    admin_password: str

    @classmethod
    def generate(cls) -> LabSecrets:
        values = {f.name: _token() for f in fields(cls)}
        values["admin_password"] = "adm-" + secrets.token_urlsafe(12)
        return cls(**values)

    def canaries(self) -> dict[str, str]:
        """Canary name -> token, every secret whose appearance in a response is a leak."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "admin_password"}


def find_leaks(body: bytes, canaries: dict[bytes, str]) -> list[str]:
    """Names of the canaries present in ``body`` (``canaries`` maps token bytes -> name)."""
    if PREFIX.encode() not in body:
        return []
    return [name for token, name in canaries.items() if token in body]
