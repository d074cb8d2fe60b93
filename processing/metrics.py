"""Prometheus metrics of one web app, in its own CollectorRegistry (tests build many apps).

Two kinds: live counters and histograms that code increments (webhook requests, hint checks, provider
calls), and gauges taken fresh at every scrape from the database and from `Observer.chain_health`. The
Observer knows nothing about metrics: provider calls are counted by wrapping its backends
(`instrument`, `instrument_tokens`) in the composition root.

Counters are per process; with several instances behind a proxy, scrape each one (only the holder of
the observer lease runs cycles, so the others show few provider calls).
"""

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models.enums import Chain
from processing.chains.base import ChainBackend, ProviderError, TokenBackend
from processing.loop_lag import LoopLagProbe
from services.health import ShopStats
from services.payments.seen import ChainSnapshot, TokenWatch
from services.payments.watch import ChainHealth

WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "too_large",
    "slow_body",
    "bad_timestamp",
    "bad_signature",
    "malformed",
    "unavailable",
)
HINT_RESULTS = ("checked", "unknown_address", "provider_failed", "error", "coalesced")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ShopMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.webhook_requests = Counter(
            "shop_webhook_requests", "Payment webhook requests by outcome", ["outcome"], registry=self.registry
        )
        self.hint_checks = Counter(
            "shop_webhook_hint_checks",
            "Chain checks triggered by webhook hints, by result",
            ["result"],
            registry=self.registry,
        )
        self.hint_seconds = Histogram(
            "shop_webhook_hint_seconds",
            "From receiving a valid hint to its chain check being applied",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "shop_provider_errors",
            "Chain provider calls that failed (ProviderError)",
            ["chain", "backend"],
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "shop_provider_request_seconds",
            "Chain provider call duration",
            ["chain", "backend", "call"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for outcome in WEBHOOK_OUTCOMES:  # present at zero, so rate() and alerts work from the start
            self.webhook_requests.labels(outcome)
        for result in HINT_RESULTS:
            self.hint_checks.labels(result)
        self._scrape = _ScrapeCollector()
        self.registry.register(self._scrape)

    def instrument(self, backends: Mapping[Chain, ChainBackend]) -> dict[Chain, ChainBackend]:
        """The same backends, each call timed and each ProviderError counted."""
        for chain, backend in backends.items():
            self.provider_errors.labels(chain.value, backend.name)
        return {chain: InstrumentedBackend(backend, self) for chain, backend in backends.items()}

    def instrument_tokens(self, backends: Mapping[Chain, TokenBackend]) -> dict[Chain, TokenBackend]:
        """The same token backends, measured as `instrument` measures the others."""
        for chain, backend in backends.items():
            self.provider_errors.labels(chain.value, backend.name)
        return {chain: InstrumentedTokenBackend(backend, self) for chain, backend in backends.items()}

    def watch_loop(self, probe: LoopLagProbe) -> None:
        """Show the probe's longest event-loop stalls (only a process that runs one has the gauges)."""
        Gauge(
            "shop_event_loop_stall_max_seconds",
            "Longest time the event loop was busy past a wake-up of the probe, since start (LOOP_LAG_PROBE_MS)",
            registry=self.registry,
        ).set_function(lambda: probe.longest)
        Gauge(
            "shop_event_loop_busy_stall_max_seconds",
            "The same, counting only the event loop thread's CPU time (not waiting for a core)",
            registry=self.registry,
        ).set_function(lambda: probe.busy)

    def refresh(self, stats: ShopStats | None, chains: Sequence[ChainHealth], leader: bool | None) -> None:
        """Set what the next collection shows. Call right before rendering, with no await in between."""
        self._scrape.stats, self._scrape.chains, self._scrape.leader = stats, list(chains), leader


class _Meter:
    """Times one backend's calls and counts its ProviderErrors."""

    def __init__(self, backend: ChainBackend | TokenBackend, metrics: ShopMetrics) -> None:
        self._labels = backend.chain.value, backend.name
        self._errors = metrics.provider_errors.labels(*self._labels)
        self._seconds = metrics.provider_seconds

    @asynccontextmanager
    async def call(self, what: str) -> AsyncIterator[None]:
        started = time.monotonic()
        try:
            yield
        except ProviderError:
            self._errors.inc()
            raise
        finally:
            self._seconds.labels(*self._labels, what).observe(time.monotonic() - started)


class InstrumentedBackend:
    """A ChainBackend that reports to ShopMetrics and otherwise behaves exactly like the one it wraps."""

    def __init__(self, backend: ChainBackend, metrics: ShopMetrics) -> None:
        self.chain = backend.chain
        self.name = backend.name
        self._backend = backend
        self._meter = _Meter(backend, metrics)

    async def watch(self, addresses: Sequence[str], *, rescan_recent: bool = False) -> None:
        async with self._meter.call("watch"):
            await self._backend.watch(addresses, rescan_recent=rescan_recent)

    async def scan(self, addresses: Sequence[str], *, since: Mapping[str, int] | None = None) -> ChainSnapshot:
        async with self._meter.call("scan"):
            return await self._backend.scan(addresses, since=since)

    async def tip_height(self) -> int:
        async with self._meter.call("tip_height"):
            return await self._backend.tip_height()

    async def close(self) -> None:
        await self._backend.close()


class InstrumentedTokenBackend:
    """A TokenBackend that reports to ShopMetrics and otherwise behaves exactly like the one it wraps."""

    def __init__(self, backend: TokenBackend, metrics: ShopMetrics) -> None:
        self.chain = backend.chain
        self.name = backend.name
        self._backend = backend
        self._meter = _Meter(backend, metrics)

    async def scan(self, wanted: Sequence[TokenWatch]) -> ChainSnapshot:
        async with self._meter.call("scan"):
            return await self._backend.scan(wanted)

    async def balances(self, held: Sequence[TokenWatch]) -> dict[str, int]:
        async with self._meter.call("balances"):
            return await self._backend.balances(held)

    async def sweep_fee(self) -> int:
        async with self._meter.call("sweep_fee"):
            return await self._backend.sweep_fee()

    async def close(self) -> None:
        await self._backend.close()


class _ScrapeCollector(Collector):
    """Gauges from the last `refresh`: the database's counts and the observer's health."""

    def __init__(self) -> None:
        self.stats: ShopStats | None = None
        self.chains: list[ChainHealth] = []
        self.leader: bool | None = None

    def collect(self) -> Iterable[Metric]:
        stats = self.stats
        yield GaugeMetricFamily(
            "shop_db_up", "1 when this scrape could read the database", value=0 if stats is None else 1
        )
        if stats is not None:
            orders = GaugeMetricFamily("shop_orders", "Orders by status", labels=["status"])
            for status, count in stats.orders.items():
                orders.add_metric([status.value], count)
            credited = GaugeMetricFamily(
                "shop_payments_credited",
                "Payments at confirmation depth, counted towards their invoice",
                labels=["chain"],
            )
            for chain, count in stats.credited_payments.items():
                credited.add_metric([chain.value], count)
            yield orders
            yield credited
            yield GaugeMetricFamily(
                "shop_open_invoices", "Invoices of orders awaiting payment or confirming", value=stats.open_invoices
            )
            yield GaugeMetricFamily(
                "shop_outbox_pending", "Outbox messages not sent yet (backlog)", value=stats.outbox_pending
            )
        if self.leader is not None:
            yield GaugeMetricFamily(
                "shop_observer_leader", "1 when this process holds the observer lease", value=int(self.leader)
            )
        cycle = GaugeMetricFamily(
            "shop_observer_cycle_seconds", "Duration of the last complete observer cycle", labels=["chain"]
        )
        age = GaugeMetricFamily(
            "shop_observer_last_success_age_seconds", "Seconds since the chain provider last answered", labels=["chain"]
        )
        failures = GaugeMetricFamily(
            "shop_provider_consecutive_failures", "Provider failures in a row", labels=["chain", "backend"]
        )
        failing = GaugeMetricFamily(
            "shop_provider_failing",
            "1 when the provider counts as failing, by the rule /healthz and the admin panel use",
            labels=["chain", "backend"],
        )
        for health in self.chains:
            cycle.add_metric([health.chain.value], health.last_cycle_seconds)
            if health.last_ok_age_seconds is not None:
                age.add_metric([health.chain.value], health.last_ok_age_seconds)
            failures.add_metric([health.chain.value, health.backend], health.failures)
            failing.add_metric([health.chain.value, health.backend], int(health.failing))
        yield from (cycle, age, failures, failing)
