"""Settings: precedence env > file > default, origins, masked secrets, fail-fast validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from stockpred.domain.errors import ConfigurationError
from stockpred.settings import Settings, describe_settings, load_settings

SECRET = "fred-key-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No stockpred variable or stockpred.toml of the machine leaks in; default home under tmp."""
    for name in list(os.environ):
        if name.upper().startswith("STOCKPRED_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def by_name(settings: Settings) -> dict[str, tuple[str, str]]:
    return {row.name: (row.value, row.origin) for row in describe_settings(settings)}


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_env_or_file(tmp_path: Path) -> None:
    settings = load_settings()

    assert settings.environment == "development"
    assert settings.store == "duckdb"
    assert settings.calendar == "XNYS"
    assert settings.home == tmp_path / "xdg" / "stockpred"
    assert settings.store_path == settings.home / "stockpred.duckdb"
    assert settings.reports_path == settings.home / "reports"
    assert settings.fred_api_key is None


def test_every_setting_has_default_origin_without_env_or_file() -> None:
    rows = describe_settings(load_settings())

    origins = {row.name: row.origin for row in rows}
    assert origins["home"] == "default"
    assert origins["calendar"] == "default"
    assert origins["store_path"] == "derived from home"
    assert all(row.description for row in rows)


def test_file_in_working_directory_wins_over_default(isolated: Path, tmp_path: Path) -> None:
    write_toml(isolated / "stockpred.toml", f'home = "{tmp_path / "from-file"}"\n')

    settings = load_settings()

    assert settings.home == tmp_path / "from-file"
    value, origin = by_name(settings)["home"]
    assert value == str(tmp_path / "from-file")
    assert origin.startswith("file ")
    assert origin.endswith("stockpred.toml")
    assert by_name(settings)["store_path"][0] == str(tmp_path / "from-file" / "stockpred.duckdb")


def test_env_wins_over_file(
    isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(isolated / "stockpred.toml", f'home = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("STOCKPRED_HOME", str(tmp_path / "from-env"))

    settings = load_settings()

    assert settings.home == tmp_path / "from-env"
    assert by_name(settings)["home"] == (str(tmp_path / "from-env"), "env STOCKPRED_HOME")


def test_env_and_file_each_set_what_they_name(
    isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(isolated / "stockpred.toml", 'calendar = "xlon"\n')
    monkeypatch.setenv("STOCKPRED_HOME", str(tmp_path / "from-env"))

    rows = by_name(load_settings())

    assert rows["calendar"][0] == "XLON"
    assert rows["calendar"][1].startswith("file ")
    assert rows["home"][1] == "env STOCKPRED_HOME"
    assert rows["environment"][1] == "default"


def test_config_env_names_a_file_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path / "elsewhere.toml", 'environment = "test"\n')
    monkeypatch.setenv("STOCKPRED_CONFIG", str(config))

    settings = load_settings()

    assert settings.environment == "test"
    assert by_name(settings)["environment"] == ("test", f"file {config}")


def test_config_file_argument_wins_over_config_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = write_toml(tmp_path / "env.toml", 'environment = "test"\n')
    from_argument = write_toml(tmp_path / "arg.toml", 'environment = "production"\n')
    monkeypatch.setenv("STOCKPRED_CONFIG", str(from_env))

    assert load_settings(config_file=from_argument).environment == "production"


def test_config_env_naming_a_missing_file_raises_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_CONFIG", str(tmp_path / "gone.toml"))

    with pytest.raises(ConfigurationError, match=r"STOCKPRED_CONFIG.*gone\.toml"):
        load_settings()


def test_missing_config_file_argument_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"gone\.toml.*does not exist"):
        load_settings(config_file=tmp_path / "gone.toml")


def test_calendar_is_upper_cased_and_home_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPRED_CALENDAR", " xlon ")
    monkeypatch.setenv("STOCKPRED_HOME", "~/stockpred-data")

    settings = load_settings()

    assert settings.calendar == "XLON"
    assert settings.home == Path.home() / "stockpred-data"


def test_secret_from_env_is_masked_in_describe_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPRED_FRED_API_KEY", SECRET)

    settings = load_settings()

    assert settings.fred_api_key is not None
    assert settings.fred_api_key.get_secret_value() == SECRET
    assert by_name(settings)["fred_api_key"] == ("********", "env STOCKPRED_FRED_API_KEY")
    for row in describe_settings(settings):
        assert SECRET not in f"{row.name} {row.value} {row.origin} {row.description}"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_secret_from_file_is_masked_in_describe_output(isolated: Path) -> None:
    write_toml(isolated / "stockpred.toml", f'x_bearer_token = "{SECRET}"\n')

    settings = load_settings()

    value, origin = by_name(settings)["x_bearer_token"]
    assert value == "********"
    assert origin.startswith("file ")
    assert all(SECRET not in row.value for row in describe_settings(settings))


def test_unknown_stockpred_variable_is_a_configuration_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_FOO", "1")

    with pytest.raises(ConfigurationError, match="unknown setting STOCKPRED_FOO") as caught:
        load_settings()

    assert "STOCKPRED_HOME" in str(caught.value)


def test_test_suite_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPRED_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")

    assert load_settings().store == "duckdb"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("STOCKPRED_STORE", "oracle", "store"),
        ("STOCKPRED_ENVIRONMENT", "staging", "environment"),
    ],
)
def test_invalid_value_is_a_configuration_error_naming_setting_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    message = str(caught.value)
    assert repr(field) in message
    assert repr(value) in message
    assert variable in message
    assert isinstance(caught.value.__cause__, ValidationError)


