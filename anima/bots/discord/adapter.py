"""The Discord adapter: one bot application (one token) and its gateway connection. Each message goes
to the conversation service, each slash command (made from anima.commands' one table: each row's
words are one text option, and /sing takes a score file) or button to the command table;
messages.py translates in, surface.py delivers out."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from anima.bots.adapter import BotAdapter, OnePerProcess
from anima.bots.discord.delivery import InteractionSender
from anima.bots.discord.messages import ANSWERED_TYPES, PLATFORM, to_attachment, to_incoming
from anima.bots.discord.surface import DiscordSurface
from anima.bots.discord.webhooks import PersonaWebhooks
from anima.bots.services import Services
from anima.commands.buttons import pressed
from anima.commands.cards import is_card_file
from anima.commands.menu import MenuEntry, menu
from anima.commands.table import FAILED
from anima.config import DiscordBotSettings
from anima.core.addressing import Arrivals
from anima.core.catch_up import CATCH_UP_MESSAGES, CatchUp, ChatMark, ReadBack
from anima.core.messages import Incoming
from anima.core.streaming import EditPacer
from anima.core.surface import Surface

log = logging.getLogger(__name__)

DEFAULT_API_BASE = discord.http.Route.BASE
DEFAULT_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
MAX_DESCRIPTION = 100  # characters, for a slash command and for each of its options
NO_SCOPE = "invite the bot with the applications.commands scope (see docs/discord.md)"
REFUSED_TOKEN = "copy it again from the Bot page of your application in the developer portal"
NO_CONTENT_INTENT = (
    "Discord refused the Message Content intent; enable it under Bot → Privileged Gateway Intents → "
    "Message Content Intent in the developer portal (see docs/discord.md)"
)


def _use_api_base(base: str | None) -> None:
    """discord.py keeps the REST base URL in a class attribute (`Route.BASE`, shared by webhooks and
    interactions), and the gateway's beside it (a proxy names its own: `AnimaClient.setup_hook`)."""
    discord.http.Route.BASE = base or DEFAULT_API_BASE
    if base is None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = DEFAULT_GATEWAY


ONE_API_BASE = "discord.py allows one API base per process, so give every Discord bot the same api_base"
API_BASE = OnePerProcess("api_base", ONE_API_BASE, _use_api_base)


class AnimaClient(discord.AutoShardedClient):
    """discord.py's client; shards as Discord recommends (one for a bot in fewer than ~1,000 servers)."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__(
            # servers, their and DMs' messages, and what they say (privileged: enabled in the portal)
            intents=discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=True),
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
        if self.adapter.api_base != DEFAULT_API_BASE:
            # A proxy's /gateway/bot names its gateway; also use it when a session cannot be resumed.
            _, url, _ = await self.http.get_bot_gateway()
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        install_commands(self.tree, self.adapter)
        try:
            synced = await self.tree.sync()
            log.info("%s: %d slash commands synced", self.adapter.name, len(synced))
        except discord.HTTPException as exc:
            log.warning("%s: could not register slash commands (%s); %s", self.adapter.name, exc, NO_SCOPE)

    async def on_connect(self) -> None:
        self.connected.set()

    async def on_ready(self) -> None:  # every shard is up and its servers known (again after a reconnect)
        self.adapter.catch_up()

    async def on_message(self, message: discord.Message) -> None:  # live: once the backlog is answered
        await self.adapter.receive(message, live=True)

    async def on_interaction(self, interaction: discord.Interaction) -> None:  # slash commands: the tree's
        if interaction.type is discord.InteractionType.component:
            await self.adapter.press(interaction)


def install_commands(tree: app_commands.CommandTree[Any], adapter: DiscordAdapter) -> None:
    """Add every command of the menu (anima.commands.menu) to `tree` (synced to Discord at start)."""
    for entry in menu(MAX_DESCRIPTION):
        tree.add_command(_slash(entry, adapter))

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("/%s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        await InteractionSender(interaction, private=True).send(False, content=FAILED)

    tree.on_error = on_error  # type: ignore[method-assign]  # discord.py's documented way to set it


def _slash(entry: MenuEntry, adapter: DiscordAdapter) -> app_commands.Command[Any, Any, None]:
    """`entry` as a slash command: discord.py reads its options from the callback's signature, so
    the callback shows only the parameters of the entry's options."""

    async def callback(
        interaction: discord.Interaction, args: str = "", file: discord.Attachment | None = None
    ) -> None:
        if entry.slow:
            await interaction.response.defer(thinking=True)  # a song takes longer than Discord waits
        await adapter.run(interaction, entry.name, args, [file] if file else [])

    described = {option.name: option.description for option in entry.options}
    full = inspect.signature(callback)
    shown = [p for p in full.parameters.values() if p.name == "interaction" or p.name in described]
    callback.__signature__ = full.replace(parameters=shown)  # type: ignore[attr-defined]  # inspect.signature reads it
    described_callback = app_commands.describe(**described)(callback)
    return app_commands.Command(name=entry.name, description=entry.description, callback=described_callback)


