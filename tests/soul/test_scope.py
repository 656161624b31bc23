"""Scope: a bot's admins see and decide only what came from their own bot's users, for the
character of their chat; what was learned with a person in private stays out of their groups."""

from __future__ import annotations

from dataclasses import replace

from anima.app import Runtime
from anima.commands.context import Context
from anima.core.messages import Incoming
from anima.soul.changes import Change, Source
from anima.soul.chat import USAGE, soul_command
from tests.fakes.llm import InstantLLM
from tests.fakes.surface import FakeSurface

PIN = "my bank PIN is 1234"


async def _proposal(
    runtime: Runtime, platform: str, user: str, said: str, text: str, character: str = "aiko"
) -> int:
    card = runtime.characters.get(character)
    message = Incoming(platform, user, user, user.title(), said, character_id=character)
    await runtime.pipeline.handle(message)
    state = await runtime.memory.conversation(runtime.pipeline.key_for(message, card), user.title())
    evidence = tuple(m.id for m in state.recent if m.role == "user")
    source = Source(platform, user, user.title(), state.id)
    return await runtime.soul.propose(character, Change("habit", text, evidence, 0.9), source)


async def test_an_admin_sees_only_their_platforms_evidence(runtime: Runtime) -> None:
    await _proposal(runtime, "telegram", "lin", PIN, "guards secrets well")
    await _proposal(runtime, "discord", "ana", "I love sea shanties", "hums sea shanties")
    aiko = runtime.characters.get("aiko")

    seen_on_discord = await soul_command(runtime.soul, aiko, ["diff"], "discord:99")
    assert "hums sea shanties" in seen_on_discord and "I love sea shanties" in seen_on_discord
    assert PIN not in seen_on_discord and "guards secrets well" not in seen_on_discord
    assert PIN in await soul_command(runtime.soul, aiko, ["diff"], "telegram:7")


async def test_an_admin_cannot_decide_another_platforms_or_characters_change(runtime: Runtime) -> None:
    from_telegram = await _proposal(runtime, "telegram", "lin", PIN, "guards secrets well")
    for_grimble = await _proposal(runtime, "discord", "ana", "Forge talk", "talks of forges", "grimble")
    aiko = runtime.characters.get("aiko")

    for action in ("approve", "reject"):
        answer = await soul_command(runtime.soul, aiko, [action, str(from_telegram)], "discord:99")
        assert "another platform" in answer and PIN not in answer
        answer = await soul_command(runtime.soul, aiko, [action, str(for_grimble)], "discord:99")
        assert "another character" in answer and "forges" not in answer
    assert {p.id for p in await runtime.soul.proposals("aiko")} == {from_telegram}  # still pending
    assert {p.id for p in await runtime.soul.proposals("grimble")} == {for_grimble}


