"""A card's problems as `anima card validate` words them (file:line: field: message), from the same
bounded loading, and as HTML: the YAML's lines numbered, each error under its line."""

from __future__ import annotations

from pathlib import Path

from anima.bots.studio.pages import esc
from anima.characters.library import load_card_bytes
from anima.characters.validate import Finding, parse_problem
from anima.errors import ConfigError


def findings_of(text: str, path: Path) -> list[Finding]:
    """The errors `anima card validate` gives for this text saved at `path`."""
    try:
        load_card_bytes(text.encode("utf-8"), path)
    except ConfigError as exc:
        return [parse_problem(p) for p in exc.problems]
    return []


def lines_html(text: str, findings: list[Finding]) -> str:
    """The YAML's lines, numbered, each error shown under its line."""
    at: dict[int, list[Finding]] = {}
    for f in findings:
        at.setdefault(f.line or 1, []).append(f)
    out = []
    for number, line in enumerate(text.splitlines() or [""], start=1):
        problems = at.pop(number, [])
        cls = ' class="err"' if problems else ""
        out.append(f'<div{cls} data-line="{number}">{number:>3}  {esc(line)}')
        out += [problem_html(f, number) for f in problems]
        out.append("</div>")
    for number, rest in sorted(at.items()):  # past the end (a truncated file)
        out += [f'<div class="err">{problem_html(f, number)}</div>' for f in rest]
    return "".join(out)


def problem_html(f: Finding, line: int | None) -> str:
    """One error as `anima card validate` words it: file:line: field: message."""
    field = f"{esc(f.field)}: " if f.field else ""
    where = f"{esc(f.file)}:{line}" if line else esc(f.file)
    return f"<span class=msg>{where}: {field}{esc(f.message)}</span>"


def status_of(findings: list[Finding]) -> tuple[str, str]:
    """The editor's one-line status: its CSS class and its words."""
    return ("bad", f"{len(findings)} problem(s)") if findings else ("ok", "valid")
