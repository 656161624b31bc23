"""The Health page: the bots online (platform, character, account), each backend's breaker, the
messages waiting, replies in flight, and the LLM's retries and failures."""

from __future__ import annotations

from aiohttp import web

from anima.bots.studio.context import CSRF, html, state
from anima.bots.studio.pages import esc, page, table


async def health_page(request: web.Request) -> web.Response:
    studio = state(request)
    runtime = studio.runtime
    router = runtime.router
    breakers = [
        [
            esc(name),
            '<span class="bad">open</span>'
            if router.breaker.open_s(name)
            else '<span class="ok">closed</span>',
        ]
        for name in runtime.settings.llm.backends
    ]
    if studio.fleet is None:
        online = (
            '<p class="muted">none: `anima studio` serves no bots; `anima run` with studio.port set does</p>'
        )
    elif not studio.fleet.served:
        online = "<p>none yet</p>"
    else:
        online = table(
            ["platform", "character", "bot"],
            [[esc(b.platform), esc(b.character), esc(b.adapter.online)] for b in studio.fleet.served],
        )
    bots = runtime.settings.bots
    stats = router.stats
    body = (
        "<h2>Bots online</h2>"
        + online
        + "<h2>Bots configured</h2>"
        + table(
            ["platform", "count"],
            [["telegram", str(len(bots.telegram))], ["discord", str(len(bots.discord))]],
        )
        + "<h2>Backends and breakers</h2>"
        + table(["backend", "breaker"], breakers)
        + "<h2>Queue and metrics</h2>"
        + table(
            ["what", "value"],
            [
                ["messages waiting or answered now", str(len(runtime.pipeline.admission))],
                ["received, not yet answered", str(runtime.pipeline.in_flight())],
                ["replies being generated", str(runtime.pipeline.turns.count)],
                [
                    "cards valid / invalid",
                    f"{len(runtime.characters.cards)} / {len(runtime.characters.problems)}",
                ],
                ["LLM retries / skipped / failures", f"{stats.retries} / {stats.skipped} / {stats.failures}"],
            ],
        )
    )
    return html(page("Health", body, request[CSRF]))


ROUTES = [web.get("/health", health_page)]
