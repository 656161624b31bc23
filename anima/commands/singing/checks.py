"""Songs pass the safety checks a reply passes: a character never sings what it would not say.

The request goes through the input checks first (flood control counts /sing like any message, which
also bounds how much rendering and lyric writing one person can ask for), the lyrics then through the
output checks. Lyrics cannot be redacted or rewritten without breaking the melody, so an output verdict
other than allow or log refuses the song.
"""

from __future__ import annotations

from dataclasses import dataclass

from anima.characters.card import CharacterCard
from anima.commands.context import Context
from anima.core.messages import Incoming
from anima.core.surface import Answers, Text
from anima.safety import SafetyPolicy, TurnSafety
from anima.voice.sing.score import Score
from anima.voice.sing.singer import busy_line

REFUSED = "{name} won't sing these lyrics."


@dataclass(frozen=True)
class Refusal:
    text: str  # what to answer; "" means no answer at all (flood control)


async def admit(policy: SafetyPolicy, message: Incoming, card: CharacterCard) -> TurnSafety | Refusal:
    """The input checks on what the person sent: a turn to check the lyrics with, or a refusal."""
    turn = await policy.begin(message, card)
    if turn.input.action == "drop":
        return Refusal("")
    if turn.input.action == "replace":
        return Refusal(turn.input.text)
    return turn


async def may_sing(ctx: Context) -> TurnSafety | Answers:
    """A song request through the input checks, then the singer's room, before anything is
    downloaded: the turn to check the lyrics with, or the answer to give instead."""
    turn = await admit(ctx.app.pipeline.safety, ctx.incoming(ctx.args), ctx.card)
    if isinstance(turn, Refusal):
        return Text(turn.text, private=True) if turn.text else []
    if ctx.app.singer.busy:
        return Text(busy_line(ctx.card, ctx.surface.display_name))
    return turn


async def check_lyrics(turn: TurnSafety, score: Score) -> Refusal | None:
    """None when the character may sing the score's words."""
    verdict = await turn.check_output(score.lyrics())
    if verdict.action in ("allow", "log"):
        return None
    return Refusal(verdict.text if verdict.action == "replace" else REFUSED.format(name=turn.card.name))
