"""One way to build settings from defaults, a TOML file, the environment and keyword
arguments, in rising priority (the gateway's and the sink guard's settings both use it).

A settings class derives from :class:`TomlEnvSettings` (a pydantic-settings ``BaseSettings``
with its own ``env_prefix``); :func:`read_toml` reads the file once, naming the file on any
error, and :func:`build` constructs the class with that data beneath the environment::

    data = read_toml(path, what="guard config", error=GuardConfigError, table="guard")
    settings = build(GuardSettings, data, mode="block")

Constructing the class directly (``GuardSettings()``) reads defaults and the environment
only. Nested keys merge across the sources (a TOML ``[webhook]`` table and
``RAMPART_GUARD_WEBHOOK__URL`` both apply).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

__all__ = ["TomlEnvSettings", "build", "read_toml"]

_TOML_DATA: ContextVar[Mapping[str, Any] | None] = ContextVar("_TOML_DATA", default=None)


def read_toml(
    path: str | Path,
    *,
    what: str,
    error: type[Exception] = ValueError,
    table: str | None = None,
) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict (the ``[table]`` section when the file has one).

    ``what`` names the file in messages (``"gateway config"``); failures raise ``error``."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{file}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"{file}: {what} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{file}: not valid TOML: {exc}") from None
    if table is None or table not in data:
        return data
    section = data[table]
    if not isinstance(section, dict):
        raise error(f"{file}: [{table}] must be a table")
    return section


class _MappingSource(PydanticBaseSettingsSource):
    """Settings values from an already-read mapping (the TOML file's data)."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = dict(data)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class TomlEnvSettings(BaseSettings):
    """Base for settings built by :func:`build`: keyword arguments over the environment over
    the TOML data over defaults (no ``.env`` file, no secrets directory)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data = _TOML_DATA.get()
        if data is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, _MappingSource(settings_cls, data))


def build[S: TomlEnvSettings](cls: type[S], toml: Mapping[str, Any] | None = None, /, **overrides: Any) -> S:
    """``cls`` built from ``overrides`` over the environment over ``toml`` over defaults.

    Validation errors propagate (``pydantic.ValidationError``) for the caller to word."""
    token = _TOML_DATA.set(toml)
    try:
        return cls(**overrides)
    finally:
        _TOML_DATA.reset(token)