def test_unknown_key_in_the_file_is_a_configuration_error(isolated: Path) -> None:
    write_toml(isolated / "stockpred.toml", 'hom = "/tmp/typo"\n')

    with pytest.raises(ConfigurationError, match="'hom'"):
        load_settings()


def test_file_that_is_not_toml_is_a_configuration_error_naming_it(isolated: Path) -> None:
    write_toml(isolated / "stockpred.toml", "home = \n")

    with pytest.raises(ConfigurationError, match=r"stockpred\.toml"):
        load_settings()


def test_invalid_secret_is_not_echoed_in_the_error(isolated: Path) -> None:
    write_toml(isolated / "stockpred.toml", "fred_api_key = 98765432123\n")

    with pytest.raises(ConfigurationError) as caught:
        load_settings()

    assert "98765432123" not in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = load_settings()

    with pytest.raises(ValidationError):
        settings.home = Path("/elsewhere")  # type: ignore[misc]
    assert settings.home != Path("/elsewhere")


def test_explicit_paths_replace_the_derived_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_DUCKDB_PATH", str(tmp_path / "db" / "x.duckdb"))

    settings = load_settings()

    assert settings.store_path == tmp_path / "db" / "x.duckdb"
    rows = by_name(settings)
    assert "store_path" not in rows
    assert rows["reports_path"][1] == "derived from home"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:pw@db:5432/x", "postgresql://app:****@db:5432/x"),
        ("https://tok3n@mirror.example/v1", "https://****@mirror.example/v1"),
        ("redis://:pass@cache:6379/0", "redis://****@cache:6379/0"),
        ("https://api.example/q?apikey=abc&symbol=X", "https://api.example/q?apikey=****&symbol=X"),
        ("https://plain.example/path?horizon=5", "https://plain.example/path?horizon=5"),
    ],
)
def test_every_url_shaped_value_is_masked_the_same_way(text: str, masked: str) -> None:
    from stockpred.settings import mask_credentials

    assert mask_credentials(text) == masked


def test_config_show_masks_credentials_inside_provider_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockpred.settings import describe_settings

    monkeypatch.setenv(
        "STOCKPRED_PROVIDER_URLS", '{"fred": "https://u:hunter2@fred.example/?api_key=k3y"}'
    )
    rows = {r.name: r.value for r in describe_settings(load_settings())}

    assert "hunter2" not in rows["provider_urls"]
    assert "k3y" not in rows["provider_urls"]
    assert rows["duckdb_path"].startswith("(unset) ")
    assert rows["duckdb_path"].endswith("stockpred.duckdb")


def test_the_home_is_made_private_and_an_open_one_is_tightened(tmp_path: Path) -> None:
    import os
    import stat

    from stockpred.settings import make_private

    previous = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh"
        make_private(Settings(home=fresh))
        (fresh / "secret.db").write_text("x")
        opened = tmp_path / "opened"
        opened.mkdir(mode=0o755)
        opened.chmod(0o755)
        make_private(Settings(home=opened))
    finally:
        os.umask(previous)

    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE((fresh / "secret.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(opened.stat().st_mode) == 0o700


def test_ingest_bounds_default_to_the_readers_own_defaults() -> None:
    from stockpred.quality.bars import BarRules
    from stockpred.sources.files import DEFAULT_MAX_DECOMPRESSED_BYTES, DEFAULT_MAX_LINE_BYTES

    settings = load_settings()

    assert settings.ingest_max_decompressed_bytes == DEFAULT_MAX_DECOMPRESSED_BYTES == 2 * 1024**3
    assert settings.ingest_max_line_bytes == DEFAULT_MAX_LINE_BYTES == 64 * 1024
    assert settings.ingest_max_field_chars == BarRules().max_field_chars == 256


def test_the_bus_is_in_process_by_default() -> None:
    assert load_settings().bus_url == "memory://"


def test_a_bus_url_shows_masked_and_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPRED_BUS_URL", "redis://:hunter2@cache:6379/0")

    settings = load_settings()

    assert settings.bus_url == "redis://:hunter2@cache:6379/0"
    assert by_name(settings)["bus_url"] == ("redis://****@cache:6379/0", "env STOCKPRED_BUS_URL")
    assert "hunter2" not in repr(settings)


def test_a_bus_url_of_an_unknown_scheme_fails_at_start_up_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_BUS_URL", "amqp://guest:hunter2@mq:5672/")

    with pytest.raises(ConfigurationError, match=r"bus_url.*not a bus URL.*kafka://") as caught:
        load_settings()

    assert "hunter2" not in str(caught.value)
