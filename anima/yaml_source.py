"""Read YAML files with errors that point at file:line and the field, for configs and cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from anima.errors import ConfigError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDocument:
    """Parsed data plus what is needed to turn a key path back into a line number."""

    path: Path
    text: str
    data: Any

    @property
    def display_path(self) -> str:
        return display_path(self.path)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """1-based line of the deepest node on `loc` that exists in the file."""
        node = yaml.compose(self.text, Loader=_Loader)
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for key in loc:
            child = _child(node, key)
            if child is None:
                break
            key_node, node = child
            line = (key_node or node).start_mark.line + 1
        return line

    def error(self, loc: Sequence[str | int], message: str) -> str:
        where = field_path(loc)
        prefix = f"{self.display_path}:{self.line_of(loc)}"
        return f"{prefix}: {where}: {message}" if where else f"{prefix}: {message}"


def display_path(path: Path) -> str:
    """Paths in messages are relative to the working directory when they are inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(key):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return None, node.value[key]
    return None


def field_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file, raising ConfigError with file:line for every way it can be broken."""
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{shown}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror}"]) from None
    return parse_yaml(raw, path)


def parse_yaml(raw: bytes, path: Path) -> YamlDocument:
    """Parse YAML bytes that came from `path` (or will be saved there), with read_yaml's errors."""
    shown = display_path(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{shown}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"]
        ) from None
    text = text.removeprefix("\ufeff")
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{shown}:{line}: invalid YAML: {problem}"]) from None
    return YamlDocument(path=path, text=text, data=data)


def describe_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
}


def _data_at(data: Any, loc: Sequence[str | int]) -> tuple[list[str | int], Any, bool]:
    """Follow `loc` into the data, skipping pydantic's union/tag segments that are not keys."""
    path: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(data, dict) and i + 1 < len(loc) and loc[i + 1] in data:
            continue  # a discriminator tag or union member name pydantic put in the location
        elif isinstance(data, dict | list):
            return [*path, part], None, False
        else:
            continue
        path.append(part)
    return path, data, True


def validation_problems(doc: YamlDocument, error: ValidationError) -> list[str]:
    """Turn pydantic errors into `file:line: field: what was expected, got what` lines."""
    problems: list[tuple[int, str]] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if isinstance(p, str | int)]
        if item["type"] == "union_tag_invalid":
            loc.append(item["ctx"]["discriminator"].strip("'"))
        path, value, found = _data_at(doc.data, loc)
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "unknown field"
            parent_fields = item.get("ctx", {}).get("known")
            if parent_fields:
                message += f" (known: {parent_fields})"
        elif kind == "missing" or not found:
            message = "required field is missing"
        elif kind in _EXPECTED:
            message = f"{_EXPECTED[kind]}, got {describe_type(value)}"
        elif kind == "value_error":
            message = str(item.get("ctx", {}).get("error", item["msg"]))
        elif kind in {"literal_error", "enum"}:
            message = f"expected one of {item['ctx']['expected']}, got {value!r}"
        elif kind == "union_tag_invalid":
            message = f"expected {item['ctx']['discriminator']} to be one of {item['ctx']['expected_tags']}"
            message = message.replace("'", "")
        elif kind == "union_tag_not_found":
            message = f"required field is missing: {item['ctx']['discriminator'].strip(chr(39))}"
        else:
            message = item["msg"][0].lower() + item["msg"][1:]
        text = doc.error(path, message)
        if text not in seen:
            seen.add(text)
            problems.append((doc.line_of(path), text))
    return [text for _, text in sorted(problems, key=lambda item: item[0])]
