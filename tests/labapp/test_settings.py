import pytest
from pydantic import ValidationError

from rampart.labapp.settings import LabSettings, is_loopback_bind


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("example.com", False),
    ],
)
def test_loopback_bind(host, ok):
    assert is_loopback_bind(host) is ok


def test_refuses_public_bind_unless_forced():
    with pytest.raises(ValidationError, match="refusing to bind"):
        LabSettings(host="0.0.0.0")
    assert LabSettings(host="0.0.0.0", allow_public_bind=True).host == "0.0.0.0"


def test_environment(monkeypatch):
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:27017")
    monkeypatch.setenv("RAMPART_MONGO_DRIVER", "motor")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    s = LabSettings()
    assert (s.mongodb_url, s.mongo_driver, s.database_url) == (
        "mongodb://127.0.0.1:27017",
        "motor",
        "postgresql://postgres@127.0.0.1/test",
    )


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [("RAMPART_MONGO_DRIVER", "pymango", "mongo_driver"), ("DATABASE_URL", "mysql://x", "postgresql://")],
)
def test_bad_environment_names_the_fix(monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError, match=needle):
        LabSettings()
