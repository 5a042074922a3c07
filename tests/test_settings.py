from pathlib import Path

import pytest

import tunewise
from tunewise import ConfigError, MissingAPIKeyError, Settings, load_settings


def test_env_vars_and_builtin_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNEWISE_PROFILES__MYVLLM__PLUGIN", "openai")
    monkeypatch.setenv("TUNEWISE_PROFILES__MYVLLM__BASE_URL", "http://127.0.0.1:9000/v1")
    settings = load_settings()
    assert settings.home == Path(str(tmp_path / "tunewise-home"))
    config = settings.provider_config("myvllm")
    assert (config.plugin, config.base_url, config.api_key) == ("openai", "http://127.0.0.1:9000/v1", None)
    assert settings.provider_config("ollama").base_url == "http://localhost:11434/v1"
    assert settings.provider_config("local").plugin == "local"


def test_a_builtin_profile_is_changed_field_by_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUNEWISE_PROFILES__OPENAI__BASE_URL", "http://proxy.internal:8080/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-field-by-field")
    config = load_settings().provider_config("openai")
    assert (config.plugin, config.base_url, config.api_key_env) == (
        "openai",
        "http://proxy.internal:8080/v1",
        "OPENAI_API_KEY",
    )
    assert config.require_api_key().get_secret_value() == "sk-field-by-field"
    toml = tmp_path / "tunewise.toml"
    toml.write_text("[profiles.ollama]\noptions = { timeout = 5 }\n")
    monkeypatch.setenv("TUNEWISE_CONFIG", str(toml))
    ollama = load_settings().provider_config("ollama")
    assert (ollama.plugin, ollama.base_url, ollama.options) == ("openai", "http://localhost:11434/v1", {"timeout": 5})


def test_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "tunewise.toml"
    config.write_text(
        '[profiles.lab]\nplugin = "openai"\nbase_url = "http://gpu-box:8000/v1"\napi_key = "lab-key-1234"\n'
    )
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    provider_config = load_settings().provider_config("lab")
    assert provider_config.base_url == "http://gpu-box:8000/v1"
    assert provider_config.require_api_key().get_secret_value() == "lab-key-1234"
    assert "lab-key-1234" not in repr(provider_config)
    assert "lab-key-1234" not in repr(load_settings())


def test_openai_key_from_conventional_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop")
    settings = Settings()
    key = settings.provider_config("openai").require_api_key()
    assert key.get_secret_value() == "sk-test-abcdefghijklmnop"
    assert "sk-test" not in repr(settings) and "sk-test" not in str(settings)


def test_missing_key_is_one_line() -> None:
    with pytest.raises(MissingAPIKeyError) as info:
        load_settings().provider_config("openai").require_api_key()
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "openai: no API key configured; set OPENAI_API_KEY or set profiles.openai.api_key in tunewise.toml"
    )


def test_bad_config_file_names_file_and_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[profiles.lab]\nplugn = "openai"\n')
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(config) in str(info.value) and "profiles.lab" in str(info.value)
    assert "\n" not in str(info.value)


def test_broken_toml_and_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[profiles\n")
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings()
    monkeypatch.setenv("TUNEWISE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        tunewise.load_settings()
