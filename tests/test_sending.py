"""The core's sending policy, which every platform's sender uses: what is retried, how often, and
what becomes NotDelivered."""

from __future__ import annotations

import asyncio

import pytest

from anima.core.sending import Fallback, RetryPolicy, SendLimits, Transient, delivering
from anima.errors import NotDelivered


class Flaky:
    """A request failing with `errors` in turn, then answering "taken"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.tries = 0

    async def __call__(self) -> str:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        return "taken"


def classify(exc: BaseException) -> Transient | None:
    if isinstance(exc, TimeoutError):
        return Transient()
    if isinstance(exc, OverflowError):  # stands for a rate limit, with the platform's wait
        return Transient(retry_after_s=0.0)
    return None


def policy(max_attempts: int = 8) -> RetryPolicy:
    return RetryPolicy("Platform", max_attempts, first_backoff_s=0.0)


async def test_network_errors_and_rate_limits_are_retried_until_the_request_is_taken() -> None:
    request = Flaky(TimeoutError(), OverflowError(), TimeoutError())
    assert await policy().run(request, classify, "send") == "taken"
    assert request.tries == 4


async def test_a_refusal_is_raised_at_once() -> None:
    request = Flaky(ValueError("bad request"))
    with pytest.raises(ValueError):
        await policy().run(request, classify, "send")
    assert request.tries == 1


async def test_tries_are_capped_and_one_try_means_one() -> None:
    request = Flaky(*[TimeoutError()] * 5)
    with pytest.raises(TimeoutError):
        await policy(max_attempts=3).run(request, classify, "send")
    assert request.tries == 3
    once = Flaky(TimeoutError())
    with pytest.raises(TimeoutError):
        await policy().run(once, classify, "typing", max_attempts=1)
    assert once.tries == 1


async def test_once_stopping_no_wait_outlasts_the_grace() -> None:
    stopping = RetryPolicy("Platform", first_backoff_s=5.0, stop_grace_s=1.0)
    stopping.stopping()
    request = Flaky(TimeoutError(), TimeoutError())
    with pytest.raises(TimeoutError):
        await stopping.run(request, classify, "send")
    assert request.tries == 1


async def test_what_is_still_transient_becomes_not_delivered_without_the_librarys_text() -> None:
    with pytest.raises(NotDelivered) as caught:
        async with delivering("Platform", classify):
            raise TimeoutError("https://api.example/bot123:SECRET/sendMessage timed out")
    assert str(caught.value) == "Platform did not take it (TimeoutError)"
    with pytest.raises(ValueError):
        async with delivering("Platform", classify):
            raise ValueError("refused")


class Speaker:
    """A sender that says texts, or is refused by the platform (a webhook deleted meanwhile)."""

    def __init__(self, refuses: bool = False) -> None:
        self.refuses = refuses
        self.said: list[str] = []

    async def say(self, text: str) -> str:
        if self.refuses:
            raise PermissionError("unknown webhook")
        self.said.append(text)
        return text


def refused(exc: BaseException) -> bool:
    return isinstance(exc, PermissionError)


async def test_a_sender_refused_before_anything_went_out_hands_the_reply_to_its_fallback() -> None:
    webhook, bot = Speaker(refuses=True), Speaker()
    by = Fallback(webhook, bot, refused)
    await by.send(lambda sender, took_over: sender.say(("(bot) " if took_over else "") + "Hello"))
    await by.send(lambda sender, took_over: sender.say("again"))
    assert bot.said == ["(bot) Hello", "again"]


async def test_a_refusal_after_something_went_out_is_raised_not_handed_over() -> None:
    webhook, bot = Speaker(), Speaker()
    by = Fallback(webhook, bot, refused)
    await by.send(lambda sender, _: sender.say("Hello"))
    webhook.refuses = True
    with pytest.raises(PermissionError):
        await by.send(lambda sender, _: sender.say("the rest"))
    assert bot.said == []


async def test_another_failure_is_raised_and_without_a_fallback_a_refusal_too() -> None:
    with pytest.raises(PermissionError):
        await Fallback(Speaker(refuses=True), None, refused).send(lambda sender, _: sender.say("Hi"))
    with pytest.raises(PermissionError):
        await Fallback(Speaker(refuses=True), Speaker(), lambda exc: False).send(lambda s, _: s.say("Hi"))


async def test_posts_into_one_group_are_spaced_by_the_groups_limit() -> None:
    limits = SendLimits("Platform", per_second=0, per_group_minute=600)  # a group: one per 0.1 s
    loop = asyncio.get_running_loop()
    posted: list[float] = []

    async def post() -> None:
        posted.append(loop.time())

    for _ in range(3):
        await limits.send(post, classify, "send", group="g")
    assert posted[-1] - posted[0] >= 0.2 - 0.01  # a lower bound: load only adds
