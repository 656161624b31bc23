"""/sing: the character sings a melody typed in the notation, a MIDI/MusicXML file sent with it, or
a tune hummed in a voice note (singing/hummed.py), and answers with a voice note. The song passes
the safety checks a reply passes (singing/checks.py)."""

from __future__ import annotations

from anima.commands.context import Context
from anima.commands.singing.checks import check_lyrics, may_sing
from anima.commands.singing.failures import song_failed
from anima.commands.singing.hummed import is_recording, sing_hummed
from anima.commands.singing.request import score_for
from anima.core.surface import Answers, NotFetched, Text, Voice
from anima.errors import AnimaError
from anima.safety import TurnSafety
from anima.voice.sing.files import MAX_FILE_BYTES, is_score_file
from anima.voice.sing.singer import Busy, busy_line

HOW = (
    "Write the notes, then the lyrics: /sing tempo=96 | C4 D4 E4/2 G4/2 | 小 星 星 亮\n"
    "or send a MIDI or MusicXML file with /sing as its caption. /sing about the sea | C4 D4 E4 G4 "
    "has new lyrics written for the melody."
)


async def sing(ctx: Context) -> Answers:
    card, surface = ctx.card, ctx.surface
    score_file = next((a for a in ctx.attachments if is_score_file(a.name)), None)
    recording = next((a for a in ctx.attachments if is_recording(a)), None)
    if score_file is None and recording is not None:
        return await sing_hummed(ctx, recording)
    if not ctx.args.strip() and score_file is None:
        return Text(HOW)
    turn = await may_sing(ctx)
    if not isinstance(turn, TurnSafety):
        return turn
    file = None
    if score_file is not None:
        data = await surface.fetch(score_file, MAX_FILE_BYTES)
        if isinstance(data, NotFetched):
            return Text(f"I cannot sing that: {data.reason}")
        file = (data, score_file.name)
    try:
        async with surface.showing("recording"):
            song = await score_for(ctx.args, card, ctx.app.pipeline.router, file)
            if refused := await check_lyrics(turn, song.score):
                return Text(refused.text)
            sung = await ctx.app.singer.sing(card, song.score, song.backing)
    except AnimaError as exc:
        return song_failed(card.name, surface.chat_id, exc)
    if isinstance(sung, Busy):  # the singer's queue filled meanwhile
        return Text(busy_line(card, surface.display_name))
    return Voice(sung, caption=f"🎤 {card.name} sings ({sung.duration_s:.0f} s)")
