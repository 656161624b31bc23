"""Facts by rules (no LLM) and time words: what a user states about themself, and when they mean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from anima.memory.facts import extract_facts, facts_from_llm
from anima.memory.when import time_window

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("said", "topic", "content"),
    [
        ("Hi! My name is Lin, nice to meet you.", "name", "is called Lin"),
        ("I live in Paris, near the canal.", "home", "lives in Paris"),
        ("Big news: I moved to New York City!", "home", "lives in New York City"),
        ("I work as a nurse at the city hospital.", "job", "works as nurse at the city hospital"),
        ("I have a cat named Momo.", "pet", "has a cat named Momo"),
        ("I really love rainy afternoons and jazz.", "likes", "likes rainy afternoons"),
        ("I have my driving exam on 20 March.", "plan", "has driving exam on 2026-03-20"),
        ("I'm going to visit my mom next Friday.", "plan", "is going to visit their mom 2026-03-13"),
        ("我叫小林。", "name", "is called 小林"),
        ("我搬到了上海。", "home", "lives in 上海"),
    ],
)
def test_common_statements_become_facts(said: str, topic: str, content: str) -> None:
    assert (topic, content) in [(f.topic, f.content) for f in extract_facts(said, NOW)]


@pytest.mark.parametrize("said", ["Where do I live?", "I like it.", "my name is", "🙂🙂", 'NEAR "OR" *'])
def test_questions_and_fragments_state_nothing(said: str) -> None:
    assert extract_facts(said, NOW) == []


@pytest.mark.parametrize(
    "said",
    [
        "My name is Lin and I work as a nurse in Berlin. What are you drawing today?",
        "What are you drawing today? My name is Lin and I work as a nurse in Berlin.",
        "Hi! My name is Lin and I work as a nurse in Berlin, what about you?\nHow was your day?",
    ],
)
def test_a_message_that_also_asks_something_still_states_its_facts(said: str) -> None:
    facts = {f.topic: f.content for f in extract_facts(said, NOW)}
    assert facts.get("name") == "is called Lin"
    assert facts.get("job", "").startswith("works as nurse")


def test_a_chinese_statement_before_a_question_is_kept() -> None:
    facts = extract_facts("我叫小林。你呢？", NOW)
    assert ("name", "is called 小林") in [(f.topic, f.content) for f in facts]


def test_a_plan_keeps_its_date() -> None:
    (fact,) = extract_facts("I have an exam on 20 March.", NOW)
    assert fact.happened_at == datetime(2026, 3, 20, tzinfo=UTC)


def test_llm_facts_are_read_from_json_inside_chatter() -> None:
    reply = 'Sure! {"facts": [{"topic": "pet", "fact": "has a dog", "importance": 2, "date": "2026-04-01"}]}'
    (fact,) = facts_from_llm(reply)
    assert (fact.topic, fact.content, fact.importance) == ("pet", "has a dog", 1.0)
    assert fact.happened_at == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize("reply", ["", "no facts", '{"facts": "x"}', '{"facts": [{"fact": ""}]}', "{]"])
def test_llm_answers_without_facts_give_none(reply: str) -> None:
    assert facts_from_llm(reply) == []


@pytest.mark.parametrize(
    ("question", "start", "days"),
    [
        ("what did I do yesterday?", datetime(2026, 3, 10, tzinfo=UTC), 1),
        ("what did I do last weekend?", datetime(2026, 3, 7, tzinfo=UTC), 2),
        ("how was last week?", datetime(2026, 3, 2, tzinfo=UTC), 7),
        ("remember what I said on 8 March?", datetime(2026, 3, 8, tzinfo=UTC), 1),
        ("what happened on May 3, 2025?", datetime(2025, 5, 3, tzinfo=UTC), 1),
        ("what did I do last Monday?", datetime(2026, 3, 9, tzinfo=UTC), 1),
        ("我昨天做了什么？", datetime(2026, 3, 10, tzinfo=UTC), 1),
    ],
)
def test_time_words_name_a_window_of_days(question: str, start: datetime, days: int) -> None:
    window = time_window(question, NOW)
    assert window is not None
    assert window.start == start and (window.end - window.start).days == days


def test_a_message_without_time_words_has_no_window() -> None:
    assert time_window("tell me about my cat", NOW) is None
