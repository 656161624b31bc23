"""The safety policy: which checks run on a person's message and on a reply, in what order, and the audit.

`begin(message, card, history)` runs the input checks and returns a `TurnSafety`; the pipeline then uses the
turn's canary (for the system prompt), its stream (what the platform may show while generating) and
`turn.check_output(reply)`, which says allow, redact, regenerate (once) or replace. Every decision
other than allow goes to the audit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from anima.characters.card import CharacterCard
from anima.config import SafetySettings
from anima.core.messages import ChatMessage, Incoming, ReplyStream
from anima.errors import AnimaError, ConfigError
from anima.llm.router import LLMRouter
from anima.memory.store import MemoryStore
from anima.ops.allocator import release_freed
from anima.safety.audit import Audit, Where
from anima.safety.checks import (
    BlockedTopics,
    CrisisCheck,
    CutImpersonation,
    FloodControl,
    HarmCheck,
    InjectionCheck,
    LeakCheck,
    LearnedGuard,
    LengthCap,
    ModerationCheck,
    NeutraliseMassMentions,
    PersonaBreak,
    PiiRedaction,
    Toxicity,
)
from anima.safety.classifier import load_guard_model
from anima.safety.lexicon import Scan
from anima.safety.moderation import CachedJudge, Judge, LlamaGuardJudge, OpenAIModeration
from anima.safety.profanity_model import load_profanity_model
from anima.safety.streaming import CheckedStream, SilentStream
from anima.safety.verdict import (
    RATINGS,
    InputCheck,
    InputContext,
    OutputCheck,
    OutputContext,
    Rating,
    Rules,
    Verdict,
)

log = logging.getLogger(__name__)
PREFERENCE = "safety"  # the chat preference holding an admin's override: {"rating": …, "blocked_topics": […]}
PREVIEW_SKIPS = ("flood", "moderation")  # checks a dry run does not run: they count, or call out
USER_TEXTS = 50  # how many of this user's recent messages count as "their own data" for PII


def stricter(a: Rating, b: Rating) -> Rating:
    return a if RATINGS.index(a) <= RATINGS.index(b) else b


@dataclass(frozen=True)
class ChatOverride:
    """What a chat's (or guild's) admins set: a stricter rating, more blocked topics."""

    rating: Rating | None = None
    blocked_topics: tuple[str, ...] = ()


def override_scope(chat_id: str, guild_id: str | None = None) -> str:
    """Where an admin's override is stored: the guild's, for every chat in one; else the chat's own."""
    return f"guild:{guild_id}" if guild_id else chat_id


def rules_of(card: CharacterCard, override: ChatOverride) -> Rules:
    """The card's rules made stricter by an override (never looser: the stricter rating wins)."""
    rating = card.safety.rating if override.rating is None else stricter(card.safety.rating, override.rating)
    topics = tuple(dict.fromkeys([*card.safety.blocked_topics, *override.blocked_topics]))
    return Rules(rating, topics, tuple(card.safety.refusals))


