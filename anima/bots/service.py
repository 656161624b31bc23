"""`anima run`: start every configured platform adapter, serve until SIGINT/SIGTERM, stop cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

from anima.core.runtime import Runtime
from anima.errors import ConfigError

log = logging.getLogger(__name__)


class PlatformAdapter(Protocol):
    """One bot on one platform. Adapters translate platform events to Incoming and Replies back."""

    name: str

    async def start(self) -> None:
        """Connect and begin receiving; return once the bot is serving."""

    async def stop(self) -> None:
        """Stop receiving, let in-flight replies finish, close sessions."""


def build_adapters(runtime: Runtime) -> list[PlatformAdapter]:
    """Adapters for every bot in the config; platform libraries are imported only when used."""
    bots = runtime.settings.bots
    adapters: list[PlatformAdapter] = []
    if bots.telegram:
        from anima.bots.telegram import TelegramAdapter

        adapters += [TelegramAdapter(runtime, bot, index) for index, bot in enumerate(bots.telegram)]
    if bots.discord:
        from anima.bots.discord import DiscordAdapter

        adapters += [DiscordAdapter(runtime, bot, index) for index, bot in enumerate(bots.discord)]
    for bot in [*bots.telegram, *bots.discord]:
        if bot.character:
            runtime.characters.get(bot.character)  # an unknown card fails at start, listing the known ones
    if not adapters:
        raise ConfigError(
            ["no bots configured: add bots.telegram or bots.discord to config.yaml (see README)"]
        )
    return adapters


async def serve(runtime: Runtime, stop: asyncio.Event | None = None) -> None:
    """Run all adapters until `stop` is set (by SIGINT/SIGTERM when not given)."""
    stop = stop or _stop_on_signals()
    adapters = build_adapters(runtime)
    started: list[PlatformAdapter] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.warning("serving %s", adapter.name)
        await stop.wait()
    finally:
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.name)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
