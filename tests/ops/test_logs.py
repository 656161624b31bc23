"""Log lines: one per event, JSON that parses when asked for, and never a token or an API key."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from anima.config import (
    BotsSettings,
    DiscordBotSettings,
    LLMSettings,
    OpenAIBackend,
    OpsSettings,
    Settings,
    TelegramBotSettings,
)
from anima.ops.logs import JsonFormatter, Redactor, TextFormatter, formatter_for, secrets_in

TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
DISCORD_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.fake-discord-secret-value-xyz"
API_KEY = "sk-proj-abcdefghijklmnop0123456789"


@pytest.fixture
def secret_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "bots": BotsSettings(
                telegram=[TelegramBotSettings(token=SecretStr(TELEGRAM_TOKEN))],
                discord=[DiscordBotSettings(token=SecretStr(DISCORD_TOKEN))],
            ),
            "llm": LLMSettings(
                default="cloud",
                backends={"cloud": OpenAIBackend(kind="openai", api_key=SecretStr(API_KEY))},
            ),
        }
    )


@pytest.fixture
def logged(secret_settings: Settings, request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Everything logged under `anima.test` while the test runs, formatted as `ops.log_format` says."""
    fmt = request.param
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    chosen = secret_settings.model_copy(update={"ops": OpsSettings(log_format=fmt)})
    handler.setFormatter(formatter_for(chosen))
    logger = logging.getLogger("anima.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)


def log_everything_secret() -> None:
    log = logging.getLogger("anima.test")
    log.info("HTTP Request: POST https://api.telegram.org/bot%s/getUpdates", TELEGRAM_TOKEN)
    log.warning("sending with headers %s", {"Authorization": f"Bot {DISCORD_TOKEN}"})
    try:
        raise RuntimeError(f"backend refused key {API_KEY}")
    except RuntimeError:
        log.exception("generation failed")
    log.info("chat opened", extra={"platform": "telegram", "url": f"https://x/bot{TELEGRAM_TOKEN}/y"})


@pytest.mark.parametrize("logged", ["json"], indirect=True)
def test_json_logs_are_one_parsable_object_per_event(logged: io.StringIO) -> None:
    log_everything_secret()

    events = [json.loads(line) for line in logged.getvalue().splitlines()]

    assert [e["message"].split(" ")[0] for e in events] == ["HTTP", "sending", "generation", "chat"]
    assert events[2]["level"] == "ERROR" and "RuntimeError" in events[2]["exc"]
    assert events[3]["platform"] == "telegram"


@pytest.mark.parametrize("logged", ["json", "text"], indirect=True)
def test_no_token_or_api_key_reaches_a_log_line(logged: io.StringIO) -> None:
    log_everything_secret()

    text = logged.getvalue()
    for secret in (TELEGRAM_TOKEN, DISCORD_TOKEN, API_KEY, TELEGRAM_TOKEN.split(":")[1]):
        assert secret not in text
    assert text.count("<redacted>") >= 4


@pytest.mark.parametrize("logged", ["text"], indirect=True)
def test_text_logs_keep_a_traceback_on_its_event_line(logged: io.StringIO) -> None:
    log_everything_secret()

    lines = logged.getvalue().splitlines()

    assert len(lines) == 4
    assert "generation failed | Traceback" in lines[2]


def test_a_token_not_in_the_settings_is_redacted_by_its_shape() -> None:
    url = "POST /bot987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
    record = logging.makeLogRecord({"msg": url})

    for formatter in (TextFormatter, JsonFormatter):
        assert "ZZHdq" not in formatter_for_nothing(formatter).format(record)


def formatter_for_nothing(kind: type[TextFormatter] | type[JsonFormatter]) -> logging.Formatter:
    return kind(Redactor())


def test_every_secret_in_the_settings_is_found(secret_settings: Settings) -> None:
    assert set(secrets_in(secret_settings)) == {TELEGRAM_TOKEN, DISCORD_TOKEN, API_KEY}


def test_library_chatter_and_voice_support_warnings_stay_out_of_the_log() -> None:
    script = (
        "import logging\n"
        "from anima.config import Settings\n"
        "from anima.ops.logs import setup_logging\n"
        "setup_logging(Settings(), default_level='INFO')\n"
        "voice = logging.getLogger('discord.client')\n"
        "voice.warning('PyNaCl is not installed, voice will NOT be supported')\n"
        "voice.warning('davey is not installed, voice will NOT be supported')\n"
        "logging.getLogger('httpx').info('HTTP Request: POST https://api.telegram.org/bot/getMe')\n"
        "logging.getLogger('discord.gateway').warning('Shard ID None has stopped responding')\n"
        "logging.getLogger('anima.bots.service').info('Aiko is online as @aiko_bot on Telegram')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    assert "WARNING discord.gateway: Shard ID None has stopped responding" in lines[0]
    assert "INFO anima.bots.service: Aiko is online as @aiko_bot on Telegram" in lines[1]
