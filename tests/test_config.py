"""config.yaml: typed settings, ${VAR} interpolation, and errors that name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima.config import EmbeddedBackend, OpenAIBackend, load_settings
from anima.errors import ConfigError
from tests.conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return [p.replace(str(path), "config.yaml") for p in caught.value.problems]


def test_the_shipped_config_loads_with_the_keys_deployments_rely_on() -> None:
    settings = load_settings(REPO / "config.yaml", env={})
    assert settings.default_character == "aiko"
    assert settings.llm.default == "embedded"
    assert isinstance(settings.llm.backends["embedded"], EmbeddedBackend)
    openai = settings.llm.backends["openai"]
    assert isinstance(openai, OpenAIBackend)
    assert openai.base_url == "https://api.openai.com/v1"
    assert settings.memory.database_url == "sqlite+aiosqlite:///data/anima.db"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "characters_dir: cards\n"), env={})
    assert settings.resolve(settings.characters_dir) == tmp_path / "cards"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/data/anima.db"


def test_environment_variables_and_defaults_are_interpolated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "llm:\n"
        "  default: remote\n"
        "  backends:\n"
        "    remote:\n"
        "      kind: openai\n"
        '      base_url: "${BASE:-http://localhost:11434/v1}"\n'
        '      api_key: "${KEY}"\n',
    )
    settings = load_settings(path, env={"KEY": "sk-secret"})
    remote = settings.llm.backends["remote"]
    assert isinstance(remote, OpenAIBackend)
    assert remote.base_url == "http://localhost:11434/v1"
    assert remote.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings) and "sk-secret" not in str(settings.model_dump())


def test_a_missing_environment_variable_names_the_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path, "llm:\n  backends:\n    o:\n      kind: openai\n      api_key: ${OPENAI_API_KEY}\n"
    )
    assert problems(path) == [
        "config.yaml:5: llm.backends.o.api_key: environment variable OPENAI_API_KEY is not set "
        "(or write ${OPENAI_API_KEY:-default})"
    ]


def test_an_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "characters_dir: characters\nmemroy:\n  database_url: x\n")
    assert problems(path) == ["config.yaml:2: memroy: unknown field"]


def test_an_unknown_key_inside_a_backend_is_reported_with_its_full_path(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  backends:\n    embedded:\n      kind: embedded\n      treads: 4\n")
    assert problems(path) == ["config.yaml:5: llm.backends.embedded.treads: unknown field"]


def test_a_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  max_concurrency: lots\n")
    assert problems(path) == ["config.yaml:2: llm.max_concurrency: expected a whole number, got text"]


def test_an_unknown_backend_kind_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  backends:\n    x:\n      kind: claude\n")
    assert problems(path) == [
        "config.yaml:4: llm.backends.x.kind: expected kind to be one of embedded, openai"
    ]


def test_a_default_backend_that_is_not_defined_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  default: gpt\n")
    assert problems(path) == [
        "config.yaml:1: llm: backend 'gpt' is not defined under llm.backends (defined: embedded)"
    ]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  default: [embedded\n")
    assert problems(path)[0].startswith("config.yaml:3: invalid YAML:")


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_anima_config_environment_variable_selects_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANIMA_CONFIG", str(write(tmp_path, "default_character: grimble\n")))
    assert load_settings().default_character == "grimble"
