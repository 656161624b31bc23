"""Cards written for the tests: a rich V2 card, a V3 card, and the helpers to wrap them in PNGs."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from anima.characters import png


def v2_card() -> dict[str, Any]:
    """Every V2 field, optional ones included, SillyTavern's entry extensions, and unknown fields."""
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": "Mira",
            "description": "{{char}} is a cartographer. <b>Bold</b> <script>alert('x')</script>",
            "personality": "curious, dry humour",
            "scenario": "{{char}} meets <USER> at the harbour.",
            "first_mes": "*looks up from a map* Oh, hello {{user}}.",
            "mes_example": "<START>\n{{user}}: Where is this?\n{{char}}: The Salt Coast.\nLong way south."
            "\n<START>\n{{user}}: Can I help?\n{{char}}: Hold this corner.",
            "creator_notes": "Best with a 8k context. 日本語もOK",
            "system_prompt": "Write {{char}}'s next reply. {{original}}",
            "post_history_instructions": "Stay in character.",
            "alternate_greetings": ["Back again, {{user}}?", "*waves* Over here!"],
            "character_book": {
                "name": "Salt Coast",
                "description": "places",
                "scan_depth": 3,
                "token_budget": 300,
                "recursive_scanning": True,
                "extensions": {"st_note": 1},
                "entries": [
                    {
                        "id": 1,
                        "keys": ["harbour", "port"],
                        "secondary_keys": ["ship"],
                        "comment": "the harbour",
                        "content": "The harbour smells of tar.",
                        "constant": False,
                        "selective": True,
                        "insertion_order": 10,
                        "enabled": True,
                        "position": "before_char",
                        "use_regex": False,
                        "extensions": {
                            "position": 0,
                            "exclude_recursion": False,
                            "display_index": 0,
                            "probability": 100,
                            "useProbability": True,
                            "depth": 4,
                            "selectiveLogic": 3,
                            "group": "",
                            "match_whole_words": None,
                            "case_sensitive": None,
                            "role": 0,
                            "scan_depth": None,
                        },
                    },
                    {
                        "id": 2,
                        "keys": ["/light ?house/i"],
                        "content": "The lighthouse keeper is Mira's aunt.",
                        "insertion_order": 20,
                        "enabled": True,
                        "position": "after_char",
                        "case_sensitive": True,
                        "name": "lighthouse",
                        "priority": 5,
                        "extensions": {"position": 4, "depth": 2, "role": 2, "prevent_recursion": True},
                        "some_future_field": {"x": [1, 2]},
                    },
                    {
                        "keys": [],
                        "content": "It is always windy.",
                        "constant": True,
                        "insertion_order": 5,
                        "enabled": False,
                        "extensions": {},
                    },
                ],
            },
            "tags": ["Adventure", "maps"],
            "creator": "someone",
            "character_version": "1.2",
            "extensions": {
                "talkativeness": "0.5",
                "fav": False,
                "world": "Salt Coast",
                "depth_prompt": {"prompt": "", "depth": 4, "role": "system"},
                "other_app": {"nested": [1, {"a": None}]},
            },
            "x_unknown_app_field": "kept",
        },
    }


def v3_card() -> dict[str, Any]:
    card = copy.deepcopy(v2_card())
    card["spec"], card["spec_version"] = "chara_card_v3", "3.0"
    data = card["data"]
    data |= {
        "nickname": "Mi",
        "group_only_greetings": ["Hello, everyone."],
        "creation_date": 1700000000,
        "modification_date": 1700100000,
        "creator_notes_multilingual": {"en": "notes", "ja": "ノート"},
        "source": ["https://example.org/mira"],
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
    }
    for entry in data["character_book"]["entries"]:
        entry.setdefault("use_regex", False)
    return card


def chunk(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def png_with(texts: dict[str, str], rgb: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    return png.with_texts(png.plain_image(8, rgb), texts)
