"""Social commands: /link and /unlink (one person on several platforms), /proactive (writing first)."""

from __future__ import annotations

from anima.commands.context import Context
from anima.config import zone_or_error
from anima.core.surface import Answer, Text
from anima.memory.proactive import ProactiveKey

LINK_CODE_MAX_CHARS = 16
MAX_ZONE_CHARS = 64
USAGE = "/proactive on [TIME ZONE, e.g. Europe/Berlin], or /proactive off."


async def link(ctx: Context) -> Answer:
    """Without words: a one-time code for the other account. With a code: join the two accounts, so
    characters remember the person the same on both (memory.linked_scope)."""
    memory = ctx.app.pipeline.memory
    account = (ctx.platform, ctx.surface.user_id)
    code = ctx.args.strip()
    if not code:
        if ctx.surface.kind != "private":
            return Text("Send /link in a private chat with me: the code is only for you.", private=True)
        made = await memory.link_code(account)
        return Text(
            f"Your code: {made}\nSend /link {made} to me from your other account (Telegram, Discord) "
            "within 10 minutes. Only share it with yourself.",
            private=True,
        )
    if len(code) > LINK_CODE_MAX_CHARS or not code.isalnum():
        return Text("Usage: /link to get a code, /link CODE on your other account.", private=True)
    joined = await memory.link(code, account)
    if joined.other is None:
        return Text(joined.problem, private=True)
    scope = memory.linked_scope
    shared = {
        "private": "what you tell characters in private chats",
        "all": "what you tell characters anywhere",
        "none": "nothing yet (this bot keeps each account's memories apart)",
    }[scope]
    return Text(
        f"Linked with your {joined.other[0].title()} account: characters now share {shared} between "
        "the two. /unlink separates them; /forget deletes both.",
        private=True,
    )


async def unlink(ctx: Context) -> Answer:
    """Separate this account from the accounts it was linked with."""
    others = await ctx.app.pipeline.memory.unlink((ctx.platform, ctx.surface.user_id))
    if not others:
        return Text("This account is linked with no other.", private=True)
    names = ", ".join(platform.title() for platform, _ in others)
    return Text(f"Unlinked from your {names} account. What was said stays where it was said.", private=True)


async def proactive(ctx: Context) -> Answer:
    """`/proactive on [TIME ZONE]`: the character may write first here after a quiet while (in a
    group, a chat admin decides); `/proactive off` stops it; alone, says which it is."""
    scheduler, surface, card = ctx.app.proactive, ctx.surface, ctx.card
    words = ctx.words
    choice = words[0].lower() if words else ""
    if scheduler is None:
        return Text("Writing first is not available here.", private=True)
    group = surface.kind == "group"
    key = ProactiveKey(ctx.platform, surface.bot_id, surface.chat_id, surface.user_id, card.id)
    if choice not in ("on", "off"):
        if choice or len(words) > 1:
            return Text(USAGE, private=True)
        on = await scheduler.enabled(key, anyone=group)
        return Text(f"{card.name} writing first here is {'on' if on else 'off'}. {USAGE}", private=True)
    if group and not await surface.is_chat_admin():
        return Text("Only this chat's admins can let a character write first here.", private=True)
    if choice == "off":
        await scheduler.disable(key, anyone=group)
        return Text(f"{card.name} will not write first here. /proactive on allows it again.", private=True)
    settings = card.proactive
    if not settings.enabled or not settings.max_per_day:  # max_per_day 0: never, whatever enabled says
        return Text(f"{card.name} does not write first: the card does not allow it.", private=True)
    zone = words[1] if len(words) > 1 else ""
    if len(words) > 2 or len(zone) > MAX_ZONE_CHARS:
        return Text(USAGE, private=True)
    if zone:
        try:
            zone_or_error(zone)
        except ValueError as exc:
            return Text(f"{exc}.", private=True)
    pipeline = ctx.app.pipeline  # the person is known by name from now on, even before they say a word
    private = surface.kind == "private"
    await pipeline.memory.conversation(
        pipeline.key_for(ctx.incoming(), card), surface.display_name, surface.bot_id, private
    )
    await scheduler.enable(key, surface.kind, zone)
    quiet = f", never {settings.quiet_hours}" if settings.quiet_hours else ""
    when = f"your time ({zone})" if zone else "this server's time"
    return Text(
        f"{card.name} may now write first here after {settings.after_idle} of quiet, at most "
        f"{settings.max_per_day} a day{quiet} ({when}), and never twice without an answer. "
        "/proactive off stops it.",
        private=True,
    )
