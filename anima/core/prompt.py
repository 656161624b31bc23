"""Prompt build under a token budget: persona, rules and the newest message never drop.

Order of what gives way when the context is full: the oldest history first, then the example
dialogue, and only if the persona alone leaves no room, the tail of the newest message (with a
notice to the user).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from anima.characters.card import CharacterCard
from anima.characters.macros import expand
from anima.core.tokens import TokenCounter
from anima.errors import AnimaError

# ChatML / OpenAI chat framing: about 4 tokens per message, 3 to prime the reply.
PER_MESSAGE_TOKENS = 4
REPLY_PRIMER_TOKENS = 3
MIN_USER_TOKENS = 16


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class BudgetPlan:
    """Which parts fit: history from index `history_from` on, examples or not, user text capped."""

    history_from: int
    keep_examples: bool
    user_tokens: int  # may be less than asked: the newest message must be cut to this
    total: int


def plan_budget(budget: int, fixed: int, examples: int, history: Sequence[int], user: int) -> BudgetPlan:
    """Pure budgeting: keep the newest history that fits, then examples; cut the user text last."""
    if fixed + user > budget:
        allowed = max(budget - fixed, 0)
        return BudgetPlan(len(history), False, allowed, fixed + allowed)
    room = budget - fixed - user
    start = len(history)
    while start > 0 and history[start - 1] <= room:
        room -= history[start - 1]
        start -= 1
    keep_examples = 0 < examples <= room
    if keep_examples:
        room -= examples
    return BudgetPlan(start, keep_examples, user, budget - room)


@dataclass
class Prompt:
    messages: list[ChatMessage]
    tokens: int
    dropped_history: int = 0
    notices: list[str] = field(default_factory=list)


def render_system(card: CharacterCard, user_name: str, persona: str = "", chat_context: str = "") -> str:
    rules = ""
    if card.rules:
        rules = "Rules you always follow:\n" + "\n".join(f"- {rule}" for rule in card.rules)
    scenario = "\n".join(part for part in (card.scenario, card.backstory) if part)
    values = {"char": card.name, "user": user_name}
    values |= {
        "description": expand(card.description, values),
        "personality": expand(card.personality, values),
        "scenario": expand(scenario, values),
        "rules": expand(rules, values),
    }
    text = expand(card.system_prompt, values)
    if persona:
        text += f"\nAbout {user_name}: {persona}"
    if chat_context:
        text += f"\nRecently in this group chat (for context; answer {user_name}):\n{chat_context}"
    return "\n".join(line for line in text.splitlines() if line.strip())


def render_examples(card: CharacterCard, user_name: str) -> str:
    if not card.example_dialogue:
        return ""
    values = {"char": card.name, "user": user_name}
    lines = [f"Examples of how {card.name} talks:"]
    for ex in card.example_dialogue:
        lines += [f"{user_name}: {expand(ex.user, values)}", f"{card.name}: {expand(ex.char, values)}"]
    return "\n".join(lines)


async def cut_to_tokens(text: str, limit: int, counter: TokenCounter) -> str:
    """The longest prefix of `text` (cut at a character boundary) that counts at most `limit`."""
    low, high = 0, len(text)
    while low < high:  # binary search over prefix length: ~17 encodes for 100 kB
        mid = (low + high + 1) // 2
        if await counter.count(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return text[:low]


class PromptBuilder:
    """Builds chat messages for one turn under `context_window - max_tokens`."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter

    async def _cost(self, text: str) -> int:
        return await self.counter.count(text) + PER_MESSAGE_TOKENS

    async def _history_costs(self, history: Sequence[ChatMessage], room: int) -> list[int]:
        """Costs from the newest turn back, only as far as could fit: older turns are marked as not
        fitting without being counted, so a long history costs O(what fits) per message."""
        costs = [room + 1] * len(history)
        cached = getattr(self.counter, "cached", None)
        for i in range(len(history) - 1, -1, -1):
            known = cached(history[i].content) if cached else None
            costs[i] = (
                known + PER_MESSAGE_TOKENS if known is not None else await self._cost(history[i].content)
            )
            room -= costs[i]
            if room < 0:
                break
        return costs

    async def build(
        self,
        card: CharacterCard,
        user_name: str,
        history: Sequence[ChatMessage],
        user_text: str,
        context_window: int,
        max_tokens: int,
        persona: str = "",
        chat_context: str = "",
    ) -> Prompt:
        budget = context_window - max_tokens
        system = render_system(card, user_name, persona, chat_context)
        examples = render_examples(card, user_name)
        post = expand(card.post_history_instructions, {"char": card.name, "user": user_name})
        fixed = REPLY_PRIMER_TOKENS + await self._cost(system) + (await self._cost(post) if post else 0)
        example_cost = await self._cost(examples) if examples else 0
        user_cost = await self._cost(user_text)
        history_costs = await self._history_costs(history, budget - fixed - user_cost)

        plan = plan_budget(budget, fixed, example_cost, history_costs, user_cost)
        notices: list[str] = []
        if plan.user_tokens < user_cost:
            if plan.user_tokens - PER_MESSAGE_TOKENS < MIN_USER_TOKENS:
                raise PromptTooLarge(card, fixed, budget)
            cut = await cut_to_tokens(user_text, plan.user_tokens - PER_MESSAGE_TOKENS, self.counter)
            notices.append(
                f"Your message was too long for {card.name} to read whole: "
                f"only its first {len(cut):,} of {len(user_text):,} characters were used."
            )
            user_text = cut

        messages = [ChatMessage("system", system)]
        if plan.keep_examples:
            messages.append(ChatMessage("system", examples))
        messages += history[plan.history_from :]
        messages.append(ChatMessage("user", user_text))
        if post:
            messages.append(ChatMessage("system", post))
        return Prompt(messages, plan.total, dropped_history=plan.history_from, notices=notices)


class PromptTooLarge(AnimaError):
    def __init__(self, card: CharacterCard, fixed: int, budget: int) -> None:
        super().__init__(
            f"character {card.id!r}: its persona and rules take {fixed} tokens, leaving no room in the "
            f"model's budget of {budget}; shorten the card or use a backend with a larger context_window"
        )
