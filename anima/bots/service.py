"""`anima run`: start every configured platform adapter, serve until SIGINT/SIGTERM, stop gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from anima.app import Runtime
from anima.bots.presence import bot_character
from anima.config import DiscordBotSettings, TelegramBotSettings
from anima.errors import AnimaError, ConfigError
from anima.ops.http import OpsServer

log = logging.getLogger(__name__)
FINISH_AFTER_CUT_S = 30.0  # for cut replies to be stored and sent, and sessions to close (slow when loaded)


class PlatformAdapter(Protocol):
    """One bot on one platform. Adapters translate platform events to Incoming and Replies back."""

    name: str
    online: str  # the start's one log line: "Aiko is online as @aiko_bot on Telegram"

    async def start(self) -> None:
        """Connect and begin receiving; return once the bot is serving."""

    async def stop(self) -> None:
        """Stop receiving, let in-flight replies finish, close sessions."""


BotSettings = TelegramBotSettings | DiscordBotSettings


@dataclass
class ServedBot:
    """One bot of the fleet: its platform, the character it is bound to, and its adapter."""

    platform: Literal["telegram", "discord"]
    character: str
    adapter: PlatformAdapter


def build_adapter(runtime: Runtime, bot: BotSettings, index: int) -> ServedBot:
    """The adapter of one configured bot; platform libraries are imported only when used."""
    character = bot_character(runtime, bot.character)
    if isinstance(bot, TelegramBotSettings):
        from anima.bots.telegram import TelegramAdapter

        return ServedBot("telegram", character, TelegramAdapter(runtime, bot, index))
    from anima.bots.discord import DiscordAdapter

    return ServedBot("discord", character, DiscordAdapter(runtime, bot, index))


def build_bots(runtime: Runtime) -> list[ServedBot]:
    """The adapters for every bot in the config (an unknown card fails here, listing the known ones)."""
    bots = runtime.settings.bots
    every: list[BotSettings] = [*bots.telegram, *bots.discord]
    if not every:
        raise ConfigError(
            ["no bots configured: add bots.telegram or bots.discord to config.yaml (see README)"]
        )
    indexes = [*range(len(bots.telegram)), *range(len(bots.discord))]
    return [build_adapter(runtime, bot, index) for bot, index in zip(every, indexes, strict=True)]


def build_adapters(runtime: Runtime) -> list[PlatformAdapter]:
    return [served.adapter for served in build_bots(runtime)]


@dataclass
class Fleet:
    """The bots `anima run` serves: those of the config at its start, and any the studio adds while
    it runs (stopped with the others)."""

    runtime: Runtime
    served: list[ServedBot] = field(default_factory=list)
    stopping: bool = False  # set when the shutdown begins: no bot starts after that
    _adding: asyncio.Lock = field(default_factory=asyncio.Lock)  # one at a time: each gets its own index

    async def start(self, served: ServedBot) -> None:
        await served.adapter.start()
        self.served.append(served)
        log.info("%s", served.adapter.online)

    async def add(self, bot: BotSettings) -> ServedBot:
        """Start one more bot now; it joins the running config's bots (config.yaml has it already)."""
        bots = self.runtime.settings.bots
        configured: list[Any] = bots.telegram if isinstance(bot, TelegramBotSettings) else bots.discord
        async with self._adding:
            if self.stopping:
                raise AnimaError("anima run is stopping: the bot starts with the next `anima run`")
            served = build_adapter(self.runtime, bot, len(configured))
            await self.start(served)
            configured.append(bot)
        return served

    @property
    def adapters(self) -> list[PlatformAdapter]:
        return [served.adapter for served in self.served]


async def serve(
    runtime: Runtime, stop: asyncio.Event | None = None, now: asyncio.Event | None = None
) -> None:
    """Run all adapters until `stop` is set (by SIGINT/SIGTERM when not given), then stop gracefully:
    every adapter stops receiving, replies in flight get `shutdown_grace_s` to finish, the rest are
    cut. `now` (a second signal) ends the grace at once."""
    if stop is None:
        signals = StopSignals()
        signals.install()
        stop, now = signals.first, signals.again
    planned = build_bots(runtime)
    ops = await OpsServer.start_for(runtime)  # /metrics, /healthz, /readyz when ops.metrics_port is set
    fleet = Fleet(runtime)
    studio = _studio_task(runtime, stop, fleet)  # the studio too, when studio.port is set
    try:
        for served in planned:
            await fleet.start(served)
        if ops is not None:
            ops.serving([adapter.name for adapter in fleet.adapters])
        await stop.wait()
    finally:
        fleet.stopping = True
        if ops is not None:
            ops.draining()  # /readyz answers 503 while the adapters stop
        await shut_down(runtime, fleet.adapters, now or asyncio.Event())
        if ops is not None:
            await ops.stop()
        if studio is not None:  # stopped with the bots (an adapter that failed to start included)
            studio.cancel()
            await asyncio.gather(studio, return_exceptions=True)


async def shut_down(runtime: Runtime, adapters: list[PlatformAdapter], now: asyncio.Event) -> None:
    """Stop every adapter at once (each stops receiving, waits for its replies, closes its sessions);
    past the grace, or when `now` is set, cut the replies still generating so that they end."""
    turns = runtime.pipeline.turns
    grace = runtime.settings.shutdown_grace_s
    log.warning("stopping: %d replies in flight get up to %g s to finish", turns.count, grace)
    stopping = [asyncio.create_task(_stop(adapter)) for adapter in reversed(adapters)]
    finished = asyncio.create_task(_all_finished(stopping, runtime))
    hurry = asyncio.create_task(now.wait())
    try:
        await asyncio.wait({finished, hurry}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            why = "a second signal" if now.is_set() else f"the {grace:g} s grace"
            log.warning("cutting %d replies still in flight after %s", turns.count, why)
            turns.cut()
            await asyncio.wait({finished}, timeout=FINISH_AFTER_CUT_S)
        if not finished.done():
            log.error("adapters did not stop within %g s of cutting the replies", FINISH_AFTER_CUT_S)
    finally:
        hurry.cancel()
        finished.cancel()
        await asyncio.gather(finished, hurry, return_exceptions=True)


async def _all_finished(stopping: list[asyncio.Task[None]], runtime: Runtime) -> None:
    await asyncio.gather(*stopping)
    await runtime.pipeline.turns.idle()  # an adapter that did not wait for its replies


async def _stop(adapter: PlatformAdapter) -> None:
    try:
        await adapter.stop()
    except Exception:
        log.exception("stopping %s failed", adapter.name)


def _studio_task(runtime: Runtime, stop: asyncio.Event, fleet: Fleet) -> asyncio.Task[None] | None:
    port = runtime.settings.studio.port
    if port is None:
        return None
    from anima.bots.studio.server import serve_studio

    token = os.environ.get("ANIMA_STUDIO_TOKEN") or None
    host = runtime.settings.studio.host
    serving = serve_studio(runtime, host, port, token, stop, fleet)
    return asyncio.create_task(serving, name="anima-studio")


class StopSignals:
    """SIGINT/SIGTERM: the first asks for a graceful stop, a second ends the grace; after that the
    default handlers are back, so a third one stops the process the hard way."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.again = asyncio.Event()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received, sig)

    def _received(self, sig: signal.Signals) -> None:
        if not self.first.is_set():
            log.warning("%s: stopping gracefully (send it again to cut replies in flight now)", sig.name)
            self.first.set()
            return
        log.warning("%s again: cutting replies in flight now", sig.name)
        self.again.set()
        loop = asyncio.get_running_loop()
        for handled in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(handled)
