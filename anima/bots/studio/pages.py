"""The studio's HTML: every value that is not ours goes through `esc`, so a card's text is shown,
never run. Pages load one script (/static/studio.js); the Content-Security-Policy forbids inline ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

NAV = (
    ("/characters", "Characters"),
    ("/soul", "Soul"),
    ("/safety", "Safety"),
    ("/people", "People"),
    ("/health", "Health"),
)
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#2d2a4a;padding:.5em 1em}nav a{color:#fff;margin-right:1.2em;text-decoration:none}
main{padding:1em 1.5em;max-width:1100px}table{border-collapse:collapse}td,th{padding:.25em .6em;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}.ok{color:#176b2c}.bad{color:#a4161a}
textarea{font:13px/1.4 monospace;width:100%;box-sizing:border-box}pre{white-space:pre-wrap;
background:#f0eef6;padding:.5em;margin:.2em 0}.editor{display:flex;gap:1em}.editor>*{flex:1}
.lines{font:13px/1.4 monospace;white-space:pre-wrap}.lines .err{background:#fde2e2}
.lines .msg{color:#a4161a;display:block;padding-left:4em}.muted{color:#777}
.chatlog p{margin:.3em 0}form.inline{display:inline}
fieldset{border:1px solid #ddd;margin:.8em 0;padding:.5em .8em}legend{font-weight:600}
#cardform label{display:block;margin:.3em 0}#cardform textarea,#cardform .row input{width:100%;
box-sizing:border-box}.row{margin:.3em 0}.problems .msg{color:#a4161a;display:block}
img.avatar{max-width:96px;max-height:96px;vertical-align:middle}code{background:#f0eef6;padding:0 .2em}
"""


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def page(title: str, body: str, csrf: str = "", script: bool = False) -> str:
    nav = "".join(f'<a href="{href}">{esc(label)}</a>' for href, label in NAV) if csrf else ""
    js = '<script src="/static/studio.js"></script>' if script else ""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<meta name="csrf" content="{esc(csrf)}"><title>{esc(title)} · Anima Studio</title>'
        f"<style>{STYLE}</style></head><body><nav>{nav}</nav><main><h1>{esc(title)}</h1>{body}</main>"
        f"{js}</body></html>"
    )


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; the cells are HTML already (escape what goes into them)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def login_page(problem: str = "") -> str:
    shown = f'<p class="bad">{esc(problem)}</p>' if problem else ""
    body = (
        f"{shown}<form method=post action=/login><label>Studio token "
        '<input type=password name="token" autofocus></label> <button>Log in</button></form>'
        '<p class="muted">The token is ANIMA_STUDIO_TOKEN, or the one in the link `anima studio` printed.</p>'
    )
    return page("Log in", body)
