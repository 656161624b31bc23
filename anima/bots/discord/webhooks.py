"""Channel webhooks through which characters other than the bot's own speak, with their name and
picture: Discord's side of anima.core.personas (which webhooks a channel has is decided there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from anima.core.personas import SHARED, Personas, is_persona_name

REASON = "Anima characters speak through it"
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


def made_by(webhook: discord.Webhook, me: discord.abc.User | None) -> bool:
    """One of ours: made by this bot, with a token to post with, and a persona's name."""
    ours = is_persona_name(webhook.name or "")
    return bool(ours and webhook.token and me and webhook.user and webhook.user.id == me.id)


class PersonaWebhooks(Personas[Postable, discord.Webhook]):
    """The bot's webhooks in each channel (anima.core.personas). `avatars`: the configured picture
    URLs, shown by the shared one."""

    refusals = (discord.HTTPException,)

    def __init__(self, client: discord.Client, avatars: dict[str, str]) -> None:
        super().__init__()
        self._client, self._avatars = client, avatars

    def home(self, chat: object) -> Postable | None:
        """The channel that owns webhooks for `chat` (a thread posts through its parent's), if the
        bot may manage them there; None in a DM or without the Manage Webhooks permission."""
        if isinstance(chat, discord.Thread):
            chat = chat.parent
        if not isinstance(chat, Postable) or not chat.permissions_for(chat.guild.me).manage_webhooks:
            return None
        return chat

    async def listed(self, home: Postable) -> dict[str, discord.Webhook]:
        return {w.name: w for w in await home.webhooks() if w.name and made_by(w, self._client.user)}

    async def create(self, home: Postable, name: str, picture: bytes | None) -> discord.Webhook:
        return await home.create_webhook(name=name, avatar=picture, reason=REASON)

    async def persona(
        self, channel: object, card_id: str, name: str, image: Callable[[], bytes | None]
    ) -> WebhookSender | None:
        """The character speaking in `channel` through our webhook, under its `name`; None where there
        is none to be had (then the bot speaks for it)."""
        webhook = await self.of(channel, card_id, image)
        if webhook is None:
            return None
        # a webhook of the card's own shows its picture; the shared one, the configured URL if any
        avatar = self._avatars.get(card_id) if webhook.name == SHARED else None
        thread = channel if isinstance(channel, discord.Thread) else None
        return WebhookSender(webhook, name, avatar, thread, on_gone=lambda: self.forget(channel))

    async def is_ours(self, channel: object, webhook_id: int) -> bool:
        return any(webhook.id == webhook_id for webhook in await self.all(channel))
