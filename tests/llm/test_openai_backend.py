"""The openai backend: the real AsyncOpenAI client against a local fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anima.config import OpenAIBackend
from anima.core.messages import ChatMessage
from anima.errors import LLMError, LLMRateLimited, LLMStreamBroken, LLMUnavailable
from anima.llm.base import GenerationRequest
from anima.llm.openai_backend import OpenAILLM, _Events, retry_after
from tests.fakes.openai_server import FakeOpenAI

REQUEST = GenerationRequest(messages=[ChatMessage("user", "hi")], max_tokens=50, temperature=0.5)


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


def backend_for(base_url: str, **overrides: object) -> OpenAILLM:
    settings = OpenAIBackend(kind="openai", base_url=base_url, model="test-model", **overrides)  # type: ignore[arg-type]
    return OpenAILLM("openai", settings)


async def collect(backend: OpenAILLM, request: GenerationRequest = REQUEST) -> list[str]:
    try:
        return [piece async for piece in backend.stream(request)]
    finally:
        await backend.close()


async def test_streams_the_reply_in_pieces_as_the_server_sends_them(server: FakeOpenAI) -> None:
    server.chunk_delay_s = 0.01  # a model writing: each piece goes on as it comes
    pieces = await collect(backend_for(server.base_url))
    assert len(pieces) > 1
    assert "".join(pieces) == server.reply


def test_an_event_cut_anywhere_between_reads_is_read_whole() -> None:
    body = (
        b"".join(
            b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % word
            for word in (b"Tea", b" with", b" honey")
        )
        + b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    for cut in range(len(body)):
        events = _Events("fake")
        pieces = [*events.pieces(body[:cut]), *events.pieces(body[cut:])]
        assert ("".join(pieces), events.finished, events.done) == ("Tea with honey", True, True), cut


async def test_sends_model_messages_and_sampling_settings(server: FakeOpenAI) -> None:
    request = GenerationRequest(
        messages=[ChatMessage("system", "be nice"), ChatMessage("user", "hi")],
        max_tokens=42,
        temperature=0.3,
        top_p=0.9,
        stop=["\nLin:"],
    )
    await collect(backend_for(server.base_url), request)
    sent = server.requests[0]
    assert sent["model"] == "test-model"
    assert sent["messages"] == [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (
        42,
        0.3,
        0.9,
        ["\nLin:"],
    )
    assert sent["stream"] is True


async def test_a_429_is_reported_as_rate_limited_with_the_servers_retry_after(server: FakeOpenAI) -> None:
    server.fail_next(429, retry_after=7)
    with pytest.raises(LLMRateLimited) as caught:
        await collect(backend_for(server.base_url))
    assert caught.value.retryable
    assert caught.value.retry_after == 7


async def test_a_500_is_retryable_and_the_client_does_not_retry_it_itself(server: FakeOpenAI) -> None:
    server.fail_next(500, times=2)
    with pytest.raises(LLMUnavailable, match="answered HTTP 500") as caught:
        await collect(backend_for(server.base_url, max_retries=3))
    assert caught.value.retryable
    assert len(server.requests) == 1  # retries belong to the router, in one place


def test_retry_after_reads_milliseconds_seconds_and_http_dates() -> None:
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after({}) is None


async def test_a_wrong_key_says_to_check_the_api_key(server: FakeOpenAI) -> None:
    server.fail_next(401)
    with pytest.raises(LLMError, match="check the api_key") as caught:
        await collect(backend_for(server.base_url))
    assert not caught.value.retryable


async def test_an_unreachable_server_is_reported_with_its_address() -> None:
    with pytest.raises(LLMUnavailable, match=r"cannot reach http://127.0.0.1:9/v1"):
        await collect(backend_for("http://127.0.0.1:9/v1", max_retries=0))


async def test_a_stream_that_breaks_off_raises_after_the_pieces_that_arrived(server: FakeOpenAI) -> None:
    server.break_after = 3
    backend = backend_for(server.base_url, max_retries=0)
    received: list[str] = []
    with pytest.raises(LLMStreamBroken):
        async for piece in backend.stream(REQUEST):
            received.append(piece)
    await backend.close()
    assert "".join(received) == " ".join(server.reply.split(" ")[:3])


async def test_the_api_key_is_in_no_error_message(server: FakeOpenAI) -> None:
    secret = "sk-test-do-not-show"
    server.fail_next(401)
    with pytest.raises(LLMError) as refused:
        await collect(backend_for(server.base_url, api_key=secret))
    with pytest.raises(LLMUnavailable) as unreachable:
        await collect(backend_for("http://127.0.0.1:9/v1", api_key=secret))
    for caught in (refused, unreachable):
        assert secret not in str(caught.value) and secret not in repr(caught.value.__cause__)


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def proxy_environment(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Exactly these proxy variables (both spellings), whatever the machine running the tests has."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name.upper(), value)


async def test_the_reply_goes_through_the_proxy_that_http_proxy_names(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake server stands in for the proxy: it answers the forwarded request for a host that
    # does not exist, so the reply can only have come through it.
    proxy_environment(monkeypatch, http_proxy=server.base_url.removesuffix("/v1"))
    pieces = await collect(backend_for("http://llm.invalid/v1", max_retries=0))
    assert "".join(pieces) == server.reply
    assert len(server.requests) == 1


async def test_a_host_that_no_proxy_names_is_reached_directly(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing listens on port 9: the reply arrives only if the proxy is passed by
    proxy_environment(monkeypatch, http_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1")
    pieces = await collect(backend_for(server.base_url, max_retries=0))
    assert "".join(pieces) == server.reply


async def test_without_no_proxy_the_dead_proxy_is_tried_and_said(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_environment(monkeypatch, http_proxy="http://127.0.0.1:9")
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        await collect(backend_for(server.base_url, max_retries=0))
    assert not server.requests