class DiscordAdapter(BotAdapter[discord.Message, DiscordSurface, DiscordBotSettings]):
    """One Discord bot application (one token), serving DMs, servers, threads and slash commands."""

    platform, title = PLATFORM, "Discord"

    def __init__(self, runtime: Services, settings: DiscordBotSettings, index: int) -> None:
        super().__init__(runtime, settings, f"discord bot #{index}", f"bots.discord[{index}]")
        self.index, self.api_base = index, settings.api_base.rstrip("/")
        self.mentions = discord.AllowedMentions(
            everyone=False, users=False, roles=False, replied_user=settings.mention_replied_user
        )
        self.pacer = EditPacer(settings.edit_interval_s)  # streaming edits, per channel
        self.client = AnimaClient(self)
        self.webhooks = PersonaWebhooks(self.client, settings.avatars)
        self.arrivals = Arrivals(
            {str(int(bot_id)) for bot_id in settings.allow_bots}
        )  # as Discord writes ids
        self.backlog: CatchUp = CatchUp(runtime.conversations.inbox, PLATFORM, discord.utils.time_snowflake)

    async def log_in(self) -> None:
        API_BASE.hold(self, self.api_base, self.where)
        unreachable = (discord.HTTPException, aiohttp.ClientError, OSError)
        async with self.logging_in(discord.LoginFailure, unreachable, REFUSED_TOKEN, self.settings.api_base):
            await self.client.login(self.settings.token.get_secret_value())
        me = self.client.user
        assert me is not None
        # speaking as any character: the bot's own as itself, the others through webhooks
        self.arrive(str(me.id), me.name, f"discord bot @{me.name} (#{self.index})", None)

    async def connect(self) -> None:
        """Open the gateway session; discord.py reconnects by itself from then on."""
        session = self.client.connect(reconnect=True)
        await self.connected(
            session, self.client.connected, discord.PrivilegedIntentsRequired, NO_CONTENT_INTENT
        )

    async def close(self) -> None:
        if not API_BASE.holds(self):
            return  # refused its API base before logging in: nothing was opened
        if not self.client.is_closed():
            await self.client.close()
        await self.closed()
        API_BASE.release(self)

    async def reach(
        self, chat_id: int, user_id: int, display_name: str, character_id: str
    ) -> DiscordSurface | None:
        """A channel to write to unprompted; None when the channel or the person is gone."""
        channel = await self._channel(chat_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        guild: discord.Guild | None = getattr(channel, "guild", None)
        user = guild.get_member(user_id) if guild else getattr(channel, "recipient", None)
        user = user or self.client.get_user(user_id)
        return DiscordSurface(self, channel, user, card_id=character_id) if user else None

    async def _channel(self, chat_id: int) -> object:
        """A channel by its id, from discord.py's cache or else asked of Discord; None: unreachable."""
        try:
            return self.client.get_channel(chat_id) or await self.client.fetch_channel(chat_id)
        except discord.HTTPException as exc:
            log.info("%s: channel %s cannot be reached: %s", self.name, chat_id, type(exc).__name__)
            return None

    # -- messages --------------------------------------------------------------------------

    def read(self, message: discord.Message) -> tuple[Incoming, DiscordSurface] | None:
        """None for messages never answered, in arrival order (see `Arrivals`): other types than a
        text or a reply, and the bot's own (which count in a run of bots' turns)."""
        me, incoming = self.client.user, to_incoming(message)
        if me is None or message.type not in ANSWERED_TYPES or not self.arrivals.admit(incoming):
            return None
        if message.author.id == me.id:
            return None
        return incoming, DiscordSurface(self, message.channel, message.author, message)

    def card_upload(self, message: discord.Message) -> bool:
        """A character card sent to the bot in a DM, to install (anima.commands.cards)."""
        return message.guild is None and any(is_card_file(a.filename) for a in message.attachments)

    def as_member(self, heard: Surface, card_id: str) -> Surface | None:
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
        files: Sequence[discord.Attachment] = (),
    ) -> None:
        """Run the command `name` with `args` as the person of `interaction`."""
        channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)
        surface = DiscordSurface(self, channel, interaction.user, interaction=interaction, files=files)
        await self.command(surface, name, args, [to_attachment(a) for a in files])

    async def press(self, interaction: discord.Interaction) -> None:
        """A button under one of the bot's texts (anima.commands.buttons): its command as the person
        who pressed; a forged, stale or someone else's press gets a private answer."""
        custom_id = str(dict(interaction.data or {}).get("custom_id", ""))  # a component's: a button's
        press = pressed(custom_id, str(interaction.user.id), interaction.user.bot)
        if isinstance(press, str):
            await interaction.response.send_message(press, ephemeral=True)
            return
        await self.run(interaction, press.name, press.args)

    # -- the backlog after a start (anima.core.catch_up) ------------------------------------------

    def serves(self, mark: ChatMark) -> bool:
        """Whether this process serves the channel's shard: its server's (known once ready); DMs: shard 0."""
        if mark.group_id is not None:
            return self.client.get_guild(mark.group_id) is not None
        return self.settings.shard_ids is None or 0 in self.settings.shard_ids

    async def history(self, mark: ChatMark, window: ReadBack) -> list[discord.Message]:
        """A channel's messages in `window`, as Discord gives them (raises when they cannot be read)."""
        channel = await self._channel(mark.chat_id)
        if not isinstance(channel, discord.abc.Messageable):
            return []
        after, before = discord.Object(window.after), discord.Object(window.before)
        pages = channel.history(
            limit=CATCH_UP_MESSAGES, after=after, before=before, oldest_first=not window.newest_first
        )
        return [m async for m in pages]
