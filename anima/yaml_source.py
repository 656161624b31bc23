"""Read YAML files with errors that point at file:line and the field, for configs and cards."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from anima.errors import ConfigError, InputRejected

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True)
class YamlBounds:
    """What a YAML file may hold, checked before it is built into objects.

    `max_nodes` counts every value (texts, numbers, lists, mappings) with aliases expanded, so a
    billion-laughs file is refused by what it would become, not by its few bytes.
    """

    max_bytes: int
    max_nodes: int
    max_depth: int
    aliases: bool  # whether anchors (&name) and aliases (*name) may be used at all
    what: str = "a config file"


CONFIG_BOUNDS = YamlBounds(max_bytes=1024 * 1024, max_nodes=100_000, max_depth=48, aliases=True)


@dataclass
class YamlDocument:
    """Parsed data plus what is needed to turn a key path back into a line number."""

    path: Path
    text: str
    data: Any
    _root: yaml.Node | None = field(default=None, repr=False, compare=False)  # composed on first use

    @property
    def display_path(self) -> str:
        return display_path(self.path)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """1-based line of the deepest node on `loc` that exists in the file."""
        if self._root is None:
            self._root = yaml.compose(self.text, Loader=_Loader)  # once, however many errors there are
        node = self._root
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


def _scalar_problem(node: yaml.Node, loader: Any) -> str | None:
    """Why a plain number or date YAML resolved cannot be built (too many digits, a 13th month)."""
    if node.tag == _INT:
        if len(str(node.value)) > sys.get_int_max_str_digits():
            limit = sys.get_int_max_str_digits()
            return f"a number with more than {limit:,} digits; quote it to keep it as text"
        return None
    try:
        loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        return f"{str(node.value)[:40]!r} is not a date ({exc}); quote it to keep it as text"
    return None


def field_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_bounded(path: Path, max_bytes: int, what: str) -> bytes:
    """A file's bytes, refused (InputRejected) past `max_bytes` without reading more than that."""
    shown = display_path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError([f"{shown}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{shown}: is a folder, not a file"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror}"]) from None
    if len(raw) > max_bytes:
        raise InputRejected([f"{shown}: more than the {max_bytes:,} bytes {what} may have; make it smaller"])
    return raw


def read_yaml(path: Path, bounds: YamlBounds = CONFIG_BOUNDS) -> YamlDocument:
    """Read and parse a YAML file, raising ConfigError with file:line for every way it can be broken."""
    return parse_yaml(read_bounded(path, bounds.max_bytes, bounds.what), path, bounds)


def parse_yaml(raw: bytes, path: Path, bounds: YamlBounds = CONFIG_BOUNDS) -> YamlDocument:
    """Parse YAML bytes that came from `path` (or will be saved there), with read_yaml's errors.

    Before anything is built: the size, the nesting depth, the number of values (aliases expanded)
    and, where `bounds` forbids them, anchors and aliases; then duplicate keys, naming both lines.
    """
    shown = display_path(path)
    if len(raw) > bounds.max_bytes:
        raise InputRejected(
            [f"{shown}: {len(raw):,} bytes is more than the {bounds.max_bytes:,} {bounds.what} may have"]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{shown}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"]
        ) from None
    text = text.removeprefix("\ufeff")
    try:
        _check_events(text, shown, bounds)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            problems = _node_problems(node, shown, loader) if node is not None else []
            if problems:
                raise ConfigError(problems)
            data = loader.construct_document(node) if node is not None else None
        except (ValueError, TypeError, OverflowError) as exc:  # a value its tag cannot hold (`!!int x`)
            raise ConfigError([f"{shown}: cannot read a value: {exc}; quote it to keep it as text"]) from None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{shown}:{line}: invalid YAML: {problem}"]) from None
    return YamlDocument(path=path, text=text, data=data)


def _check_events(text: str, shown: str, bounds: YamlBounds) -> None:
    """One streaming pass over the parser's events (constant memory): depth, values, aliases."""
    loader = _Loader(text)
    nodes = 0
    sizes: dict[str, int] = {}  # anchor → how many values it stands for
    open_collections: list[tuple[str | None, int]] = []  # (anchor, values before it)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                if not bounds.aliases:
                    raise InputRejected(
                        [
                            f"{shown}:{line}: YAML aliases (*{event.anchor}) are not allowed in "
                            f"{bounds.what}: write the value out where it is used"
                        ]
                    )
                nodes += sizes.get(event.anchor or "", 1)
            elif isinstance(event, yaml.NodeEvent):
                nodes += 1
                if event.anchor is not None and not bounds.aliases:
                    raise InputRejected(
                        [
                            f"{shown}:{line}: YAML anchors (&{event.anchor}) are not allowed in "
                            f"{bounds.what}: remove it and write each value out"
                        ]
                    )
                if isinstance(event, yaml.CollectionStartEvent):
                    open_collections.append((event.anchor, nodes - 1))
                    if len(open_collections) > bounds.max_depth:
                        raise InputRejected(
                            [
                                f"{shown}:{line}: nested more than {bounds.max_depth} levels deep, "
                                f"more than {bounds.what} may be; flatten it"
                            ]
                        )
                elif event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, before = open_collections.pop()
                if anchor is not None:
                    sizes[anchor] = nodes - before
            if nodes > bounds.max_nodes:
                raise InputRejected(
                    [
                        f"{shown}:{line}: more than {bounds.max_nodes:,} values (aliases counted as "
                        f"what they repeat), more than {bounds.what} may hold; make it smaller"
                    ]
                )
    finally:
        loader.dispose()


def _node_problems(root: yaml.Node, shown: str, loader: Any) -> list[str]:
    """Every key set twice in one mapping (`file:line: key.path: duplicate key …`, naming both lines)
    and every whole number too long for Python to read, found in one walk without recursion."""
    problems: list[tuple[int, str]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, list[str | int]]] = [(root, [])]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen_nodes:
            continue  # an alias: its node was checked where the anchor is
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    continue
                if isinstance(key_node, yaml.ScalarNode):
                    key = str(key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in first_line:
                        where = f"{shown}:{line}: {field_path([*loc, key])}"
                        problems.append(
                            (line, f"{where}: duplicate key: also set on line {first_line[key]}; keep one")
                        )
                    else:
                        first_line[key] = line
                    stack.append((value_node, [*loc, key]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, [*loc, i]) for i, child in enumerate(node.value))
        elif node.tag in (_INT, _TIMESTAMP) and (problem := _scalar_problem(node, loader)):
            line = node.start_mark.line + 1
            where = f"{shown}:{line}: {field_path(loc)}" if loc else f"{shown}:{line}"
            problems.append((line, f"{where}: {problem}"))
    return [text for _, text in sorted(problems)]


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
