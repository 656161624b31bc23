"""The Discord adapter: one bot application, its gateway connection, and one reply per addressed message."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from collections import Counter
from datetime import UTC, datetime
from typing import ClassVar

import aiohttp
import discord
import yarl
from discord import app_commands

from anima.app import Runtime
from anima.bots.discord.addressing import Addressed, Addressing
from anima.bots.discord.cards import CardInstaller, card_attachments
from anima.bots.discord.catch_up import CATCH_UP_AGE, CATCH_UP_MESSAGES, ChannelMark, Seen, channel_marks
from anima.bots.discord.commands import install_commands
from anima.bots.discord.delivery import BotSpeaker, DiscordReplyStream, Speaker, WebhookSpeaker
from anima.bots.discord.preferences import PLATFORM, ChatPreferences
from anima.bots.discord.split import split_message
from anima.bots.discord.voice import send_voice_reply
from anima.bots.discord.webhooks import PersonaWebhooks
from anima.characters.card import CharacterCard
from anima.config import DiscordBotSettings
from anima.core.admission import Admitted, Refused, answer_refused
from anima.core.messages import Attachment, DiscardStream, Incoming, Reply
from anima.core.ordering import ConversationLocks
from anima.errors import AnimaError, ConfigError, MemoryStoreError
from anima.memory.inbox import Delivery, Inbox
from anima.memory.locks import Claim, claim_turn
from anima.voice import reply_form

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # how long `stop` lets in-flight replies finish
DEFAULT_API_BASE = discord.http.Route.BASE
DEFAULT_GATEWAY = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def intents() -> discord.Intents:
    """Servers, server and DM messages, and their content (a privileged intent, enabled in the portal)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
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
        base = api_base.rstrip("/")
        cls.users[base] -= 1
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

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)


