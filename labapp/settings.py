"""The lab's configuration: command-line options and environment, validated once."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GuardMode", "LabServer", "LabSettings", "MongoDriver", "is_loopback_bind"]

GuardMode = Literal["off", "detect", "block"]
MongoDriver = Literal["pymongo", "motor"]
LabServer = Literal["aiohttp", "asgi"]
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def is_loopback_bind(host: str) -> bool:
    """True when ``host`` only ever accepts connections from this machine."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LabSettings(BaseSettings):
    """Everything the lab needs to start.

    Environment: ``MONGODB_URL`` (a real MongoDB instead of the embedded SecantusDB),
    ``RAMPART_MONGO_DRIVER`` (``pymongo`` async client or ``motor``), ``DATABASE_URL``
    (``postgresql://...`` for Postgres through psycopg 3; SQLite in memory otherwise).
    """

    model_config = SettingsConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allow_public_bind: bool = False
    guard: GuardMode = "off"
    harness: bool = False
    server: LabServer = "aiohttp"  # "asgi": the same endpoints under uvicorn (rampart.labapp.asgi)
    data_dir: Path | None = None
    incidents: Path | None = None
    mongodb_url: str | None = Field(default=None, validation_alias=AliasChoices("mongodb_url", "MONGODB_URL"))
    mongo_driver: MongoDriver = Field(
        default="pymongo", validation_alias=AliasChoices("mongo_driver", "RAMPART_MONGO_DRIVER")
    )
    mongo_db: str = "rampart_lab"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "DATABASE_URL")
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0].lower()
        if scheme not in {"postgresql", "postgres", "sqlite"}:
            raise ValueError(
                f"DATABASE_URL scheme {scheme!r} is not supported: "
                "use postgresql://... or unset it for SQLite"
            )
        return value

    @field_validator("mongodb_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _loopback_only(self) -> LabSettings:
        if not self.allow_public_bind and not is_loopback_bind(self.host):
            raise ValueError(
                f"refusing to bind the vulnerable lab to {self.host!r}: use 127.0.0.1, or pass "
                "--i-know-this-is-vulnerable-bind-anyway if you really mean it"
            )
        if self.server == "asgi" and self.guard != "off":
            raise ValueError(
                "the ASGI lab runs without rampart's sink guard (it protects the aiohttp lab): "
                "drop --guard, or drop --asgi"
            )
        return self
