"""Channel webhooks through which characters other than the bot's own speak, with their name and picture."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Anima"
REASON = "Anima characters speak through it"
Postable = discord.TextChannel | discord.ForumChannel


def webhook_home(channel: object) -> Postable | None:
    """The channel that owns webhooks for `channel` (a thread posts through its parent's), if the
    bot may manage them there; None in a DM or without the Manage Webhooks permission."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    if not isinstance(channel, Postable) or not channel.permissions_for(channel.guild.me).manage_webhooks:
        return None
    return channel


class PersonaWebhooks:
    """The bot's webhooks in each channel, created on first use and then reused: one ("Anima") for
    the characters without an avatar image, and one per character with one ("Anima aiko"), made
    with that image as its picture (a message can only name a picture by URL)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._by_channel: dict[int, dict[str, discord.Webhook]] = {}  # by webhook name
        self._locks: dict[int, asyncio.Lock] = {}

    async def for_channel(
        self, channel: object, card_id: str | None = None, image: Callable[[], bytes | None] = lambda: None
    ) -> discord.Webhook | None:
        """Our webhook for `channel` (for `card_id`, with its avatar `image` when it has one), created
        when missing; None without the Manage Webhooks permission (a DM has none) or when Discord
        refuses it (then the bot speaks for the character)."""
        home = webhook_home(channel)
        if home is None:
            return None
        async with self._locks.setdefault(home.id, asyncio.Lock()):
            try:
                ours = await self._find(home)
                own = f"{WEBHOOK_NAME} {card_id}"[:80] if card_id else WEBHOOK_NAME
                if own in ours:
                    return ours[own]
                picture = image() if card_id else None
                if picture is not None:
                    try:
                        ours[own] = await home.create_webhook(name=own, avatar=picture, reason=REASON)
                        return ours[own]
                    except (discord.HTTPException, ValueError) as exc:  # ValueError: not an image
                        log.warning("no webhook with %s's picture in %s: %s", card_id, channel, exc)
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
        if home.id not in self._by_channel:
            me = self._client.user
            self._by_channel[home.id] = {
                w.name: w
                for w in await home.webhooks()
                if w.token
                and w.name
                and (w.name == WEBHOOK_NAME or w.name.startswith(WEBHOOK_NAME + " "))
                and w.user is not None
                and me is not None
                and w.user.id == me.id
            }
        return self._by_channel[home.id]