class SafetyPolicy:
    """Input checks, output checks, the optional judge, the audit; built once per runtime."""

    def __init__(
        self,
        settings: SafetySettings | None = None,
        memory: MemoryStore | None = None,
        judge: Judge | None = None,
    ) -> None:
        self.settings = settings or SafetySettings()
        self.memory = memory
        self.audit = Audit(memory.database, self.settings.audit_excerpt) if memory is not None else None
        learned = [LearnedGuard()] if self.settings.learned_guard else []  # one: it keeps the turn's vector
        self.input_checks: list[InputCheck] = [
            LengthCap(self.settings.max_input_chars),
            CrisisCheck(),  # before flood control: someone in crisis always gets the help answer
            FloodControl(self.settings.flood_messages, self.settings.flood_window_s),
            HarmCheck(),
            *learned,
            InjectionCheck(),
            BlockedTopics(),
        ]
        self.output_checks: list[OutputCheck] = [
            CutImpersonation(),
            NeutraliseMassMentions(),
            PiiRedaction(),
            LeakCheck(),
            PersonaBreak(),
            HarmCheck(),
            *learned,
            BlockedTopics(),
            Toxicity(),
        ]
        sample = self.settings.moderation.sample_rate if self.settings.moderation else 0.0
        self.moderation = ModerationCheck(judge, sample) if judge is not None else None
        self._secret = secrets.token_bytes(16)
        self._overrides: dict[tuple[str, str], ChatOverride] = {}
        self._warming: asyncio.Task[object] | None = None

    @classmethod
    def from_settings(
        cls, settings: SafetySettings, memory: MemoryStore | None, router: LLMRouter
    ) -> SafetyPolicy:
        judge: Judge | None = None
        spec = settings.moderation
        if spec is not None and spec.kind == "openai":
            judge = OpenAIModeration(spec.base_url, spec.api_key.get_secret_value(), spec.model)
        elif spec is not None:
            if not spec.backend or spec.backend not in router.settings.backends:
                raise ConfigError(
                    [
                        "safety.moderation: kind judge needs `backend`, one of llm.backends "
                        f"({', '.join(router.settings.backends)})"
                    ]
                )
            judge = LlamaGuardJudge(router, spec.backend, spec.format == "conversation")
        if judge is not None and spec is not None:
            judge = CachedJudge(judge, spec.timeout_s, spec.cache_size)
        return cls(settings, memory, judge)

    async def start(self) -> None:
        """Make the audit table; start reading the profanity model (~1.5 s) and the learned guard (~1 s)
        in the background."""
        self._warming = asyncio.create_task(asyncio.to_thread(_load_models, self.settings.learned_guard))
        if self.audit is not None:
            await self.audit.ensure_table()

    @property
    def ready(self) -> bool:
        """The profanity model and the learned guard are loaded: until then the first turns wait for them."""
        return self._warming is None or self._warming.done()

    async def warmed(self) -> None:
        """Wait until the profanity model is loaded."""
        if self._warming is not None:
            await self._warming

    async def close(self) -> None:
        if self._warming is not None:
            await self._warming
        if self.moderation is not None:
            await self.moderation.judge.close()

    # ---------------------------------------------------------------- per-chat overrides
    async def override_for(self, platform: str, chat_id: str) -> ChatOverride:
        key = (platform, chat_id)
        if key not in self._overrides:
            raw = None
            if self.memory is not None:
                raw = await self.memory.get_preference(platform, chat_id, PREFERENCE)
            self._overrides[key] = _parse_override(raw)
        return self._overrides[key]

    async def set_override(
        self, platform: str, chat_id: str, rating: Rating | None = None, blocked_topics: Iterable[str] = ()
    ) -> ChatOverride:
        """For a chat's admins: a rating (never looser than a card's own) and topics to keep out."""
        override = ChatOverride(rating, tuple(t.strip() for t in blocked_topics if t.strip()))
        if self.memory is not None:
            value = {"rating": override.rating, "blocked_topics": list(override.blocked_topics)}
            await self.memory.set_preference(platform, chat_id, PREFERENCE, value)
        self._overrides[(platform, chat_id)] = override
        return override

    async def rules_for(self, message: Incoming, card: CharacterCard) -> Rules:
        scope = override_scope(message.chat_id, message.guild_id)
        return rules_of(card, await self.override_for(message.platform, scope))

    # ---------------------------------------------------------------- one turn
    def canary(self, message: Incoming, card: CharacterCard) -> str:
        """A marker for this conversation's system prompt: stable per conversation, unguessable."""
        key = "\0".join((message.platform, message.chat_id, message.user_id, card.id)).encode()
        return "zx-" + hmac.new(self._secret, key, hashlib.sha256).hexdigest()[:12]

    async def begin(
        self, message: Incoming, card: CharacterCard, history: Iterable[ChatMessage] = ()
    ) -> TurnSafety:
        """Run the input checks; the returned turn carries what the rest of the message needs."""
        rules = await self.rules_for(message, card)
        context = InputContext(card, rules)
        text = message.text
        decisions: list[tuple[Verdict, str]] = []
        final: Verdict | None = None
        for check in self.input_checks:
            step = await check.check_input(
                message if text is message.text else replace(message, text=text), context
            )
            if step.action == "allow":
                continue
            decisions.append((step, text))
            if step.action in ("replace", "drop"):
                final = step
                break
            if step.action == "redact":
                text = step.text
        instruction = "\n".join(dict.fromkeys(v.instruction for v, _ in decisions if v.instruction))
        verdict = final or _summary(decisions, text, instruction)
        turn = TurnSafety(self, message, card, rules, verdict, self.canary(message, card), history, read=text)
        turn.notices += [v.notice for v, _ in decisions if v.notice]
        await self._record(turn, "input", decisions)
        return turn

    async def unprompted(
        self, message: Incoming, card: CharacterCard, history: Iterable[ChatMessage] = ()
    ) -> TurnSafety:
        """A turn the character starts itself (writing first): there is no input to check; the
        output checks apply as to any reply."""
        rules = await self.rules_for(message, card)
        verdict = Verdict("allow", message.text)
        return TurnSafety(self, message, card, rules, verdict, self.canary(message, card), history)

    async def preview(self, message: Incoming, card: CharacterCard) -> list[tuple[str, Verdict | None]]:
        """What each input check would decide about `message` (the studio's dry run): nothing is
        recorded; flood control (it counts messages) and moderation (it calls a service or a model)
        are not run and come with None."""
        context = InputContext(card, await self.rules_for(message, card))
        seen: list[tuple[str, Verdict | None]] = []
        for check in self.input_checks:
            if check.name in PREVIEW_SKIPS:
                seen.append((check.name, None))
                continue
            seen.append((check.name, await check.check_input(message, context)))
        return seen

    async def _record(self, turn: TurnSafety, stage: str, decisions: list[tuple[Verdict, str]]) -> None:
        turn.decisions += [(stage, verdict) for verdict, _ in decisions]
        for verdict, _ in decisions:
            log.info("safety %s %s: %s (%s)", stage, verdict.check, verdict.action, verdict.reason)
        if self.audit is None or not decisions:
            return
        message, card = turn.message, turn.card
        where = Where(message.platform, message.chat_id, message.user_id, card.id)
        try:
            await self.audit.record(where, stage, decisions)
        except AnimaError as exc:  # an audit failure must not cost the person their reply
            log.error("safety audit not stored: %s", exc)


