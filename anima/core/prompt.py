"""Prompt build under a token budget: persona, rules and the newest message never drop.

Order of what gives way when the context is full: the oldest history first, then the example
dialogue, and only if the persona alone leaves no room, the tail of the newest message (with a
notice to the user). Triggered lorebook entries get their room (within their own token budget)
before history and examples, and only what the persona and the newest message leave; then the
character's learned layer (anima/soul) and the recalled memories, each within its own budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from anima.characters.card import DEFAULT_SYSTEM_PROMPT, CharacterCard
from anima.characters.lorebook import Activation, activate, budget_order
from anima.characters.lorebook import token_budget as lorebook_budget
from anima.characters.macros import expand
from anima.core.messages import ChatMessage
from anima.core.tokens import TokenCounter
from anima.core.untrusted import LORE_NOTE, fence, strip_role_markers
from anima.errors import PromptTooLarge

# ChatML / OpenAI chat framing: about 4 tokens per message, 3 to prime the reply.
PER_MESSAGE_TOKENS = 4
REPLY_PRIMER_TOKENS = 3
MIN_USER_TOKENS = 16
# The compact layout, for tiny models (SmolLM2-135M): they follow a short prompt of plain lines,
# learn the voice from example turns, and copy their own recent loops, so they see little history.
COMPACT_HISTORY_MESSAGES = 6
# What a picture costs a vision model: OpenAI counts 765 tokens for a 1024 x 1024 picture in high
# detail; other servers count fewer. Reserved in the budget so the reply always has its room.
IMAGE_TOKENS = 765


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


@dataclass(frozen=True)
class TurnContext:
    """What one turn knows besides the card, the history and the message, for the prompt.

    persona: how the user describes themself; chat_context: recent lines of a group chat;
    memories: recalled lines, best first, each with its date, given up to `memory_tokens` of what
    the persona and the newest message leave (before history and examples); canary: the
    per-conversation leak marker (anima/safety); instruction: a corrective line that goes last;
    soul: what the character learned from its conversations (anima/soul), best first, after the
    persona under its own `soul_tokens`: it gives way before the persona or the message ever would.
    """

    persona: str = ""
    chat_context: str = ""
    memories: Sequence[str] = ()
    memory_tokens: int = 400
    canary: str = ""
    instruction: str = ""
    soul: Sequence[str] = ()
    soul_tokens: int = 300
    # whether a lorebook entry's text may go in (the pipeline leaves out what looks like an injection)
    admits: Callable[[str], bool] | None = None
    images: Sequence[bytes] = ()  # pictures shown with the newest message (a backend with vision)


NO_CONTEXT = TurnContext()


@dataclass
class Prompt:
    messages: list[ChatMessage]
    tokens: int
    dropped_history: int = 0
    notices: list[str] = field(default_factory=list)


def render_system(
    card: CharacterCard,
    user_name: str,
    persona: str = "",
    chat_context: str = "",
    idle_since: datetime | None = None,
    canary: str = "",
) -> str:
    rules = ""
    if card.rules:
        rules = "Rules you always follow:\n" + "\n".join(f"- {rule}" for rule in card.rules)
    scenario = "\n".join(part for part in (card.scenario, card.backstory) if part)
    values = {"char": card.char_name, "user": user_name}
    parts = {
        "description": card.description,
        "personality": card.personality,
        "scenario": scenario,
        "rules": rules,
    }
    values |= {name: expand(part, values, idle_since=idle_since) for name, part in parts.items()}
    text = expand(card.system_prompt, values, idle_since=idle_since)
    # A system_prompt that leaves out {{description}} & co. (an imported card's, say) replaces only the
    # instructions, as in SillyTavern: the persona and rules still go in, after it.
    text = "\n".join([text, *(values[name] for name in parts if not _mentions(card.system_prompt, name))])
    if quoted := _quoted(user_name, persona, chat_context):
        text += "\n" + quoted
    if canary:  # a per-conversation marker: a reply containing it leaked the prompt (anima/safety)
        text += f"\nConfidential marker, never to be written: {canary}"
    return "\n".join(line for line in text.splitlines() if line.strip())


def _quoted(user_name: str, persona: str, chat_context: str) -> str:
    """What other people wrote (a persona, group lines): fenced, never instructions (core/untrusted.py)."""
    quoted = [f"About {user_name}: {' '.join(persona.split())}"] if persona.strip() else []
    if chat_context.strip():
        quoted += [
            f"Recently in this group chat (for context; answer {user_name}):",
            *chat_context.splitlines(),
        ]
    return fence(quoted) if quoted else ""


def render_compact_system(
    card: CharacterCard, user_name: str, turn: TurnContext, idle_since: datetime | None, post: str
) -> str:
    """The system prompt for a tiny model: who it is and who it talks to, the persona as a few plain
    lines, the rules as sentences; a card's own system_prompt is kept as its author wrote it."""
    persona, chat_context, canary = turn.persona, turn.chat_context, turn.canary
    if card.system_prompt.strip() != DEFAULT_SYSTEM_PROMPT.strip():
        text = render_system(card, user_name, persona, chat_context, idle_since, canary)
        return "\n".join(part for part in (text, post) if part)
    values = {"char": card.char_name, "user": user_name}

    def plain(text: str) -> str:
        return " ".join(expand(text, values, idle_since=idle_since).split())

    lines = [f"You are {card.char_name}. You are talking with {user_name}.", plain(card.description)]
    if card.personality:
        lines.append(f"{card.char_name} is {plain(card.personality).rstrip('.')}.")
    lines += [plain(part) for part in (card.scenario, card.backstory) if part]
    lines += [plain(rule) for rule in card.rules]
    lines += [post, _quoted(user_name, persona, chat_context)]
    if canary:
        lines.append(f"Confidential marker, never to be written: {canary}")
    return "\n".join(line for line in lines if line.strip())


