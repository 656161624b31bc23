"""The conversation's commands: /start /about /character /reset /memory /forget /voice /persona."""

from __future__ import annotations

from anima.characters.macros import expand
from anima.commands.context import Context
from anima.core.preferences import Persona
from anima.core.surface import Answer, Button, Text
from anima.errors import AnimaError

PERSONA_MAX_CHARS = 500
PERSONA_NAME_MAX_CHARS = 32


async def start(ctx: Context) -> Answer:
    """The character's greeting (it opens the stored history when that is empty)."""
    return Text(await ctx.app.pipeline.greet(ctx.incoming()), speaker=ctx.card.name)


async def about(ctx: Context) -> Answer:
    """Who answers here: name, a one-line persona, voice and rating."""
    card = ctx.card
    values = {"char": card.name, "user": ctx.surface.display_name}
    persona = " ".join(expand(card.personality or card.description, values).split())
    first = persona.split(". ")[0].rstrip(".")
    line = first if len(first) <= 200 else first[:199] + "…"
    voice = card.voice
    spoken = f"{voice.engine}" + (f" ({voice.voice})" if voice.voice else "")
    modes = {"text": "text only", "voice": "voice notes", "both": "text and voice notes"}
    return Text(
        f"{card.name} ({card.id}): {line}.\n"
        f"Voice: {spoken}, {modes[voice.mode]} with /voice on.\n"
        f"Rating: {card.safety.rating}."
    )


async def character(ctx: Context) -> Answer:
    """Without a name: who answers here, and a button per character. With one: bind it to the chat
    (in a group, its admins only) and greet."""
    library = ctx.app.pipeline.characters
    if not ctx.args.strip():
        buttons = tuple(
            Button(("✓ " if card.id == ctx.card.id else "") + card.name, f"/character {card.id}")
            for card in sorted(library.cards.values(), key=lambda c: c.name.lower())
        )
        return Text(f"You are talking with {ctx.card.name}. Who should answer in this chat?", buttons)
    if ctx.surface.kind == "group" and not await ctx.surface.is_chat_admin():
        return Text(
            "Only this chat's admins can choose who answers here. You can still talk to any character "
            "by starting your message with its name.",
            private=True,
        )
    try:
        card = library.get(ctx.args.strip())
    except AnimaError as exc:
        return Text(str(exc), private=True)
    await ctx.app.preferences.bind(ctx.platform, ctx.surface.chat_id, ctx.bot_key, card.id)
    ctx.card = card
    return await start(ctx)  # the new character's greeting says who answers now


async def reset(ctx: Context) -> Answer:
    """A fresh conversation with the character here; what was said stays stored."""
    memory = ctx.app.pipeline.memory
    incoming = ctx.incoming()
    async with ctx.app.pipeline.hold(incoming):  # not between a message and its reply
        key = ctx.app.pipeline.key_for(incoming, ctx.card)
        await memory.reset(await memory.conversation(key, ctx.surface.display_name))
    greeting = await ctx.app.pipeline.greet(incoming)
    return Text(
        f"{ctx.card.name} starts afresh with you here. Earlier messages stay stored: /memory shows "
        f"them, /forget deletes everything.\n\n{greeting}"
    )


async def memory(ctx: Context) -> Answer:
    """What the character keeps about the person, each with its number; `why`: what the latest reply
    was given; `forget N` and `pin N`: one memory deleted, or recalled every time from now on."""
    words = ctx.words
    if words and words[0].lower() in ("forget", "pin"):
        return await _memory_item(ctx, words[0].lower(), words[1:])
    card, name = ctx.card, ctx.surface.display_name
    pipeline = ctx.app.pipeline
    key = pipeline.key_for(ctx.incoming(), card)
    if words and words[0].lower() == "why":
        state = await pipeline.memory.conversation(key, name)
        used = pipeline.memory.last_recalled(state)
        if not used:
            return Text(f"{card.name} recalled no older memories for the latest reply here.", private=True)
        lines = [f"What {card.name} recalled for the latest reply ({_chat(ctx)}):"]
        for found in used:
            where = ", ".join(f"message {m}" for m in found.message_ids) or found.kind
            shown = found.line(name, card.name)
            lines.append(f"  #{found.entry_id} [{where}, {found.when:%Y-%m-%d}] {shown}")
        lines.append("/memory forget N deletes one, /memory pin N keeps it in every recall.")
        return Text("\n".join(lines), private=True)
    if words:
        return Text("Usage: /memory, /memory why, /memory forget N, /memory pin N", private=True)
    view = await pipeline.memory.view(key, name)
    state = await pipeline.memory.conversation(key, name)
    since = view.first_seen.strftime("%Y-%m-%d") if view.first_seen else "today"
    lines = [
        f"{card.name} has known you since {since}: {view.total_messages} messages stored, "
        f"{view.in_history} in the current conversation ({_chat(ctx)})."
    ]
    if view.summary:
        lines.append(f"Earlier, in short: {view.summary}")
    kept = await pipeline.memory.kept(state)
    if kept:
        lines.append(f"What {card.name} keeps (#N: /memory forget N or /memory pin N):")
    for item in kept:
        pin = " (pinned)" if item.pinned else ""
        if item.kind == "fact":
            lines.append(f"  #{item.entry_id} {name} {item.content} (since {item.when:%Y-%m-%d}){pin}")
        elif item.kind == "summary":
            lines.append(f"  #{item.entry_id} {item.when:%Y-%m-%d} (summary) {item.content}{pin}")
        else:
            who = name if item.role == "user" else card.name
            lines.append(
                f"  #{item.entry_id} {item.when:%Y-%m-%d %H:%M} {who}: {item.content} "
                f"(message {item.item_id}){pin}"
            )
    return Text("\n".join(lines), private=True)