async def test_a_relationship_learned_in_private_stays_out_of_groups_unless_shared(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    card = runtime.characters.get("aiko")
    private = Incoming("telegram", "42", "42", "Lin", "hello")
    await runtime.pipeline.handle(private)
    state = await runtime.memory.conversation(runtime.pipeline.key_for(private, card), "Lin")
    source = Source("telegram", "42", "Lin", state.id)
    line = "Lin told Aiko about her divorce"
    change = Change("relationship", line, tuple(m.id for m in state.recent if m.role == "user"), 0.9)
    await runtime.soul.approve(await runtime.soul.propose("aiko", change, source), "cli:owner")
    group = Incoming("telegram", "-100", "42", "Lin", "hi all", is_private=False)

    def prompt() -> str:
        return "\n".join(m.content for m in instant_llm.requests[-1].messages)

    await runtime.pipeline.handle(private)
    assert line in prompt()
    await runtime.pipeline.handle(group)
    assert line not in prompt()
    await runtime.memory.set_shares_private("telegram", "42", True)
    await runtime.pipeline.handle(group)
    assert line in prompt()


async def test_a_fact_told_in_private_is_not_recalled_in_a_group(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    await runtime.pipeline.handle(Incoming("telegram", "42", "42", "Lin", "I live in Zanzibar."))
    await runtime.pipeline.keeper.drain()
    await runtime.pipeline.handle(
        Incoming("telegram", "-100", "42", "Lin", "Where do I live?", is_private=False)
    )
    assert "Zanzibar" not in "\n".join(m.content for m in instant_llm.requests[-1].messages)
    await runtime.pipeline.handle(Incoming("telegram", "42", "42", "Lin", "Where do I live?"))
    assert "Zanzibar" in "\n".join(m.content for m in instant_llm.requests[-1].messages)


async def _told_through(runtime: Runtime, bot: str, user: str, said: str, change: Change) -> int:
    """`user` says `said` to Aiko in a private chat with bot account `bot` (through the conversation
    service, as an adapter would), and a change is proposed from that conversation."""
    surface = FakeSurface(
        platform="telegram", chat_id=user, user_id=user, display_name=user.title(), bot_id=bot
    )
    message = Incoming("telegram", user, user, user.title(), said)
    await runtime.conversations.handle(message, surface)
    card = runtime.characters.get("aiko")
    state = await runtime.memory.conversation(runtime.pipeline.key_for(message, card), user.title())
    evidence = tuple(m.id for m in state.recent if m.role == "user")
    source = await runtime.soul.source(state.id)
    return await runtime.soul.propose("aiko", replace(change, evidence=evidence), source)


async def _soul_as_admin_of(runtime: Runtime, bot: str, args: str) -> str:
    admin = FakeSurface(platform="telegram", chat_id="900", user_id="900", bot_id=bot, bot_admin=True)
    card = runtime.characters.get("aiko")
    await runtime.commands.run("soul", Context(runtime.commands, admin, card, args, default="aiko"))
    return admin.texts()[-1]


async def test_two_bots_admins_see_and_decide_only_what_came_through_their_own_bot(runtime: Runtime) -> None:
    from_a = await _told_through(
        runtime, "aiko_bot", "10", PIN, Change("habit", "guards secrets well", (), 0.9)
    )
    from_b = await _told_through(
        runtime, "tea_bot", "20", "I love sea shanties", Change("habit", "hums sea shanties", (), 0.9)
    )

    seen_by_b = await _soul_as_admin_of(runtime, "tea_bot", "diff")
    assert "hums sea shanties" in seen_by_b and "I love sea shanties" in seen_by_b
    assert PIN not in seen_by_b and "guards secrets well" not in seen_by_b
    assert PIN in await _soul_as_admin_of(runtime, "aiko_bot", "diff")
    for action in ("approve", "reject"):
        answer = await _soul_as_admin_of(runtime, "tea_bot", f"{action} {from_a}")
        assert "another platform's or bot's" in answer and PIN not in answer
    assert {p.id for p in await runtime.soul.proposals("aiko")} == {from_a, from_b}  # both still pending

    line = "Lin trusts Aiko with her bank details"
    relationship = await _told_through(runtime, "aiko_bot", "10", "ok", Change("relationship", line, (), 0.9))
    await runtime.soul.approve(relationship, "cli:owner")
    assert line not in await _soul_as_admin_of(runtime, "tea_bot", "show")
    assert line not in await _soul_as_admin_of(runtime, "tea_bot", "history")
    assert line in await _soul_as_admin_of(runtime, "aiko_bot", "show")


async def test_growth_learned_in_a_private_chat_stays_out_of_groups_unless_its_person_shares_it(
    runtime: Runtime, instant_llm: InstantLLM
) -> None:
    card = runtime.characters.get("aiko")
    private = Incoming("telegram", "42", "42", "Lin", "I once sailed to Zanzibar with my late father.")
    await runtime.pipeline.handle(private)
    state = await runtime.memory.conversation(runtime.pipeline.key_for(private, card), "Lin")
    line = "once sailed to Zanzibar"
    evidence = tuple(m.id for m in state.recent if m.role == "user")
    proposal = await runtime.soul.propose(
        "aiko", Change("backstory", line, evidence, 0.9), await runtime.soul.source(state.id)
    )
    await runtime.soul.approve(proposal, "cli:owner")

    def prompt() -> str:
        return "\n".join(m.content for m in instant_llm.requests[-1].messages)

    await runtime.pipeline.handle(Incoming("telegram", "43", "43", "Bo", "hello"))
    assert line in prompt()  # shared growth: every private chat of the character
    group = Incoming("telegram", "-100", "77", "Ana", "hi all", is_private=False)
    await runtime.pipeline.handle(group)
    assert line not in prompt()
    await runtime.memory.set_shares_private("telegram", "42", True)
    await runtime.pipeline.handle(group)
    assert line in prompt()


async def test_an_id_too_big_for_the_database_gets_the_usage_not_an_error(runtime: Runtime) -> None:
    aiko = runtime.characters.get("aiko")
    for words in (["approve", "9" * 20], ["reject", "#-1"], ["rollback", "v" + "9" * 30], ["show", "1e9"]):
        answer = await soul_command(runtime.soul, aiko, words, "telegram:7")
        assert answer == USAGE.format(char="Aiko")


async def test_a_bots_admin_rolls_back_only_what_came_through_their_own_bot(runtime: Runtime) -> None:
    """One character, two bots: tea_bot's admin undoes a line their own bot's chats taught, but not
    one aiko_bot's chats taught (the command line can undo anything)."""
    others = await _told_through(
        runtime, "aiko_bot", "10", PIN, Change("habit", "guards secrets well", (), 0.9)
    )
    await runtime.soul.approve(others, "cli:owner")  # version 1, through aiko_bot
    theirs = await _told_through(
        runtime, "tea_bot", "20", "I sing at sea", Change("habit", "hums shanties", (), 0.9)
    )
    await runtime.soul.approve(theirs, "telegram:900")  # version 2, through tea_bot

    refused = await _soul_as_admin_of(runtime, "tea_bot", "rollback 0")
    assert "anima soul rollback aiko 0" in refused and PIN not in refused
    assert len(await runtime.soul.history("aiko")) == 2  # nothing was rolled back

    assert "soul version 3" in await _soul_as_admin_of(runtime, "tea_bot", "rollback 1")
    lines = [entry.text for entry in await runtime.soul.entries("aiko")]
    assert "guards secrets well" in lines and "hums shanties" not in lines
    assert "anima soul rollback" in await _soul_as_admin_of(
        runtime, "aiko_bot", "rollback 0"
    )  # v2: tea_bot's