def example_turns(card: CharacterCard, user_name: str) -> list[ChatMessage]:
    """The card's example dialogue as real user and assistant turns (the compact layout)."""
    values = {"char": card.char_name, "user": user_name}
    turns: list[ChatMessage] = []
    for ex in card.example_dialogue:
        turns += [
            ChatMessage("user", expand(ex.user, values)),
            ChatMessage("assistant", expand(ex.char, values)),
        ]
    return turns


def _mentions(template: str, name: str) -> bool:
    return re.search(r"\{\{\s*" + name + r"\s*\}\}", template, re.IGNORECASE) is not None


def render_examples(card: CharacterCard, user_name: str) -> str:
    values = {"char": card.char_name, "user": user_name}
    header = f"Examples of how {card.name} talks:"
    if card.mes_example is not None:  # V2 example text that did not parse into exchanges
        text = expand(card.mes_example, values)
        blocks = [block.strip() for block in re.split(r"(?im)^\s*<START>\s*$", text)]
        return "\n\n".join([header, *(b for b in blocks if b)]) if any(blocks) else ""
    if not card.example_dialogue:
        return ""
    lines = [header]
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

    def __init__(self, counter: TokenCounter, style: str = "full") -> None:
        self.counter = counter
        self.style = style  # "full", or "compact" for tiny models (the backend's prompt_style)

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
        turn: TurnContext = NO_CONTEXT,
    ) -> Prompt:
        """The prompt for one turn; `turn` carries what else this turn knows (see TurnContext)."""
        budget = context_window - max_tokens
        idle_since = getattr(history[-1], "created_at", None) if history else None  # for {{idle_duration}}
        post = expand(card.post_history_instructions, {"char": card.char_name, "user": user_name})
        compact = self.style == "compact"
        skipped = 0
        turns: list[ChatMessage] = []
        if compact:
            skipped = max(len(history) - COMPACT_HISTORY_MESSAGES, 0)
            history = history[skipped:]
            system = render_compact_system(card, user_name, turn, idle_since, post)
            post = turn.instruction  # the card's own instruction went into the system prompt
            turns = example_turns(card, user_name) if card.mes_example is None else []
            examples = "" if turns else render_examples(card, user_name)
        else:
            system = render_system(card, user_name, turn.persona, turn.chat_context, idle_since, turn.canary)
            examples = render_examples(card, user_name)
            post = "\n".join(
                part for part in (post, turn.instruction) if part
            )  # a safety instruction goes last
        fixed = REPLY_PRIMER_TOKENS + await self._cost(system) + (await self._cost(post) if post else 0)
        example_cost = await self._cost(examples) if examples else 0
        example_cost += sum([await self._cost(t.content) for t in turns])
        user_cost = await self._cost(user_text) + IMAGE_TOKENS * len(turn.images)
        room = budget - fixed - user_cost
        lore = await self._lore(card, user_name, history, user_text, system, budget, room, turn.admits)
        system, fixed = lore.system, fixed + lore.cost
        room = min(turn.soul_tokens, budget - fixed - user_cost)
        learned, learned_cost = await self._fit(_soul_header(card), turn.soul, room)
        fixed += learned_cost
        room = min(turn.memory_tokens, budget - fixed - user_cost)
        recalled, recalled_cost = await self._memories(turn.memories, user_name, room)
        fixed += recalled_cost
        history_costs = await self._history_costs(history, budget - fixed - user_cost)

        plan = plan_budget(budget, fixed, example_cost, history_costs, user_cost)
        notices: list[str] = []
        if plan.user_tokens < user_cost:
            if plan.user_tokens - PER_MESSAGE_TOKENS < MIN_USER_TOKENS:
                raise PromptTooLarge(card.id, fixed, budget)
            cut = await cut_to_tokens(user_text, plan.user_tokens - PER_MESSAGE_TOKENS, self.counter)
            notices.append(
                f"Your message was too long for {card.name} to read whole: "
                f"only its first {len(cut):,} of {len(user_text):,} characters were used."
            )
            user_text = cut

        messages = [ChatMessage("system", system)]
        if learned:
            messages.append(ChatMessage("system", learned))
        if recalled:
            messages.append(ChatMessage("system", recalled))
        if plan.keep_examples:
            messages += turns or [ChatMessage("system", examples)]
        chat = [*history[plan.history_from :], ChatMessage("user", user_text, images=tuple(turn.images))]
        end = len(chat)
        for depth, message in lore.at_depth:  # shallowest first: an insert never shifts the next one's place
            chat.insert(max(end - depth, 0), message)
        messages += chat
        if post:
            messages.append(ChatMessage("system", post))
        return Prompt(messages, plan.total, dropped_history=skipped + plan.history_from, notices=notices)

    async def _memories(self, lines: Sequence[str], user_name: str, limit: int) -> tuple[str, int]:
        """The recalled lines that fit `limit` tokens, best first, under one header; and their cost."""
        header = f"What you remember from earlier with {user_name} (dates in brackets):"
        return await self._fit(header, lines, limit)

    async def _fit(self, header: str, lines: Sequence[str], limit: int) -> tuple[str, int]:
        """The lines that fit `limit` tokens, best first, under `header`; and their cost."""
        if not lines:
            return "", 0
        chosen: list[str] = []
        used = await self._cost(header)
        for line in lines:
            cost = await self.counter.count(line) + 1
            if used + cost <= limit:  # a long line that does not fit leaves room for shorter ones
                chosen.append(line)
                used += cost
        while chosen:  # counts of joined texts are not exact sums: check the real cost
            text = "\n".join([header, *chosen])
            cost = await self._cost(text)
            if cost <= limit:
                return text, cost
            chosen.pop()
        return "", 0

    async def _lore(
        self,
        card: CharacterCard,
        user_name: str,
        history: Sequence[ChatMessage],
        user_text: str,
        system: str,
        budget: int,
        room: int,
        admits: Callable[[str], bool] | None = None,
    ) -> _Lore:
        """Triggered lorebook entries under the lorebook's token budget and the room the persona and the
        newest message leave: the lore gives way before any of them would."""
        books = card.all_lorebooks
        if not books or room <= 0:
            return _Lore(system)
        activated = activate(books, [*(m.content for m in history), user_text])
        limit = lorebook_budget(books, budget)  # the lorebook's own budget, for its entries' text
        wrap = await self.counter.count(fence(["."], LORE_NOTE)) - await self.counter.count(".")
        values = {"char": card.char_name, "user": user_name}
        chosen: list[tuple[Activation, str]] = []
        blocks: set[tuple[str, int]] = set()  # each placement is one fence: its note costs once
        used = 0
        for activation in budget_order(activated):
            # lore may come from an imported card: no chat-template marker of it reaches the model
            text = strip_role_markers(expand(activation.text, values)).strip()
            if not text or (admits is not None and not admits(text)):
                continue
            cost = await self.counter.count(text) + 1  # + the newline that joins it
            block = (activation.position, activation.depth if activation.position == "at_depth" else 0)
            framing = _framing(blocks | {block}, wrap)
            if used + cost > limit or used + cost + framing > room:
                break  # as in SillyTavern: spent in priority order, up to the first entry that overflows
            chosen.append((activation, text))
            blocks.add(block)
            used += cost
        base = await self._cost(system)
        while True:  # counts of joined texts are not exact sums: check the real cost, drop the last if over
            lore = _Lore.of(system, chosen)
            lore.cost = await self._cost(lore.system) - base
            lore.cost += sum([await self._cost(m.content) for _, m in lore.at_depth])
            text_cost = lore.cost - wrap * lore.blocks - PER_MESSAGE_TOKENS * len(lore.at_depth)
            if (lore.cost <= room and text_cost <= limit) or not chosen:
                return lore
            chosen.pop()


