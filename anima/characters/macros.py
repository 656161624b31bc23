"""{{char}}/{{user}} macros, expanded once per prompt."""

from __future__ import annotations

import re

_MACRO = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def expand(template: str, values: dict[str, str]) -> str:
    """Replace {{name}} with values[name] (case-insensitive); unknown macros are left as written."""
    lowered = {k.lower(): v for k, v in values.items()}
    return _MACRO.sub(lambda m: lowered.get(m.group(1).lower(), m.group(0)), template)
