"""Channel webhooks through which characters other than the bot's own speak, with their name and avatar."""

from __future__ import annotations

import asyncio
import logging

import discord

log = logging.getLogger(__name__)

WEBHOOK_NAME = "Anima"
Postable = discord.TextChannel | discord.ForumChannel


def webhook_home(channel: object) -> Postable | None:
    """The channel that owns webhooks for `channel` (a thread posts through its parent's), or None."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    return channel if isinstance(channel, Postable) else None


class PersonaWebhooks:
    """One webhook per channel, created by the bot on first use and then reused."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._by_channel: dict[int, discord.Webhook | None] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def allowed(self, channel: object) -> bool:
        """Whether the bot may manage webhooks where `channel` lives."""
        home = webhook_home(channel)
        return home is not None and home.permissions_for(home.guild.me).manage_webhooks

    async def for_channel(self, channel: object) -> discord.Webhook | None:
        """Our webhook for `channel`, created when missing; None without the Manage Webhooks permission
        (a DM has none) or when Discord refuses it (then the bot speaks for the character)."""
        home = webhook_home(channel)
        if home is None or not self.allowed(home):
            return None
        async with self._locks.setdefault(home.id, asyncio.Lock()):
            try:
                webhook = await self._find(home)
                if webhook is None:
                    webhook = await home.create_webhook(
                        name=WEBHOOK_NAME, reason="Anima characters speak through it"
                    )
            except discord.HTTPException as exc:
                log.warning("no webhook in %s (%s); the bot speaks", channel, type(exc).__name__)
                return None
            self._by_channel[home.id] = webhook
            return webhook

    async def is_ours(self, channel: object, webhook_id: int) -> bool:
        home = webhook_home(channel)
        if home is None or not self.allowed(home):
            return False
        async with self._locks.setdefault(home.id, asyncio.Lock()):
            webhook = await self._find(home)
        return webhook is not None and webhook.id == webhook_id

    def forget(self, channel: object) -> None:
        """Drop a webhook that stopped working (deleted by an admin); the next reply makes a new one."""
        home = webhook_home(channel)
        if home is not None:
            self._by_channel.pop(home.id, None)

    async def _find(self, home: Postable) -> discord.Webhook | None:
        if home.id not in self._by_channel:
            me = self._client.user
            ours = [
                w
                for w in await home.webhooks()
                if w.token
                and w.name == WEBHOOK_NAME
                and w.user is not None
                and me is not None
                and w.user.id == me.id
            ]
            self._by_channel[home.id] = ours[0] if ours else None
        return self._by_channel[home.id]