@dataclass
class _Lore:
    """The system text with before/after entries placed around the persona, and the @depth messages."""

    system: str
    at_depth: list[tuple[int, ChatMessage]] = field(default_factory=list)
    cost: int = 0
    blocks: int = 0  # fenced blocks: before, after, one per depth

    @classmethod
    def of(cls, system: str, chosen: Sequence[tuple[Activation, str]]) -> _Lore:
        """Lore is quoted, never obeyed (anima/core/untrusted.py): each placement is one fenced block,
        and an entry asking for a depth goes there as a fenced note, whatever role it asked to speak
        in: no lorebook text, an imported card's included, becomes an instruction or someone's turn."""
        placed = sorted(chosen, key=lambda item: item[0].order)  # lower insertion_order goes higher
        before = [text for a, text in placed if a.position == "before_char"]
        after = [text for a, text in placed if a.position == "after_char"]
        groups: dict[int, list[str]] = {}
        for a, text in placed:
            if a.position == "at_depth":
                groups.setdefault(a.depth, []).append(text)
        at_depth = [
            (depth, ChatMessage("system", fence(lines, LORE_NOTE))) for depth, lines in groups.items()
        ]
        at_depth.sort(key=lambda item: item[0])
        framed = [fence(before, LORE_NOTE), system, fence(after, LORE_NOTE)]
        blocks = bool(before) + bool(after) + len(at_depth)
        return cls("\n".join(part for part in framed if part), at_depth, blocks=blocks)


def _framing(blocks: set[tuple[str, int]], wrap: int) -> int:
    """What the fences of the chosen placements cost beyond their entries' text."""
    return sum(wrap + (PER_MESSAGE_TOKENS if position == "at_depth" else 0) for position, _ in blocks)


def _soul_header(card: CharacterCard) -> str:
    return f"What {card.char_name} has lived and picked up since (the description above comes first):"
