from pathlib import Path

import pytest

from agent.settings import SettingsError, env_names, load_settings


def test_defaults_listen_on_loopback_and_verify_tls() -> None:
    settings = load_settings(None, {})
    assert settings.metrics.host == "127.0.0.1"
    assert settings.metrics.port == 9273
    assert settings.influxdb.verify_tls is True
    assert settings.influxdb.transport == "v1"


def test_toml_then_environment_overrides(tmp_path: Path) -> None:
    config = tmp_path / "netmon.toml"
    config.write_text(
        'agent_name = "dc1-agent"\n[influxdb]\nurl = "http://127.0.0.1:1"\ndatabase = "a"\n'
    )
    settings = load_settings(
        config, {"NETMON_INFLUXDB_DATABASE": "b", "NETMON_METRICS_LISTEN": "127.0.0.2:9100"}
    )
    assert settings.agent_name == "dc1-agent"
    assert settings.influxdb.url == "http://127.0.0.1:1"
    assert settings.influxdb.database == "b"
    assert (settings.metrics.host, settings.metrics.port) == ("127.0.0.2", 9100)


def test_every_setting_has_an_environment_name() -> None:
    names = env_names()
    assert names["NETMON_INFLUXDB_URL"] == ("influxdb", "url")
    assert names["NETMON_STATE_DIR"] == ("state_dir",)
    assert names["NETMON_INVENTORY_VAULT_PASSWORD_FILE"] == ("inventory", "vault_password_file")


def test_secrets_from_files_and_environment_stay_masked(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok-123456789\n")
    settings = load_settings(
        None,
        {"NETMON_INFLUXDB_TOKEN_FILE": str(token_file), "NETMON_INFLUXDB_PASSWORD": "pw-98765"},
    )
    token = settings.influxdb.resolved_token()
    assert token is not None and token.reveal() == "tok-123456789"
    dump = settings.model_dump_json()
    assert "pw-98765" not in dump and "tok-123456789" not in dump


def test_invalid_environment_value_names_the_variable_not_the_value() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, {"NETMON_INFLUXDB_BATCH_SIZE": "9999", "NETMON_METRICS_LISTEN": "x"})
    text = str(error.value)
    assert "NETMON_INFLUXDB_BATCH_SIZE (environment)" in text
    assert "NETMON_METRICS_LISTEN (environment)" in text


def test_invalid_file_names_file_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[influxdb]\ntransport = "v9"\nbogus = 1\n')
    with pytest.raises(SettingsError) as error:
        load_settings(config, {})
    assert f"{config}: influxdb.transport" in str(error.value)
    assert f"{config}: influxdb.bogus" in str(error.value)


def test_broken_toml_is_reported_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[influxdb\n")
    with pytest.raises(SettingsError, match=r"broken\.toml: invalid TOML"):
        load_settings(config, {})


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(None, {"NETMON_INFLUXDB_URL": "http://admin:hunter2@127.0.0.1:8086"})
    assert "hunter2" not in str(error.value)
    assert "NETMON_INFLUXDB_URL (environment)" in str(error.value)
    with pytest.raises(SettingsError, match="expected http"):
        load_settings(None, {"NETMON_INFLUXDB_URL": "ftp://127.0.0.1:99999"})


def test_an_empty_secret_file_is_an_error_not_no_credentials(tmp_path: Path) -> None:
    empty = tmp_path / "password"
    empty.write_text("\n")
    settings = load_settings(None, {"NETMON_INFLUXDB_PASSWORD_FILE": str(empty)})
    with pytest.raises(SettingsError, match="is empty"):
        settings.influxdb.resolved_password()