async def _memory_item(ctx: Context, action: str, rest: list[str]) -> Answer:
    """`/memory forget N` or `/memory pin N` on one memory of this conversation."""
    if len(rest) != 1 or not rest[0].lstrip("#").isdigit() or len(rest[0]) > 18:
        return Text(f"Usage: /memory {action} N, with N a number from /memory or /memory why.", private=True)
    number = int(rest[0].lstrip("#"))
    pipeline, card = ctx.app.pipeline, ctx.card
    incoming = ctx.incoming()
    async with pipeline.hold(incoming):  # not between a message and its reply
        state = await pipeline.memory.conversation(pipeline.key_for(incoming, card), ctx.surface.display_name)
        if action == "forget":
            item = await pipeline.memory.forget_item(state, number)
        else:
            item = await pipeline.memory.pin_item(state, number)
    if item is None:
        return Text(f"No memory #{number} with {card.name} here: /memory lists them.", private=True)
    if action == "forget":
        return Text(f"{card.name} forgot #{number}: {item.content[:80]}", private=True)
    return Text(f"{card.name} will keep #{number} in mind: {item.content[:80]}", private=True)


def _chat(ctx: Context) -> str:
    surface = ctx.surface
    return f"{surface.platform} chat {surface.chat_id}"


async def forget(ctx: Context) -> Answer:
    """Everything stored about the person on this platform (and on the accounts they linked with
    /link), deleted once they confirm."""
    if ctx.args.strip().lower() == "no":
        return Text("Nothing was deleted.", private=True)
    app, user_id = ctx.app, ctx.surface.user_id
    accounts = await app.pipeline.memory.accounts((ctx.platform, user_id))
    if ctx.args.strip().lower() != "yes":
        where = f"here on {ctx.platform.title()}"
        if len(accounts) > 1:
            where += " and on your linked " + ", ".join(p.title() for p, _ in accounts[1:]) + " account"
        return Text(
            f"Delete everything stored about you {where}: every conversation with every character, "
            "and your settings? This cannot be undone.",
            (Button("Yes, delete everything", "/forget yes"), Button("Cancel", "/forget no")),
            private=True,
        )
    deleted = 0
    for platform, user in accounts:
        deleted += await app.pipeline.memory.forget_user(platform, user)  # holding their conversations
        app.preferences.forget_user(platform, user)
        for forgotten in app.on_forget:
            forgotten(platform, user)
    if ctx.surface.kind == "private":  # the private chat's own settings are the person's too
        await app.preferences.bind(ctx.platform, ctx.surface.chat_id, ctx.bot_key, None)
    return Text(f"Done: {deleted} messages and everything else stored about you are deleted.", private=True)


async def voice(ctx: Context) -> Answer:
    """Voice replies for the person in this chat: on, off, or which it is."""
    app, surface = ctx.app, ctx.surface
    choice = ctx.args.strip().lower()
    if choice in ("on", "off"):
        await app.preferences.set_voice(ctx.platform, surface.chat_id, surface.user_id, choice == "on")
    on = await app.preferences.voice(ctx.platform, surface.chat_id, surface.user_id)
    state = "on" if on else "off"
    text = f"Voice replies are {state} for you in this chat. Change with /voice on or /voice off."
    if on and ctx.card.voice.mode == "text":
        text += f" ({ctx.card.name} speaks in text only: voice.mode is text in the card.)"
    return Text(text, private=True)


async def persona(ctx: Context) -> Answer:
    """How characters see the person: `/persona` shows it, `/persona NAME: who I am` sets it,
    `/persona clear` forgets it."""
    app, surface = ctx.app, ctx.surface
    text = " ".join(ctx.args.split())
    if text.lower() == "clear":
        await app.preferences.set_persona(ctx.platform, surface.user_id, None)
        return Text("Your persona is gone; characters know only your display name.", private=True)
    if not text:
        current = await app.preferences.persona(ctx.platform, surface.user_id)
        if current is None:
            return Text(
                "You have no persona: characters know your display name. "
                "/persona NAME: who you are, in a sentence or two — sets one.",
                private=True,
            )
        return Text(f"{current.name or surface.display_name}: {current.description}", private=True)
    name, colon, description = text.partition(":")
    if not colon or len(name) > PERSONA_NAME_MAX_CHARS:
        name, description = "", text
    description = description.strip()
    if not description or len(description) > PERSONA_MAX_CHARS:
        return Text(f"Describe yourself in up to {PERSONA_MAX_CHARS} characters.", private=True)
    await app.preferences.set_persona(
        ctx.platform, surface.user_id, Persona(description, name.strip() or None)
    )
    return Text(
        f"Characters now know you as {name.strip() or surface.display_name}: {description}", private=True
    )
