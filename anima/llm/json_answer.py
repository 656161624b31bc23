"""Reading a list out of a model's JSON answer, forgiving what a weak model gets wrong.

A small model wraps its JSON in prose, breaks it, or writes a number as text. What cannot be read
is skipped, never raised: the caller gets fewer items, not an error.
"""

from __future__ import annotations

import json
from typing import Any


def listed_objects(answer: str, key: str) -> list[dict[str, Any]]:
    """The objects listed under `key` in the JSON object the answer holds (`{"facts": [{...}]}`),
    prose around it ignored; [] when there is no such object or it does not parse."""
    start, end = answer.find("{"), answer.rfind("}")
    if start < 0 or end <= start:
        return []
    try:
        data = json.loads(answer[start : end + 1])
    except json.JSONDecodeError:
        return []
    items = data.get(key) if isinstance(data, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def unit_fraction(value: Any, default: float = 0.5) -> float:
    """A score the model gave (0.8, "0.8"), held to 0..1; `default` when it is missing or no number."""
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, 0.0), 1.0)
