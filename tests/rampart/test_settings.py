"""The one settings helper: TOML under the environment under keyword arguments, nested keys
merged across sources, file errors naming the file, and both users (gateway, guard) on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from rampart.settings import TomlEnvSettings, build, read_toml


class _Inner(BaseModel):
    url: str | None = None
    retries: int = 3


class _Demo(TomlEnvSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAMPART_TESTDEMO_", env_nested_delimiter="__", extra="forbid"
    )

    mode: str = "detect"
    port: int = Field(default=1, ge=0)
    inner: _Inner = Field(default_factory=_Inner)


class _FileError(Exception):
    pass


def test_sources_in_rising_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "demo.toml"
    toml.write_text('mode = "block"\nport = 7\n[inner]\nurl = "http://127.0.0.1:9/x"\n', encoding="utf-8")
    data = read_toml(toml, what="demo config")
    assert build(_Demo).mode == "detect"  # defaults only
    assert build(_Demo, data).mode == "block"
    monkeypatch.setenv("RAMPART_TESTDEMO_MODE", "off")
    monkeypatch.setenv("RAMPART_TESTDEMO_INNER__RETRIES", "5")
    built = build(_Demo, data, port=9)
    assert (built.mode, built.port) == ("off", 9)  # env over TOML, keyword over both
    assert built.inner == _Inner(url="http://127.0.0.1:9/x", retries=5)  # nested keys merge
    assert _Demo().port == 1  # built directly: no TOML data leaks from an earlier build


def test_a_table_is_read_when_present(tmp_path: Path) -> None:
    toml = tmp_path / "guard.toml"
    toml.write_text('[guard]\nmode = "block"\n', encoding="utf-8")
    assert read_toml(toml, what="guard config", table="guard") == {"mode": "block"}
    flat = tmp_path / "flat.toml"
    flat.write_text('mode = "block"\n', encoding="utf-8")
    assert read_toml(flat, what="guard config", table="guard") == {"mode": "block"}
    bad = tmp_path / "bad.toml"
    bad.write_text('guard = "x"\n', encoding="utf-8")
    with pytest.raises(_FileError, match=r"bad\.toml: \[guard\] must be a table"):
        read_toml(bad, what="guard config", error=_FileError, table="guard")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(_FileError, match=r"missing\.toml: cannot read demo config"):
        read_toml(tmp_path / "missing.toml", what="demo config", error=_FileError)
    broken = tmp_path / "broken.toml"
    broken.write_text("mode = \n", encoding="utf-8")
    with pytest.raises(_FileError, match=r"broken\.toml: not valid TOML"):
        read_toml(broken, what="demo config", error=_FileError)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(_FileError, match=r"binary\.toml: demo config is not UTF-8 text"):
        read_toml(binary, what="demo config", error=_FileError)


def test_gateway_and_guard_settings_use_the_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rampart.gateway.config import GatewaySettings
    from rampart.gateway.config import load_settings as load_gateway
    from rampart.inprocess.config import GuardSettings
    from rampart.inprocess.config import load_settings as load_guard

    assert issubclass(GatewaySettings, TomlEnvSettings)
    assert issubclass(GuardSettings, TomlEnvSettings)
    gw = tmp_path / "gateway.toml"
    gw.write_text('upstream = "http://127.0.0.1:8000"\nmode = "block"\n', encoding="utf-8")
    monkeypatch.setenv("RAMPART_GATEWAY_PARANOIA", "2")
    settings = load_gateway(gw, port=0)
    assert (settings.upstream, settings.mode, settings.paranoia, settings.port) == (
        "http://127.0.0.1:8000",
        "block",
        2,
        0,
    )
    guard = tmp_path / "guard.toml"
    guard.write_text('[guard]\nmode = "block"\n[guard.webhook]\nretries = 1\n', encoding="utf-8")
    monkeypatch.setenv("RAMPART_GUARD_WEBHOOK__URL", "http://127.0.0.1:9/hook")
    loaded = load_guard(guard)
    assert type(loaded) is GuardSettings
    assert (loaded.mode, loaded.webhook.retries, loaded.webhook.url) == (
        "block",
        1,
        "http://127.0.0.1:9/hook",
    )
