"""Guard configuration: pydantic-settings from ``RAMPART_GUARD_*`` environment variables and
an optional TOML file.

Precedence: explicit keyword arguments > environment > TOML file > defaults. Nested keys use
``__`` in the environment, e.g. ``RAMPART_GUARD_DETECTORS__SQL__ACTION=log``. A TOML file
holds the same keys at top level or under a ``[guard]`` table::

    mode = "block"
    [detectors.shell]
    action = "block_session"
    [webhook]
    url = "http://127.0.0.1:9000/hook"
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from rampart.inprocess.errors import GuardConfigError
from rampart.settings import TomlEnvSettings, build, read_toml

__all__ = [
    "KNOWN_DETECTORS",
    "SINK_ONLY_DETECTORS",
    "Action",
    "DetectorPolicy",
    "GuardSettings",
    "Mode",
    "WebhookSettings",
    "load_settings",
]

Mode = Literal["off", "detect", "block"]
KNOWN_DETECTORS: frozenset[str] = frozenset(
    {
        "sql",
        "shell",
        "nosql",
        "ssrf",
        "path",
        "template",
        "code",
        "deserialization",
        "prompt",
        "xss",
        "stored_xss",
        "interpretation",
    }
)
# detectors that still judge a sink call when no request is being served
SINK_ONLY_DETECTORS: frozenset[str] = frozenset({"ssrf", "deserialization", "interpretation"})


class Action(StrEnum):
    LOG = "log"
    BLOCK = "block"
    BLOCK_SESSION = "block_session"
    WEBHOOK = "webhook"


class DetectorPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    action: Action = Action.BLOCK
    # detections below this confidence are only logged, whatever ``action`` says
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    # keyword options for the detector (e.g. code ``strict``, template ``level``); a sink's
    # own per-call options (``dialect``, ``resolved_ip``...) take precedence
    options: dict[str, Any] = Field(default_factory=dict)


class WebhookSettings(BaseModel):
    """Slack-compatible webhook (``{"text": ...}``), posted off the request path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    queue_size: int = Field(default=100, ge=1, le=100_000)
    retries: int = Field(default=3, ge=0, le=10)
    backoff_seconds: float = Field(default=0.2, gt=0, le=30)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)


class GuardSettings(TomlEnvSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAMPART_GUARD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    mode: Mode = "detect"
    detectors: dict[str, DetectorPolicy] = Field(default_factory=dict)
    default_action: Action = Action.BLOCK
    block_session_seconds: float = Field(default=300.0, gt=0, le=86_400)
    session_cookie: str = "session"
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    # Proxy-set headers (X-Forwarded-*, X-Real-IP, Forwarded) are left out by default: behind
    # a gateway they carry the proxy's own loopback addresses, which then "match" every
    # loopback connection the app makes (its database, its LLM) and read as SSRF. Add them
    # when the app really feeds them to a sink and no proxy rewrites them.
    captured_headers: tuple[str, ...] = ("user-agent", "referer", "origin")
    # What request capture reads whole (docs/SINKGUARD.md "Request context"): values per
    # source (query pairs, form fields, parts, JSON keys and values) and nesting depth
    # (JSON, bracket keys). Past either it flags (``too_many_values``/``too_deep``) rather
    # than truncate silently. Above the shared limits the gateway reads with (4,096 / 32):
    # the guard compares sinks with what it captured, so a request it read whole needs no
    # flag. ``flag_shared_limits`` also flags what the guard covered but the gateway treats
    # as ambiguous (more than 4,096 values, depth over 32, a repeated Content-Type parameter).
    capture_max_values: int = Field(default=16_384, ge=1, le=1 << 20)
    capture_max_depth: int = Field(default=128, ge=1, le=400)
    flag_shared_limits: bool = False

    @field_validator("detectors")
    @classmethod
    def _known(cls, value: dict[str, DetectorPolicy]) -> dict[str, DetectorPolicy]:
        unknown = sorted(set(value) - KNOWN_DETECTORS)
        if unknown:
            raise ValueError(
                f"unknown detector(s) {', '.join(unknown)}; use one of {', '.join(sorted(KNOWN_DETECTORS))}"
            )
        ssrf = value.get("ssrf")
        if ssrf is not None and "allow_hosts" in ssrf.options:
            from rampart.inprocess.detectors.ssrf import allowed

            hosts = ssrf.options["allow_hosts"]
            if isinstance(hosts, str) or not all(isinstance(h, str) for h in hosts):
                raise ValueError("ssrf options.allow_hosts must be a list of host names or networks")
            allowed(tuple(hosts))
        reading = value.get("interpretation")
        if reading is not None:
            from rampart.inprocess.detectors.interpretation import validate_options

            validate_options(reading.options)
        return value

    def policy_for(self, detector: str) -> DetectorPolicy:
        found = self.detectors.get(detector)
        return found if found is not None else DetectorPolicy(action=self.default_action)


def load_settings(toml_path: str | Path | None = None, **overrides: Any) -> GuardSettings:
    """Build settings from overrides, environment and ``toml_path``; raise
    :class:`GuardConfigError` naming the source and the key on invalid input."""
    data = (
        read_toml(toml_path, what="guard config", error=GuardConfigError, table="guard")
        if toml_path is not None
        else None
    )
    try:
        return build(GuardSettings, data, **overrides)
    except ValidationError as exc:
        where = str(toml_path) if toml_path is not None else "guard settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise GuardConfigError(f"{where} (or RAMPART_GUARD_* environment): {problems}") from None
