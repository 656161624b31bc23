"""/safety: a chat's effective safety settings, and its admins' stricter override.

Anyone may look; in a group only its admins may change them, in a private chat the person. On
Discord an override covers the whole server, like the permission that changes it.
"""

from __future__ import annotations

from anima.commands.context import Context
from anima.core.surface import Answer, Text
from anima.safety import override_scope, overrides

USAGE = (
    "/safety – this chat's safety settings\n"
    "/safety rating general|teen – a stricter rating for this chat\n"
    "/safety block TOPIC – characters decline TOPIC here\n"
    "/safety unblock TOPIC – lift a topic this chat blocked\n"
    "/safety reset – back to the character card's own settings"
)
ADMINS_ONLY = "Only this chat's administrators can change its safety settings. /safety shows them."


async def safety(ctx: Context) -> Answer:
    policy = ctx.app.pipeline.safety
    action, _, rest = ctx.args.strip().partition(" ")
    action, rest = action.lower(), rest.strip()
    scope = override_scope(ctx.surface.chat_id, ctx.guild_id)
    current = await policy.override_for(ctx.platform, scope)
    if action in ("", "show"):
        where = "in this server" if ctx.guild_id else "here"
        return Text(overrides.describe(ctx.card, current, where), private=True)
    if action not in ("rating", "block", "unblock", "reset"):
        return Text(USAGE, private=True)
    if not await ctx.surface.is_chat_admin():
        return Text(ADMINS_ONLY, private=True)
    if action == "rating":
        change = overrides.set_rating(current, ctx.card, rest.lower())
    elif action == "block":
        change = overrides.block(current, ctx.card, rest)
    elif action == "unblock":
        change = overrides.unblock(current, ctx.card, rest)
    else:
        change = overrides.reset()
    if change.override != current:
        await policy.set_override(ctx.platform, scope, change.override.rating, change.override.blocked_topics)
    return Text(change.note, private=True)
