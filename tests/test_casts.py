"""Casts: several characters on one stage take turns by their strategy, and stop at max_bot_turns."""

from __future__ import annotations

import random
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from anima.app import Runtime
from anima.config import (
    BotsSettings,
    CastSettings,
    MemorySettings,
    Settings,
    TelegramBotSettings,
    load_settings,
)
from anima.core.casts import Casts, quiet_hours_in
from anima.core.messages import Incoming
from anima.core.surface import Surface
from anima.errors import ConfigError
from anima.llm.base import GenerationRequest
from anima.preflight import check_start
from tests.conftest import REPO
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface


def speaker_of(request: GenerationRequest) -> str:
    """Which card the request is for: the first name its system prompt (the persona) says."""
    system = request.messages[0].content
    return min(("Aiko", "Grimble", "Xingyao"), key=lambda name: system.find(name) % (len(system) + 1))


LINES = {"Aiko": "The tea is ready.", "Grimble": "Hmph. Good steel.", "Xingyao": "The stars are bright."}


def in_character(request: GenerationRequest) -> str:
    return LINES[speaker_of(request)]


def last_line(request: GenerationRequest) -> str:
    return next(m.content for m in reversed(request.messages) if m.role == "user")


@dataclass
class Room:
    """One group chat as everyone in it sees it: which member said what, in order."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (card id, text)

    def voice(self, heard: Surface, member: str) -> Surface | None:
        return FakeSurface("telegram", "1", kind="group", character_id=member, room=self.lines)

    def said(self) -> list[str]:
        return [who for who, _ in self.lines]


def cards_dir(tmp_path: Path, **extra: dict[str, str]) -> Path:
    """The repo's cards, with extra YAML lines per card id ("talkativeness: 1"); no quiet hours
    unless a card's lines give some (the members would not chat on at night)."""
    folder = tmp_path / "characters"
    shutil.copytree(REPO / "characters", folder)
    for path in folder.glob("*.yaml"):
        lines = {"proactive": '{quiet_hours: ""}'} | extra.get(path.stem, {})
        with path.open("a") as card:
            card.write("".join(f"\n{key}: {value}" for key, value in lines.items()) + "\n")
    return folder


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await stage(strategy, max_bot_turns=3, reply=..., **card_lines)`: a runtime playing a cast of
    aiko and grimble in chat "room" (platform "test"), and the Room its members speak in."""
    runtimes: list[Runtime] = []

    async def start(
        strategy: str = "natural",
        max_bot_turns: int = 3,
        reply: Callable[[GenerationRequest], str] | None = None,
        members: tuple[str, ...] = ("aiko", "grimble"),
        **card_lines: dict[str, str],
    ) -> tuple[Runtime, Room, InstantLLM]:
        cast = CastSettings(
            chat="telegram:1",
            members=list(members),
            strategy=strategy,  # type: ignore[arg-type]  # checked by pydantic
            max_bot_turns=max_bot_turns,
        )
        bots = [TelegramBotSettings(token=SecretStr("1:x"), character=member) for member in members]
        settings = Settings(
            characters_dir=cards_dir(tmp_path, **card_lines) if not runtimes else tmp_path / "characters",
            memory=MemorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/anima.db"),
            bots=BotsSettings(telegram=bots),  # one bot per member; none is started here
            casts=[cast],
        )
        runtime = await Runtime.start(settings)
        runtimes.append(runtime)
        llm = InstantLLM(reply=reply or in_character)
        runtime.router.register("embedded", llm)
        conversations = runtime.conversations
        quiet = quiet_hours_in(runtime.proactive.zone)  # as the runtime wires it, with a fixed seed
        conversations.casts = Casts(settings.casts, runtime.characters, random.Random(7), quiet=quiet)
        room = Room()
        conversations.casts.speaks("telegram", None, room.voice)
        return runtime, room, llm

    yield start
    for runtime in runtimes:
        await runtime.close()


TALKATIVE = {"talkativeness": "1"}


def said(text: str, message_id: str = "m1", user: str = "lin") -> Incoming:
    return Incoming("telegram", "1", user, "Lin", text, message_id=message_id, is_private=False)


async def say(runtime: Runtime, text: str, message_id: str = "m1") -> None:
    surface = FakeSurface(platform="telegram", chat_id="1", kind="group", for_bot=False)
    await runtime.conversations.handle(said(text, message_id), surface)


async def test_natural_the_member_addressed_by_name_answers_first(stage: Any) -> None:
    runtime, room, _ = await stage("natural", aiko={"talkativeness": "0"}, grimble={"talkativeness": "0"})
    await say(runtime, "Grimble, how much for a sword?")
    assert room.lines[2:] == [("grimble", "Hmph. Good steel.")], room.lines


async def test_natural_talkative_members_take_turns_and_stop_at_max_bot_turns(stage: Any) -> None:
    talkative = {"talkativeness": "1", "group_greetings": '["Hello, everyone."]'}
    runtime, room, llm = await stage("natural", max_bot_turns=3, aiko=talkative, grimble=talkative)
    await say(runtime, "Hi both!")
    spoken = room.said()[2:]  # after the two greetings
    assert len(spoken) == 3 and spoken[0] != spoken[1] and spoken[1] != spoken[2]
    assert len(llm.requests) == 3  # nobody speaks a fourth time before a person does


async def test_natural_with_nobody_talkative_the_most_talkative_answers_a_person(stage: Any) -> None:
    runtime, room, _ = await stage("natural", aiko={"talkativeness": "0.2"}, grimble={"talkativeness": "0"})
    await say(runtime, "Anyone here?")
    # aiko answers (0.2 beats 0); grimble (0) never speaks up unless addressed
    assert room.said()[2:] == ["aiko"]


async def test_list_each_member_answers_once_in_order(stage: Any) -> None:
    runtime, room, _ = await stage("list", max_bot_turns=5, members=("grimble", "aiko", "xingyao"))
    await say(runtime, "Good morning")
    greetings = room.said()[:3]
    assert greetings == ["grimble", "aiko", "xingyao"]
    assert room.said()[3:] == ["grimble", "aiko", "xingyao"]


async def test_list_stops_at_max_bot_turns(stage: Any) -> None:
    runtime, room, _ = await stage("list", max_bot_turns=2, members=("grimble", "aiko", "xingyao"))
    await say(runtime, "Good morning")
    assert room.said()[3:] == ["grimble", "aiko"]


async def test_pooled_each_member_once_before_anyone_repeats(stage: Any) -> None:
    runtime, room, _ = await stage("pooled", members=("grimble", "aiko", "xingyao"))
    for i in range(6):
        await say(runtime, f"Question {i}", message_id=f"m{i}")
    answers = room.said()[3:]
    assert len(answers) == 6
    assert sorted(answers[:3]) == sorted(answers[3:]) == ["aiko", "grimble", "xingyao"]


async def test_manual_only_the_addressed_member_answers(stage: Any) -> None:
    runtime, room, llm = await stage("manual")
    await say(runtime, "Nice weather.", message_id="m1")
    assert llm.requests == []  # nobody was addressed
    await say(runtime, "Aiko, tea please.", message_id="m2")
    assert room.said()[-1] == "aiko" and len(llm.requests) == 1


async def test_a_member_named_by_another_answers_it(stage: Any) -> None:
    def reply(request: GenerationRequest) -> str:
        return "Grimble, what do you think?" if speaker_of(request) == "Aiko" else "Hmph. Fine."

    runtime, room, _ = await stage("manual", reply=reply)
    await say(runtime, "Aiko, should I buy the sword?")
    assert room.lines[-2:] == [("aiko", "Grimble, what do you think?"), ("grimble", "Hmph. Fine.")]


async def test_each_member_reads_what_the_others_said(stage: Any) -> None:
    runtime, _, llm = await stage("list")
    await say(runtime, "Tell me a rumour")
    second = llm.requests[-1]
    prompt = "\n".join(m.content for m in second.messages)
    assert speaker_of(second) == "Grimble" and "The tea is ready." in prompt and "Tell me a rumour" in prompt


async def test_a_message_heard_by_two_bots_is_played_once(stage: Any) -> None:
    runtime, room, llm = await stage("list")
    await say(runtime, "Hello")
    await say(runtime, "Hello")  # the same message, received by the cast's other bot
    assert room.said()[2:] == ["aiko", "grimble"] and len(llm.requests) == 2


async def test_group_greetings_are_said_once_when_a_cast_starts_in_a_chat(stage: Any) -> None:
    hello = {"group_greetings": '["Hello, {{user}} and everyone!"]'}
    runtime, room, _ = await stage("manual", aiko=hello)
    await say(runtime, "Hi", message_id="m1")
    await say(runtime, "Hi again", message_id="m2")
    assert room.lines == [
        ("aiko", "Hello, Lin and everyone!"),
        ("grimble", "Hmph. Forge is hot. Buying or just looking?"),
    ]
    again, room_after_restart, _ = await stage("manual")
    await say(again, "Back", message_id="m3")
    assert room_after_restart.lines == []  # remembered with the chat: not greeted twice


def check_problems(tmp_path: Path, bots: str, cast: str) -> tuple[Path, list[str]]:
    """What `anima config check` says of a config with these bots and this one cast (YAML lines)."""
    config = tmp_path / "config.yaml"
    config.write_text(f"characters_dir: {REPO / 'characters'}\nbots:\n{bots}casts:\n{cast}")
    with pytest.raises(ConfigError) as caught:
        check_start(load_settings(config))
    return config, caught.value.problems


def test_a_cast_of_an_unknown_character_fails_the_check_in_one_line(tmp_path: Path) -> None:
    bots, cast = "  discord:\n    - token: x\n", "  - chat: 'discord:42'\n    members: [aiko, gimble]\n"
    config, problems = check_problems(tmp_path, bots, cast)
    assert problems == [
        f"{config}:7: casts[0].members[1]: no character named 'gimble'; available: aiko, grimble, xingyao"
    ]


def test_an_unknown_strategy_fails_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("casts:\n  - chat: 'discord:42'\n    members: [aiko, grimble]\n    strategy: random\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    [problem] = caught.value.problems
    assert problem.startswith(f"{config}:4: casts[0].strategy: expected one of ") and "'random'" in problem


async def test_in_their_quiet_hours_members_answer_a_person_but_do_not_chat_on(stage: Any) -> None:
    runtime, room, llm = await stage("natural", aiko=TALKATIVE, grimble=TALKATIVE)
    cast = runtime.conversations.casts.stage("telegram", "1")
    assert cast is not None
    quiet = Casts([cast.cast], runtime.characters, random.Random(7), quiet=lambda card: True)
    quiet.speaks("telegram", None, room.voice)
    runtime.conversations.casts = quiet
    await say(runtime, "Anyone awake?")
    assert len(room.said()[2:]) == 1 and len(llm.requests) == 1


def test_a_telegram_cast_member_without_a_bot_of_its_own_fails_the_check(tmp_path: Path) -> None:
    bots = "  telegram:\n    - token: '1:x'\n      character: aiko\n"
    config, problems = check_problems(
        tmp_path, bots, "  - chat: 'telegram:-1001'\n    members: [aiko, grimble]\n"
    )
    assert problems == [
        f"{config}:8: casts[0].members[1]: grimble has no Telegram bot: add one under bots.telegram "
        "with character: grimble (each member speaks through a bot of its own)"
    ]


async def test_the_cards_quiet_hours_keep_members_from_chatting_on(stage: Any) -> None:
    """The same hours in which a character never writes first (proactive.quiet_hours)."""
    now = datetime.now(UTC).astimezone()
    hours = f'{{quiet_hours: "{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"}}'
    quiet = TALKATIVE | {"proactive": hours}
    runtime, room, _ = await stage("natural", aiko=quiet, grimble=quiet)
    await say(runtime, "Anyone awake?")
    assert len(room.said()[2:]) == 1
