"""/selfie [scene]: a picture of the character, made from its card's appearance (anima/seeing/selfie.py)."""

from __future__ import annotations

from anima.commands.context import Context
from anima.core.surface import Answers, File, Text


async def selfie(ctx: Context) -> Answers:
    if ctx.app.selfies is None:
        return Text("Pictures are not made here.", private=True)
    async with ctx.surface.showing("typing"):
        made = await ctx.app.selfies.make(ctx.card, ctx.incoming(), ctx.args)
    return File(made.name, made.png, made.caption, photo=True)
