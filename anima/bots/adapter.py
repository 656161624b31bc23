"""What every platform's bot does the same way, whatever its library, written once: starting and
stopping, a message to the conversation service, a command or a button press to the command table,
and reading back what was sent while no process ran. A platform's adapter subclasses `BotAdapter`
and gives only its own steps (the methods that raise NotImplementedError) and its surface."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

from anima.bots.presence import Presence
from anima.bots.services import Services
from anima.bots.surface import BotSurface
from anima.commands import Context
from anima.commands.cards import install_cards
from anima.config import DiscordBotSettings, TelegramBotSettings
from anima.core.catch_up import CatchUp, ChatMark, ReadBack
from anima.core.in_flight import InFlight
from anima.core.messages import Attachment, Incoming
from anima.core.surface import Surface
from anima.errors import AnimaError, ConfigError
from anima.memory.inbox import Delivery
from anima.ops.logs import Redactor

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0  # for the platform's session to open
STOP_TIMEOUT_S = 30.0  # how long `stop` lets in-flight replies finish
M = TypeVar("M")  # the platform's message, as its library hands it over
S = TypeVar("S", bound=BotSurface[Any])  # the platform's surface
B = TypeVar("B", TelegramBotSettings, DiscordBotSettings)


class OnePerProcess:
    """A library's setting that is process-wide (a class attribute), so every bot of one process
    must use the same value: held by each bot while it runs (another value is refused, naming
    `field` and `why`), and `apply(None)` puts the library's default back once no bot holds it."""

    def __init__(self, field: str, why: str, apply: Callable[[str | None], None]) -> None:
        self.field, self.why, self.apply = field, why, apply
        self.holders: dict[int, str] = {}  # by id(bot)

    def hold(self, bot: object, value: str, where: str) -> None:
        if others := [held for held in self.holders.values() if held != value]:
            raise ConfigError(
                [f"{where}.{self.field}: {value} differs from another bot's {others[0]}; {self.why}"]
            )
        self.holders[id(bot)] = value
        self.apply(value)

    def holds(self, bot: object) -> bool:
        return id(bot) in self.holders

    def release(self, bot: object) -> None:
        if self.holders.pop(id(bot), None) is not None and not self.holders:
            self.apply(None)


