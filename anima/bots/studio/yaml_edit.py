"""Edits of YAML text that keep what a person wrote around them — comments, key order, quoting,
flow lists — through ruamel.yaml's round trip. Callers first read the text with the bounded loader
(anima/yaml_source.py), so what is parsed here has a card's or a config's size and no alias bombs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from anima.errors import ConfigError


def _yaml() -> YAML:
    yaml = YAML()  # round trip
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def load(text: str, shown: str) -> CommentedMap:
    """A mapping at the top of `text`, as ruamel's round-trip objects (an empty file: an empty one)."""
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise ConfigError(
            [f"{shown}: not YAML the studio can edit: {' '.join(str(exc).split())[:200]}"]
        ) from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError([f"{shown}: expected a mapping of fields at the top level"])
    return data


def dump(data: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def text_value(text: str) -> str:
    """A text as YAML will show it: a `|` block when it has several lines, so it reads as written."""
    return LiteralScalarString(text) if "\n" in text else text


def put(mapping: CommentedMap, key: str, value: Any, after: Sequence[str] = ()) -> None:
    """Set `mapping[key]`, keeping its place and its comment; a new key goes after the first of
    `after` that is there (else at the end). A list replaces the old one's items in place, so a
    flow list stays a flow list."""
    if isinstance(value, str):
        value = text_value(value)
    elif isinstance(value, list):
        value = [text_value(v) if isinstance(v, str) else v for v in value]
    if key in mapping:
        old = mapping[key]
        if isinstance(old, CommentedSeq) and isinstance(value, list) and value:
            old[:] = value
        else:
            mapping[key] = value
        return
    keys = list(mapping)
    at = next((keys.index(k) + 1 for k in after if k in mapping), len(keys))
    mapping.insert(at, key, value)
