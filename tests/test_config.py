"""config.yaml: typed settings, ${VAR} interpolation, and errors that name file, line and key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from anima.cli import main
from anima.config import EmbeddedBackend, OpenAIBackend, load_settings
from anima.errors import ConfigError, InputRejected
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


def test_a_key_set_twice_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  default: embedded\n  max_concurrency: 2\n  default: openai\n")
    assert problems(path) == ["config.yaml:4: llm.default: duplicate key: also set on line 2; keep one"]


def test_a_malformed_placeholder_is_an_error_not_literal_text(tmp_path: Path) -> None:
    path = write(tmp_path, 'llm:\n  backends:\n    o:\n      kind: openai\n      api_key: "${OPENAI_KEY"\n')
    assert problems(path, env={"OPENAI_KEY": "sk-secret"}) == [
        "config.yaml:5: llm.backends.o.api_key: malformed placeholder '${OPENAI_KEY': "
        "write ${NAME} or ${NAME:-default}"
    ]


def test_a_telegram_webhook_without_url_is_an_error_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, "bots:\n  telegram:\n    - token: '1:x'\n      mode: webhook\n")
    assert problems(path) == [
        "config.yaml:3: bots.telegram[0]: mode: webhook needs url (the public HTTPS address Telegram "
        "posts updates to)"
    ]


def test_a_config_alias_bomb_is_refused_by_what_it_would_become(tmp_path: Path) -> None:
    levels = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "extras:\n" + "".join(f"  {line}\n" for line in levels))
    with pytest.raises(InputRejected) as caught:
        load_settings(path, env={})
    assert caught.value.problems[0].replace(str(path), "config.yaml") == (
        "config.yaml:6: more than 100,000 values (aliases counted as what they repeat), more than a config "
        "file may hold; make it smaller"
    )


# `anima config check` runs check_start, which a start runs too (anima/preflight.py)

CARD = "name: Tom\ndescription: d\ngreeting: hi\n"
REMOTE = "llm:\n  default: remote\n  backends:\n    remote:\n      kind: openai\n"


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    (tmp_path / "characters").mkdir(exist_ok=True)
    (tmp_path / "characters" / "tom.yaml").write_text(CARD)
    path = write(tmp_path, "default_character: tom\n" + text)
    code = main(["--config", str(path), "config", "check"])
    captured = capsys.readouterr()
    return code, [
        line.replace(str(path), "config.yaml") for line in (captured.out + captured.err).splitlines()
    ]


def test_config_check_passes_a_config_a_start_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = check(tmp_path, REMOTE, capsys)
    assert code == 0 and lines == ["ok: config.yaml: 1 characters, backends: remote"]


def test_config_check_names_a_bot_bound_to_an_unknown_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bots = "bots:\n  discord:\n    - token: x\n      character: nobody\n"
    assert check(tmp_path, REMOTE + bots, capsys) == (
        2,
        ["error: config.yaml:10: bots.discord[0].character: no character named 'nobody'; available: tom"],
    )


def test_config_check_names_a_missing_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = f"llm:\n  backends:\n    embedded:\n      kind: embedded\n      model_path: {tmp_path}/no.gguf\n"
    code, lines = check(tmp_path, model, capsys)
    assert code == 2
    assert lines == [
        f"error: config.yaml:6: llm.backends.embedded.model_path: model file not found: {tmp_path}/no.gguf "
        "(a .gguf file; relative to the working directory)"
    ]


def test_config_check_refuses_an_unsupported_database_without_showing_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memory = "memory:\n  database_url: mysql://root:hunter2@db/anima\n"
    code, lines = check(tmp_path, REMOTE + memory, capsys)
    assert code == 2
    assert lines == [
        "error: config.yaml:8: memory.database_url: mysql://root:***@db/anima: mysql is not supported for "
        "memory; expected sqlite+aiosqlite:///path/to/anima.db or postgresql+asyncpg://user@host/anima"
    ]
    assert "hunter2" not in "\n".join(lines)


def test_config_check_and_start_refuse_the_same_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from anima.app import Runtime

    bots = "bots:\n  telegram:\n    - token: '1:x'\n      character: nobody\n"
    code, lines = check(tmp_path, REMOTE + bots, capsys)
    with pytest.raises(ConfigError) as caught:
        asyncio.run(Runtime.start(load_settings(tmp_path / "config.yaml", env={})))
    assert code == 2
    assert [
        f"error: {p}".replace(str(tmp_path / "config.yaml"), "config.yaml") for p in caught.value.problems
    ] == lines


def test_config_check_names_an_empty_token_and_a_judge_without_a_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rest = "bots:\n  telegram:\n    - token: '${TG_TOKEN:-}'\nsafety:\n  moderation:\n    kind: judge\n"
    code, lines = check(tmp_path, REMOTE + rest, capsys)
    assert code == 2
    assert lines == [
        "error: config.yaml:9: bots.telegram[0].token: is empty: "
        "set the bot's token (e.g. ${TOKEN_VARIABLE})",
        "error: config.yaml:11: safety.moderation: kind judge needs `backend`, one of llm.backends (remote)",
    ]