class BotAdapter(Generic[M, S, B]):
    """One bot on one platform, from `start` to `stop`. `backlog`: what was sent while no process
    ran, read back once connected (set by a platform that never redelivers, e.g. Discord)."""

    platform: ClassVar[str]  # "discord"
    title: ClassVar[str]  # "Discord", in what people and operators read

    def __init__(self, runtime: Services, settings: B, name: str, where: str) -> None:
        self.runtime = runtime
        self.settings: B = settings
        self.name, self.where = name, where  # "discord bot #0" until logged in; "bots.discord[0]"
        self.online = f"serving {name}"
        self.presence = Presence(runtime, self.platform, self.title, settings.character)
        self.in_flight = InFlight(name)  # what `stop` lets finish
        self.backlog: CatchUp | None = None
        self.session: asyncio.Task[None] | None = None  # the connection, where it is a task of ours
        self.answering = False

    # -- what a platform gives ---------------------------------------------------------------

    async def log_in(self) -> None:
        """Check the token and learn the bot's account (then `arrive`); receive nothing yet."""
        raise NotImplementedError

    async def connect(self) -> None:
        """Begin receiving; return once the bot is serving."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close whatever `log_in` and `connect` opened (also after a start that failed halfway)."""
        raise NotImplementedError

    def read(self, message: M) -> tuple[Incoming, S] | None:
        """The message as the core's Incoming, and the surface to answer it on; None when it is never
        answered (decided at once, without I/O: messages are read in arrival order)."""
        raise NotImplementedError

    def delivery(self, message: M, incoming: Incoming) -> Delivery | None:
        """The message's entry in the inbox, with which the service answers it once: the backlog's,
        where the platform never redelivers (see `backlog`)."""
        return None if self.backlog is None else self.backlog.delivery(incoming)

    async def reach(self, chat_id: int, user_id: int, display_name: str, character_id: str) -> S | None:
        """A chat to write to unprompted, as `character_id` speaks there (see `open_chat`)."""
        raise NotImplementedError

    def as_member(self, heard: Surface, card_id: str) -> Surface | None:
        """`card_id` of a cast speaking where `heard` (any bot's surface) was heard (core/casts.py)."""
        raise NotImplementedError

    async def passed(self, message: M) -> None:
        """A message `read` found never to be answered (nothing to do unless the platform stored it)."""

    async def drain(self) -> None:
        """At stop, before answering ends: stop receiving, answer what the platform handed over."""

    def card_upload(self, message: M) -> bool:
        """A message carrying character cards to install rather than text to answer."""
        return False

    async def history(self, mark: ChatMark, window: ReadBack) -> list[M]:
        """A chat's messages in `window`, as the platform gives them (for `backlog`)."""
        return []

    def serves(self, mark: ChatMark) -> bool:
        """Whether this process reads back the chat (one of its shards serves it)."""
        return True

    # -- the lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, find the backlog, connect; on a failure nothing stays open or registered."""
        try:
            await self.log_in()
            if self.backlog is not None:
                await self.backlog.find(self.presence.bot_id, self.name)
            self.answering = True  # before connecting: a message may arrive as soon as it is open
            await self.connect()
        except BaseException:
            self.presence.leave()
            await self.close()
            raise

    def arrive(self, bot_id: str, username: str, name: str, speaks_as: str | None) -> None:
        """Logged in as `username` (account `bot_id`), named `name` in the log from now on; the
        core may open chats and speak in casts through this bot (as `speaks_as`; None: any)."""
        self.name = self.in_flight.name = name
        self.online = self.presence.arrive(bot_id, username, self.open_chat, self.as_member, speaks_as)

    async def stop(self) -> None:
        """Stop answering, let what is in flight finish (bounded), close."""
        self.presence.leave()
        await self.drain()
        self.answering = False
        if self.backlog is not None:
            self.backlog.release()  # messages held for the backlog are in flight too: let them finish
        await self.in_flight.finish(STOP_TIMEOUT_S)
        await self.close()

    async def connected(
        self, session: Coroutine[Any, Any, None], ready: asyncio.Event, refused: type[BaseException], fix: str
    ) -> None:
        """Run `session` (it lives until closed: `self.session`) until `ready` is set, within
        CONNECT_TIMEOUT_S. A session that ends first is an error (a `refused` one: `fix` it)."""
        running = self.session = asyncio.create_task(session)
        readied = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {running, readied}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        readied.cancel()
        if running in done:
            exc = running.exception()
            if isinstance(exc, refused):
                raise ConfigError([f"{self.where}: {fix}"])
            raise AnimaError(f"{self.where}: the {self.title} session closed: {exc}") from exc
        if not done:
            raise AnimaError(
                f"{self.where}: no {self.title} session within {CONNECT_TIMEOUT_S:.0f} s; is {self.title} up?"
            )
        running.add_done_callback(self._ended)

    async def closed(self) -> None:
        """Wait (bounded) for the session `connected` started to end, once asked to close."""
        if self.session is not None:
            try:
                await asyncio.wait_for(self.session, 10)
            except Exception as exc:  # already logged by _ended
                log.debug("%s: the session ended with %r", self.name, exc)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: the %s session ended: %s", self.name, self.title, task.exception())

    @asynccontextmanager
    async def logging_in(
        self, refused: type[BaseException], unreachable: tuple[type[BaseException], ...], fix: str, url: str
    ) -> AsyncIterator[None]:
        """A failed log-in said plainly: a refused token with where to get it again (the library's
        words may quote it), an unreachable server with the error, the token taken out."""
        try:
            yield
        except refused:
            raise ConfigError([f"{self.where}.token: {self.title} refused the token; {fix}"]) from None
        except unreachable as exc:
            why = Redactor([self.settings.token.get_secret_value()])(f"{type(exc).__name__}: {exc}")
            raise AnimaError(f"{self.where}: cannot reach {self.title} at {url} ({why})") from None

    # -- messages ----------------------------------------------------------------------------

    async def receive(self, message: M, live: bool = False) -> None:
        """One message to the conversation service, which answers it once and in order when it is
        for a character; `live`: held until the backlog is answered. Never raises."""
        if not self.answering:
            return
        try:
            read = self.read(message)
            if read is None:
                await self.passed(message)
                return
            incoming, surface = read
            self.in_flight.track()
            if live and self.backlog is not None:
                await self.backlog.wait()
            if self.card_upload(message):
                await self.install(surface, incoming.attachments)
                return
            await self.runtime.conversations.handle(incoming, surface, self.delivery(message, incoming))
        except Exception:
            log.exception("%s: answering a message failed", self.name)

    async def install(self, surface: S, attachments: Sequence[Attachment]) -> None:
        """Character cards sent to the bot (anima.commands.cards): installed, and the outcome said."""
        await surface.send_text((await install_cards(await self.context(surface, "", attachments))).text)

    def catch_up(self) -> None:
        """Once connected and ready, answer what was sent while no process ran (live messages wait)."""
        if self.answering and self.backlog is not None:
            if reading := self.backlog.start(self.history, self._again, self.serves):
                self.in_flight.track(reading)

    async def _again(self, message: M) -> None:
        if not self.card_upload(message):  # a card sent to install is not one to answer again
            await self.receive(message)

    async def open_chat(self, chat_id: str, user_id: str, display_name: str, character_id: str) -> S | None:
        """A chat to write to unprompted (core/proactive.py); None when it cannot be reached or its
        ids are none of the platform's (integers: a Telegram group's are negative)."""
        if not (chat_id.removeprefix("-").isdigit() and user_id.isdigit()):
            return None
        return await self.reach(int(chat_id), int(user_id), display_name, character_id)

    # -- commands and buttons, from anima.commands' table ----------------------------------------

    async def command(
        self, surface: S, name: str, args: str = "", attachments: Sequence[Attachment] = ()
    ) -> None:
        """Run the command `name` with `args` as the person of `surface`."""
        await self.runtime.commands.run(name, await self.context(surface, args.strip(), attachments))

    async def context(self, surface: S, args: str, attachments: Sequence[Attachment] = ()) -> Context:
        """With the character answering in the chat (bound to it, else the bot's own)."""
        return await self.runtime.commands.context(
            surface,
            args,
            tuple(attachments),
            default=self.presence.character,
            chats=surface.chats,
            bot_key=surface.bot_key,
            guild_id=surface.guild_id,
        )
