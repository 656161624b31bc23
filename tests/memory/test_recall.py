"""Long-term recall through the pipeline, on SQLite and PostgreSQL: what the character is reminded
of in its prompt, weeks later, in any script, and never across chats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from anima.app import Runtime
from anima.core.messages import ConversationKey, Incoming
from anima.core.tokens import cl100k
from anima.llm.base import GenerationRequest
from anima.memory.recall import Memory, line_tokens
from anima.memory.store import MemoryStore
from tests.fakes.llm import InstantLLM

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # a Monday
FILLER = [
    "The weather was grey again today.",
    "I watched a documentary about volcanoes.",
    "Work was busy, lots of meetings.",
    "I cooked pasta for dinner.",
    "My neighbour is renovating his kitchen.",
    "I read a few chapters of my novel.",
]


class Clock:
    def __init__(self, runtime: Runtime) -> None:
        self.now = START
        runtime.memory.clock = lambda: self.now


async def say(runtime: Runtime, text: str, chat: str = "dm", private: bool = True) -> None:
    message = Incoming("test", chat, "lin", "Lin", text, is_private=private)
    await runtime.pipeline.handle(message)


def remembered(request: GenerationRequest) -> str:
    """The memories block the character was given (empty when none)."""
    blocks = [m.content for m in request.messages if m.role == "system" and "What you remember" in m.content]
    return "\n".join(blocks)


async def weeks_of_small_talk(runtime: Runtime, clock: Clock, weeks: int) -> None:
    for day in range(weeks * 7):
        clock.now = START + timedelta(days=day + 1)
        await say(runtime, FILLER[day % len(FILLER)])


async def test_a_fact_from_the_first_day_is_recalled_weeks_later(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    clock = Clock(any_runtime)
    await say(any_runtime, "I have a cat named Momo, she is three years old.")
    await weeks_of_small_talk(any_runtime, clock, weeks=4)

    clock.now += timedelta(days=1)
    await say(any_runtime, "Do you remember the name of my cat?")

    memories = remembered(instant_llm.requests[-1])
    assert "Momo" in memories
    assert "[2026-03-02]" in memories  # with its date


async def test_recall_skips_what_the_recent_history_already_holds(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    await say(any_runtime, "My sister Ana plays the cello.")
    await say(any_runtime, "What instrument does Ana play?")
    assert "cello" not in remembered(instant_llm.requests[-1])  # it is in the history right below


async def test_what_did_i_do_last_weekend_recalls_that_weekend(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    clock = Clock(any_runtime)
    for day in range(1, 5):
        clock.now = START + timedelta(days=day)
        await say(any_runtime, FILLER[day % len(FILLER)])
    clock.now = START + timedelta(days=5, hours=2)  # Saturday
    await say(any_runtime, "Went up the ridge trail with Mia, my legs are dead.")
    for hour in range(12):  # enough talk after it that it has left the recent history
        clock.now = START + timedelta(days=6 + hour // 4, hours=hour % 4)
        await say(any_runtime, FILLER[hour % len(FILLER)])
    clock.now = START + timedelta(days=9)  # the Wednesday after
    await say(any_runtime, "What did I do last weekend?")
    assert "ridge trail" in remembered(instant_llm.requests[-1])


async def test_chinese_messages_are_recalled_by_their_words(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    clock = Clock(any_runtime)
    await say(any_runtime, "我最喜欢的饮料是桂花乌龙茶。")
    await weeks_of_small_talk(any_runtime, clock, weeks=3)
    await say(any_runtime, "你还记得我喜欢喝什么茶吗？")
    assert "桂花乌龙茶" in remembered(instant_llm.requests[-1])


async def test_a_move_supersedes_the_old_home(any_runtime: Runtime, instant_llm: InstantLLM) -> None:
    clock = Clock(any_runtime)
    await say(any_runtime, "I live in Paris, near the canal.")
    await weeks_of_small_talk(any_runtime, clock, weeks=2)
    await say(any_runtime, "Big news: I moved to Berlin!")
    await any_runtime.pipeline.keeper.drain()

    card = any_runtime.characters.get("aiko")
    view = await any_runtime.memory.view(any_runtime.pipeline.key_for(_lin(), card), "Lin")
    assert [(f.topic, f.content) for f in view.facts if f.topic == "home"] == [("home", "lives in Berlin")]


async def test_nothing_said_in_a_private_chat_surfaces_in_a_group(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    clock = Clock(any_runtime)
    await say(any_runtime, "My secret diary password is bluebird.")
    await weeks_of_small_talk(any_runtime, clock, weeks=3)
    await say(any_runtime, "What is my diary password?", chat="group", private=False)
    prompt = "\n".join(m.content for m in instant_llm.requests[-1].messages)
    assert "bluebird" not in prompt


async def test_search_syntax_emoji_and_huge_pastes_do_not_break_recall(
    any_runtime: Runtime, instant_llm: InstantLLM
) -> None:
    clock = Clock(any_runtime)
    hostile = [
        'what about "quoted * NEAR(a b) OR AND NOT',
        "'; DROP TABLE messages; --",
        "🙂🙂🙂",
        "x" * 100_000,
        "body:secret OR scope:c1",
        "Ünïcödé ١٢٣ Ελληνικά русский 日本語のテキスト",
    ]
    for text in hostile:
        clock.now += timedelta(hours=1)
        await say(any_runtime, text)
    await say(any_runtime, 'NEAR OR * " 🙂 ١٢٣')
    assert len(instant_llm.requests) == len(hostile) + 1  # every one was answered


def _lin() -> Incoming:
    return Incoming("test", "dm", "lin", "Lin", "")


def test_a_recalled_line_is_counted_exactly_as_the_prompt_counts_it() -> None:
    when = datetime(2026, 5, 8, tzinfo=UTC)
    texts = [
        "I adopted a cat.",
        "",
        "   ",
        "'s mine",
        "42 cats!!",
        "猫を飼った 🙂",
        "a\tb\nc  d",
        "…x",
        "don't",
    ]
    names = [("Lin", "Aiko"), ("Mel Jones", "Ai ko"), ("", ""), ("Lin ", " Aiko"), ("12", "'s")]
    for text, other_text in zip(texts, reversed(texts), strict=True):
        for user, character in names:
            for kind in ("turn", "summary", "fact"):
                for beside in (None, 1, 9):
                    neighbour = None if beside is None else Memory("turn", beside, other_text, when, "user")
                    memory = Memory(kind, 5, text, when, "assistant", neighbour=neighbour)
                    whole = len(cl100k().encode(memory.line(user, character), disallowed_special=())) + 1
                    assert line_tokens(memory, user, character) == whole, (memory, user, character)


async def test_a_question_that_asks_when_recalls_the_turn_that_dates_it(database_url: str) -> None:
    store = await MemoryStore.open(database_url)
    try:
        state = await store.conversation(ConversationKey("test", "dm", "lin", "aiko"), "Lin")
        for day, text in enumerate(
            [
                "I went hiking at Mount Tam last weekend with my sister.",
                *FILLER,
                "I love hiking, hiking is my favourite.",
                *FILLER,
            ]
        ):
            await store.add(state, "user", text, at=START + timedelta(days=day))
        asked = "When did I go hiking?"
        found = await store.recall(state, asked, now=START + timedelta(days=30), skip_recent=0)
    finally:
        await store.close()
    assert "last weekend" in found[0].text
