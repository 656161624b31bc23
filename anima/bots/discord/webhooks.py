"""Channel webhooks through which characters other than the bot's own speak, with their name and picture."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from anima.core.recent import Recent

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Anima"
REASON = "Anima characters speak through it"
MAX_CHANNELS = 1_000  # channels whose webhooks are remembered
Postable = discord.TextChannel | discord.ForumChannel


@dataclass
class WebhookSender:
    """A channel webhook posting under a character's name and avatar. It cannot reply to a message,
    nor post a voice message (Execute Webhook takes no IS_VOICE_MESSAGE flag): a note goes as a file.
    `on_gone`: the webhook was deleted; forget it so that the next reply makes a new one."""

    webhook: discord.Webhook
    name: str
    avatar_url: str | None
    thread: discord.Thread | None = None
    on_gone: Callable[[], None] = lambda: None
    prefix = ""

    async def send(self, first: bool, **what: Any) -> discord.WebhookMessage:
        try:
            return await self.webhook.send(
                username=self.name,
                avatar_url=self.avatar_url or discord.utils.MISSING,
                thread=self.thread or discord.utils.MISSING,
                wait=True,
                **what,
            )
        except discord.NotFound:
            self.on_gone()
            raise


def webhook_home(channel: object) -> Postable | None:
    """The channel that owns webhooks for `channel` (a thread posts through its parent's), if the
    bot may manage them there; None in a DM or without the Manage Webhooks permission."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    if not isinstance(channel, Postable) or not channel.permissions_for(channel.guild.me).manage_webhooks:
        return None
    return channel


def made_by(webhook: discord.Webhook, me: discord.abc.User | None) -> bool:
    """One of ours: made by this bot, with a token to post with, named "Anima" or "Anima <card>"."""
    name = webhook.name or ""
    ours = name == WEBHOOK_NAME or name.startswith(WEBHOOK_NAME + " ")
    return bool(ours and webhook.token and me and webhook.user and webhook.user.id == me.id)


class PersonaWebhooks:
    """The bot's webhooks in each channel, created on first use and then reused: one ("Anima") for
    the characters without an avatar image, and one per character with one ("Anima aiko"), made
    with that image as its picture (a message can only name a picture by URL). `avatars`: the
    configured picture URLs, for the shared one."""

    def __init__(self, client: discord.Client, avatars: dict[str, str]) -> None:
        self._client, self._avatars = client, avatars
        self._by_channel: Recent[int, dict[str, discord.Webhook]] = Recent(MAX_CHANNELS)  # by name
        self._locks: Recent[int, asyncio.Lock] = Recent(MAX_CHANNELS)  # two replies make one webhook

    async def persona(
        self, channel: object, card_id: str, name: str, image: Callable[[], bytes | None]
    ) -> WebhookSender | None:
        """The character speaking in `channel` through our webhook, under its `name`; None where there
        is none to be had (then the bot speaks for it)."""
        webhook = await self.for_channel(channel, card_id, image)
        if webhook is None:
            return None
        # a webhook of the card's own shows its picture; the shared one, the configured URL if any
        avatar = self._avatars.get(card_id) if webhook.name == WEBHOOK_NAME else None
        thread = channel if isinstance(channel, discord.Thread) else None
        return WebhookSender(webhook, name, avatar, thread, on_gone=lambda: self.forget(channel))

    async def for_channel(
        self, channel: object, card_id: str, image: Callable[[], bytes | None]
    ) -> discord.Webhook | None:
        """Our webhook for `channel` and `card_id` (with its avatar `image` when it has one), created
        when missing; None without the Manage Webhooks permission (a DM has none) or when Discord
        refuses it."""
        home = webhook_home(channel)
        if home is None:
            return None
        async with self._locks.setdefault(home.id, asyncio.Lock()):
            try:
                ours = await self._find(home)
                own = f"{WEBHOOK_NAME} {card_id}"[:80]
                if own not in ours and (picture := image()) is not None:
                    try:
                        ours[own] = await home.create_webhook(name=own, avatar=picture, reason=REASON)
                    except (discord.HTTPException, ValueError) as exc:  # ValueError: not an image
                        log.warning("no webhook with %s's picture in %s: %s", card_id, channel, exc)
                if own in ours:
                    return ours[own]
                if WEBHOOK_NAME not in ours:
                    ours[WEBHOOK_NAME] = await home.create_webhook(name=WEBHOOK_NAME, reason=REASON)
                return ours[WEBHOOK_NAME]
            except discord.HTTPException as exc:
                log.warning("no webhook in %s (%s); the bot speaks", channel, type(exc).__name__)
                return None

    async def is_ours(self, channel: object, webhook_id: int) -> bool:
        home = webhook_home(channel)
        if home is None:
            return False
        async with self._locks.setdefault(home.id, asyncio.Lock()):
            ours = await self._find(home)
        return any(webhook.id == webhook_id for webhook in ours.values())

    def forget(self, channel: object) -> None:
        """Drop a webhook that stopped working (deleted by an admin); the next reply makes a new one."""
        home = webhook_home(channel)
        if home is not None:
            self._by_channel.pop(home.id, None)

    async def _find(self, home: Postable) -> dict[str, discord.Webhook]:
        if home.id not in self._by_channel:  # listed once, under the channel's lock
            ours = {w.name: w for w in await home.webhooks() if w.name and made_by(w, self._client.user)}
            self._by_channel[home.id] = ours
        return self._by_channel[home.id]
