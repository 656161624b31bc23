"""/soul: what a character learned, reviewed by the bot's admins (its card owners).

The evidence behind a change is what someone said to the character: in a group the answer is only
shown where the platform can show it to the admin alone; elsewhere /soul asks for a private chat.
"""

from __future__ import annotations

from anima.commands.context import Context
from anima.core.surface import Answer, Text
from anima.soul.chat import soul_command

PRIVATE_ONLY = "/soul shows what people said to the character: use it in a private chat with me."


async def soul(ctx: Context) -> Answer:
    if ctx.surface.kind == "group" and not ctx.surface.private_answers:
        return Text(PRIVATE_ONLY)
    by = f"{ctx.platform}:{ctx.surface.user_id}"
    return Text(await soul_command(ctx.app.soul, ctx.card, ctx.words, by, ctx.surface.bot_id), private=True)
