"""Prometheus metrics for the message path: counts, stage latencies, tokens, errors and queue depth.

One process serves one /metrics endpoint, so the metrics are one process-wide object, `METRICS`,
as `logging` is: the pipeline, the router and the adapters record into it without being handed it.
It starts disabled, and then every call is a method that returns at once (no lock, no label
lookup), so code that records costs next to nothing when nobody scrapes. `METRICS.enable()`
(done by the ops HTTP server) gives it a fresh registry and real collectors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# Stages of one message, as recorded by the pipeline (send: the platform's final delivery).
STAGES = (
    "safety_input",
    "store_message",
    "recall",
    "prompt",
    "generate_first_token",
    "generate_total",
    "safety_output",
    "store_reply",
    "send",
    "voice",
)
# Seconds: from a fraction of a millisecond (recall, safety) to a slow model's whole reply.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The process's metrics; disabled (every call a no-op) until `enable()`."""

    def __init__(self) -> None:
        self.enabled = False
        self.registry = CollectorRegistry()
        self._depth_sources: list[Callable[[], int]] = []
        # called with (stage, seconds) for every stage timed, enabled or not (bench/core_bench.py)
        self.listeners: list[Callable[[str, float], None]] = []

    def enable(self) -> None:
        """Start recording into a fresh registry (what /metrics serves from then on)."""
        self.registry = registry = CollectorRegistry()
        self._in = Counter(
            "anima_messages_in", "Messages received, per platform and character",
            ["platform", "character"], registry=registry,
        )  # fmt: skip
        self._out = Counter(
            "anima_messages_out", "Replies delivered, per platform and character",
            ["platform", "character"], registry=registry,
        )  # fmt: skip
        self._stage = Histogram(
            "anima_stage_seconds", "Time spent in each stage of answering a message",
            ["stage"], buckets=BUCKETS, registry=registry,
        )  # fmt: skip
        self._tokens = Counter(
            "anima_llm_tokens", "LLM tokens: prompt (counted before sending), completion (the reply)",
            ["backend", "kind"], registry=registry,
        )  # fmt: skip
        self._errors = Counter("anima_errors", "Errors, by kind", ["kind"], registry=registry)
        depth = Gauge(
            "anima_queue_depth",
            "Messages received and not yet answered (waiting for their conversation or an LLM, or in work)",
            registry=registry,
        )
        depth.set_function(lambda: sum(source() for source in self._depth_sources))
        # Labelled children looked up once: `labels()` costs more than the observation itself.
        self._stages = {stage: self._stage.labels(stage) for stage in STAGES}  # all shown from the start
        self._children: dict[tuple[object, ...], Any] = {}
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self._depth_sources.clear()

    def message_in(self, platform: str, character: str) -> None:
        if self.enabled:
            self._child(self._in, platform, character).inc()

    def message_out(self, platform: str, character: str) -> None:
        if self.enabled:
            self._child(self._out, platform, character).inc()

    def stage(self, stage: str, seconds: float) -> None:
        for listener in self.listeners:
            listener(stage, seconds)
        if self.enabled:
            self._stage_child(stage).observe(seconds)

    def stage_since(self, stage: str, started: float) -> None:
        """Record a stage that began at `started` (a `time.perf_counter()` reading) and ends now."""
        if self.enabled or self.listeners:
            self.stage(stage, time.perf_counter() - started)

    def tokens(self, backend: str, kind: str, count: int) -> None:
        if self.enabled and count:
            self._child(self._tokens, backend, kind).inc(count)

    def error(self, kind: str) -> None:
        if self.enabled:
            self._child(self._errors, kind).inc()

    def _stage_child(self, stage: str) -> Any:
        child = self._stages.get(stage)
        return child if child is not None else self._stage.labels(stage)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def count_llm_calls(self, stats: Callable[[], Any]) -> None:
        """Expose the LLM router's own counts (retries, breaker skips, failed calls) at each scrape."""
        self.registry.register(_RouterCounts(stats))

    def count_queue(self, source: Callable[[], int]) -> None:
        """Add `source()` (read at each scrape) to the queue depth, e.g. a pipeline's messages in work."""
        self._depth_sources.append(source)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything recorded."""
        return generate_latest(self.registry)


class _RouterCounts(Collector):
    """anima_llm_{retries,breaker_skips,failures}_total, read from `anima.llm.router.RouterStats`."""

    def __init__(self, stats: Callable[[], Any]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.stats()
        for name, text, value in (
            ("anima_llm_retries", "LLM attempts after a retryable failure", stats.retries),
            ("anima_llm_breaker_skips", "LLM calls refused: the breaker was open", stats.skipped),
            ("anima_llm_failures", "LLM calls that failed after their retries", stats.failures),
        ):
            yield CounterMetricFamily(name, text, value)


METRICS = Metrics()
