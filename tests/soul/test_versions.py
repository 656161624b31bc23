"""Soul versions: every applied change is a version; a rollback restores any version exactly."""

from __future__ import annotations

import pytest

from anima.app import Runtime
from anima.core.messages import ChatMessage
from anima.core.prompt import PromptBuilder, TurnContext
from anima.soul import SoulError, SoulStore, Source
from anima.soul.changes import Change
from tests.soul.conftest import LIN, MEI, say

SOURCE = Source("test", "lin", "Lin")
HISTORY = [ChatMessage("user", "Good evening!")]


async def learn(soul: SoulStore, text: str, kind: str = "habit", source: Source = SOURCE) -> int:
    proposal = await soul.propose("aiko", Change(kind, text, (1,), 0.9), source)  # type: ignore[arg-type]
    return (await soul.approve(proposal, "cli:owner")).version


async def prompt(runtime: Runtime, who=LIN) -> list[ChatMessage]:  # type: ignore[no-untyped-def]
    card = runtime.characters.get("aiko")
    lines = await runtime.pipeline.learned(card, say("hi", who))
    builder = PromptBuilder(runtime.router.backend("embedded").counter)
    built = await builder.build(card, who.display_name, HISTORY, "hi", 4096, 200, TurnContext(soul=lines))
    return built.messages


async def test_a_rollback_restores_the_exact_earlier_prompt(soul_runtime: Runtime) -> None:
    soul = soul_runtime.soul
    await learn(soul, "hums while the kettle boils")
    await learn(soul, "Lin and I joke about my cursed umbrella", "relationship")
    before = await prompt(soul_runtime)
    await learn(soul, "calls rain 'sky tea'")
    await learn(soul, "thinks oolong beats green tea", "opinion")
    assert await prompt(soul_runtime) != before

    await soul.rollback("aiko", 2, "cli:owner")

    assert await prompt(soul_runtime) == before


async def test_rolling_forward_again_restores_the_later_version_too(soul_runtime: Runtime) -> None:
    soul = soul_runtime.soul
    await learn(soul, "hums while the kettle boils")
    await learn(soul, "calls rain 'sky tea'")
    later = await prompt(soul_runtime)
    await soul.rollback("aiko", 0, "cli:owner")
    await soul.rollback("aiko", 2, "cli:owner")

    assert await prompt(soul_runtime) == later


async def test_rollback_to_version_zero_leaves_the_card_alone(soul_runtime: Runtime) -> None:
    soul = soul_runtime.soul
    await learn(soul, "hums while the kettle boils")
    await soul.rollback("aiko", 0, "cli:owner")

    assert await soul_runtime.pipeline.learned(soul_runtime.characters.get("aiko"), say("hi")) == []


async def test_history_lists_every_version_with_who_approved_it(soul_runtime: Runtime) -> None:
    soul = soul_runtime.soul
    await learn(soul, "hums while the kettle boils")
    await soul.rollback("aiko", 0, "telegram:42")

    history = [(v.version, v.action, v.approved_by) for v in await soul.history("aiko")]
    assert history == [(1, "apply", "cli:owner"), (2, "rollback", "telegram:42")]


async def test_a_rollback_to_a_version_that_never_was_says_which_exist(soul_runtime: Runtime) -> None:
    with pytest.raises(SoulError, match="versions 0 to 0"):
        await soul_runtime.soul.rollback("aiko", 3, "cli:owner")


async def test_a_decided_proposal_cannot_be_approved_twice(soul_runtime: Runtime) -> None:
    soul = soul_runtime.soul
    proposal = await soul.propose("aiko", Change("habit", "hums", (1,), 0.9), SOURCE)
    await soul.approve(proposal, "cli:owner")
    with pytest.raises(SoulError, match="already applied"):
        await soul.approve(proposal, "cli:owner")


async def test_another_users_relationship_is_not_in_the_prompt(soul_runtime: Runtime) -> None:
    await learn(soul_runtime.soul, "Lin and I joke about my cursed umbrella", "relationship")
    assert "umbrella" not in "\n".join(m.content for m in await prompt(soul_runtime, MEI))
