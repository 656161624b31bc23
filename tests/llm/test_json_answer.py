"""A list read out of a weak model's JSON answer: prose around it, broken JSON and odd scores."""

from anima.llm.json_answer import listed_objects, unit_fraction


def test_the_objects_under_the_key_are_read_through_prose_around_the_json() -> None:
    answer = 'Sure! Here you go: {"facts": [{"fact": "likes tea"}, "stray", 3]} Hope that helps.'
    assert listed_objects(answer, "facts") == [{"fact": "likes tea"}]


def test_broken_or_missing_json_gives_no_objects() -> None:
    assert listed_objects('{"facts": [{"fact": "likes tea"}', "facts") == []
    assert listed_objects("no json here", "facts") == []
    assert listed_objects('{"facts": "likes tea"}', "facts") == []
    assert listed_objects('{"changes": [{"kind": "habit"}]}', "facts") == []


def test_a_score_is_held_to_zero_and_one_and_a_missing_one_is_the_default() -> None:
    assert unit_fraction("0.8") == 0.8
    assert unit_fraction(7) == 1.0
    assert unit_fraction(-2) == 0.0
    assert unit_fraction(None) == 0.5
    assert unit_fraction("very", default=0.3) == 0.3
    assert unit_fraction([1]) == 0.5
