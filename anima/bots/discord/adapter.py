"""The Discord adapter: one bot application (one token) and its gateway connection. Each message goes
to the conversation service, each slash command or button to the command table; messages.py
translates in, surface.py delivers out."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import ClassVar

import aiohttp
import discord
import yarl
from discord import app_commands

from anima.bots.discord.commands import install_commands
from anima.bots.discord.messages import PLATFORM, Addressing, chat_ids, to_attachment, to_incoming
from anima.bots.discord.surface import DiscordSurface
from anima.bots.discord.webhooks import PersonaWebhooks
from anima.bots.presence import Presence
from anima.bots.services import Services
from anima.commands import Context
from anima.commands.buttons import pressed
from anima.commands.cards import install_cards, is_card_file
from anima.config import DiscordBotSettings
from anima.core.catch_up import CATCH_UP_MESSAGES, CatchUp, ChatMark, ReadBack
from anima.core.in_flight import InFlight
from anima.core.streaming import EditPacer
from anima.core.surface import Surface
from anima.errors import AnimaError, ConfigError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # how long `stop` lets in-flight replies finish
DEFAULT_API_BASE = discord.http.Route.BASE
DEFAULT_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
REFUSED_TOKEN = (
    "Discord refused the token; copy it again from the Bot page of your application in the developer portal"
)
NO_CONTENT_INTENT = (
    "Discord refused the Message Content intent; enable it under Bot → Privileged Gateway Intents → "
    "Message Content Intent in the developer portal (see docs/discord.md)"
)


def intents() -> discord.Intents:
    """Servers, server and DM messages, and their content (a privileged intent, enabled in the portal)."""
    wanted = discord.Intents.none()
    wanted.guilds = wanted.guild_messages = wanted.dm_messages = wanted.message_content = True
    return wanted


class _ApiBase:
    """discord.py keeps the REST base URL in a class attribute (`Route.BASE`, shared by webhooks and
    interactions), so every Discord bot of one process must use the same one. Set while any runs."""

    users: ClassVar[Counter[str]] = Counter()

    @classmethod
    def acquire(cls, api_base: str, where: str) -> None:
        base = api_base.rstrip("/")
        others = [b for b, n in cls.users.items() if n and b != base]
        if others:
            raise ConfigError(
                [
                    f"{where}.api_base: {base} differs from another Discord bot's {others[0]}; "
                    "discord.py allows one API base per process, so give every Discord bot the same api_base"
                ]
            )
        cls.users[base] += 1
        discord.http.Route.BASE = base

    @classmethod
    def release(cls, api_base: str) -> None:
        cls.users[api_base.rstrip("/")] -= 1
        if not +cls.users:
            discord.http.Route.BASE = DEFAULT_API_BASE
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = DEFAULT_GATEWAY


class AnimaClient(discord.AutoShardedClient):
    """discord.py's client; shards as Discord recommends (one for a bot in fewer than ~1,000 servers)."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__(
            intents=intents(),
            allowed_mentions=adapter.mentions,
            max_messages=None,  # replies carry the message they answer: no cache needed
            chunk_guilds_at_startup=False,
            # None: every shard in this process (discord.py reads it so; its hints say list[int] only)
            shard_ids=adapter.settings.shard_ids,  # type: ignore[arg-type]  # see above
            shard_count=adapter.settings.shard_count,
        )
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.connected = asyncio.Event()

    async def setup_hook(self) -> None:
        if self.adapter.settings.api_base.rstrip("/") != DEFAULT_API_BASE:
            # A proxy's /gateway/bot names its gateway; also use it when a session cannot be resumed.
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        install_commands(self.tree, self.adapter)
        try:
            synced = await self.tree.sync()
            log.info("%s: %d slash commands synced", self.adapter.name, len(synced))
        except discord.HTTPException as exc:
            log.warning(
                "%s: could not register slash commands (%s); invite the bot with the applications.commands "
                "scope (see docs/discord.md)",
                self.adapter.name,
                exc,
            )

    async def on_connect(self) -> None:
        self.connected.set()

    async def on_ready(self) -> None:  # every shard is up and its servers known (again after a reconnect)
        self.adapter.catch_up()

    async def on_message(self, message: discord.Message) -> None:  # live: once the backlog is answered
        await self.adapter.receive(message, after_backlog=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:  # slash commands: the tree's
        if interaction.type is discord.InteractionType.component:
            await self.adapter.press(interaction)


class DiscordAdapter:
    """One Discord bot application (one token), serving DMs, servers, threads and slash commands."""

    def __init__(self, runtime: Services, settings: DiscordBotSettings, index: int) -> None:
        self.runtime, self.settings, self.index = runtime, settings, index
        self.where = f"bots.discord[{index}]"
        self.name = f"discord bot #{index}"
        self.online = f"serving {self.name}"
        self.presence = Presence(runtime, PLATFORM, "Discord", settings.character)
        self.mentions = discord.AllowedMentions(
            everyone=False, users=False, roles=False, replied_user=settings.mention_replied_user
        )
        self.pacer = EditPacer(settings.edit_interval_s)  # streaming edits, per channel
        self.client = AnimaClient(self)
        self.webhooks = PersonaWebhooks(self.client)
        allow = {str(int(bot_id)) for bot_id in settings.allow_bots}  # as Discord writes ids
        self.addressing = Addressing(self.client, runtime, self.presence.character, self.webhooks, allow)
        self.backlog = CatchUp(runtime.conversations.inbox, PLATFORM, discord.utils.time_snowflake)
        self._connection: asyncio.Task[None] | None = None
        self.in_flight = InFlight(self.name)  # what `stop` lets finish
        self._answering = False
        self._holds_api_base = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        _ApiBase.acquire(self.settings.api_base, self.where)
        self._holds_api_base = True
        try:
            await self._log_in()
            await self.backlog.find(self.presence.bot_id, self.name)
            self._answering = True  # before connecting: a message may arrive right after READY
            await self._connect()
        except BaseException:
            self.presence.leave()
            await self._close()
            raise

    async def _log_in(self) -> None:
        try:
            await self.client.login(self.settings.token.get_secret_value())
        except discord.LoginFailure:
            raise ConfigError([f"{self.where}.token: {REFUSED_TOKEN}"]) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            raise AnimaError(
                f"{self.where}: cannot reach Discord at {self.settings.api_base}: {exc}"
            ) from exc
        assert self.client.user is not None
        self.name = self.in_flight.name = f"discord bot @{self.client.user.name} (#{self.index})"
        # speaking as any character: the bot's own as itself, the others through webhooks
        bot_id, username = str(self.client.user.id), self.client.user.name
        self.online = self.presence.arrive(bot_id, username, self._open_chat, self._as_member, None)

    async def _connect(self) -> None:
        """Open the gateway session; discord.py reconnects by itself from then on."""
        connection = self._connection = asyncio.create_task(self.client.connect(reconnect=True))
        connected = asyncio.create_task(self.client.connected.wait())
        done, _ = await asyncio.wait(
            {connection, connected}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        connected.cancel()
        if connection in done:
            exc = connection.exception()
            if isinstance(exc, discord.PrivilegedIntentsRequired):
                raise ConfigError([f"{self.where}: {NO_CONTENT_INTENT}"])
            raise AnimaError(f"{self.where}: the gateway connection closed: {exc}") from exc
        if not done:
            raise AnimaError(
                f"{self.where}: no gateway session within {CONNECT_TIMEOUT_S:.0f} s; is Discord up?"
            )
        connection.add_done_callback(self._connection_ended)

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: gateway connection ended: %s", self.name, task.exception())

    async def stop(self) -> None:
        """Stop answering, let replies in flight finish (bounded), close the gateway and HTTP sessions."""
        self._answering = False
        self.presence.leave()
        self.backlog.release()  # messages held for the backlog are in flight too: let them finish
        await self.in_flight.finish(STOP_TIMEOUT_S)
        await self._close()

    async def _close(self) -> None:
        if not self.client.is_closed():
            await self.client.close()
        if self._connection is not None:
            try:
                await asyncio.wait_for(self._connection, 10)
            except Exception as exc:  # already logged by _connection_ended
                log.debug("%s: connection task ended with %r", self.name, exc)
        if self._holds_api_base:
            self._holds_api_base = False
            _ApiBase.release(self.settings.api_base)

    async def _open_chat(
        self, chat_id: str, user_id: str, display_name: str, character_id: str
    ) -> DiscordSurface | None:
        """A channel to write to unprompted (a character writing first), as `character_id` speaks
        there; None when the channel or the person is gone."""
        client = self.client
        if not (chat_id.isdigit() and user_id.isdigit()):
            return None
        try:
            channel = client.get_channel(int(chat_id)) or await client.fetch_channel(int(chat_id))
        except discord.HTTPException as exc:
            log.info("%s: channel %s cannot be reached: %s", self.name, chat_id, type(exc).__name__)
            return None
        if not isinstance(channel, discord.abc.Messageable):
            return None
        guild = getattr(channel, "guild", None)
        user: discord.abc.User | None = channel.recipient if isinstance(channel, discord.DMChannel) else None
        if user is None and guild is not None:
            user = guild.get_member(int(user_id))
        user = user or client.get_user(int(user_id))
        if user is None:
            return None
        return DiscordSurface(self, channel, user, card_id=character_id)

    # -- messages --------------------------------------------------------------------------

    async def receive(self, message: discord.Message, after_backlog: bool = False) -> None:
        """One message to the conversation service, which answers it once and in order if it is
        addressed to a character; `after_backlog`: a live one, held until the backlog is answered.
        Never raises."""
        incoming = to_incoming(message)
        if not self._answering or self.addressing.ignored(message, incoming):
            return
        self.in_flight.track()
        try:
            if after_backlog:
                await self.backlog.wait()
            surface = DiscordSurface(self, message.channel, message.author, message)
            if _is_card_upload(message):
                answer = await install_cards(await self._context(surface, "", message.attachments))
                await surface.send_text(answer.text)
                return
            guild = message.guild.id if message.guild else None
            taken = self.backlog.delivery(message.id, message.channel.id, guild)
            await self.runtime.conversations.handle(incoming, surface, taken)
        except Exception:
            log.exception("%s: answering message %s failed", self.name, message.id)

    def _as_member(self, heard: Surface, card_id: str) -> Surface | None:
        """A cast member speaking in the channel of a message this bot received (see core/casts.py):
        the bot's own character as the bot, any other through a webhook under its name."""
        if not isinstance(heard, DiscordSurface) or heard.adapter is not self:
            return None
        return DiscordSurface(self, heard.channel, heard.user, heard.message, card_id=card_id)

    # -- slash commands and buttons, made from anima.commands' table -------------------------

    async def run(
        self,
        interaction: discord.Interaction,
        name: str,
        args: str = "",
        files: list[discord.Attachment] | None = None,
    ) -> None:
        """Run the command `name` with `args` as the person of `interaction`."""
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)
        surface = DiscordSurface(self, channel, interaction.user, interaction=interaction, files=files)
        await self.runtime.commands.run(name, await self._context(surface, args.strip(), files or []))

    async def press(self, interaction: discord.Interaction) -> None:
        """A button under one of the bot's texts (anima.commands.buttons): its command as the person
        who pressed; a forged, stale or someone else's press gets a private answer."""
        custom_id = str(dict(interaction.data or {}).get("custom_id", ""))  # a component's: a button's
        press = pressed(custom_id, str(interaction.user.id), interaction.user.bot)
        if isinstance(press, str):
            await interaction.response.send_message(press, ephemeral=True)
            return
        await self.run(interaction, press.name, press.args)

    async def _context(self, surface: DiscordSurface, args: str, files: list[discord.Attachment]) -> Context:
        """With the character answering in the channel unless addressed by name or reply."""
        return await self.runtime.commands.context(
            surface,
            args,
            tuple(to_attachment(a) for a in files),
            default=self.presence.character,
            chats=chat_ids(surface.channel),
            guild_id=surface.guild_id,
        )

    # -- the backlog after a start (anima.core.catch_up) ------------------------------------------

    def catch_up(self) -> None:
        """Once ready (servers known), answer what was sent while no process ran; gateway messages wait."""
        if self._answering and (reading := self.backlog.start(self._history, self._again, self._mine)):
            self.in_flight.track(reading)

    def _mine(self, mark: ChatMark) -> bool:
        """Whether this process serves the channel's shard: its server's (known once ready); DMs: shard 0."""
        if mark.group_id is not None:
            return self.client.get_guild(mark.group_id) is not None
        return self.settings.shard_ids is None or 0 in self.settings.shard_ids

    async def _history(self, mark: ChatMark, window: ReadBack) -> list[discord.Message]:
        """A channel's messages in `window`, as Discord gives them; none when it cannot be read."""
        try:
            channel = self.client.get_channel(mark.chat_id) or await self.client.fetch_channel(mark.chat_id)
            assert isinstance(channel, discord.abc.Messageable)
            pages = channel.history(
                limit=CATCH_UP_MESSAGES,
                after=discord.Object(window.after),
                before=discord.Object(window.before),
                oldest_first=not window.newest_first,
            )
            return [m async for m in pages]
        except discord.HTTPException as exc:
            log.warning("%s: cannot read back channel %s: %s", self.name, mark.chat_id, exc)
            return []

    async def _again(self, message: discord.Message) -> None:
        """A message of the backlog; a card sent to install is not one to answer again."""
        if not _is_card_upload(message):
            await self.receive(message)


def _is_card_upload(message: discord.Message) -> bool:
    """A character card sent to the bot in a DM, to install (anima.commands.cards)."""
    return message.guild is None and any(is_card_file(a.filename) for a in message.attachments)
