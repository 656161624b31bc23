"""No token, key or password in any output: the real `anima` command, started to fail, in a subprocess."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_server import FakeTelegram, person, private_chat

ANIMA = str(Path(sys.executable).parent / "anima")
TOKEN = "5432109876:AAF-rejected-token-never-to-be-printed-x"
PASSWORD = "s3cret-Pa55word"
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.rejected.never-to-be-printed-discord"


def _closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, extra: str, database_url: str | None = None) -> Path:
    path = tmp_path / "config.yaml"
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'anima.db'}"
    path.write_text(
        f"characters_dir: {REPO / 'characters'}\n"
        "default_character: aiko\n"
        "log_level: DEBUG\n"  # every log line there is, on stderr: none may hold a secret
        "llm:\n  backends:\n    embedded: {kind: embedded, context_window: 1024, max_tokens: 24}\n"
        f"memory:\n  database_url: {url}\n" + extra
    )
    return path


async def _anima(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        ANIMA, *args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_rejected_telegram_token_is_named_but_never_printed(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram:  # knows no bot with this token: it answers 401
        config = _config(
            tmp_path,
            f"bots:\n  telegram:\n    - token: '{TOKEN}'\n      base_url: {telegram.base_url}\n"
            f"      base_file_url: {telegram.base_file_url}\n",
        )
        code, out, err = await _anima("--config", str(config), "run")
    assert code == 2
    assert "Telegram refused the token" in err
    secret_part = TOKEN.split(":")[1]
    assert secret_part not in out and secret_part not in err


async def test_an_unreachable_postgresql_never_shows_its_password(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://anima:{PASSWORD}@127.0.0.1:{_closed_port()}/anima"
    config = _config(tmp_path, "", database_url=url)
    for command in (["chat"], ["memory", "export", "lin"], ["memory", "forget", "lin", "--all-platforms"]):
        code, out, err = await _anima("--config", str(config), *command)
        assert code == 2, err
        assert err.startswith("error: cannot open the memory database postgresql+asyncpg://anima:***@")
        assert len(err.strip().splitlines()) == 1  # one line, no traceback
        assert PASSWORD not in out + err


async def test_a_password_in_a_url_on_the_command_line_is_masked_too(tmp_path: Path) -> None:
    config = _config(tmp_path, "")
    target = f"postgresql+asyncpg://anima:{PASSWORD}@127.0.0.1:{_closed_port()}/copy"
    code, out, err = await _anima("--config", str(config), "memory", "copy", "--to", target)
    assert code == 2
    assert "anima:***@127.0.0.1" in err and PASSWORD not in out + err


async def test_a_rejected_discord_token_is_named_but_never_printed(tmp_path: Path) -> None:
    fake = await FakeDiscord(token="the-right-token").start()
    try:
        config = _config(
            tmp_path, f"bots:\n  discord:\n    - token: '{DISCORD_TOKEN}'\n      api_base: {fake.api_base}\n"
        )
        code, out, err = await _anima("--config", str(config), "run")
    finally:
        await fake.close()
    assert code == 2
    assert "Discord refused the token" in err
    assert DISCORD_TOKEN not in out + err


async def test_a_bot_that_runs_and_answers_logs_neither_its_token_nor_the_api_key(tmp_path: Path) -> None:
    """`anima run` at DEBUG (every library's log lines: PTB's, httpx's request URLs, aiohttp's):
    a private message answered through the real PTB client, then stopped; nothing printed holds
    the bot token or the LLM's key."""
    token = "5432109876:AAF-a-working-token-never-to-be-printed"
    key = "sk-a-working-key-never-to-be-printed-0123"
    llm = FakeOpenAI(reply="Hello Alice!")
    await llm.start()
    try:
        async with FakeTelegram() as telegram:
            fake = telegram.add_bot("aiko_bot", "Aiko", token=token)
            config = tmp_path / "config.yaml"
            config.write_text(
                f"characters_dir: {REPO / 'characters'}\ndefault_character: aiko\nlog_level: DEBUG\n"
                "llm:\n  default: fake\n  backends:\n"
                f"    fake: {{kind: openai, base_url: '{llm.base_url}', api_key: {key}, max_retries: 0}}\n"
                f"memory:\n  database_url: sqlite+aiosqlite:///{tmp_path / 'anima.db'}\n"
                f"bots:\n  telegram:\n    - token: '{token}'\n      base_url: {telegram.base_url}\n"
                f"      base_file_url: {telegram.base_file_url}\n"
            )
            process = await asyncio.create_subprocess_exec(
                ANIMA, "--config", str(config), "run",
                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            alice = person(101, "Alice")
            fake.send_text(private_chat(alice), alice, "hello")
            await fake.wait_for_replies(alice["id"], 1, within_s=90)
            process.send_signal(signal.SIGINT)
            async with asyncio.timeout(60):
                out, err = await process.communicate()
    finally:
        await llm.stop()
    printed = out.decode() + err.decode()
    assert "Hello Alice!" in fake.replies(alice["id"])[-1].text
    assert "getUpdates" in printed or "sendMessage" in printed  # the libraries did log their requests
    for secret in (token.split(":")[1], key):
        assert secret not in printed
