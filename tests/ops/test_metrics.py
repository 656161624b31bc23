"""The ops endpoint over real HTTP: /metrics counts what the runtime did, /healthz and /readyz answer."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator

import aiohttp
import pytest

from anima.app import Runtime
from anima.bots.service import serve
from anima.config import BotsSettings, OpsSettings, Settings
from anima.core.messages import Incoming
from anima.errors import ConfigError
from anima.llm.base import GenerationRequest
from anima.ops.http import OpsServer
from tests.bots.test_telegram import bot_settings, say
from tests.fakes.llm import InstantLLM
from tests.fakes.telegram_server import FakeBot, FakeTelegram, person, private_chat


@pytest.fixture
async def ops(runtime: Runtime) -> AsyncIterator[OpsServer]:
    server = OpsServer(runtime, OpsSettings(metrics_port=0), ready_timeout_s=0.3)
    await server.start()
    yield server
    await server.stop()


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text format (0 when absent)."""
    for line in exposition.splitlines():
        metric, _, value = line.rpartition(" ")
        base, _, rest = metric.partition("{")
        if base == name and all(f'{k}="{v}"' in rest for k, v in labels.items()):
            return float(value)
    return 0.0


async def test_metrics_count_a_message_in_and_its_reply_out_per_platform_and_character(
    runtime: Runtime, ops: OpsServer
) -> None:
    await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "hello there"))

    status, body = await get(ops.port, "/metrics")

    assert status == 200
    assert sample(body, "anima_messages_in_total", platform="test", character="aiko") == 1
    assert sample(body, "anima_messages_out_total", platform="test", character="aiko") == 1


async def test_metrics_time_every_stage_of_a_reply(runtime: Runtime, ops: OpsServer) -> None:
    await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "hello there"))

    _, body = await get(ops.port, "/metrics")

    for stage in (
        "safety_input",
        "recall",
        "generate_first_token",
        "generate_total",
        "safety_output",
        "send",
    ):
        assert sample(body, "anima_stage_seconds_count", stage=stage) == 1, stage


async def test_metrics_count_llm_tokens_and_failures_by_kind(
    runtime: Runtime, ops: OpsServer, instant_llm: InstantLLM
) -> None:
    reply = "Hello Lin, the kettle is on and the biscuits are in the blue tin."
    instant_llm.reply = lambda request: reply  # streamed word by word: 14 pieces, 16 tokens
    await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "hello there"))
    instant_llm.fail_with = "the model is down"
    await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "are you there?"))

    _, body = await get(ops.port, "/metrics")

    assert sample(body, "anima_llm_tokens_total", backend="embedded", kind="prompt") > 0
    completion = await instant_llm.counter.count(reply)
    assert completion != len(reply.split(" "))  # tokens, not the pieces they arrived in
    assert sample(body, "anima_llm_tokens_total", backend="embedded", kind="completion") == completion
    assert sample(body, "anima_errors_total", kind="llm_all_failed") == 1


async def test_metrics_show_the_llm_routers_failed_calls(
    runtime: Runtime, ops: OpsServer, instant_llm: InstantLLM
) -> None:
    instant_llm.fail_with = "the model is down"
    await runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "are you there?"))

    _, body = await get(ops.port, "/metrics")

    assert sample(body, "anima_llm_failures_total") == 1
    assert sample(body, "anima_llm_retries_total") == 0


class GatedLLM(InstantLLM):
    """Holds every reply until `release` is set; `generating` is set when the first one starts."""

    def __init__(self) -> None:
        super().__init__()
        self.generating = asyncio.Event()
        self.release = asyncio.Event()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        self.generating.set()
        await self.release.wait()
        async for piece in super().stream(request):
            yield piece


async def test_queue_depth_counts_messages_waiting_for_an_answer(runtime: Runtime, ops: OpsServer) -> None:
    llm = GatedLLM()
    runtime.router.register("embedded", llm)
    first = asyncio.create_task(runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "one")))
    second = asyncio.create_task(runtime.pipeline.handle(Incoming("test", "c1", "u1", "Lin", "two")))
    await asyncio.wait_for(llm.generating.wait(), 60)

    _, body = await get(ops.port, "/metrics")
    llm.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 60)

    assert sample(body, "anima_queue_depth") == 2


async def test_healthz_answers_ok(ops: OpsServer) -> None:
    assert await get(ops.port, "/healthz") == (200, "ok\n")


async def test_readyz_is_503_until_every_adapter_has_started(runtime: Runtime, ops: OpsServer) -> None:
    await runtime.pipeline.safety.warmed()  # readiness also waits for the safety model
    before, _ = await get(ops.port, "/readyz")
    ops.serving(["telegram[0]", "discord[0]"])
    after, text = await get(ops.port, "/readyz")

    assert before == 503
    assert (after, text) == (200, "ready: telegram[0], discord[0]\n")


async def test_readyz_is_503_while_the_database_does_not_answer(runtime: Runtime, ops: OpsServer) -> None:
    ops.serving(["telegram[0]"])
    unlock = threading.Event()
    busy = asyncio.create_task(runtime.memory.run(lambda _conn: unlock.wait(10)))  # holds the one writer

    status, text = await get(ops.port, "/readyz")
    unlock.set()
    await busy

    assert status == 503
    assert "database not answering" in text


async def test_a_metrics_port_in_use_fails_with_a_config_error(runtime: Runtime, ops: OpsServer) -> None:
    second = OpsServer(runtime, OpsSettings(metrics_port=ops.port))

    with pytest.raises(ConfigError, match="cannot listen on"):
        await second.start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_anima_run_serves_metrics_and_readiness_for_a_telegram_bot(settings: Settings) -> None:
    """`serve`, as `anima run` calls it, with ops.metrics_port: ready once the bot serves; counts replies."""
    port = free_port()
    async with FakeTelegram() as tg:
        fake: FakeBot = tg.add_bot("aiko_bot", "Aiko")
        configured = settings.model_copy(
            update={
                "bots": BotsSettings(telegram=[bot_settings(tg, fake, group_messages_per_minute=0)]),
                "ops": OpsSettings(metrics_port=port),
            }
        )
        runtime = await Runtime.start(configured)
        runtime.router.register("embedded", InstantLLM())
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(runtime, stop))
        try:
            for _ in range(500):  # a supervisor polls /readyz the same way; bounded at about 10 s
                try:
                    if (await get(port, "/readyz"))[0] == 200:
                        break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.02)
            lin = person(42, "Lin")
            await say(fake, private_chat(lin), lin, "hello")
            for _ in range(500):  # counted once the send returns, a moment after the fake saw it
                _, body = await get(port, "/metrics")
                if sample(body, "anima_messages_out_total", platform="telegram", character="aiko"):
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
            await runtime.close()

    assert sample(body, "anima_messages_out_total", platform="telegram", character="aiko") == 1
