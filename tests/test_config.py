"""Settings: env ``WATCHKEEPER_*`` over ``watchkeeper.toml`` over defaults; errors; masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from watchkeeper.config import Settings, describe_settings, load_settings, mask_url
from watchkeeper.errors import ConfigError


@pytest.fixture
def toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A watchkeeper.toml the settings are read from (write its content in the test)."""
    path = tmp_path / "watchkeeper.toml"
    monkeypatch.setenv("WATCHKEEPER_CONFIG", str(path))
    return path


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == Path("watchkeeper-data")
    assert settings.database_url is None
    assert settings.port == 8470
    assert settings.host == "127.0.0.1"
    assert settings.log_level == "info"
    assert settings.effective_database_url == "sqlite:///watchkeeper-data/watchkeeper.db"
    assert settings.effective_public_url == "http://127.0.0.1:8470"


def test_toml_overrides_defaults(toml: Path) -> None:
    toml.write_text('port = 9000\nhost = "192.0.2.10"\ndata_dir = "/srv/wk"\n')
    settings = load_settings()
    assert settings.port == 9000
    assert settings.host == "192.0.2.10"
    assert settings.data_dir == Path("/srv/wk")
    assert settings.log_level == "info"
    assert settings.effective_public_url == "http://192.0.2.10:9000"
    assert settings.effective_database_url == "sqlite:////srv/wk/watchkeeper.db"


def test_env_overrides_toml(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml.write_text('port = 9000\nhost = "192.0.2.10"\ncookie_secure = false\n')
    monkeypatch.setenv("WATCHKEEPER_PORT", "9100")
    monkeypatch.setenv("WATCHKEEPER_COOKIE_SECURE", "true")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.cookie_secure is True
    assert settings.host == "192.0.2.10"  # not in env: the file still counts


def test_env_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_SESSION_HOURS", "24")
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", "postgresql+psycopg://wk:pw@db/wk")
    settings = load_settings()
    assert settings.session_hours == 24
    assert settings.effective_database_url == "postgresql+psycopg://wk:pw@db/wk"


def test_explicit_overrides_win(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml.write_text("port = 9000\n")
    monkeypatch.setenv("WATCHKEEPER_PORT", "9100")
    assert load_settings(port=9200).port == 9200


def test_config_file_defaults_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHKEEPER_CONFIG")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "watchkeeper.toml").write_text("port = 9300\n")
    assert load_settings().port == 9300


def test_missing_config_file_is_fine(toml: Path) -> None:
    assert not toml.exists()
    assert load_settings().port == 8470


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("WATCHKEEPER_PORT", "notaport", "port"),
        ("WATCHKEEPER_PORT", "0", "port"),
        ("WATCHKEEPER_PORT", "70000", "port"),
        ("WATCHKEEPER_LOG_LEVEL", "loud", "log_level"),
        ("WATCHKEEPER_TOKEN_DEFAULT_EXPIRY_DAYS", "0", "token_default_expiry_days"),
        ("WATCHKEEPER_BUS_POLL_SECONDS", "0", "bus_poll_seconds"),
        ("WATCHKEEPER_DATABASE_URL", "mysql://wk:pw@db/wk", "database_url"),
    ],
)
def test_invalid_env_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    error = raised.value
    assert error.fields["setting"] == setting
    assert setting in error.message
    assert variable in error.message
    assert error.fields["expected"]


def test_invalid_database_url_does_not_leak_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", "mysql://wk:secretpw@db/wk")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "secretpw" not in str(raised.value)
    assert "secretpw" not in repr(raised.value.fields)


def test_invalid_toml_value_names_the_setting(toml: Path) -> None:
    toml.write_text('port = "high"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert raised.value.fields["setting"] == "port"


def test_unknown_toml_key_is_refused(toml: Path) -> None:
    toml.write_text("prot = 9000\n")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert raised.value.fields["setting"] == "prot"


def test_broken_toml_names_the_file(toml: Path) -> None:
    toml.write_text("port = = 9000\n")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert raised.value.fields["file"] == str(toml)
    assert str(toml) in raised.value.message


def test_invalid_override_names_the_setting() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(session_hours=1000)
    assert raised.value.fields["setting"] == "session_hours"


def _described(settings: Settings) -> dict[str, dict[str, object]]:
    return {row["name"]: row for row in describe_settings(settings)}


def test_describe_settings_names_sources(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml.write_text('port = 9000\nlog_level = "debug"\n')
    monkeypatch.setenv("WATCHKEEPER_PORT", "9100")
    rows = _described(load_settings())
    assert (rows["port"]["value"], rows["port"]["source"]) == (9100, "env WATCHKEEPER_PORT")
    assert (rows["log_level"]["value"], rows["log_level"]["source"]) == ("debug", str(toml))
    assert (rows["host"]["value"], rows["host"]["source"]) == ("127.0.0.1", "default")
    assert rows["data_dir"]["value"] == "watchkeeper-data"


def test_describe_settings_covers_every_setting_with_help() -> None:
    rows = describe_settings(load_settings())
    assert [row["name"] for row in rows] == list(Settings.model_fields)
    for row in rows:
        assert row["help"], f"{row['name']} has no help text"


@pytest.mark.parametrize("source", ["env", "toml"])
def test_describe_settings_masks_the_database_password(
    toml: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    url = "postgresql+psycopg://wk:secretpw@db.example:5432/wk"
    if source == "env":
        monkeypatch.setenv("WATCHKEEPER_DATABASE_URL", url)
    else:
        toml.write_text(f'database_url = "{url}"\n')
    settings = load_settings()
    assert isinstance(settings.database_url, SecretStr)
    assert "secretpw" not in repr(settings)
    assert "secretpw" not in str(describe_settings(settings))
    row = _described(settings)["database_url"]
    assert row["value"] == "postgresql+psycopg://wk:***@db.example:5432/wk"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://wk:secretpw@db.example:5432/wk",
            "postgresql+psycopg://wk:***@db.example:5432/wk",
        ),
        ("postgresql://wk:p@ss:w0rd@db/wk", "postgresql://wk:***@db/wk"),
        ("postgresql://wk:@db/wk", "postgresql://wk:***@db/wk"),
        ("nats://token:s3cret@nats.example:4222", "nats://token:***@nats.example:4222"),
        ("postgresql://wk@db/wk", "postgresql://wk@db/wk"),
        ("postgresql://db.example/wk", "postgresql://db.example/wk"),
        ("sqlite:////srv/wk/watchkeeper.db", "sqlite:////srv/wk/watchkeeper.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_never_shows_the_password() -> None:
    for password in ("secret", "se:cret", "se@cret", "s%40cret"):
        assert password not in mask_url(f"postgresql+psycopg://wk:{password}@db:5432/wk")