@dataclass
class TurnSafety:
    """One message's safety state between the input checks and the reply."""

    policy: SafetyPolicy
    message: Incoming
    card: CharacterCard
    rules: Rules
    input: Verdict
    canary: str
    history: Iterable[ChatMessage] = ()
    notices: list[str] = field(default_factory=list)
    decisions: list[tuple[str, Verdict]] = field(default_factory=list)  # (stage, verdict), allow left out
    # the message as the input checks left it (cut to max_input_chars): what the reply is checked
    # against, so a megabyte pasted costs the output checks no more than what was read of it
    read: str | None = None

    @property
    def said(self) -> str:
        return self.message.text if self.read is None else self.read

    @property
    def language(self) -> str:
        return "zh" if Scan.of(self.said).has_cjk else "en"

    def context(self, retry: bool) -> OutputContext:
        own = [m.content for m in self.history if m.role == "user"][-USER_TEXTS:]
        return OutputContext(
            self.card,
            self.rules,
            self.message.display_name,
            (*own, self.said),
            self.canary,
            retry,
            self.language,
        )

    def stream(self, inner: ReplyStream) -> ReplyStream:
        """What the platform may show while the reply is generated (safety.stream, by rating)."""
        mode = self.policy.settings.stream.get(self.rules.rating, "checked")
        if mode == "raw":
            return inner
        if mode == "final":
            return SilentStream(inner)
        context = self.context(retry=False)

        async def passes(text: str) -> bool:
            for check in self.policy.output_checks:
                if (await check.check_output(text, context)).action not in ("allow", "log"):
                    return False
            return True

        return CheckedStream(inner, passes)

    async def check_output(self, text: str, retry: bool = False) -> Verdict:
        """The reply's verdict: allow, log, redact (new text), regenerate (with an instruction), replace."""
        context = self.context(retry)
        current = text
        decisions: list[tuple[Verdict, str]] = []
        final: Verdict | None = None
        for check in self.policy.output_checks:
            step = await check.check_output(current, context)
            if step.action == "allow":
                continue
            decisions.append((step, current))
            if step.action == "replace":
                final = step
                break
            if step.action == "redact":
                current = step.text
        moderation = self.policy.moderation
        if (
            final is None
            and moderation is not None
            and moderation.wanted(any(v.action == "log" for v, _ in decisions))
        ):
            step = await moderation.check_output(current, context)
            if step.action != "allow":
                decisions.append((step, current))
                final = step
        await self.policy._record(self, "output", decisions)
        self.notices += [v.notice for v, _ in decisions if v.notice]
        if final is not None:
            return final
        regenerate = [v for v, _ in decisions if v.action == "regenerate"]
        if regenerate:
            instruction = "\n".join(dict.fromkeys(v.instruction for v in regenerate))
            first = regenerate[0]
            return Verdict(
                "regenerate", current, first.reason, first.check, first.category, instruction=instruction
            )
        return _summary(decisions, current, "")


def _load_models(learned_guard: bool) -> None:
    load_profanity_model()
    if learned_guard:
        try:
            load_guard_model()
        except AnimaError as exc:  # the check logs it and goes on without the guard
            log.error("the learned guard could not load: %s", exc)
    release_freed()  # the models' files, read and parsed: ~15 MB free but still resident


def _summary(decisions: list[tuple[Verdict, str]], text: str, instruction: str) -> Verdict:
    """redact if any check changed the text, log if any logged, else allow — with the final text."""
    actions = [v.action for v, _ in decisions]
    for action in ("redact", "log"):
        if action in actions:
            first = decisions[actions.index(action)][0]
            return Verdict(action, text, first.reason, first.check, first.category, first.score, instruction)
    return Verdict("allow", text, instruction=instruction)


def _parse_override(raw: object) -> ChatOverride:
    if not isinstance(raw, dict):
        return ChatOverride()
    rating = raw.get("rating")
    topics = raw.get("blocked_topics") or []
    return ChatOverride(
        rating if rating in RATINGS else None,
        tuple(str(t) for t in topics if isinstance(t, str)),
    )
