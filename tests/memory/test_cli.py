"""`anima memory export USER` and `anima memory forget USER` on a real database file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from anima.cli import main
from anima.core.messages import ConversationKey
from anima.memory.store import MemoryStore
from tests.conftest import REPO


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path}/anima.db"

    async def fill() -> None:
        store = await MemoryStore.open(url)
        for user in ("lin", "ana"):
            state = await store.conversation(ConversationKey("telegram", "42", user, "aiko"), user.title())
            await store.add(state, "user", f"Hello, I am {user.title()}.")
        await store.close()

    asyncio.run(fill())
    path = tmp_path / "config.yaml"
    path.write_text(f"characters_dir: {REPO / 'characters'}\nmemory:\n  database_url: {url}\n")
    return path


def test_export_writes_the_users_data_as_json(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "lin.json"
    assert main(["--config", str(config), "memory", "export", "lin", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["user_id"] == "lin" and data["platform"] == "telegram"
    assert [m["text"] for m in data["conversations"][0]["messages"]] == ["Hello, I am Lin."]


def test_forget_removes_the_user_and_only_them(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "memory", "forget", "lin", "--platform", "telegram"]) == 0
    assert "forgot lin on telegram: 1 messages" in capsys.readouterr().out
    assert main(["--config", str(config), "memory", "export", "lin"]) == 2
    assert "no user 'lin'" in capsys.readouterr().err
    assert main(["--config", str(config), "memory", "export", "ana"]) == 0


def test_forget_without_a_platform_asks_which_and_deletes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "memory", "forget", "lin"]) == 2
    assert "add --platform telegram|discord|terminal, or --all-platforms" in capsys.readouterr().err
    assert main(["--config", str(config), "memory", "export", "lin"]) == 0  # still there
    assert main(["--config", str(config), "memory", "forget", "lin", "--all-platforms"]) == 0
    assert "forgot lin on telegram" in capsys.readouterr().out
