"""The ops HTTP endpoint (aiohttp): /metrics for Prometheus, /healthz and /readyz for supervisors.

- `/healthz`: 200 while the process and its event loop answer (a liveness probe: restart when it fails);
- `/readyz`: 200 once every adapter has started and while the database answers a query within
  `READY_TIMEOUT_S`, else 503 with the reason (a readiness probe: send no traffic while it fails);
- `/metrics`: the Prometheus text format of `anima.ops.metrics.METRICS`.

Off unless `ops.metrics_port` is set. It listens on 127.0.0.1 by default: metrics name characters
and platforms, which is not for the open internet.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from anima.config import OpsSettings, Settings
from anima.core.pipeline import Pipeline
from anima.errors import ConfigError
from anima.llm.router import LLMRouter
from anima.memory.store import MemoryStore
from anima.ops.metrics import METRICS

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 2.0


class Served(Protocol):
    """The running parts the endpoints read (anima.app.Runtime has them; ops never imports it)."""

    settings: Settings
    pipeline: Pipeline
    router: LLMRouter
    memory: MemoryStore


class OpsServer:
    """Serves the three endpoints for one runtime; `serving(names)` marks the adapters as started."""

    def __init__(
        self, runtime: Served, settings: OpsSettings | None = None, ready_timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        self.runtime = runtime
        self.settings = settings or runtime.settings.ops
        self.ready_timeout_s = ready_timeout_s
        self.adapters: list[str] | None = None  # None until every adapter has started
        self.port = 0
        self._runner: web.AppRunner | None = None

    @classmethod
    async def start_for(cls, runtime: Served) -> OpsServer | None:
        """The server when `ops.metrics_port` is set (started, metrics enabled); else None."""
        if runtime.settings.ops.metrics_port is None:
            return None
        server = cls(runtime)
        await server.start()
        return server

    async def start(self) -> None:
        METRICS.enable()
        METRICS.count_queue(self.runtime.pipeline.in_flight)
        METRICS.count_llm_calls(lambda: self.runtime.router.stats)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = self.settings.metrics_host, self.settings.metrics_port or 0
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConfigError(
                [f"ops.metrics_port: cannot listen on {host}:{port} ({exc.strerror}): choose another port"]
            ) from exc
        # aiohttp keeps the server private; the port that 0 picked is only known there
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a TCPSite's server is asyncio.Server
        log.warning("metrics and health on http://%s:%d/metrics", self.settings.metrics_host, self.port)

    def serving(self, adapters: list[str]) -> None:
        """Every adapter has started: /readyz may answer 200 from now on."""
        self.adapters = list(adapters)

    def draining(self) -> None:
        """Shutting down: /readyz answers 503 from now on, so no new traffic is sent here."""
        self.adapters = None

    async def stop(self) -> None:
        """Stop answering, then stop recording."""
        self.adapters = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        METRICS.disable()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=METRICS.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        if self.adapters is None:
            return web.Response(status=503, text="starting: not every adapter has started yet\n")
        if not self.runtime.pipeline.safety.ready:
            return web.Response(status=503, text="starting: the safety model is still loading\n")
        try:
            async with asyncio.timeout(self.ready_timeout_s):
                # the writer's queue, not the reader's: ready means a message can be stored now
                await self.runtime.memory.run(lambda conn: conn.execute(text("SELECT 1")).scalar())
        except TimeoutError:
            return web.Response(status=503, text=f"database not answering within {self.ready_timeout_s} s\n")
        except Exception as exc:  # a probe answers "not ready" for any failure, and says which
            return web.Response(status=503, text=f"database not answering: {exc!r}\n")
        return web.Response(text="ready: " + ", ".join(self.adapters) + "\n")
