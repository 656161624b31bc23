"""The dry run: a message from the test person, and the exact prompt the model would get — each part
with its tokens against the budget, the lorebook entries that fired and the word that fired each,
what memory recalled, what each safety input check decides — without calling the model."""

from __future__ import annotations

from aiohttp import web

from anima.bots.services import Services
from anima.bots.studio.context import CSRF, MAX_MESSAGE_CHARS, TEST_PERSON, card_path, html, runtime
from anima.bots.studio.pages import csrf_field, esc, page, table
from anima.bots.studio.surface import StudioSurface
from anima.characters.lorebook import activate, trigger_of
from anima.core.prompt import PromptBuilder, TurnContext


async def dry_run(request: web.Request) -> web.Response:
    card_id, _ = card_path(request)
    csrf = request[CSRF]
    message = ""
    if request.method == "POST":
        message = str((await request.post()).get("message", ""))[:MAX_MESSAGE_CHARS]
    form = (
        f'<form method=post>{csrf_field(csrf)}<input name="message" size=60 value="{esc(message)}" '
        'placeholder="A message from the test person" required> <button>Dry run</button></form>'
    )
    if not message:
        return html(page(f"Dry run: {card_id}", form, csrf))
    report = await explain(runtime(request), card_id, message)
    return html(page(f"Dry run: {card_id}", form + report, csrf))


async def explain(runtime: Services, card_id: str, message: str) -> str:
    """The exact prompt the model would get for `message`, part by part, without calling it."""
    card = runtime.characters.get(card_id)
    surface = StudioSurface(card.id, TEST_PERSON)
    incoming = surface.incoming(message)
    pipeline = runtime.pipeline
    conversation = await runtime.memory.conversation(pipeline.key_for(incoming, card), TEST_PERSON)
    history = list(conversation.recent)
    memories = await pipeline.recall(conversation, message, card, TEST_PERSON, min(len(history), 16))
    learned = await pipeline.learned(card, incoming)
    backend = runtime.router.chain(card)[0]
    max_tokens = runtime.router.max_tokens(backend, card)
    turn = TurnContext(
        memories=memories,
        memory_tokens=runtime.settings.memory.recall_tokens,
        soul=learned,
        soul_tokens=card.growth.tokens,
    )
    prompt = await PromptBuilder(backend.counter).build(
        card, TEST_PERSON, history, message, backend.context_window, max_tokens, turn
    )
    budget = backend.context_window - max_tokens
    parts = []
    for m in prompt.messages:
        tokens = await backend.counter.count(m.content)
        parts.append([esc(m.role), f"{tokens:,}", f"<pre>{esc(m.content)}</pre>"])
    texts = [*(m.content for m in history), message]
    lore = [
        [
            esc(", ".join(a.entry.keys) or "(no keys)"),
            esc(trigger_of(a, texts) or "another entry"),
            f"<pre>{esc(a.text[:400])}</pre>",
        ]
        for a in activate(card.all_lorebooks, texts)
    ]
    rules = await pipeline.safety.rules_for(incoming, card)
    ruled = ", ".join(f"{name}: {value}" for name, value in vars(rules).items())
    checks = [
        [esc(name), "not run in a dry run", ""]
        if v is None
        else [esc(name), esc(f"{v.action} {v.category}".strip()), esc(v.reason)]
        for name, v in await pipeline.safety.preview(incoming, card)
    ]
    return (
        f"<h2>Prompt: {prompt.tokens:,} of {budget:,} tokens (backend {esc(backend.name)})</h2>"
        + table(["role", "tokens", "text"], parts)
        + "<h2>Lorebook entries that fired</h2>"
        + (table(["keys", "triggered by", "text"], lore) if lore else "<p>none</p>")
        + "<h2>Memory recalled</h2>"
        + ("".join(f"<pre>{esc(m)}</pre>" for m in memories) or "<p>nothing recalled</p>")
        + f"<h2>Safety input checks</h2><p>rules: {esc(ruled)}</p>"
        + table(["check", "decision", "why"], checks)
        + '<p class="muted">Nothing was sent to the model.</p>'
    )


ROUTES = [
    web.get("/characters/{id}/dry-run", dry_run),
    web.post("/characters/{id}/dry-run", dry_run),
]