class DiscordAdapter:
    """One Discord bot application (one token), serving DMs, servers, threads and slash commands."""

    def __init__(self, runtime: Runtime, settings: DiscordBotSettings, index: int) -> None:
        self.runtime = runtime
        self.settings = settings
        self.index = index
        self.name = f"discord bot #{index}"
        self.online = f"serving {self.name}"
        own = settings.character or runtime.settings.default_character
        self.own_character = runtime.characters.get(own).id
        self.mentions = discord.AllowedMentions(
            everyone=False, users=False, roles=False, replied_user=settings.mention_replied_user
        )
        self.preferences = ChatPreferences(runtime.memory)
        self.cards = CardInstaller(runtime, settings.admins)
        self.client: AnimaClient | None = None
        self.webhooks: PersonaWebhooks | None = None
        self.addressing: Addressing | None = None
        self._connection: asyncio.Task[None] | None = None
        self._order = ConversationLocks()
        self._in_flight: set[asyncio.Task[object]] = set()
        self._answering = False
        self._holds_api_base = False
        self.inbox = Inbox(runtime.memory, owner=f"{socket.gethostname()}:{os.getpid()}")
        self.bot_id = ""
        self._connected_at: datetime | None = None
        self._caught_up = asyncio.Event()  # gateway messages wait until the backlog is answered
        self._catching_up: asyncio.Task[None] | None = None
        self._backlog: list[ChannelMark] = []  # channels to read back once ready

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        where = f"bots.discord[{self.index}]"
        _ApiBase.acquire(self.settings.api_base, where)
        self._holds_api_base = True
        try:
            await self._start(where)
        except BaseException:
            await self._close_client()
            self._release_api_base()
            raise

    async def _start(self, where: str) -> None:
        client = self.client = AnimaClient(self)
        self.webhooks = PersonaWebhooks(client)
        allow = {int(bot_id) for bot_id in self.settings.allow_bots}
        self.addressing = Addressing(
            client, self.runtime, self.own_character, self.preferences, self.webhooks, allow
        )
        try:
            await client.login(self.settings.token.get_secret_value())
        except discord.LoginFailure:
            raise ConfigError(
                [
                    f"{where}.token: Discord refused the token; copy it again from the Bot page of your "
                    "application in the developer portal"
                ]
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            raise AnimaError(f"{where}: cannot reach Discord at {self.settings.api_base}: {exc}") from exc
        assert client.user is not None
        self.name = f"discord bot @{client.user.name} (#{self.index})"
        character = self.runtime.characters.get(self.own_character).name
        self.online = f"{character} is online as @{client.user.name} on Discord"
        self.bot_id = str(client.user.id)
        await self._find_backlog()
        self._connected_at = datetime.now(UTC)  # history before it is read back; after it comes live
        self._answering = True  # before connecting: a message may arrive right after READY
        self._connection = asyncio.create_task(client.connect(reconnect=True))
        connected = asyncio.create_task(client.connected.wait())
        done, _ = await asyncio.wait(
            {self._connection, connected}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        connected.cancel()
        if self._connection in done:
            self._raise_connection_error(where, self._connection.exception())
        if not done:
            raise AnimaError(f"{where}: no gateway session within {CONNECT_TIMEOUT_S:.0f} s; is Discord up?")
        self._connection.add_done_callback(self._connection_ended)

    def _raise_connection_error(self, where: str, exc: BaseException | None) -> None:
        if isinstance(exc, discord.PrivilegedIntentsRequired):
            raise ConfigError(
                [
                    f"{where}: Discord refused the Message Content intent; enable it under Bot → Privileged "
                    "Gateway Intents → Message Content Intent in the developer portal (see docs/discord.md)"
                ]
            )
        raise AnimaError(f"{where}: the gateway connection closed: {exc}") from exc

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: gateway connection ended: %s", self.name, task.exception())

    async def stop(self) -> None:
        """Stop answering, let replies in flight finish (bounded), close the gateway and HTTP sessions."""
        self._answering = False
        self._caught_up.set()  # messages held for the backlog are in flight too: let them finish
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight), timeout=STOP_TIMEOUT_S)
            for task in late:
                log.warning("%s: a reply did not finish within %.0f s of stopping", self.name, STOP_TIMEOUT_S)
                task.cancel()
        await self._close_client()
        self._release_api_base()

    def _release_api_base(self) -> None:
        if self._holds_api_base:
            self._holds_api_base = False
            _ApiBase.release(self.settings.api_base)

    async def _close_client(self) -> None:
        if self.client is not None and not self.client.is_closed():
            await self.client.close()
        if self._connection is not None:
            try:
                await asyncio.wait_for(self._connection, 10)
            except Exception as exc:  # already logged by _connection_ended
                log.debug("%s: connection task ended with %r", self.name, exc)

    # -- messages --------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Answer one gateway message if it is addressed to a character, once the backlog is answered."""
        await self._receive(message, after_backlog=True)

    async def _receive(self, message: discord.Message, after_backlog: bool = False) -> None:
        """Answer one message if it is addressed to a character; never raise."""
        if not self._answering or self.addressing is None or self.addressing.ignored(message):
            return
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            # A place in the person's queue first (synchronous, so arrival order holds): a flood
            # gets the busy line once, and waits in a bounded queue, never in an unbounded one.
            slot = self.runtime.pipeline.admission.enter((PLATFORM, message.channel.id, message.author.id))
            if isinstance(slot, Refused):
                await self._busy(message, slot)
                return
            if after_backlog:
                await self._caught_up.wait()
            # Strict order per person and channel from here on: the lookups below await.
            async with slot, self._order.hold((message.channel.id, message.author.id)):
                cards = card_attachments(message) if message.guild is None else []
                if cards:
                    await self._install_cards(message, cards)
                    return
                addressed = await self.addressing.resolve(message)
                if addressed is not None:
                    await self._answer(message, addressed, slot)
        except Exception:
            log.exception("%s: answering message %s failed", self.name, message.id)
            await self._apologise(message)
        finally:
            self._in_flight.discard(task)

    async def _busy(self, message: discord.Message, refused: Refused) -> None:
        """Over the bound: the character's busy line, once per burst; chatter not for it gets nothing."""
        assert self.addressing is not None and self.client is not None
        addressed = await self.addressing.resolve(message)
        if addressed is None:
            self.runtime.pipeline.admission.not_told((PLATFORM, message.channel.id, message.author.id))
            return
        card = self.runtime.characters.get(addressed.character_id)
        fallback = BotSpeaker(message.channel, self.client.http, self.mentions, message, name=card.name)
        stream = DiscordReplyStream(
            await self._speaker(message, card, fallback),
            message.channel,
            self.settings.edit_interval_s,
            fallback,
        )
        try:
            await answer_refused(refused, card, message.author.display_name, stream)
        finally:
            stream.close()

    async def _answer(
        self, message: discord.Message, addressed: Addressed, slot: Admitted | None = None
    ) -> None:
        card = self.runtime.characters.get(addressed.character_id)
        persona = await self.preferences.persona(str(message.author.id))
        reference = message.reference
        incoming = Incoming(
            platform=PLATFORM,
            chat_id=str(message.channel.id),
            user_id=str(message.author.id),
            display_name=(persona.name if persona and persona.name else None) or message.author.display_name,
            text=addressed.text,
            character_id=card.id,
            message_id=str(message.id),
            reply_to=str(reference.message_id) if reference and reference.message_id else None,
            is_private=message.guild is None,
            guild_id=str(message.guild.id) if message.guild else None,
            mentions_bot=addressed.mentioned,
            attachments=tuple(_attachment(a) for a in message.attachments),
            persona=persona.description if persona else "",
        )
        # Claimed, answered and marked answered under the conversation's lock: another delivery of
        # the message (a replay, the backlog after a restart, another process) finds it answered,
        # and one found claimed but unanswered was left by a process that died mid-reply.
        taken = Delivery(PLATFORM, self.bot_id, str(message.id), Seen.of(message).payload())
        async with self.runtime.pipeline.hold(incoming):
            claim = await claim_turn(self.inbox, taken)
            if claim is Claim.ANSWERED:
                return
            try:
                await self._reply(
                    message, card, dataclasses.replace(incoming, resumed=claim is Claim.RESUMED), slot
                )
            except Exception:
                await self.inbox.answered(PLATFORM, self.bot_id, taken.delivery_id)  # the apology answers it
                raise
            await self.inbox.answered(PLATFORM, self.bot_id, taken.delivery_id)

    async def _reply(
        self, message: discord.Message, card: CharacterCard, incoming: Incoming, slot: Admitted | None = None
    ) -> None:
        assert self.client is not None
        fallback = BotSpeaker(message.channel, self.client.http, self.mentions, message, name=card.name)
        stream = DiscordReplyStream(
            await self._speaker(message, card, fallback),
            message.channel,
            self.settings.edit_interval_s,
            fallback,
        )
        delivery = reply_form(card, await self.preferences.voice(incoming.chat_id, incoming.user_id))
        try:
            # Voice only: nothing streams; the stream still shows "typing" until something is sent.
            reply = await self.runtime.pipeline.handle(
                incoming, stream if delivery.text else DiscardStream(), slot
            )
            if reply is not None and delivery.voice:
                await self._speak(card, reply, stream, text_sent=delivery.text)
        finally:
            stream.close()

    async def _speak(
        self, card: CharacterCard, reply: Reply, stream: DiscordReplyStream, text_sent: bool
    ) -> None:
        """The voice note for a reply. Without its text already sent, the text goes out when no note
        does (a failed reply is never spoken: its apology is text), or just the notices when one did."""
        spoken = not reply.failed and await send_voice_reply(stream, self.runtime.voice, card, reply.text)
        if text_sent:
            return
        if not spoken:
            await stream.finish(reply)
        elif reply.notices:
            await stream.finish(dataclasses.replace(reply, text=""))

    async def _install_cards(self, message: discord.Message, attachments: list[discord.Attachment]) -> None:
        answer = await self.cards.install_all(message.author, attachments)
        for piece in split_message(answer):
            await message.channel.send(piece, allowed_mentions=self.mentions)

    async def _speaker(self, message: discord.Message, card: CharacterCard, fallback: BotSpeaker) -> Speaker:
        """The bot's own character speaks as the bot; others through a webhook, or in bold without one."""
        if card.id == self.own_character:
            return BotSpeaker(message.channel, fallback.http, self.mentions, message)
        assert self.webhooks is not None
        if message.guild is not None and self.webhooks.allowed(message.channel):
            try:
                webhook = await self.webhooks.for_channel(message.channel)
            except discord.HTTPException as exc:
                log.warning("%s: no webhook in %s (%s); the bot speaks", self.name, message.channel, exc)
                webhook = None
            if webhook is not None:
                thread = message.channel if isinstance(message.channel, discord.Thread) else None
                return WebhookSpeaker(
                    webhook,
                    card.name,
                    self.settings.avatars.get(card.id),
                    self.mentions,
                    thread,
                    on_gone=lambda: self.webhooks.forget(message.channel) if self.webhooks else None,
                )
        return fallback

    # -- the backlog after a start --------------------------------------------------------------

    async def _find_backlog(self) -> None:
        """The channels to read back at start; with none (the usual case) nothing waits for ready."""
        try:
            await self.inbox.prune()
            self._backlog = await channel_marks(self.runtime.memory, PLATFORM, self.bot_id)
        except MemoryStoreError as exc:
            log.warning(
                "%s: cannot read the inbox; what was sent while it was down stays unanswered: %s",
                self.name,
                exc,
            )
        if not self._backlog:
            self._caught_up.set()

    def catch_up(self) -> None:
        """Once ready (servers known), answer what was sent while no process ran; gateway messages wait."""
        if self._catching_up is None and not self._caught_up.is_set() and self._answering:
            self._catching_up = asyncio.create_task(self._catch_up())
            self._in_flight.add(self._catching_up)
            self._catching_up.add_done_callback(self._in_flight.discard)

    async def _catch_up(self) -> None:
        try:
            marks = [mark for mark in self._backlog if self._mine(mark)]
            log.info(
                "%s: reading back %d channels for messages sent while it was down", self.name, len(marks)
            )
            await asyncio.gather(*(self._catch_up_channel(mark) for mark in marks))
        finally:
            self._caught_up.set()

    def _mine(self, mark: ChannelMark) -> bool:
        """Whether this process serves the channel's shard: its server's (known once ready); DMs: shard 0."""
        assert self.client is not None
        if mark.guild_id is not None:
            return self.client.get_guild(mark.guild_id) is not None
        return self.settings.shard_ids is None or 0 in self.settings.shard_ids

    async def _catch_up_channel(self, mark: ChannelMark) -> None:
        """One channel's backlog, oldest first, up to the connection (what came after came live)."""
        assert self.client is not None and self._connected_at is not None
        oldest = discord.utils.time_snowflake(self._connected_at - CATCH_UP_AGE)
        before = discord.Object(discord.utils.time_snowflake(self._connected_at))
        try:
            channel = self.client.get_channel(mark.channel_id) or await self.client.fetch_channel(
                mark.channel_id
            )
            assert isinstance(channel, discord.abc.Messageable)
            if mark.after is not None:  # from the oldest message taken and never answered
                after = discord.Object(max(mark.after, oldest))
                pages = channel.history(
                    limit=CATCH_UP_MESSAGES, after=after, before=before, oldest_first=True
                )
                backlog = [m async for m in pages]
            else:  # the newest ones: the inbox tells which were answered
                after = discord.Object(oldest)
                pages = channel.history(
                    limit=CATCH_UP_MESSAGES, after=after, before=before, oldest_first=False
                )
                backlog = [m async for m in pages][::-1]
        except discord.HTTPException as exc:
            log.warning("%s: cannot read back channel %s: %s", self.name, mark.channel_id, exc)
            return
        for message in backlog:
            if message.guild is None and card_attachments(message):
                continue  # a card sent to install is not a message to answer again
            await self._receive(message)

    async def _apologise(self, message: discord.Message) -> None:
        try:
            await message.channel.send(
                "Sorry, something went wrong while answering; it has been logged. Please try again.",
                reference=message.to_reference(fail_if_not_exists=False),
                allowed_mentions=self.mentions,
            )
        except discord.HTTPException as exc:
            log.warning("%s: could not tell the user about the failure: %s", self.name, exc)

    # -- used by the slash commands ----------------------------------------------------------

    def chat_ids(self, channel: object) -> list[str]:
        """Where a binding can live for `channel`: itself, then (for a thread) its parent channel."""
        ids = [str(getattr(channel, "id", ""))]
        if isinstance(channel, discord.Thread) and channel.parent_id:
            ids.append(str(channel.parent_id))
        return ids

    async def character_here(self, channel: object) -> CharacterCard:
        """The character that answers in `channel` unless addressed by name or reply."""
        bound = await self.preferences.bound_character(self.chat_ids(channel))
        if bound:
            try:
                return self.runtime.characters.get(bound)
            except AnimaError:
                log.warning("%s: %s is bound to %r, which no longer exists", self.name, channel, bound)
        return self.runtime.characters.get(self.own_character)


def _attachment(attachment: discord.Attachment) -> Attachment:
    mime = attachment.content_type or ""
    kind = mime.split("/")[0] if mime.split("/")[0] in ("image", "audio", "video") else "file"
    return Attachment(kind=kind, url=attachment.url, name=attachment.filename, mime_type=mime)
