"""What a chat's (or guild's) admins may change with /safety: the steps every platform's command shares.

An override only ever makes a card stricter (`rules_of`): each step says so when a request would not
change what the character may say, so an admin is never left believing they loosened it.
"""

from __future__ import annotations

from dataclasses import dataclass

from anima.characters.card import CharacterCard
from anima.safety.policy import ChatOverride, rules_of
from anima.safety.verdict import RATINGS, Rating

TOPIC_MAX_CHARS = 100
MAX_TOPICS = 50


@dataclass(frozen=True)
class OverrideChange:
    """The override to store and what to tell the admin about it."""

    override: ChatOverride
    note: str


def describe(card: CharacterCard, override: ChatOverride, where: str) -> str:
    """The effective settings for `card` here, and where each part comes from."""
    rules = rules_of(card, override)
    return "\n".join(
        [
            f"Safety for {card.name} {where}: rating {rules.rating}; "
            f"blocked topics: {_listed(rules.blocked_topics)}.",
            f"From {card.name}'s card: rating {card.safety.rating}; "
            f"blocked topics: {_listed(tuple(card.safety.blocked_topics))}.",
            f"Set by admins {where}: rating {override.rating or 'not set'}; "
            f"extra blocked topics: {_listed(override.blocked_topics)}.",
        ]
    )


def set_rating(override: ChatOverride, card: CharacterCard, wanted: str) -> OverrideChange:
    if wanted not in RATINGS[:-1]:
        return OverrideChange(
            override,
            f"An override can only make characters stricter: the rating is general or teen. "
            f"{'Mature is the loosest rating. ' if wanted == 'mature' else ''}"
            "/safety reset goes back to each card's own settings.",
        )
    rating: Rating = "general" if wanted == "general" else "teen"
    changed = ChatOverride(rating, override.blocked_topics)
    effective = rules_of(card, changed).rating
    if effective != rating:
        return OverrideChange(
            changed,
            f"Saved, but it would loosen {card.name}: the card's own rating, {effective}, is stricter and "
            f"stays. An override can only make a character stricter; {rating} applies to characters "
            "rated more loosely.",
        )
    return OverrideChange(changed, f"The rating here is now {rating}.")


def block(override: ChatOverride, card: CharacterCard, topic: str) -> OverrideChange:
    topic = " ".join(topic.split())
    if not topic or len(topic) > TOPIC_MAX_CHARS:
        return OverrideChange(override, f"Name the topic to block, up to {TOPIC_MAX_CHARS} characters.")
    if _has(tuple(card.safety.blocked_topics), topic):
        return OverrideChange(override, f"{topic!r} is already blocked by {card.name}'s card.")
    if _has(override.blocked_topics, topic):
        return OverrideChange(override, f"{topic!r} is already blocked here.")
    if len(override.blocked_topics) >= MAX_TOPICS:
        return OverrideChange(
            override, f"At most {MAX_TOPICS} topics can be blocked here; unblock one first."
        )
    changed = ChatOverride(override.rating, (*override.blocked_topics, topic))
    return OverrideChange(
        changed, f"{topic!r} is blocked here now: characters decline it, in their own words."
    )


def unblock(override: ChatOverride, card: CharacterCard, topic: str) -> OverrideChange:
    topic = " ".join(topic.split())
    kept = tuple(t for t in override.blocked_topics if t.lower() != topic.lower())
    if _has(tuple(card.safety.blocked_topics), topic):
        return OverrideChange(
            ChatOverride(override.rating, kept),
            f"{topic!r} is blocked by {card.name}'s card itself, and stays blocked: an override can only "
            "add topics, not lift a card's.",
        )
    if len(kept) == len(override.blocked_topics):
        return OverrideChange(override, f"{topic!r} was not blocked here.")
    return OverrideChange(ChatOverride(override.rating, kept), f"{topic!r} is no longer blocked here.")


def reset() -> OverrideChange:
    return OverrideChange(
        ChatOverride(), "The override is gone: each character's card settings apply here again."
    )


def _has(topics: tuple[str, ...], topic: str) -> bool:
    return topic.lower() in (t.lower() for t in topics)


def _listed(topics: tuple[str, ...]) -> str:
    return ", ".join(topics) if topics else "none"
